"""Checkpoints you can trust: round trips, retention, gc, tampering, resolving, kill -9."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
from stable_baselines3 import PPO

from fxconsole.agents.checkpoints import (
    CheckpointError,
    Manifest,
    RunCheckpoints,
    load_model,
    new_run_name,
    read_manifest,
    resolve_checkpoint,
    validate_run_name,
    verify,
)
from fxconsole.config import Config

torch.set_num_threads(1)

SAVER = Path(__file__).with_name("_saver.py")
OBS_SPEC: dict[str, Any] = {"kind": "box", "shape": [4], "dtype": "float32",
                            "features": ["x", "x_dot", "theta", "theta_dot"]}
CONFIG = dataclasses.asdict(Config())


@pytest.fixture
def model() -> PPO:
    return PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, seed=0,
               policy_kwargs={"net_arch": [8]})


class Clock:
    """A fake UTC clock that ticks one second per call."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 11, 35, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def perturb(model: PPO) -> None:
    with torch.no_grad():
        next(model.policy.parameters()).view(-1)[0] += 0.25


def save(run: RunCheckpoints, model: PPO, timesteps: int, *tags: str, **kw: Any) -> Manifest:
    model.num_timesteps = timesteps
    return run.save(model, timesteps, tags, config=CONFIG, observation_spec=OBS_SPEC,
                    feature_spec_version=1, agent="ppo", **kw)


def manifest_paths(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.glob("*.json") if not p.name.startswith("."))


def assert_all_verify(run_dir: Path) -> None:
    """Every manifest of the run verifies and its model loads at the manifest's step."""
    for path in manifest_paths(run_dir):
        manifest = verify(path, OBS_SPEC)
        assert load_model(path, PPO).num_timesteps == manifest.timesteps, path


def same_parameters(a: PPO, b: PPO) -> bool:
    sa, sb = a.policy.state_dict(), b.policy.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- round trips, retention, gc ------------------------------------------------------------


def test_round_trip_latest_and_periodic(tmp_path: Path, model: PPO) -> None:
    run = RunCheckpoints(tmp_path / "ppo-1", clock=Clock())
    written = save(run, model, 1234, "latest", "periodic", metrics={"sqn": 1.5},
                   state={"loser_weight": {"winners": 3}})
    assert sorted(p.name for p in manifest_paths(run.run_dir)) == [
        "latest.json", "periodic-000000001234.json"]
    for tag in ("latest", "periodic-000000001234"):
        path = run.run_dir / f"{tag}.json"
        loaded = load_model(path, PPO, OBS_SPEC)
        assert same_parameters(loaded, model)
        assert loaded.num_timesteps == 1234
        m = read_manifest(path)
        assert m == dataclasses.replace(written, tag=tag)
    assert written.tag == "latest" and written.run == "ppo-1" and written.format == 2
    assert written.model_file == f"models/000000001234-{written.sha256[:12]}.zip"
    assert written.config == CONFIG and written.agent == "ppo"
    assert written.metrics == {"sqn": 1.5} and written.state == {"loser_weight": {"winners": 3}}
    assert datetime.fromisoformat(written.created) == datetime(2026, 11, 24, 11, 35, 2,
                                                               tzinfo=UTC)
    assert len(list((run.run_dir / "models").iterdir())) == 1  # the model is written once
    assert Manifest.from_json(written.to_json()) == written


def test_periodic_retention_keeps_the_last_n(tmp_path: Path, model: PPO) -> None:
    run = RunCheckpoints(tmp_path / "ppo-1", keep_periodic=3, clock=Clock())
    for step in range(1, 7):
        perturb(model)
        save(run, model, step * 100, "latest", "periodic")
    assert [m.tag for m in run.list()] == [
        "periodic-000000000400", "periodic-000000000500", "latest", "periodic-000000000600"]
    referenced = {m.model_file for m in run.list()}
    assert {f"models/{p.name}" for p in (run.run_dir / "models").iterdir()} == referenced
    assert run.manifest("periodic-000000000100") is None
    latest = run.manifest("latest")
    assert latest is not None and latest.timesteps == 600


