"""The whole system as real processes: `fxconsole --no-ui`, its workers, commands, kill -9,
a second supervisor, and SIGTERM leaving no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fxconsole.config import Config, with_overrides
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore

from system_support import FXCONSOLE, alive, query, wait_for, workers  # isort: skip

pytestmark = pytest.mark.slow
CONFIG = """
[ppo]
n_envs = 2
n_steps = 128
batch_size = 64
n_epochs = 1
[train]
latest_every = 2000
periodic_every = 4000
keep_periodic = 100
progress_seconds = 0.5
[supervisor]
startsecs = 1.0
stopwaitsecs = 8.0
heartbeat_timeout = 30.0
status_seconds = 1.0
[workers]
collector_pause = 0.5
validator_poll = 1.0
[live]
bars_per_second = 50.0
"""


def ctl(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FXCONSOLE, "--workspace", str(ws), "ctl", *args, "--timeout", "60"],
                          capture_output=True, text=True, timeout=120)


@contextlib.contextmanager
def running_system(ws: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """`fxconsole --no-ui` on a new workspace ``ws`` with all four workers RUNNING; killed
    (the whole process group) at the end if still running."""
    (ws / "fxconsole.toml").write_text(CONFIG)
    cfg = with_overrides(Config(), "synth", years=0.15, seed=12)
    with MarketStore(ws / "data" / "market.duckdb") as store:
        synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
    log = (ws / "supervisor.out").open("w")
    proc = subprocess.Popen([FXCONSOLE, "--workspace", str(ws), "--no-ui"], stdout=log,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for("all four workers RUNNING",
                 lambda: len(w := workers(ws)) == 4
                 and all(s == "RUNNING" for s, _, _ in w.values()), timeout=90)
        yield ws, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def system(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """The system the module's tests share: none of them stops it."""
    with running_system(tmp_path_factory.mktemp("system")) as running:
        yield running


