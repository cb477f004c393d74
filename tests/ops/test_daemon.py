"""`fxconsole start` / `shutdown` as real processes (the pool starts the stand-in workers of
``fake_workers/``): nothing is left behind, a second start is refused, a SIGKILLed
supervisor shows as "supervisor down" and its workers die with it (PR_SET_PDEATHSIG, while
they sit in one long sleep), and a supervisor whose workspace is deleted stops."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_support import (  # isort: skip
    CONFIG, fx, kill_everything, lock_pid, make_workspace, pids_alive, wait_until)
from system_support import query  # isort: skip


def worker_pids(ws: Path) -> list[int]:
    return [int(p) for (p,) in query(ws, "SELECT pid FROM workers WHERE pid IS NOT NULL")]


@pytest.fixture
def started(tmp_path: Path) -> Iterator[tuple[Path, list[int]]]:
    """A workspace whose supervisor `fxconsole start` started; ``(ws, [supervisor, workers…])``
    (every process SIGKILLed at the end if a test left one)."""
    ws = make_workspace(tmp_path / "ws")
    out = fx(ws, "start")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all 2 workers RUNNING" in out.stdout
    supervisor = lock_pid(ws)
    assert supervisor is not None
    pids = [supervisor, *worker_pids(ws)]
    assert len(pids) == 3 and pids_alive(pids) == pids
    try:
        yield ws, pids
    finally:
        kill_everything(pids)


def test_start_then_shutdown_leave_no_process(started: tuple[Path, list[int]]) -> None:
    ws, pids = started
    again = fx(ws, "start")
    assert again.returncode == 1
    assert f"pid {pids[0]} holds" in again.stderr and "supervisor.lock" in again.stderr
    out = fx(ws, "shutdown")
    assert out.returncode == 0, out.stdout + out.stderr
    assert pids_alive(pids) == []  # it returned only once every process was gone
    assert query(ws, "SELECT DISTINCT state FROM workers") == [("STOPPED",)]
    status = fx(ws, "status", "--check")
    assert status.returncode == 1 and "every worker is STOPPED" in status.stdout
    assert fx(ws, "shutdown").stdout.startswith("no supervisor runs")


def test_a_sigkilled_supervisor_is_down_and_its_workers_die(
        started: tuple[Path, list[int]]) -> None:
    ws, pids = started
    os.kill(pids[0], signal.SIGKILL)
    # the fake workers sleep in one 300 s call and never check their parent: only the
    # kernel's parent-death signal can end them
    wait_until("the workers to die with their supervisor", lambda: not pids_alive(pids),
               timeout=15)
    out = fx(ws, "status", "--json", "--check")
    assert out.returncode == 1
    snap = json.loads(out.stdout)
    assert snap["supervisor"] == {"state": "down", "pid": None, "dead_pid": pids[0]}
    assert {w["state"] for w in snap["workers"]} == {"UNKNOWN"}
    assert {w["recorded_state"] for w in snap["workers"]} == {"RUNNING"}
    assert any("supervisor down" in p for p in snap["problems"])
    text = fx(ws, "status")
    assert f"supervisor down (pid {pids[0]} is gone" in text.stdout
    assert "RUNNING" not in text.stdout.split("problem:")[0]
    ctl = fx(ws, "ctl", "stop", "all", "--timeout", "5")
    assert ctl.returncode == 1 and "supervisor down" in ctl.stderr and "--queue" in ctl.stderr
    assert query(ws, "SELECT COUNT(*) FROM commands") == [(0,)]  # nothing queued silently
    cleared = fx(ws, "shutdown")
    assert cleared.returncode == 0 and "is gone" in cleared.stdout, cleared.stdout
    after = json.loads(fx(ws, "status", "--json").stdout)
    assert after["supervisor"]["state"] == "not running"


def test_a_supervisor_whose_workspace_vanished_stops(
        started: tuple[Path, list[int]]) -> None:
    ws, pids = started
    shutil.rmtree(ws)
    wait_until("the supervisor and its workers to stop", lambda: not pids_alive(pids),
               timeout=30)


def test_start_says_why_a_worker_is_fatal(tmp_path: Path) -> None:
    # startsecs 3: the stand-in fails well before it would count as RUNNING
    ws = make_workspace(tmp_path / "ws", {"trainer": "config-error"},
                        CONFIG.replace("startsecs = 0.5", "startsecs = 3.0"))
    try:
        out = fx(ws, "start")
        assert out.returncode == 1
        assert "worker trainer is FATAL" in out.stderr
        assert "ConfigError: fake.toml: ppo.n_envs = 0 must be ≥ 1" in out.stderr
    finally:
        pids = [p for p in [lock_pid(ws), *worker_pids(ws)] if p]
        assert fx(ws, "shutdown").returncode == 0
        assert pids_alive(pids) == []
        kill_everything(pids)