def test_best_stays_while_latest_moves_on(tmp_path: Path, model: PPO) -> None:
    run = RunCheckpoints(tmp_path / "ppo-1", clock=Clock())
    best = save(run, model, 100, "latest", "best", metrics={"sqn": 2.5})
    for step in (200, 300):
        perturb(model)
        save(run, model, step, "latest")
    assert run.manifest("best") == dataclasses.replace(best, tag="best")
    assert [(m.tag, m.timesteps) for m in run.list()] == [("best", 100), ("latest", 300)]
    assert len(list((run.run_dir / "models").iterdir())) == 2
    assert_all_verify(run.run_dir)


def test_hold_pins_what_the_manifest_names_when_it_is_read(tmp_path: Path, model: PPO) -> None:
    """Resolving ``latest`` and pointing at it later races the trainer's next save (its gc
    deletes the old model); ``hold`` reads and points under the lock, so it cannot."""
    run = RunCheckpoints(tmp_path / "ppo-1", clock=Clock())
    seen = save(run, model, 100, "latest")
    perturb(model)
    save(run, model, 200, "latest")  # the trainer moves on; the 100-step model is gc'd
    with pytest.raises(CheckpointError, match="model file missing"):
        run.point("deployed", seen)
    held = run.hold("deploying", run.run_dir / "latest.json")
    assert (held.tag, held.timesteps) == ("deploying", 200)
    perturb(model)
    save(run, model, 300, "latest")
    assert [(m.tag, m.timesteps) for m in run.list()] == [("deploying", 200), ("latest", 300)]
    assert_all_verify(run.run_dir)
    other = RunCheckpoints(tmp_path / "ppo-2", clock=Clock())
    with pytest.raises(CheckpointError, match="not a manifest of run 'ppo-2'"):
        other.hold("deploying", run.run_dir / "latest.json")


def test_gc_removes_unreferenced_zips_and_stale_temps_only(tmp_path: Path, model: PPO) -> None:
    run = RunCheckpoints(tmp_path / "ppo-1")
    kept = save(run, model, 100, "latest")
    models = run.run_dir / "models"
    stray = models / "000000000050-0123456789ab.zip"
    stray.write_bytes(b"old model")
    fresh_tmp = models / ".tmp-inflight.zip"  # another process's save in flight
    stale_tmp = run.run_dir / ".tmp-killed.json"  # left by a killed process
    for path in (fresh_tmp, stale_tmp):
        path.write_bytes(b"partial")
    os.utime(stale_tmp, (time.time() - 120, time.time() - 120))
    assert sorted(run.gc()) == sorted([stray, stale_tmp])
    assert fresh_tmp.exists() and (run.run_dir / kept.model_file).exists()
    assert run.gc() == []


def test_gc_deletes_no_model_while_a_manifest_is_unreadable(tmp_path: Path, model: PPO) -> None:
    run = RunCheckpoints(tmp_path / "ppo-1")
    save(run, model, 100, "latest")
    stray = run.run_dir / "models" / "000000000050-0123456789ab.zip"
    stray.write_bytes(b"maybe referenced by the broken manifest")
    (run.run_dir / "best.json").write_text("{not json")
    assert run.gc() == [] and stray.exists()
    assert [m.tag for m in run.list()] == ["latest"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tags": ["newest"]}, "not allowed"),
        ({"tags": []}, "not allowed"),
        ({"timesteps": -1}, "must be ≥ 0"),
        ({"metrics": {"when": datetime.now()}}, "metrics is not JSON-serialisable"),
    ],
)
def test_bad_save_arguments_write_nothing(
    tmp_path: Path, model: PPO, kwargs: dict[str, Any], message: str
) -> None:
    run = RunCheckpoints(tmp_path / "ppo-1")
    args: dict[str, Any] = {"timesteps": 10, "tags": ["latest"], "config": CONFIG,
                            "observation_spec": OBS_SPEC, "feature_spec_version": 1, "agent": "ppo",
                            **kwargs}
    with pytest.raises(CheckpointError, match=message):
        run.save(model, **args)
    assert not run.run_dir.exists()