@pytest.fixture
def own_system(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A system of the test's own, for a test that stops it."""
    with running_system(tmp_path) as running:
        yield running


def test_status_reports_every_worker(system: tuple[Path, subprocess.Popen[str]]) -> None:
    ws, _ = system
    wait_for("training metrics", lambda: query(ws, "SELECT 1 FROM metrics WHERE key = "
                                                   "'train/timesteps' LIMIT 1"))
    out = subprocess.run([FXCONSOLE, "--workspace", str(ws), "status", "--json", "--check"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    snap = json.loads(out.stdout)
    assert {w["name"] for w in snap["workers"]} == {"trainer", "collector-1", "validator", "live"}
    assert snap["supervisor_pid"] == system[1].pid
    assert snap["metrics"]["train/timesteps"] > 0


def test_commands_reach_their_workers(system: tuple[Path, subprocess.Popen[str]]) -> None:
    ws, _ = system
    done = ctl(ws, "checkpoint-now")
    assert done.returncode == 0 and "done" in done.stdout, done.stdout + done.stderr
    wait_for("a latest checkpoint", lambda: (ws / "checkpoints" / "main" / "latest.json").exists())
    wait_for("the checkpoint registry row",
             lambda: query(ws, "SELECT 1 FROM checkpoints WHERE run = 'main' AND tag = 'latest'"),
             timeout=20)
    assert query(ws, "SELECT name FROM runs") == [("main",)]
    assert ctl(ws, "pause").returncode == 0
    assert ctl(ws, "resume").returncode == 0
    deploy = ctl(ws, "deploy", "live", "main/latest")
    assert deploy.returncode == 0 and "deployed" in deploy.stdout, deploy.stdout + deploy.stderr
    assert (ws / "checkpoints" / "main" / "deployed.json").exists()
    assert ctl(ws, "kill-switch").returncode == 0
    bad = ctl(ws, "rollback-to", "trainer", "no-such-run")
    assert bad.returncode == 1 and "failed" in bad.stdout
    rows = query(ws, "SELECT verb, state FROM commands ORDER BY id")
    assert [v for v, _ in rows][-6:] == ["checkpoint-now", "pause", "resume", "deploy",
                                         "kill-switch", "rollback-to"]
    assert [s for _, s in rows][-6:] == ["done"] * 5 + ["failed"]


def metric(ws: Path, key: str) -> float | None:
    rows = query(ws, "SELECT value FROM metrics WHERE key = ? ORDER BY rowid DESC LIMIT 1", key)
    return rows[0][0] if rows else None


@pytest.fixture
def deployed_and_killed(
    system: tuple[Path, subprocess.Popen[str]],
) -> tuple[Path, subprocess.Popen[str]]:
    """The shared system with main/latest deployed to live and the kill switch engaged."""
    ws, _ = system
    done = ctl(ws, "checkpoint-now")
    assert done.returncode == 0 and "done" in done.stdout, done.stdout + done.stderr
    wait_for("a latest checkpoint", lambda: (ws / "checkpoints" / "main" / "latest.json").exists())
    deploy = ctl(ws, "deploy", "live", "main/latest")
    assert deploy.returncode == 0 and "deployed" in deploy.stdout, deploy.stdout + deploy.stderr
    wait_for("the deployment in live's metrics", lambda: metric(ws, "live/deployed") == 1.0)
    killed = ctl(ws, "kill-switch")
    assert killed.returncode == 0, killed.stdout + killed.stderr
    return system


def test_workers_do_their_jobs(deployed_and_killed: tuple[Path, subprocess.Popen[str]]) -> None:
    ws, _ = deployed_and_killed
    # validator: periodic checkpoints and candidates get validated and recorded
    wait_for("a validation row", lambda: query(ws, "SELECT 1 FROM validations LIMIT 1"),
             timeout=90)
    # its event follows the row (the worker's writer flushes it after the promotion)
    wait_for("a validation event",
             lambda: query(ws, "SELECT 1 FROM events WHERE kind = 'validation' LIMIT 1"))
    # collector: out-of-sample episodes with the newest checkpoint
    wait_for("collector episodes",
             lambda: query(ws, "SELECT 1 FROM episodes WHERE source = 'collect' LIMIT 1"))
    # live (deployed and kill-switched by the fixture): flat, entries stopped
    assert metric(ws, "live/deployed") == 1.0
    wait_for("the kill switch in live's metrics", lambda: metric(ws, "live/kill_switch") == 1.0)
    wait_for("a flat position", lambda: metric(ws, "live/position") == 0.0)
    # trainer: roll back to the oldest periodic checkpoint → the step counter goes back
    periodic = sorted(p.stem for p in (ws / "checkpoints" / "main").glob("periodic-*.json"))
    assert periodic
    target = int(periodic[0].split("-")[1])
    now = metric(ws, "train/timesteps") or 0.0
    wait_for("training past the rollback target", lambda: (metric(ws, "train/timesteps") or 0)
             > target + 2000)
    done = ctl(ws, "rollback-to", "trainer", f"main/{periodic[0]}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (ws / "checkpoints" / "main" / "rollback.json").exists()
    wait_for("training resumed from the rollback target", lambda: query(
        ws, "SELECT 1 FROM metrics WHERE key = 'train/timesteps' AND value < ? AND value >= ?"
        " AND ts > (SELECT max(created) FROM commands WHERE verb = 'rollback-to')",
        max(now, target + 2000), target), timeout=60)
    assert query(ws, "SELECT 1 FROM events WHERE kind = 'rollback' LIMIT 1")


def test_a_second_supervisor_is_refused(system: tuple[Path, subprocess.Popen[str]]) -> None:
    ws, proc = system
    second = subprocess.run([FXCONSOLE, "--workspace", str(ws), "--no-ui", "--duration", "5"],
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 1
    assert str(proc.pid) in second.stderr


def test_kill_9_worker_comes_back(system: tuple[Path, subprocess.Popen[str]]) -> None:
    ws, _ = system
    _, pid, restarts = workers(ws)["trainer"]
    os.kill(pid, signal.SIGKILL)
    _, _, new_restarts = wait_for(
        "the trainer RUNNING again",
        lambda: (w := workers(ws)["trainer"])[0] == "RUNNING" and w[1] != pid and w, timeout=30)
    assert new_restarts > restarts


def test_sigterm_stops_everything_without_orphans(
    own_system: tuple[Path, subprocess.Popen[str]]
) -> None:
    ws, proc = own_system
    pids = [p for _, p, _ in workers(ws).values() if p]
    assert len(pids) == 4
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    def group_gone(pgid: int) -> bool:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        return False

    for pid in pids:
        # Reaped processes can linger a moment in this sandbox's init: poll briefly.
        wait_for(f"worker pid {pid} gone", lambda p=pid: not alive(p), timeout=10)
        wait_for(f"process group {pid} gone", lambda p=pid: group_gone(p), timeout=10)
    assert {s for s, _, _ in workers(ws).values()} == {"STOPPED"}
    codes = query(ws, "SELECT name, exit_code FROM workers")
    assert all(code == 0 for _, code in codes), codes  # SIGTERM → finish the step, exit 0


def test_workers_never_outlive_a_killed_supervisor(tmp_path: Path) -> None:
    ws = tmp_path
    only_trainer = "[supervisor]\ncollectors = 0\nvalidator = false\nlive = false\n"
    (ws / "fxconsole.toml").write_text(CONFIG.replace("[supervisor]\n", only_trainer))
    cfg = with_overrides(Config(), "synth", years=0.1, seed=13)
    with MarketStore(ws / "data" / "market.duckdb") as store:
        synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
    proc = subprocess.Popen([FXCONSOLE, "--workspace", str(ws), "--no-ui"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _, pid, _ = wait_for(
            "the trainer RUNNING",
            lambda: (w := workers(ws).get("trainer")) and w[0] == "RUNNING" and w, timeout=90)
        assert set(workers(ws)) == {"trainer"}
        proc.kill()
        proc.wait(timeout=10)
        wait_for("the orphaned trainer to exit by itself", lambda: not alive(pid), timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
