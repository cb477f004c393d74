"""Bounded console database: the retention policy (pure) and the pass that applies it.

What the pass does, each step its own short ``BEGIN IMMEDIATE`` transaction so workers
writing at the same time wait milliseconds, not seconds:

- **trades** of sources ``train`` and ``collect``: the newest ``trade_rows`` per run and
  source are kept, older rows deleted; of a run the ``runs`` table marks inactive (not
  the one the supervisor follows) only the floor, :data:`MIN_TRADE_ROWS`. Every trade
  stays counted: ``trade_totals`` is kept by an insert trigger (schema v6), so counts, win
  rate, expectancy and SQN of all trades ever written are exact
  (:func:`fxconsole.ops.totals.trade_totals`).
- **episodes** of ``train`` and ``collect``: the newest ``episode_rows`` per run and source,
  :data:`MIN_EPISODE_ROWS` of an inactive run (counted in ``episode_totals``).
- **metrics** are downsampled with age: full resolution for ``full_seconds``, then one row
  per (run, worker, key) a minute for ``minute_seconds`` more, then one an hour. The row
  kept in a bucket is its newest, so the latest value of every key never changes. Each
  tier remembers (``retention_state``) how far it got, so a pass only reads new rows.
- **never pruned**: commands, events, orders (the journal), live and backtest trades,
  validations, checkpoints, runs: the audit trail.
- then ``PRAGMA incremental_vacuum`` returns the freed pages, so the file shrinks.

When the data still in use passes :data:`HIGH_WATER` of the budget, the pass raises its
*pressure* level and runs again with half the rows and windows per level (down to the
floors of :meth:`RetentionPolicy.under_pressure`); below :data:`LOW_WATER` the level falls
back one step per pass. :func:`retention_steps` yields after each transaction, so the
supervisor can spread a pass over its loop.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace

from fxconsole.config import OpsConfig
from fxconsole.sqlitetx import immediate

logger = logging.getLogger(__name__)

MB = 1024 * 1024
PRUNED_SOURCES = ("train", "collect")
HIGH_WATER = 0.8  # of the budget: raise the pressure level
LOW_WATER = 0.4  # of the budget: lower it again
MAX_LEVEL = 8
MIN_TRADE_ROWS = 1000  # the console's trade statistics read the last 500
MIN_EPISODE_ROWS = 100
MIN_FULL_SECONDS = 600.0
MIN_MINUTE_SECONDS = 3600.0
CHUNK_ROWS = 5000  # rows deleted per transaction
VACUUM_PAGES = 2048  # pages returned to the file system per transaction (8 MB of 4 KB)
MINUTE, HOUR = 60.0, 3600.0
SLICE_SECONDS = {MINUTE: 300.0, HOUR: HOUR}  # rows of one transaction, by bucket
LEVEL_KEY = "pressure_level"


@dataclass(frozen=True)
class RetentionPolicy:
    """How much of each high-volume table the console database keeps.

    Attributes:
        budget_bytes: the file stays under this (``ops.db_max_mb``).
        trade_rows: raw train/collect trades kept per run and source.
        episode_rows: raw train/collect episodes kept per run and source.
        full_seconds: metrics younger than this keep every row.
        minute_seconds: then one row per key a minute for this long; one an hour after.
    """

    budget_bytes: int
    trade_rows: int
    episode_rows: int
    full_seconds: float
    minute_seconds: float

    @classmethod
    def from_config(cls, ops: OpsConfig) -> RetentionPolicy:
        """The policy of an ``[ops]`` section."""
        return cls(budget_bytes=ops.db_max_mb * MB, trade_rows=ops.trade_rows,
                   episode_rows=ops.episode_rows, full_seconds=ops.metrics_full_hours * HOUR,
                   minute_seconds=ops.metrics_minute_days * 86400.0)

    def under_pressure(self, level: int) -> RetentionPolicy:
        """Rows and windows halved ``level`` times, never below the floors (pure)."""
        if level <= 0:
            return self
        f = 0.5 ** level
        return replace(
            self,
            trade_rows=max(min(self.trade_rows, MIN_TRADE_ROWS), int(self.trade_rows * f)),
            episode_rows=max(min(self.episode_rows, MIN_EPISODE_ROWS),
                             int(self.episode_rows * f)),
            full_seconds=max(min(self.full_seconds, MIN_FULL_SECONDS), self.full_seconds * f),
            minute_seconds=max(min(self.minute_seconds, MIN_MINUTE_SECONDS),
                               self.minute_seconds * f),
        )

    def rows_kept(self, table: str, active: bool) -> int:
        """Raw rows of ``table`` (trades or episodes) kept per run and source (pure)."""
        keep, floor = ((self.trade_rows, MIN_TRADE_ROWS) if table == "trades"
                       else (self.episode_rows, MIN_EPISODE_ROWS))
        return keep if active else min(keep, floor)

    def tiers(self, now: float) -> tuple[tuple[float, float], ...]:
        """``(bucket seconds, cutoff UNIX s)`` per downsampling tier: rows older than the
        cutoff keep one row per bucket (pure)."""
        minute_cutoff = now - self.full_seconds
        return ((MINUTE, minute_cutoff), (HOUR, minute_cutoff - self.minute_seconds))


def next_level(level: int, used_bytes: int, budget_bytes: int) -> int:
    """The pressure level after a pass that left ``used_bytes`` in use (pure)."""
    if used_bytes > HIGH_WATER * budget_bytes:
        return min(level + 1, MAX_LEVEL)
    if used_bytes < LOW_WATER * budget_bytes:
        return max(level - 1, 0)
    return level


@dataclass
class PassReport:
    """What one pass did (rows deleted per table, pages vacuumed, bytes in use after)."""

    trades: int = 0
    episodes: int = 0
    metrics: int = 0
    pages_freed: int = 0
    transactions: int = 0
    level: int = 0
    used_bytes: int = 0
    file_bytes: int = 0


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the database's pages that hold data (its size less the free pages)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * conn.execute("PRAGMA page_size").fetchone()[0])


def file_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the database file (its pages, free ones included)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    return int(pages * conn.execute("PRAGMA page_size").fetchone()[0])


def run_pass(conn: sqlite3.Connection, policy: RetentionPolicy, now: float) -> PassReport:
    """A whole retention pass at once (tests, benches, and a supervisor that is idle).

    Returns:
        What the pass did.
    """
    report = PassReport()
    for _ in retention_steps(conn, policy, now, report):
        pass
    return report


def retention_steps(conn: sqlite3.Connection, policy: RetentionPolicy, now: float,
                    report: PassReport | None = None) -> Iterator[str]:
    """One retention pass as a generator: each item is one committed transaction.

    Args:
        conn: this process's console connection (autocommit; schema ≥ 6).
        policy: the configured policy (pressure is applied here).
        now: UNIX seconds of the pass (the metrics tiers' reference).
        report: filled in as the pass goes, if given.

    Yields:
        A label of the step just committed.
    """
    report = report if report is not None else PassReport()
    level = _load_level(conn)
    for _ in range(MAX_LEVEL + 1):
        applied = policy.under_pressure(level)
        yield from _prune_rows(conn, "trades", applied, report)
        yield from _prune_rows(conn, "episodes", applied, report)
        for bucket, cutoff in applied.tiers(now):
            yield from _downsample(conn, bucket, cutoff, report)
        yield from _vacuum(conn, report)
        report.used_bytes = used_bytes(conn)
        new_level = next_level(level, report.used_bytes, policy.budget_bytes)
        if new_level != level:
            _store_level(conn, new_level)
            logger.info("console database: %.1f MB in use of %.0f MB; retention pressure %d",
                        report.used_bytes / MB, policy.budget_bytes / MB, new_level)
        raised, level = new_level > level, new_level
        if not raised:
            break  # else over the high-water mark: run again, harder
    report.level, report.file_bytes = level, file_bytes(conn)
    if report.used_bytes > policy.budget_bytes:
        logger.warning("console database holds %.1f MB in use, over ops.db_max_mb = %.0f, at "
                       "the highest retention pressure: the audit tables (events, commands, "
                       "orders, validations) are never pruned", report.used_bytes / MB,
                       policy.budget_bytes / MB)


def _prune_rows(conn: sqlite3.Connection, table: str, policy: RetentionPolicy,
                report: PassReport) -> Iterator[str]:
    """Delete all but the newest train/collect rows per run and source (a run without a
    ``runs`` row counts as active)."""
    totals = "trade_totals" if table == "trades" else "episode_totals"
    marks = ", ".join("?" * len(PRUNED_SOURCES))
    groups = conn.execute(
        f"SELECT t.run, t.source, coalesce(r.state, 'active') = 'active' FROM {totals} t"
        f" LEFT JOIN runs r ON r.name = t.run WHERE t.source IN ({marks})",
        PRUNED_SOURCES).fetchall()
    for run, source, active in groups:
        keep = policy.rows_kept(table, bool(active))
        row = conn.execute(
            f"SELECT id FROM {table} WHERE run = ? AND source = ? ORDER BY id DESC"
            " LIMIT 1 OFFSET ?", (run, source, keep)).fetchone()
        if row is None:
            continue
        while True:
            with immediate(conn):
                n = conn.execute(
                    f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE run = ?"
                    " AND source = ? AND id <= ? ORDER BY id LIMIT ?)",
                    (run, source, row[0], CHUNK_ROWS)).rowcount
            setattr(report, table, getattr(report, table) + n)
            report.transactions += 1
            yield f"{table} {run}/{source}: -{n}"
            if n < CHUNK_ROWS:
                break


def _downsample(conn: sqlite3.Connection, bucket: float, cutoff: float,
                report: PassReport) -> Iterator[str]:
    """Keep the newest metric row per (run, worker, key, bucket) of rows before ``cutoff``.

    Works through time slices of whole buckets from where the tier stopped last time
    (``retention_state``: the slice's start and the rowid below which rows are done).
    """
    span = SLICE_SECONDS[bucket]
    start, lo = _load_tier(conn, bucket)
    if start is None:
        first = conn.execute("SELECT ts, rowid FROM metrics ORDER BY rowid LIMIT 1").fetchone()
        if first is None:
            return
        start, lo = math.floor(first[0] / span) * span, 0
    while start + span <= cutoff:
        end = start + span
        hi_row = conn.execute("SELECT rowid, ts FROM metrics WHERE rowid > ? AND ts >= ?"
                              " ORDER BY rowid LIMIT 1", (lo, end)).fetchone()
        if hi_row is None:
            break  # the slice is not complete yet (no newer row)
        hi = int(hi_row[0])
        with immediate(conn):
            n = conn.execute(
                "DELETE FROM metrics WHERE rowid > :lo AND rowid < :hi AND rowid NOT IN ("
                " SELECT max(rowid) FROM metrics WHERE rowid > :lo AND rowid < :hi"
                " GROUP BY run, worker, key, CAST(ts / :bucket AS INTEGER))",
                {"lo": lo, "hi": hi, "bucket": bucket}).rowcount
            lo = hi - 1
            # jump over a gap in the data (the system was down) in one step
            start = max(end, math.floor(float(hi_row[1]) / span) * span)
            _store_tier(conn, bucket, start, lo)
        report.metrics += n
        report.transactions += 1
        yield f"metrics /{bucket:.0f}s before {start:.0f}: -{n}"


def _vacuum(conn: sqlite3.Connection, report: PassReport) -> Iterator[str]:
    """Return free pages to the file system, ``VACUUM_PAGES`` per transaction."""
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
        return
    while (free := int(conn.execute("PRAGMA freelist_count").fetchone()[0])) > 0:
        conn.execute(f"PRAGMA incremental_vacuum({VACUUM_PAGES})").fetchall()
        left = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        report.pages_freed += free - left
        report.transactions += 1
        yield f"vacuum: -{free - left} pages"
        if left >= free:
            break  # nothing moved (locked out): next pass


def _load_level(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM retention_state WHERE key = ?",
                       (LEVEL_KEY,)).fetchone()
    return 0 if row is None else int(row[0])


def _store_level(conn: sqlite3.Connection, level: int) -> None:
    with immediate(conn):
        _put(conn, LEVEL_KEY, float(level))


def _load_tier(conn: sqlite3.Connection, bucket: float) -> tuple[float | None, int]:
    rows = dict(conn.execute("SELECT key, value FROM retention_state WHERE key IN (?, ?)",
                             (f"metrics_{bucket:.0f}_start", f"metrics_{bucket:.0f}_rowid")))
    start = rows.get(f"metrics_{bucket:.0f}_start")
    return (None if start is None else float(start),
            int(rows.get(f"metrics_{bucket:.0f}_rowid", 0)))


def _store_tier(conn: sqlite3.Connection, bucket: float, start: float, rowid: int) -> None:
    _put(conn, f"metrics_{bucket:.0f}_start", start)
    _put(conn, f"metrics_{bucket:.0f}_rowid", float(rowid))


def _put(conn: sqlite3.Connection, key: str, value: float) -> None:
    conn.execute("INSERT INTO retention_state (key, value) VALUES (?, ?) ON CONFLICT (key)"
                 " DO UPDATE SET value = excluded.value", (key, value))