def test_reader_retries_when_a_save_repoints_the_manifest_meanwhile(
    tmp_path: Path, model: PPO, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = RunCheckpoints(tmp_path / "ppo-1")
    save(run, model, 100, "latest")
    real_read_bytes = Path.read_bytes
    calls: list[Path] = []

    def read_bytes_racing_a_save(self: Path) -> bytes:
        if not calls:  # a save lands (and gcs the old model) just before the read
            calls.append(self)
            perturb(model)
            save(run, model, 200, "latest")
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes_racing_a_save)
    assert verify(run.run_dir / "latest.json").timesteps == 200
    assert not calls[0].exists()


# --- tampering and refusals ----------------------------------------------------------------


def test_a_flipped_byte_is_refused_naming_both_hashes_and_files(
    tmp_path: Path, model: PPO
) -> None:
    run = RunCheckpoints(tmp_path / "ppo-1")
    m = save(run, model, 100, "latest")
    zip_path = run.run_dir / m.model_file
    data = bytearray(zip_path.read_bytes())
    data[len(data) // 2] ^= 0x01
    zip_path.write_bytes(bytes(data))
    for check in (lambda p: verify(p), lambda p: load_model(p, PPO)):
        with pytest.raises(CheckpointError) as info:
            check(run.run_dir / "latest.json")
        text = str(info.value)
        assert f"hash mismatch: manifest says {m.sha256}, file has " in text
        assert str(zip_path) in text and "latest.json" in text


def test_a_missing_model_file_is_refused(tmp_path: Path, model: PPO) -> None:
    run = RunCheckpoints(tmp_path / "ppo-1")
    m = save(run, model, 100, "latest")
    (run.run_dir / m.model_file).unlink()
    with pytest.raises(CheckpointError, match="does not exist"):
        verify(run.run_dir / "latest.json")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"shape": [5]}, "shape: checkpoint has [4], running code has [5]"),
        ({"dtype": "float64"}, "dtype: checkpoint has 'float32', running code has 'float64'"),
        ({"features": ["x", "x_dot", "theta", "omega"]}, "first difference at 3"),
        ({"version": 2}, "version: checkpoint has nothing, running code has 2"),
    ],
)
def test_a_different_observation_spec_is_refused_naming_the_key(
    tmp_path: Path, model: PPO, change: dict[str, Any], expected: str
) -> None:
    run = RunCheckpoints(tmp_path / "ppo-1")
    save(run, model, 100, "latest")
    with pytest.raises(CheckpointError, match="observation spec") as info:
        load_model(run.run_dir / "latest.json", PPO, {**OBS_SPEC, **change})
    assert expected in str(info.value)
    verify(run.run_dir / "latest.json", {**OBS_SPEC, "shape": (4,)})  # tuples are lists


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda raw: "{ not json", "not valid JSON"),
        (lambda raw: "[1, 2]", "must be a JSON object"),
        (lambda raw: {k: v for k, v in raw.items() if k != "sha256"}, "missing key(s) sha256"),
        (lambda raw: {**raw, "colour": "red"}, "unknown key(s) colour"),
        (lambda raw: {**raw, "timesteps": "100"}, "key 'timesteps' = '100' must be a int"),
        (lambda raw: {**raw, "timesteps": True}, "key 'timesteps' = True must be a int"),
        (lambda raw: {**raw, "format": 3}, "key 'format' = 3 is not supported"),
        (lambda raw: {k: v for k, v in raw.items() if k != "pinned"}, "missing key(s) pinned"),
        (lambda raw: {**raw, "sha256": "abc"}, "key 'sha256' = 'abc' is not a sha256"),
        (lambda raw: {**raw, "model_file": "../other/x.zip"}, "key 'model_file'"),
        (lambda raw: {**raw, "model_file": "/etc/passwd"}, "key 'model_file'"),
    ],
)
def test_a_corrupt_manifest_is_refused_naming_file_and_key(
    tmp_path: Path, model: PPO, edit: Any, expected: str
) -> None:
    run = RunCheckpoints(tmp_path / "ppo-1")
    save(run, model, 100, "latest")
    path = run.run_dir / "latest.json"
    edited = edit(json.loads(path.read_text()))
    path.write_text(edited if isinstance(edited, str) else json.dumps(edited))
    with pytest.raises(CheckpointError) as info:
        verify(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_a_missing_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"manifest .*best\.json does not exist"):
        verify(tmp_path / "ppo-1" / "best.json")


