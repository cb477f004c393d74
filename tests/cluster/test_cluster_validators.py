"""Validator actors (``cluster.validators``): the local validator is replaced; an actor
evaluates a checkpoint sent as bytes and the driver records the validation row, the
report and the tags once; a duplicate result is recorded once; a checkpoint to examine
goes back to the actor for the test split before anything is recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.muzero.codec import MuZeroModel, network_shape
from fxconsole.agents.muzero.networks import MuZeroNet
from fxconsole.cluster.actor import Checkpoint, ValidatorActor, node_id, node_ip, report_id
from fxconsole.cluster.driver import ActorSlot, ClusterDriver, ValidationJob
from fxconsole.cluster.store import ClusterStore
from fxconsole.config import Config, config_record, load_config, with_overrides
from fxconsole.evaluation.runner import checkpoint_context
from fxconsole.market.features import FEATURE_SPEC_VERSION
from fxconsole.ops import promotion
from fxconsole.ops.db import connect
from fxconsole.ops.pool import program_specs
from fxconsole.ops.promotion import PIN_TAG
from fxconsole.trading.market_data import load_market_data
from fxconsole.trading.pinning import make_pin
from fxconsole.trading.spaces import observation_spec
from fxconsole.workspace import Workspace

from cluster_support import make_workspace  # isort: skip
from system_support import alive, query, wait_for  # isort: skip

VALIDATORS = """
[cluster]
backend = "ray"
address = "{address}"
collectors = 0
validators = 1
[validation]
runs = 50
min_trades = 1
[workers]
validator_poll = 0.5
"""


def validator_workspace(ws: Path, address: str) -> tuple[Config, str]:
    """A workspace whose driver places one validator actor and no collector, and a
    ``candidate`` to validate (returns its sha256)."""
    make_workspace(ws, address)
    toml = ws / "fxconsole.toml"
    text = toml.read_text().split("[cluster]")[0]
    toml.write_text(text + VALIDATORS.format(address=address))
    cfg = load_config(toml, environ={})
    data = load_market_data(ws / "data" / "market.duckdb", cfg.data.symbol, cfg.data.timeframe)
    torch.manual_seed(3)
    model = MuZeroModel(MuZeroNet(network_shape(cfg.muzero)), None, {"episodes": 0})
    manifest = RunCheckpoints(ws / "checkpoints" / "main").save(
        model, timesteps=2048, tags=["candidate"], config=config_record(cfg),
        observation_spec=observation_spec("muzero"), feature_spec_version=FEATURE_SPEC_VERSION,
        agent="muzero", pinned=make_pin(data, cfg).to_dict(),
        state={"counters": {"episodes": 0}})
    return cfg, manifest.sha256


def test_validator_actors_replace_the_local_validator(tmp_path: Path) -> None:
    cfg = with_overrides(Config(), "cluster", backend="ray", validators=2)
    names = [s.name for s in program_specs(cfg, Workspace(tmp_path), "main")]
    assert "validator" not in names and "cluster" in names
    local = with_overrides(cfg, "cluster", backend="local")
    assert "validator" in [s.name for s in program_specs(local, Workspace(tmp_path), "main")]


class FakeHandle:
    """A validator actor's handle that records what it is sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.evaluate = self

    def remote(self, task_id: str, checkpoint: Checkpoint, box: list[object],
               split: str) -> str:
        self.sent.append((task_id, split))
        return f"ref-{task_id}"


