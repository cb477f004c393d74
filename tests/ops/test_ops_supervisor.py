"""The supervisor with real processes: crashes, hangs, kill -9, stubborn workers, orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from fxconsole.ops.process import group_members, is_alive
from fxconsole.ops.states import ProgramSpec, WorkerState, WorkerStatus
from fxconsole.ops.supervisor import Supervisor

S = WorkerState
HERE = Path(__file__).parent
WORKER = HERE / "_ops_worker.py"
SUPERVISOR_MAIN = HERE / "_ops_supervisor_main.py"


class Pool:
    """A supervisor over helper workers in ``tmp_path``, heartbeats read from file mtimes."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.changes: list[WorkerStatus] = []
        self.specs: list[ProgramSpec] = []
        self._supervisor: Supervisor | None = None

    def add(self, name: str, mode: str, **options: object) -> ProgramSpec:
        fields: dict[str, object] = {"startsecs": 0.3, "stopwaitsecs": 1.0,
                                     "backoff_base": 0.1, "heartbeat_timeout": 5.0}
        fields.update(options)
        spec = ProgramSpec(
            name=name, role=mode,
            argv=(sys.executable, str(WORKER), mode, str(self.dir / f"{name}.hb"),
                  str(self.dir / f"{name}.pids")),
            log_file=self.dir / "logs" / f"{name}.log", **fields,  # type: ignore[arg-type]
        )
        self.specs.append(spec)
        return spec

    def heartbeat(self, name: str) -> float | None:
        try:
            return (self.dir / f"{name}.hb").stat().st_mtime
        except FileNotFoundError:
            return None

    @property
    def sup(self) -> Supervisor:
        if self._supervisor is None:
            self._supervisor = Supervisor(self.specs, heartbeats=self.heartbeat,
                                          on_change=self.changes.append)
        return self._supervisor

    def run_until(self, done: Callable[[], bool], timeout: float = 10.0) -> float:
        """Tick every 50 ms until ``done()``; return the seconds it took."""
        start = time.monotonic()
        while not done():
            assert time.monotonic() - start < timeout, f"timed out: {self.sup.statuses()}"
            time.sleep(0.05)
            self.sup.tick()
        return time.monotonic() - start

    def tick_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(0.05)
            self.sup.tick()

    def state(self, name: str) -> WorkerState:
        return self.sup.status(name).state

    def states_seen(self, name: str) -> list[WorkerState]:
        return [c.state for c in self.changes if c.name == name]


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[Pool]:
    pool = Pool(tmp_path)
    yield pool
    if pool._supervisor is not None:
        pool.sup.shutdown(timeout=3.0)
        assert all(s.pid is None for s in pool.sup.statuses())


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def assert_no_process_left(pgids: list[int], pids: Sequence[int] = (),
                           timeout: float = 10.0) -> None:
    """Every group is empty (killpg → ESRCH, nothing in /proc) and every pid is gone.

    killpg also counts zombies, which wait for init to reap them (about a second here).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [g for g in pgids if not group_gone(g) or group_members(g)]
        alive = [p for p in pids if is_alive(p)]
        if not left and not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes left: groups {left}, pids {alive}")


def test_loop_worker_runs_beats_and_stops_on_sigterm(pool: Pool) -> None:
    pool.add("loop", "loop")
    pool.sup.tick()
    assert pool.state("loop") is S.STARTING
    pool.run_until(lambda: pool.state("loop") is S.RUNNING)
    pid = pool.sup.status("loop").pid
    assert pid is not None and os.getpgid(pid) == pid  # leader of its own group
    beat = pool.heartbeat("loop")
    started = pool.sup.status("loop").started_at
    assert beat is not None and started is not None and beat >= started - 1.0  # this worker's
    pool.sup.stop("loop")
    pool.run_until(lambda: pool.state("loop") is S.STOPPED, timeout=3.0)
    status = pool.sup.status("loop")
    assert (status.exit_code, status.pid, status.restarts) == (0, None, 0)
    assert pool.states_seen("loop") == [S.STARTING, S.RUNNING, S.STOPPING, S.STOPPED]
    log = (pool.dir / "logs" / "loop.log").read_text()
    assert "starting loop" in log and "SIGTERM: exiting 0" in log
    assert_no_process_left([pid])


def test_crash_at_start_backs_off_then_is_fatal(pool: Pool) -> None:
    pool.add("crash", "crash", startretries=2, backoff_base=0.1)
    pool.run_until(lambda: pool.state("crash") is S.FATAL)
    assert pool.states_seen("crash") == [
        S.STARTING, S.BACKOFF, S.STARTING, S.BACKOFF, S.STARTING, S.FATAL]
    status = pool.sup.status("crash")
    assert (status.exit_code, status.retries, status.restarts) == (1, 3, 2)
    assert (pool.dir / "logs" / "crash.log").read_text().count("crashing at start") == 3
    pool.tick_for(0.5)
    assert pool.state("crash") is S.FATAL  # stays until an operator restart
    pool.sup.restart("crash")
    assert pool.state("crash") is S.STARTING
    pool.run_until(lambda: pool.state("crash") is S.FATAL)


@pytest.mark.slow
def test_hung_worker_is_killed_and_restarted(pool: Pool) -> None:
    pool.add("hang", "hang", heartbeat_timeout=1.0, stopwaitsecs=0.5)
    pool.run_until(lambda: pool.state("hang") is S.RUNNING)
    first = pool.sup.status("hang").pid
    assert first is not None
    pool.run_until(lambda: pool.sup.status("hang").restarts >= 1)
    hung = [c for c in pool.changes if c.state is S.STOPPING]
    assert hung and "heartbeat stale" in hung[0].message
    pool.run_until(lambda: pool.state("hang") is S.RUNNING)
    assert pool.sup.status("hang").pid != first
    assert_no_process_left([first])


def test_kill_9_is_back_to_running_and_counted(pool: Pool) -> None:
    pool.add("loop", "loop")
    pool.run_until(lambda: pool.state("loop") is S.RUNNING)
    first = pool.sup.status("loop").pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    pool.run_until(lambda: pool.state("loop") is S.RUNNING
                   and pool.sup.status("loop").pid != first, timeout=5.0)
    status = pool.sup.status("loop")
    assert status.restarts == 1 and status.exit_code == -9
    assert S.EXITED in pool.states_seen("loop")


@pytest.mark.slow
def test_sigterm_ignored_means_sigkill_after_stopwaitsecs(pool: Pool) -> None:
    pool.add("deaf", "stubborn", stopwaitsecs=0.6)
    pool.run_until(lambda: pool.state("deaf") is S.RUNNING)
    pid = pool.sup.status("deaf").pid
    assert pid is not None
    pool.sup.stop("deaf")
    took = pool.run_until(lambda: pool.state("deaf") is S.STOPPED, timeout=5.0)
    assert took >= 0.6
    assert pool.sup.status("deaf").exit_code == -signal.SIGKILL
    assert_no_process_left([pid])


@pytest.mark.slow
@pytest.mark.parametrize("how", ["stop", "shutdown"])
def test_grandchildren_die_with_their_worker(pool: Pool, how: str) -> None:
    pool.add("parent", "grandchild")
    pool.run_until(lambda: pool.state("parent") is S.RUNNING
                   and (pool.dir / "parent.pids").exists())
    pid = pool.sup.status("parent").pid
    assert pid is not None
    grandchildren = [int(p) for p in (pool.dir / "parent.pids").read_text().split()]
    assert sorted(group_members(pid)) == sorted([pid, *grandchildren])
    if how == "stop":
        pool.sup.stop("parent")
        pool.run_until(lambda: pool.state("parent") is S.STOPPED, timeout=5.0)
        assert pool.sup.status("parent").exit_code == 0  # the leader itself exited cleanly
    else:
        pool.sup.shutdown(timeout=3.0)
        assert pool.state("parent") is S.STOPPED
    assert_no_process_left([pid], grandchildren)


@pytest.mark.slow
def test_sigterm_to_run_forever_stops_every_worker_and_leaves_no_orphan(
    tmp_path: Path,
) -> None:
    modes = ["loop", "loop", "stubborn", "grandchild"]
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1])}
    proc = subprocess.Popen([sys.executable, str(SUPERVISOR_MAIN), str(tmp_path),
                             ",".join(modes)], env=env, start_new_session=True)
    try:
        workers = _wait_all_running(tmp_path / "status.json", len(modes), proc)
        pgids = [int(str(w["pid"])) for w in workers.values()]
        grandchildren = [int(p) for p in (tmp_path / "w3.pids").read_text().split()]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert_no_process_left(pgids, grandchildren)
    final = json.loads((tmp_path / "status.json").read_text())["workers"]
    assert {w["state"] for w in final.values()} == {"STOPPED"}
    assert final["w2"]["exit_code"] == -signal.SIGKILL  # the stubborn one
    assert "SIGTERM; stopping every worker" in (tmp_path / "supervisor.log").read_text()


def _wait_all_running(path: Path, count: int, proc: subprocess.Popen[bytes],
                      timeout: float = 15.0) -> dict[str, dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the supervisor died"
        try:
            workers: dict[str, dict[str, object]] = json.loads(path.read_text())["workers"]
        except (FileNotFoundError, json.JSONDecodeError):
            workers = {}
        running = len(workers) == count and all(w["state"] == "RUNNING" for w in workers.values())
        if running and (path.parent / "w3.pids").exists():
            return workers
        time.sleep(0.1)
    raise AssertionError(f"workers not all RUNNING: {path.read_text()}")