# --- names and resolving -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ppo-20261124-113501", "a", "run_2.b-C"])
def test_valid_run_names(name: str) -> None:
    assert validate_run_name(name) == name


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "..", "run name", "ünï", "a\n"])
def test_invalid_run_names_say_what_is_allowed(name: str) -> None:
    with pytest.raises(CheckpointError, match=r"run name .* is not allowed: use letters"):
        validate_run_name(name)


def test_new_run_name_is_agent_and_utc_time() -> None:
    now = datetime(2026, 11, 24, 12, 35, 1, tzinfo=UTC).astimezone()
    assert new_run_name("ppo", now=now) == "ppo-20261124-123501"
    assert new_run_name("muzero").startswith("muzero-")


@pytest.fixture
def checkpoints_dir(tmp_path: Path, model: PPO) -> Path:
    run = RunCheckpoints(tmp_path / "checkpoints" / "ppo-a", clock=Clock())
    save(run, model, 100, "latest", "periodic", "best")
    perturb(model)
    save(run, model, 200, "latest", "periodic")
    (tmp_path / "checkpoints" / "ppo-b").mkdir()
    return tmp_path / "checkpoints"


def test_resolve_checkpoint_forms(checkpoints_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = checkpoints_dir / "ppo-a"
    latest, best = run_dir / "latest.json", run_dir / "best.json"
    periodic = run_dir / "periodic-000000000100.json"
    assert resolve_checkpoint(str(best), checkpoints_dir) == best
    assert resolve_checkpoint(str(run_dir), checkpoints_dir) == latest
    assert resolve_checkpoint("ppo-a", checkpoints_dir) == latest
    assert resolve_checkpoint("ppo-a/best", checkpoints_dir) == best
    assert resolve_checkpoint("ppo-a/periodic-000000000100", checkpoints_dir) == periodic
    assert resolve_checkpoint("ppo-a/latest.json", checkpoints_dir) == latest
    old_zip = run_dir / read_manifest(best).model_file  # named by best and periodic-100
    assert resolve_checkpoint(str(old_zip), checkpoints_dir) == best
    new_zip = run_dir / read_manifest(latest).model_file
    assert resolve_checkpoint(str(new_zip), checkpoints_dir) == latest
    monkeypatch.chdir(checkpoints_dir.parent)
    assert resolve_checkpoint("checkpoints/ppo-a/best.json", checkpoints_dir) == Path(
        "checkpoints/ppo-a/best.json")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("ppo-zzz", "no run 'ppo-zzz' in .*; runs: ppo-a, ppo-b"),
        ("ppo-a/worst", "run 'ppo-a' has no checkpoint 'worst'; tags: best, latest, periodic-"),
        ("ppo-b", "run 'ppo-b' has no checkpoint 'latest'; tags: none"),
        ("../ppo-a", "cannot resolve checkpoint '../ppo-a'.*runs in .*: ppo-a, ppo-b"),
        ("a/b/c", "cannot resolve checkpoint"),
    ],
)
def test_resolve_checkpoint_lists_what_exists(
    checkpoints_dir: Path, spec: str, expected: str
) -> None:
    with pytest.raises(CheckpointError, match=expected):
        resolve_checkpoint(spec, checkpoints_dir)


def test_resolve_refuses_a_model_file_no_manifest_names(checkpoints_dir: Path) -> None:
    orphan = checkpoints_dir / "ppo-a" / "models" / "000000000001-0123456789ab.zip"
    orphan.write_bytes(b"zip")
    with pytest.raises(CheckpointError, match="no manifest references model file"):
        resolve_checkpoint(str(orphan), checkpoints_dir)


# --- crashes -------------------------------------------------------------------------------


class Crash(BaseException):
    """Stands for the process dying at this point of a save."""


