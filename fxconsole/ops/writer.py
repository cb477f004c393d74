"""The batched :class:`MetricsWriter`: how workers write metrics, trades and heartbeats.

A worker keeps one :class:`MetricsWriter` on its own connection. Metric, trade, episode and
event rows (and the latest heartbeat) are buffered and written together in one
``BEGIN IMMEDIATE`` transaction about once a second, so four busy writers cost the
database a few transactions a second, not thousands. A flush that fails for a transient
reason (the database locked beyond the busy timeout, a full disk) keeps its rows for the
next attempt and logs once; the writer never raises a database error into the worker's
loop (STYLE.md: a failing sink never kills a worker).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from fxconsole.ops.db import transaction
from fxconsole.ops.schema import EVENT_LEVELS, SOURCES
from fxconsole.sqlitetx import dumps_json

logger = logging.getLogger(__name__)

INSERTS = {
    "metrics": "INSERT INTO metrics (ts, run, worker, key, step, value) VALUES (?, ?, ?, ?, ?, ?)",
    "trades": "INSERT INTO trades (ts, run, worker, source, side, entry_ts, exit_ts, entry_price,"
    " exit_price, pips, max_dd, bars_held, forced, timesteps)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "episodes": "INSERT INTO episodes (ts, run, worker, source, reward, trades, pips, length)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "events": "INSERT INTO events (ts, level, source, kind, message, data)"
    " VALUES (?, ?, ?, ?, ?, ?)",
}
HEARTBEAT_UPSERT = (
    "INSERT INTO heartbeats (worker, ts, pid, step, info) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (worker) DO UPDATE SET ts = excluded.ts, pid = excluded.pid,"
    " step = excluded.step, info = excluded.info"
)
SIDES = {"long": "long", "short": "short", 1: "long", -1: "short"}  # 1.0 == 1 as a key


@dataclass
class WriterStats:
    """Counters of one writer: rows committed per table, flushes, and rows given up."""

    metrics: int = 0
    trades: int = 0
    episodes: int = 0
    events: int = 0
    heartbeats: int = 0
    flushes: int = 0
    failed_flushes: int = 0
    dropped: int = 0


class MetricsWriter:
    """A :class:`~fxconsole.agents.sinks.MetricsSink` that batches rows into SQLite.

    Not thread-safe: use it from the thread that owns ``conn``. The connection stays the
    caller's: :meth:`close` flushes but does not close it.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        run: str,
        worker: str,
        flush_seconds: float = 1.0,
        max_rows: int = 5000,
        clock: Callable[[], float] = time.monotonic,
        *,
        source: str = "train",
        wall_clock: Callable[[], float] = time.time,
        max_buffered: int = 1_000_000,
    ) -> None:
        """Start an empty buffer; the first flush is due ``flush_seconds`` from now.

        Args:
            conn: this process's connection (:func:`fxconsole.ops.db.connect`).
            run: the run the rows belong to.
            worker: the writing worker's name (rows' ``worker``, heartbeats, events' source).
            flush_seconds: write at most about this often (also on ``max_rows``).
            max_rows: flush as soon as this many rows are buffered.
            clock: monotonic clock that schedules flushes.
            source: trades' and episodes' source: train, collect, live or backtest.
            wall_clock: UNIX time stamped on rows.
            max_buffered: while writes fail, keep at most this many metric rows (the
                oldest are dropped beyond it, and counted in ``stats.dropped``).

        Raises:
            ValueError: for an unknown source or non-positive sizes.
        """
        if source not in SOURCES:
            raise ValueError(f"source {source!r} is not one of {', '.join(SOURCES)}")
        if max_rows < 1 or max_buffered < max_rows:
            raise ValueError(f"need 1 <= max_rows ({max_rows}) <= max_buffered ({max_buffered})")
        self.conn, self.run, self.worker, self.source = conn, run, worker, source
        self.flush_seconds, self.max_rows, self.max_buffered = flush_seconds, max_rows, max_buffered
        self.clock, self.wall_clock = clock, wall_clock
        self._rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in INSERTS}
        self._heartbeat: tuple[Any, ...] | None = None
        self._stats = WriterStats()
        self._failing = 0  # consecutive failed flushes
        self._pid = os.getpid()
        self._next_flush = clock() + flush_seconds

    @property
    def stats(self) -> WriterStats:
        """A copy of the counters."""
        return replace(self._stats)

    @property
    def pending(self) -> int:
        """Rows buffered and not yet committed (the heartbeat counts as one)."""
        return sum(map(len, self._rows.values())) + (self._heartbeat is not None)

    def write(self, step: int, values: Mapping[str, float]) -> None:
        """Buffer one metric row per key, all stamped now, at timestep ``step``."""
        ts, step = self.wall_clock(), int(step)
        rows = self._rows["metrics"]
        try:
            rows.extend([(ts, self.run, self.worker, k, step, float(v)) for k, v in values.items()])
        except (TypeError, ValueError):
            rows.extend((ts, self.run, self.worker, k, step, _float(v)) for k, v in values.items())
        if len(rows) > self.max_buffered:
            self._drop_oldest_metrics(len(rows) - self.max_buffered)
        self._maybe_flush()

    def trades(self, step: int, trades: Iterable[Mapping[str, Any]]) -> None:
        """Buffer closed trades (the env's ``info["trade"]`` dicts); malformed ones are logged."""
        ts, bad = self.wall_clock(), []
        for trade in trades:
            try:
                self._rows["trades"].append(
                    trade_row(trade, int(step), ts, self.run, self.worker, self.source)
                )
            except (KeyError, TypeError, ValueError) as exc:
                bad.append(f"{type(exc).__name__}: {exc}")
        if bad:
            logger.error("%s: skipped %d malformed trade(s), first: %s", self.worker, len(bad),
                         bad[0])
        self._maybe_flush()

    def episode(
        self, reward: float, trades: int, pips: float, length: int, source: str | None = None
    ) -> None:
        """Buffer one finished episode.

        Raises:
            ValueError: for an unknown ``source`` (a programming error).
        """
        self._rows["episodes"].append((
            self.wall_clock(), self.run, self.worker, _source(source or self.source),
            _float(reward), int(trades), _float(pips), int(length),
        ))
        self._maybe_flush()

    def heartbeat(self, step: int, info: Mapping[str, Any] | None = None) -> None:
        """Record that the worker is alive at ``step`` (an upsert: only the latest is kept)."""
        self._heartbeat = (self.worker, self.wall_clock(), self._pid, int(step),
                           dumps_json(dict(info or {})))
        self._maybe_flush()

    def event(
        self, level: str, kind: str, message: str, data: Mapping[str, Any] | None = None
    ) -> None:
        """Buffer an event (an alert when ``level`` is warning or error).

        Raises:
            ValueError: if ``level`` is not info, warning or error (a programming error).
        """
        if level not in EVENT_LEVELS:
            raise ValueError(f"event level {level!r} is not one of {', '.join(EVENT_LEVELS)}")
        self._rows["events"].append((self.wall_clock(), level, self.worker, kind, message,
                                     dumps_json(dict(data or {}))))
        self._maybe_flush()

    def flush(self) -> bool:
        """Write everything buffered in one transaction now.

        Returns:
            True if nothing is left pending; False if the write failed (rows are kept when
            the failure is transient, i.e. an ``OperationalError``; otherwise dropped).
        """
        self._next_flush = self.clock() + self.flush_seconds
        if not self.pending:
            return True
        try:
            with transaction(self.conn):
                for table, rows in self._rows.items():
                    if rows:
                        self.conn.executemany(INSERTS[table], rows)
                if self._heartbeat is not None:
                    self.conn.execute(HEARTBEAT_UPSERT, self._heartbeat)
        except sqlite3.OperationalError as exc:
            self._failed(exc)
            return False
        except Exception:
            logger.exception("%s: console database rejected a batch; dropping %d rows",
                             self.worker, self.pending)
            self._discard()
            return False
        self._committed()
        return True

    def close(self) -> None:
        """Flush what is buffered; rows that still cannot be written are logged and dropped."""
        if not self.flush() and self.pending:
            logger.error("%s: %d rows not written to the console database at close",
                         self.worker, self.pending)
            self._discard()

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _maybe_flush(self) -> None:
        now = self.clock()
        if now >= self._next_flush or (not self._failing and self.pending >= self.max_rows):
            self.flush()

    def _committed(self) -> None:
        s = self._stats
        s.metrics += len(self._rows["metrics"])
        s.trades += len(self._rows["trades"])
        s.episodes += len(self._rows["episodes"])
        s.events += len(self._rows["events"])
        s.heartbeats += self._heartbeat is not None
        s.flushes += 1
        for rows in self._rows.values():
            rows.clear()
        self._heartbeat = None
        if self._failing:
            logger.info("%s: console database writes resumed after %d failed attempt(s)",
                        self.worker, self._failing)
        self._failing = 0

    def _failed(self, exc: sqlite3.OperationalError) -> None:
        self._stats.failed_flushes += 1
        if not self._failing:
            logger.warning("%s: console database write failed (%s); keeping %d rows, retrying "
                           "every %.1f s", self.worker, exc, self.pending, self.flush_seconds)
        self._failing += 1

    def _discard(self) -> None:
        self._stats.dropped += self.pending
        for rows in self._rows.values():
            rows.clear()
        self._heartbeat = None

    def _drop_oldest_metrics(self, n: int) -> None:
        if not self._stats.dropped:
            logger.warning("%s: metric buffer full (%d rows); dropping the oldest", self.worker,
                           self.max_buffered)
        del self._rows["metrics"][:n]
        self._stats.dropped += n


