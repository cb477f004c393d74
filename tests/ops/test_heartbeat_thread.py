"""Heartbeats from their own thread, with real worker processes under the real supervisor:
a main loop blocked in a long call stays RUNNING; one stuck far longer is still restarted
as hung, with a ``worker-stalled`` event and its stack in the log."""

from __future__ import annotations

import itertools
import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fxconsole.ops.db import connect
from fxconsole.ops.heartbeat import STALL_EVENT, Progress, stall_limit
from fxconsole.ops.states import ProgramSpec, WorkerState, WorkerStatus
from fxconsole.ops.supervisor import Supervisor

WORKER = Path(__file__).with_name("_heartbeat_worker.py")
TIMEOUT = 1.0  # supervisor.heartbeat_timeout: beats every 0.2 s, stall limit 5 s
CONFIG = f"[supervisor]\nheartbeat_timeout = {TIMEOUT}\n"


class Watch:
    """The real supervisor over one ``_heartbeat_worker.py``, heartbeats from SQLite."""

    def __init__(self, ws: Path, mode: str, *args: str) -> None:
        (ws / "fxconsole.toml").write_text(CONFIG)
        self.db = ws / "data" / "console.sqlite"
        self.conn = connect(self.db)  # creates the schema before the worker starts
        self.changes: list[WorkerStatus] = []
        spec = ProgramSpec(
            name="hb", role="validator", argv=(sys.executable, str(WORKER), str(ws), mode, *args),
            startsecs=1.5, stopwaitsecs=5.0, heartbeat_timeout=TIMEOUT, backoff_base=0.5,
            log_file=ws / "data" / "logs" / "hb.out", cwd=ws)
        self.sup = Supervisor([spec], heartbeats=self.heartbeat, on_change=self.changes.append)

    def heartbeat(self, name: str) -> float | None:
        row = self.conn.execute("SELECT ts FROM heartbeats WHERE worker = ?", (name,)).fetchone()
        return None if row is None else float(row[0])

    def beat_info(self) -> dict[str, object]:
        row = self.conn.execute("SELECT info FROM heartbeats WHERE worker = 'hb'").fetchone()
        return {} if row is None else dict(json.loads(row[0]))

    def run_until(self, what: str, done: object, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sup.tick()
            if callable(done) and done():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")

    def state(self) -> WorkerState:
        return self.sup.status("hb").state

    def close(self) -> None:
        self.sup.shutdown(10)
        self.conn.close()


@pytest.fixture
def watch(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Watch]:
    w = Watch(tmp_path, *request.param)
    yield w
    w.close()


@pytest.mark.parametrize("watch", [("slow", str(2.5 * TIMEOUT))], indirect=True)
def test_a_long_call_is_not_a_hang(watch: Watch) -> None:
    watch.sup.start("hb")
    watch.run_until("the worker RUNNING", lambda: watch.state() is WorkerState.RUNNING)
    ages: list[float] = []

    def two_long_calls() -> bool:
        age = watch.beat_info().get("loop_age")
        if isinstance(age, float):
            ages.append(age)
        assert watch.state() is WorkerState.RUNNING, watch.changes[-1]
        return sum(1 for a, b in itertools.pairwise(ages) if b < a) >= 2

    watch.run_until("two long calls", two_long_calls)
    assert max(ages) > 2 * TIMEOUT  # beats written while the main loop was blocked
    assert watch.sup.status("hb").restarts == 0
    # SIGTERM inside the long call: the worker finishes the call and exits 0 in time
    watch.sup.stop("hb")
    watch.run_until("the worker stopped", lambda: watch.state() is WorkerState.STOPPED)
    assert watch.sup.status("hb").exit_code == 0


@pytest.mark.parametrize("watch", [("stuck",)], indirect=True)
def test_a_stuck_main_loop_is_still_restarted(watch: Watch) -> None:
    watch.sup.start("hb")
    watch.run_until("the worker RUNNING", lambda: watch.state() is WorkerState.RUNNING)
    watch.run_until("the stuck worker restarted as hung",
                    lambda: watch.sup.status("hb").restarts >= 1, timeout=40)
    hung = [c for c in watch.changes if c.message.startswith("heartbeat stale")]
    assert hung, [c.message for c in watch.changes]
    [(source, level, message)] = watch.conn.execute(
        "SELECT source, level, message FROM events WHERE kind = ?", (STALL_EVENT,)).fetchall()
    assert (source, level) == ("hb", "error")
    assert "no progress" in message and f"stall limit {stall_limit(TIMEOUT):g} s" in message
    log = (watch.db.parent / "logs" / "hb.log").read_text()
    assert "stuck_for_ever" in log  # the main thread's stack, where it hangs


def test_progress_ages_until_the_next_mark() -> None:
    now = [100.0]
    progress = Progress(clock=lambda: now[0])
    now[0] += 50.0
    assert progress.age() == 50.0
    progress.mark(7, {"x": 1})
    assert (progress.age(), progress.step, progress.info) == (0.0, 7, {"x": 1})


def test_beat_once_stops_beating_past_the_limit(tmp_path: Path) -> None:
    from fxconsole.ops.heartbeat import HeartbeatThread

    now = [0.0]
    progress = Progress(clock=lambda: now[0])
    conn: sqlite3.Connection = connect(tmp_path / "c.sqlite")
    beats = HeartbeatThread(tmp_path / "c.sqlite", "w", progress, 1.0, limit=10.0)
    now[0] = 9.0
    assert beats.beat_once(conn)
    now[0] = 11.0
    assert not beats.beat_once(conn) and beats.stalled
    progress.exempt = 1  # a declared long call (keepalive): beats go on, marked busy
    assert beats.beat_once(conn)
    info = json.loads(conn.execute("SELECT info FROM heartbeats").fetchone()[0])
    assert info == {"loop_age": 11.0, "busy": True}
    assert conn.execute("SELECT count(*) FROM events WHERE kind = ?",
                        (STALL_EVENT,)).fetchone()[0] == 1
    conn.close()


def test_the_trainer_warns_once_when_an_update_outlasts_half_the_stop_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from fxconsole.config import Config
    from workers import trainer

    events: list[tuple[str, str]] = []
    rt = SimpleNamespace(config=Config(), writer=SimpleNamespace(
        event=lambda level, kind, message, data: events.append((kind, message))))
    now = [1000.0]
    monkeypatch.setattr(trainer.time, "monotonic", lambda: now[0])
    ctl = trainer.TrainerControl(left_control=now[0])
    now[0] += 4.0  # under half of stopwaitsecs = 10 s
    trainer._check_update_time(rt, ctl)  # type: ignore[arg-type]
    assert events == []
    now[0] += 6.0
    trainer._check_update_time(rt, ctl)  # type: ignore[arg-type]
    now[0] += 60.0
    trainer._check_update_time(rt, ctl)  # type: ignore[arg-type]
    [(kind, message)] = events
    assert kind == "slow-update" and "supervisor.stopwaitsecs = 10 s" in message