def crash_at_call(monkeypatch: pytest.MonkeyPatch, at: int) -> list[str]:
    """Make the ``at``-th call to os.replace / os.fsync / os.unlink raise :class:`Crash`."""
    calls: list[str] = []
    for name in ("replace", "fsync", "unlink"):
        real = getattr(os, name)

        def faulty(*args: Any, _name: str = name, _real: Any = real, **kwargs: Any) -> Any:
            calls.append(_name)
            if len(calls) == at:
                raise Crash(f"os.{_name}, call {at}")
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, faulty)
    return calls


def test_a_save_interrupted_at_any_step_leaves_every_checkpoint_loadable(
    tmp_path: Path, model: PPO
) -> None:
    steps_seen: list[str] = []
    for at in range(1, 200):
        run = RunCheckpoints(tmp_path / f"run-{at}", keep_periodic=2, clock=Clock())
        save(run, model, 64, "latest", "periodic", "best")
        perturb(model)
        save(run, model, 128, "latest", "periodic")
        before = {p.name: p.read_bytes() for p in manifest_paths(run.run_dir)}
        perturb(model)
        with pytest.MonkeyPatch.context() as monkeypatch:
            calls = crash_at_call(monkeypatch, at)
            try:
                save(run, model, 192, "latest", "periodic", "best")
                crashed = False
            except Crash:
                crashed = True
        assert_all_verify(run.run_dir)
        now = {p.name: read_manifest(p) for p in manifest_paths(run.run_dir)}
        assert {"latest.json", "best.json"} <= now.keys()
        assert sum(name.startswith("periodic-") for name in now) >= 2
        for name, m in now.items():  # each manifest is the old one or the new save's
            assert m.timesteps == 192 or before[name] == (run.run_dir / name).read_bytes()
        if not crashed:
            steps_seen = calls
            break
    assert not crashed, "the save never completed"
    assert len(steps_seen) >= 10 and {"replace", "fsync", "unlink"} <= set(steps_seen)


class SaverOutput:
    """Reads the saver's protocol lines from its stdout with a deadline."""

    def __init__(self, proc: subprocess.Popen[bytes], stderr_path: Path) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.stderr_path = stderr_path
        self.buffer = b""

    def expect(self, word: str, timeout: float = 60.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self.fd, 4096) if ready else b""
            if not chunk:
                self.fail(f"no {word!r} line from the saver ({'EOF' if ready else 'timeout'})")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        parts = line.decode().split()
        if parts[0] != word:
            self.fail(f"expected {word!r}, the saver said {line!r}")
        return parts[1:]

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\nsaver stderr:\n{self.stderr_path.read_text()}")


@pytest.fixture
def saver(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], SaverOutput]]:
    stderr_path = tmp_path / "saver.err"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(SAVER), str(tmp_path / "ppo-kill"), "3"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, bufsize=0,
        )
    try:
        yield proc, SaverOutput(proc, stderr_path)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_kill_9_at_random_moments_never_breaks_a_checkpoint(
    tmp_path: Path, saver: tuple[subprocess.Popen[bytes], SaverOutput]
) -> None:
    proc, output = saver
    assert proc.stdin is not None
    rng = random.Random(20261124)
    run_dir = tmp_path / "ppo-kill"
    output.expect("ready", timeout=120)
    for kill in range(50):
        proc.stdin.write(f"go {kill * 1_000_000}\n".encode())
        pid = int(output.expect("child")[0])
        output.expect("saved")
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(pid, signal.SIGKILL)
        status = int(output.expect("reaped")[1])
        if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
            output.fail(f"saver child {pid} ended on its own (status {status})")
        assert_all_verify(run_dir)
        assert read_manifest(run_dir / "latest.json").timesteps > kill * 1_000_000


def test_a_format_1_manifest_reads_as_unpinned(tmp_path: Path, model: PPO) -> None:
    """Manifests written before pinning (format 1, no ``pinned``) still load."""
    run = RunCheckpoints(tmp_path / "ppo-1")
    save(run, model, 100, "latest")
    path = run.run_dir / "latest.json"
    raw = json.loads(path.read_text())
    del raw["pinned"]
    path.write_text(json.dumps({**raw, "format": 1}))
    manifest = read_manifest(path)
    assert manifest.format == 1 and manifest.pinned == {}
