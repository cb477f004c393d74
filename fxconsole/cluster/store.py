"""What the driver writes: actor rows, heartbeats, episodes, metrics, shards, events,
validations.

Every write of a task's results is keyed by its task id (the ``cluster_tasks`` table,
created here; the shard file is named by it): a task Ray retried, or a result written
twice, is written once; a validator actor's result is recorded once by its report id
(checkpoint sha256 + split: its ``validations`` row). Heartbeat times are the driver's
clock: an actor's heartbeat is the last time the driver heard from it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fxconsole.cluster.actor import PlayResult, report_id
from fxconsole.fsutil import atomic_write
from fxconsole.ops.queries import ACTOR_MESSAGE
from fxconsole.ops.writer import INSERTS, trade_row
from fxconsole.sqlitetx import dumps_json
from fxconsole.sqlitetx import immediate as transaction

if TYPE_CHECKING:
    from fxconsole.evaluation.runner import CheckpointContext
    from fxconsole.evaluation.validate import Evaluation
    from fxconsole.ops.promotion import Promotion

logger = logging.getLogger(__name__)

TASKS_TABLE = """
CREATE TABLE IF NOT EXISTS cluster_tasks (
    task_id TEXT PRIMARY KEY,
    run TEXT NOT NULL,
    worker TEXT NOT NULL,
    ts REAL NOT NULL,
    episodes INTEGER NOT NULL
)
"""
TASKS_KEEP_SECONDS = 7 * 86400.0
# fxconsole.agents.muzero.shards' folder and suffix (importing it would load torch into
# the driver, ~180 MB it never uses; a test checks they agree)
REPLAY_DIR = "replay"
SUFFIX = ".npz"
SOURCE = "collect"  # a local collector's source
ROLE = "collector"


class ClusterStore:
    """The driver's writes into one workspace's run folder and console database."""

    def __init__(self, conn: sqlite3.Connection, run: str, checkpoints_dir: Path,
                 driver: str = "cluster", clock: Callable[[], float] = time.time) -> None:
        self.conn = conn
        self.run = run
        self.replay_dir = checkpoints_dir / run / REPLAY_DIR
        self.driver = driver
        self.clock = clock
        with transaction(conn):
            conn.execute(TASKS_TABLE)

    def actor_row(self, name: str, state: str, pid: int | None, node: str, restarts: int,
                  heartbeat_timeout: float, message: str = "", started: float | None = None,
                  role: str = ROLE) -> None:
        """Upsert the actor's ``workers`` row (role ``collector`` or ``validator``; its node
        in the message and the heartbeat's info)."""
        now = self.clock()
        stopped = now if state in ("STOPPED", "EXITED", "FATAL") else None
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO workers (name, role, state, pid, started, stopped, restarts,"
                " heartbeat_timeout, message, updated) VALUES (?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(name) DO UPDATE SET role=excluded.role, state=excluded.state,"
                " pid=excluded.pid, started=COALESCE(excluded.started, workers.started),"
                " stopped=excluded.stopped, restarts=excluded.restarts,"
                " heartbeat_timeout=excluded.heartbeat_timeout, message=excluded.message,"
                " updated=excluded.updated",
                (name, role, state, pid, started, stopped, restarts, heartbeat_timeout,
                 f"{ACTOR_MESSAGE}{node or '?'}" + (f": {message}" if message else ""), now))

    def heartbeat(self, name: str, pid: int, step: int, node: str, host: str,
                  ts: float | None = None, node_id: str = "") -> None:
        """The actor's heartbeat row, stamped with the driver's clock."""
        info = {"node": node, "node_id": node_id, "host": host, "backend": "ray",
                "driver": self.driver}
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO heartbeats (worker, ts, pid, step, info) VALUES (?,?,?,?,?)"
                " ON CONFLICT(worker) DO UPDATE SET ts=excluded.ts, pid=excluded.pid,"
                " step=excluded.step, info=excluded.info",
                (name, self.clock() if ts is None else ts, pid, step, dumps_json(info)))

    def record(self, result: PlayResult, metrics: Mapping[str, float], step: int) -> bool:
        """Write a task's shard, trades, episodes and metrics once; False if already
        written (its trades' ``timesteps`` default to ``step``)."""
        now = self.clock()
        if result.shard:  # the file first: a crash before the commit rewrites the same name
            self.replay_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(self.replay_dir / f"{result.task_id}{SUFFIX}", result.shard)
        with transaction(self.conn):
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO cluster_tasks (task_id, run, worker, ts, episodes)"
                " VALUES (?,?,?,?,?)",
                (result.task_id, self.run, result.actor, now, len(result.episodes)))
            if cur.rowcount == 0:
                logger.info("task %s was written before: skipped", result.task_id)
                return False
            self.conn.executemany(
                INSERTS["episodes"],
                [(now, self.run, result.actor, SOURCE, e.reward, e.trades, e.pips, e.length)
                 for e in result.episodes])
            if result.trades:
                self.conn.executemany(
                    INSERTS["trades"], [trade_row(t, step, now, self.run, result.actor, SOURCE)
                     for t in result.trades])
            self.conn.executemany(
                INSERTS["metrics"],
                [(now, self.run, result.actor, k, int(step), float(v))
                 for k, v in metrics.items()])
        return True

    def metrics(self, worker: str, step: int, values: Mapping[str, float]) -> None:
        """Metric rows of ``worker`` at ``step``, stamped now."""
        now = self.clock()
        with transaction(self.conn):
            self.conn.executemany(
                INSERTS["metrics"],
                [(now, self.run, worker, k, int(step), float(v)) for k, v in values.items()])

    def reported(self, report_id: str) -> bool:
        """Whether the validation ``report_id`` (``sha256:split``) is recorded for the run
        (its ``validations`` row: the write key of a validator actor's result)."""
        sha256, _, split = report_id.partition(":")
        return self.conn.execute(
            "SELECT 1 FROM validations WHERE run = ? AND sha256 = ? AND split = ? LIMIT 1",
            (self.run, sha256, split)).fetchone() is not None

    def record_validation(self, worker: str, ctx: CheckpointContext, ev: Evaluation,
                          exam: Evaluation | None, seconds: Mapping[str, float]
                          ) -> Promotion | None:
        """Record a validator actor's evaluation once, as the local validator does: the
        validation (and exam) rows, the report and chart, ``best``/``validated`` under the
        run lock (:func:`fxconsole.ops.promotion.promote`), its metrics and event.

        Args:
            worker: the actor (the metrics' worker, the event's source).
            ctx: the checkpoint's context (its manifest in this run's folder).
            ev: its evaluation on the validation split.
            exam: its evaluation on the test split, if the actor was asked for it.
            seconds: the actor's timings.

        Returns:
            What was recorded, or None if this validation was recorded before.
        """
        from fxconsole.ops.promotion import promote, validation_event, validation_metrics

        if self.reported(report_id(ctx.manifest.sha256, "validation")):
            logger.info("validation of %s was recorded before: skipped",
                        ctx.manifest.model_file)
            return None

        def examine() -> Evaluation:
            if exam is None:  # it failed validation when sent; it passes now
                raise ValueError("the test split was not evaluated by the validator actor")
            return exam

        out = promote(self.conn, ctx, ev, examine, seconds=dict(seconds))
        self.metrics(worker, int(out.report["checkpoint"]["timesteps"]),
                     validation_metrics(out.report))
        message, data = validation_event(out.report, out.best)
        self.event("info", "validation", message, data, source=worker)
        return out

    def event(self, level: str, kind: str, message: str,
              data: Mapping[str, Any] | None = None, source: str | None = None) -> None:
        """An ``events`` row (the source defaults to the driver)."""
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO events (ts, level, source, kind, message, data)"
                " VALUES (?,?,?,?,?,?)",
                (self.clock(), level, source or self.driver, kind, message,
                 dumps_json(dict(data or {}))))

    def played_before(self, name: str) -> int:
        """Episodes an actor of this name wrote for the run (a restarted driver goes on)."""
        row = self.conn.execute(
            "SELECT COALESCE(SUM(episodes), 0) FROM cluster_tasks WHERE run = ? AND worker = ?",
            (self.run, name)).fetchone()
        return int(row[0])

    def prune_tasks(self) -> int:
        """Forget task ids older than a week (a retry comes within minutes)."""
        with transaction(self.conn):
            cur = self.conn.execute("DELETE FROM cluster_tasks WHERE ts < ?",
                                    (self.clock() - TASKS_KEEP_SECONDS,))
        return cur.rowcount
