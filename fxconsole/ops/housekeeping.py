"""The supervisor's housekeeping: bounded database, rotated output files, pruned reports.

Every ``ops.retention_seconds`` the supervisor's loop starts a round: it rotates the
workers' ``.out`` files and ``supervisor.log`` past ``ops.log_max_mb``, prunes the
reports of garbage-collected models, and starts a retention pass
(:mod:`fxconsole.ops.retention`). The pass is a generator of short transactions; each
:meth:`Housekeeper.tick` advances it for at most ``slice_seconds``, so supervision (heart
beats, commands) never waits long for it. A failing round is logged and retried at the
next one: housekeeping never stops the supervisor.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from fxconsole.config import OpsConfig
from fxconsole.ops.db import ensure_incremental_vacuum
from fxconsole.ops.logrotate import rotate_if_larger
from fxconsole.ops.report_gc import prune_reports
from fxconsole.ops.retention import MB, PassReport, RetentionPolicy, retention_steps

logger = logging.getLogger(__name__)

SLICE_SECONDS = 0.1
FIRST_ROUND_SECONDS = 30.0  # after start: let the workers come up first


class Housekeeper:
    """Runs housekeeping rounds from the supervisor's loop (one thread, its connection)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        ops: OpsConfig,
        checkpoints_dir: Path,
        log_files: Sequence[Path],
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        slice_seconds: float = SLICE_SECONDS,
    ) -> None:
        """Convert the database to incremental vacuum if needed (call before workers start).

        Args:
            conn: the supervisor's console connection.
            ops: the ``[ops]`` section.
            checkpoints_dir: the workspace's ``checkpoints/`` (reports of every run).
            log_files: files rotated by size (``<worker>.out``, ``supervisor.log``).
            clock: monotonic seconds, schedules rounds.
            wall_clock: UNIX seconds, the retention pass's "now".
            slice_seconds: the longest a tick advances the retention pass (real time).
        """
        self.conn, self.ops, self.checkpoints_dir = conn, ops, checkpoints_dir
        self.log_files = list(log_files)
        self.clock, self.wall_clock, self.slice_seconds = clock, wall_clock, slice_seconds
        self.policy = RetentionPolicy.from_config(ops)
        self.last: PassReport | None = None
        self._pass: Iterator[str] | None = None
        self._report = PassReport()
        self._next = clock() + min(FIRST_ROUND_SECONDS, ops.retention_seconds)
        try:
            ensure_incremental_vacuum(conn)
        except sqlite3.Error:
            logger.exception("could not convert the console database to incremental vacuum")

    def tick(self) -> None:
        """Start a round when one is due; advance a running retention pass a little."""
        now = self.clock()
        if self._pass is None and now >= self._next:
            self._next = now + self.ops.retention_seconds
            self._start_round()
        if self._pass is not None:
            self._advance(self._pass, time.monotonic() + self.slice_seconds)

    def _start_round(self) -> None:
        max_bytes = int(self.ops.log_max_mb * MB)
        for path in self.log_files:
            try:
                rotate_if_larger(path, max_bytes, self.ops.log_backups)
            except OSError:
                logger.exception("could not rotate %s", path)
        try:
            prune_reports(self.checkpoints_dir)
        except OSError:
            logger.exception("could not prune reports in %s", self.checkpoints_dir)
        self._report = PassReport()
        self._pass = retention_steps(self.conn, self.policy, self.wall_clock(), self._report)

    def _advance(self, steps: Iterator[str], deadline: float) -> None:
        try:
            while time.monotonic() < deadline:
                next(steps)
        except StopIteration:
            self._pass, self.last = None, self._report
            r = self._report
            logger.info("retention pass: -%d trades, -%d episodes, -%d metric rows, -%d "
                        "pages; %.1f MB in use (pressure %d)", r.trades, r.episodes,
                        r.metrics, r.pages_freed, r.used_bytes / MB, r.level)
        except (sqlite3.Error, OSError):
            self._pass = None
            logger.exception("retention pass failed; retrying at the next round")