def test_the_node_of_a_process_outside_ray_is_asked_of_nobody(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import ray
    from ray._private import auto_init_hook

    # the suite turns Ray's auto-connect off; what would have started or joined a cluster
    # is Ray's auto-init, called by its wrapped APIs: record each call instead
    calls: list[int] = []
    monkeypatch.setattr(auto_init_hook, "auto_init_ray", lambda: calls.append(1))
    assert not ray.is_initialized()
    assert node_id() == ""
    assert node_ip()  # the host name
    assert calls == [] and not ray.is_initialized()


def test_an_evaluation_recorded_twice_is_recorded_once(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    cfg, sha = validator_workspace(tmp_path, "127.0.0.1:1")
    run_dir = tmp_path / "checkpoints" / "main"
    path = run_dir / "candidate.json"
    manifest = RunCheckpoints(run_dir).manifest("candidate")
    assert manifest is not None
    market = load_market_data(tmp_path / "data" / "market.duckdb", cfg.data.symbol,
                              cfg.data.timeframe)
    actor = ValidatorActor("validator-1", cfg, market)  # the pure part, in this process
    got = actor.evaluate("t-1", Checkpoint(str(path), manifest, "main/candidate"),
                         [(run_dir / manifest.model_file).read_bytes()], "validation")
    assert got.report_id == report_id(sha, "validation") and got.sha256 == sha
    conn = connect(tmp_path / "data" / "console.sqlite")
    try:
        store = ClusterStore(conn, "main", tmp_path / "checkpoints", driver="cluster")
        driver = ClusterDriver(cfg, Workspace(tmp_path), "main", store)
        assert driver.poll_checkpoints() == 1  # the candidate, new
        assert not store.reported(got.report_id)
        # recording would examine it: the driver asks the actor for the test split first
        monkeypatch.setattr(promotion, "needs_exam", lambda *args: True)
        handle = FakeHandle()
        job = ValidationJob(manifest, path, [], "")
        slot = ActorSlot("validator-1", 0, role="validator", job=job, handle=handle)
        driver._take_evaluation(slot, job, got)
        assert [split for _, split in handle.sent] == ["test"] and slot.job is job
        assert not store.reported(got.report_id)  # nothing recorded before the exam
        monkeypatch.undo()
        exam = replace(got, split="test", report_id=report_id(sha, "test"))
        driver._take_evaluation(slot, job, exam)  # then both are recorded
        assert slot.job is None and store.reported(got.report_id)
        for _ in range(2):  # the result, then the same result again (a retry)
            pinned = RunCheckpoints(run_dir).point(PIN_TAG, manifest)
            job = ValidationJob(manifest, path, [], pinned.sha256)
            slot = ActorSlot("validator-1", 0, role="validator", job=job)
            driver._take_evaluation(slot, job, got)
            assert slot.job is None and not (run_dir / f"{PIN_TAG}.json").exists()
            assert store.reported(got.report_id)
        ctx = checkpoint_context(path, manifest, cfg)
        assert store.record_validation("validator-1", ctx, got.evaluation, None,
                                       got.seconds) is None  # recorded before: skipped
        rows = conn.execute("SELECT split, sha256, report_path FROM validations").fetchall()
        assert [r[:2] for r in rows] == [("validation", sha)]
        events = conn.execute("SELECT source FROM events WHERE kind = 'validation'").fetchall()
        assert events == [("validator-1",)]
        (n_metrics,), = conn.execute("SELECT count(*) FROM metrics WHERE worker = "
                                     "'validator-1' AND key = 'val/trades'").fetchall()
        assert n_metrics == 1
        with pytest.raises(ValueError, match="validated before"):
            driver.ask("main/candidate")
    finally:
        conn.close()
    report = json.loads(Path(rows[0][2]).read_text())
    assert report["checkpoint"]["sha256"] == sha
    assert Path(rows[0][2]).parent.parent == run_dir / "reports"
    assert (Path(rows[0][2]).parent / "chart.png").is_file()


@pytest.mark.slow
def test_a_validator_actor_validates_a_checkpoint_the_driver_records(
        ray_cluster: str, tmp_path: Path) -> None:
    ws = tmp_path
    _, sha = validator_workspace(ws, ray_cluster)
    (ws / "data" / "logs").mkdir(parents=True, exist_ok=True)
    with (ws / "data" / "logs" / "cluster.out").open("ab") as log:
        driver = subprocess.Popen(
            [sys.executable, "-m", "workers", "cluster", "--workspace", str(ws), "--name",
             "cluster", "--run", "main"], stdout=log, stderr=subprocess.STDOUT, cwd=ws,
            env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    pid = None
    try:
        wait_for("the validation recorded (its event comes last)", lambda: (q := query(
            ws, "SELECT count(*) FROM events WHERE kind = 'validation'")) and q[0][0],
                 timeout=180)
        rows = query(ws, "SELECT name, role, state, pid FROM workers WHERE name LIKE "
                         "'validator%'")
        assert [r[:2] for r in rows] == [("validator-1", "validator")]
        pid = rows[0][3]
        info = query(ws, "SELECT info FROM heartbeats WHERE worker = 'validator-1'")
        assert info and json.loads(info[0][0])["node"] == "127.0.0.1"
        assert query(ws, "SELECT sha256, split FROM validations") == [(sha, "validation")]
        (path,), = query(ws, "SELECT report_path FROM validations")
        assert Path(path).is_file() and (Path(path).parent / "chart.png").is_file()
        events = query(ws, "SELECT source FROM events WHERE kind = 'validation'")
        assert events == [("validator-1",)]
        run_dir = ws / "checkpoints" / "main"
        wait_for("the validating pin released",
                 lambda: not (run_dir / "validating.json").exists(), timeout=30)
        best = RunCheckpoints(run_dir).manifest("best")
        trades = query(ws, "SELECT trades FROM validations")[0][0]
        assert (best is not None and best.sha256 == sha) == (trades >= 1)
    finally:
        if driver.poll() is None:
            driver.send_signal(signal.SIGTERM)
        code = driver.wait(timeout=60)
    assert code == 0, (ws / "data" / "logs" / "cluster.out").read_text()[-3000:]
    # nothing recorded twice by then, and the actor gone with the driver
    assert query(ws, "SELECT count(*) FROM validations WHERE split = 'validation'")[0][0] == 1
    if pid:
        wait_for("no actor left", lambda: not alive(pid), timeout=30)


def test_validators_in_flight_each_keep_their_checkpoint_pinned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    cfg, sha = validator_workspace(tmp_path, "127.0.0.1:1")
    run_dir = tmp_path / "checkpoints" / "main"
    store = RunCheckpoints(run_dir, keep_periodic=1)
    candidate = store.manifest("candidate")
    assert candidate is not None
    torch.manual_seed(4)
    model = MuZeroModel(MuZeroNet(network_shape(cfg.muzero)), None, {"episodes": 0})
    periodic = store.save(model, timesteps=4096, tags=["periodic"],
                          config=candidate.config, observation_spec=candidate.observation_spec,
                          feature_spec_version=FEATURE_SPEC_VERSION, agent="muzero",
                          pinned=candidate.pinned, state={"counters": {"episodes": 0}})
    # a driver killed mid-validation left both kinds of pin behind
    store.point("validating", candidate)
    store.point("validating-3", candidate)
    monkeypatch.setattr(ray, "put", lambda value: value)  # no cluster: the bytes themselves
    conn = connect(tmp_path / "data" / "console.sqlite")
    try:
        driver = ClusterDriver(cfg, Workspace(tmp_path), "main",
                               ClusterStore(conn, "main", tmp_path / "checkpoints"))
        driver._start_validation()
        assert not (run_dir / "validating.json").exists()
        assert not (run_dir / "validating-3.json").exists()
        assert driver.poll_checkpoints() == 2
        slots = [ActorSlot(f"validator-{i}", 0, role="validator", handle=FakeHandle())
                 for i in (1, 2)]
        for slot in slots:
            driver._send_validation(slot)
        jobs = [s.job for s in slots]
        assert [j.manifest.sha256 for j in jobs if j] == [periodic.sha256, sha]  # newest first
        pins = {tag: store.manifest(tag) for tag in ("validating", "validating-2")}
        assert {t: m.sha256 for t, m in pins.items() if m} == {"validating": periodic.sha256,
                                                               "validating-2": sha}
        # the run prunes the periodic checkpoint and gc runs: both models stay
        (run_dir / f"{periodic.tag}.json").unlink()
        store.gc()
        assert (run_dir / periodic.model_file).is_file()
        assert (run_dir / candidate.model_file).is_file()
        # one actor's failure releases its own pin only
        assert jobs[1] is not None
        driver._failed(slots[1], jobs[1], ValueError("boom"))
        assert not (run_dir / "validating-2.json").exists()
        assert store.manifest("validating") is not None
    finally:
        conn.close()
    with pytest.raises(Exception, match="cannot be pointed"):
        store.point("validating-x", candidate)
