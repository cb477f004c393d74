"""Heartbeats from their own thread, and the rule that still catches a stuck main loop.

A worker's main loop stamps its progress (:meth:`Progress.mark`, called by
``WorkerRuntime.beat`` every loop iteration); a daemon :class:`HeartbeatThread`, with its
own SQLite connection, writes the heartbeat row every ``beat_every`` seconds whatever the
main loop is doing. So a long stable-baselines3 update or a MuZero learner step, which
cannot beat itself, is not taken for a hang.

The rule (README "The worker pool"): each beat carries ``loop_age``, the seconds since the
main loop's last progress. When ``loop_age`` exceeds the *stall limit*,
``STALL_FACTOR`` × ``supervisor.heartbeat_timeout`` (5 × 60 s by default), the thread
stops beating, logs the main thread's stack and writes a ``worker-stalled`` event; the
supervisor then sees a stale heartbeat after ``heartbeat_timeout`` more seconds and
restarts the worker as hung. Sections the worker declares long on purpose
(``WorkerRuntime.keepalive``, e.g. a MuZero validation) are exempt.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fxconsole.sqlitetx import dumps_json

logger = logging.getLogger(__name__)

STALL_FACTOR = 5.0
STALL_EVENT = "worker-stalled"
HEARTBEAT_UPSERT = (
    "INSERT INTO heartbeats (worker, ts, pid, step, info) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (worker) DO UPDATE SET ts = excluded.ts, pid = excluded.pid,"
    " step = excluded.step, info = excluded.info"
)
EVENT_INSERT = ("INSERT INTO events (ts, level, source, kind, message, data)"
                " VALUES (?, ?, ?, ?, ?, ?)")


def stall_limit(heartbeat_timeout: float) -> float:
    """Seconds without main-loop progress after which a worker stops beating."""
    return STALL_FACTOR * heartbeat_timeout


@dataclass
class Progress:
    """The main loop's progress stamp, read by the heartbeat thread.

    Plain attribute writes: each is atomic under the GIL, and a beat that reads a step
    and an info of two neighbouring iterations is harmless.
    """

    clock: Callable[[], float] = time.monotonic
    step: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    at: float = field(init=False)
    exempt: int = 0  # depth of declared long sections (keepalive)

    def __post_init__(self) -> None:
        self.at = self.clock()

    def mark(self, step: int, info: Mapping[str, Any] | None = None) -> None:
        """The main loop made progress at ``step``."""
        self.step, self.info, self.at = int(step), dict(info or {}), self.clock()

    def age(self) -> float:
        """Seconds since the last progress."""
        return max(self.clock() - self.at, 0.0)


class HeartbeatThread:
    """Writes ``worker``'s heartbeat every ``every`` seconds while the main loop progresses.

    Args:
        db_path: the console database.
        worker: the worker's name (the heartbeat row, the event's source).
        progress: the main loop's stamp.
        every: seconds between beats.
        limit: the stall limit in seconds (:func:`stall_limit`).
        on_beat: called before each beat (e.g. the orphan check); must not raise.
        wall_clock: UNIX time for the rows.
    """

    def __init__(
        self, db_path: Path, worker: str, progress: Progress, every: float, limit: float,
        on_beat: Callable[[], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.db_path, self.worker, self.progress = db_path, worker, progress
        self.every, self.limit = every, limit
        self.on_beat = on_beat or (lambda: None)
        self.wall_clock = wall_clock
        self.stalled = False
        self.beats = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{worker}-heartbeat",
                                        daemon=True)
        self._main_ident = threading.main_thread().ident

    def start(self) -> HeartbeatThread:
        """Start beating (the first beat at once)."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop beating and wait for the thread (at most ``timeout`` seconds)."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                try:
                    if conn is None:
                        from fxconsole.ops.db import connect

                        conn = connect(self.db_path, migrate_schema=False)
                    self.on_beat()
                    self.beat_once(conn)
                except (sqlite3.Error, OSError) as exc:  # a locked or full disk: next beat
                    logger.warning("heartbeat of %s failed: %s", self.worker, exc)
                if self._done.wait(self.every):
                    return
        finally:
            if conn is not None:
                conn.close()

    def beat_once(self, conn: sqlite3.Connection) -> bool:
        """Write one heartbeat unless the main loop is stalled; True if written."""
        p = self.progress
        age = p.age()
        if not p.exempt and age > self.limit:
            if not self.stalled:
                self.stalled = True
                self._report_stall(conn, age)
            return False
        if self.stalled:
            self.stalled = False
            logger.warning("%s: the main loop progresses again; beating again", self.worker)
        info = {**p.info, "loop_age": round(age, 3)}
        if p.exempt:
            info["busy"] = True
        conn.execute(HEARTBEAT_UPSERT, (self.worker, self.wall_clock(), os.getpid(), p.step,
                                        dumps_json(info)))
        self.beats += 1
        return True

    def _report_stall(self, conn: sqlite3.Connection, age: float) -> None:
        message = (f"{self.worker}: main loop made no progress for {age:.0f} s (stall limit "
                   f"{self.limit:g} s); heartbeats stop so the supervisor restarts it")
        logger.error("%s; main thread stack:\n%s", message, self.main_stack())
        conn.execute(EVENT_INSERT, (self.wall_clock(), "error", self.worker, STALL_EVENT,
                                    message, dumps_json({"loop_age": round(age, 3),
                                                         "step": self.progress.step})))

    def main_stack(self) -> str:
        """Where the main thread is now (for the stall report)."""
        frame = sys._current_frames().get(self._main_ident or -1)
        return "".join(traceback.format_stack(frame)) if frame is not None else "(unknown)"