def trade_row(
    trade: Mapping[str, Any], step: int, ts: float, run: str, worker: str, source: str
) -> tuple[Any, ...]:
    """The ``trades`` row of one trade dict, in :data:`INSERTS` order (pure).

    ``side`` may be long/short or ±1; ``entry_ts``/``exit_ts`` UNIX seconds, ISO-8601
    strings or datetimes; ``timesteps`` defaults to ``step``; a ``source`` key overrides
    ``source``.

    Raises:
        KeyError, TypeError, ValueError: for a missing side or pips, or a bad value.
    """
    side = SIDES.get(trade["side"])
    if side is None:
        raise ValueError(f"side {trade['side']!r} is not long/short/1/-1")
    return (
        ts, run, worker, _source(trade.get("source", source)), side,
        unix_seconds(trade.get("entry_ts")), unix_seconds(trade.get("exit_ts")),
        _float(trade.get("entry_price")), _float(trade.get("exit_price")),
        float(trade["pips"]), _float(trade.get("max_dd")),
        None if trade.get("bars_held") is None else int(trade["bars_held"]),
        int(bool(trade.get("forced", False))), int(trade.get("timesteps", step)),
    )


def unix_seconds(value: Any) -> float | None:
    """UNIX seconds from a number, a datetime or an ISO-8601 string (naive means UTC)."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _float(value: Any) -> float | None:
    """A float, or None for None and values that are not numbers."""
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _source(source: str) -> str:
    if source not in SOURCES:
        raise ValueError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    return source

