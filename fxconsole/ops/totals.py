"""Every trade and episode ever written, counted: reads of ``trade_totals``/``episode_totals``.

The retention pass (:mod:`fxconsole.ops.retention`) keeps only a sample of raw train and
collect rows; these totals are kept by insert triggers (schema v6) in the inserting
transaction, so they stay exact whatever was pruned.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass

from fxconsole.trading.metrics import SQN_CAP


@dataclass(frozen=True)
class TradeTotals:
    """All trades of a run (and source), with the sums their statistics need.

    Attributes:
        trades: every trade row ever inserted.
        scored: those with pips (a NaN is stored as NULL).
        wins: scored trades with pips > 0.
        pips: sum of pips.
        pips_sq: sum of squared pips (for the SQN's deviation).
    """

    run: str
    source: str | None
    trades: int
    scored: int
    wins: int
    pips: float
    pips_sq: float

    @property
    def win_rate(self) -> float:
        """Wins per scored trade (0 without trades)."""
        return self.wins / self.scored if self.scored else 0.0

    @property
    def expectancy(self) -> float:
        """Mean pips per scored trade (0 without trades)."""
        return self.pips / self.scored if self.scored else 0.0

    @property
    def sqn(self) -> float:
        """``sqrt(min(n, 100)) · mean / std(ddof=1)`` of all scored trades, as
        :func:`fxconsole.trading.metrics.sqn` (0 with fewer than two, or no spread)."""
        n = self.scored
        if n < 2:
            return 0.0
        var = (self.pips_sq - self.pips * self.pips / n) / (n - 1)
        if var <= 1e-12 * max(1.0, self.pips_sq / n):  # equal trades leave rounding only
            return 0.0
        return math.sqrt(min(n, SQN_CAP)) * (self.pips / n) / math.sqrt(var)


@dataclass(frozen=True)
class EpisodeTotals:
    """All episodes of a run (and source): count and sums."""

    run: str
    source: str | None
    episodes: int
    reward: float
    trades: int
    pips: float
    length: int


def trade_totals(conn: sqlite3.Connection, run: str, source: str | None = None) -> TradeTotals:
    """Totals of every trade of ``run`` (of one source, or all sources summed)."""
    row = conn.execute(
        "SELECT coalesce(sum(trades), 0), coalesce(sum(scored), 0), coalesce(sum(wins), 0),"
        " total(pips), total(pips_sq) FROM trade_totals WHERE run = ?"
        + ("" if source is None else " AND source = ?"),
        (run,) if source is None else (run, source)).fetchone()
    return TradeTotals(run, source, int(row[0]), int(row[1]), int(row[2]), float(row[3]),
                       float(row[4]))


def episode_totals(conn: sqlite3.Connection, run: str,
                   source: str | None = None) -> EpisodeTotals:
    """Totals of every episode of ``run`` (of one source, or all sources summed)."""
    row = conn.execute(
        "SELECT coalesce(sum(episodes), 0), total(reward), coalesce(sum(trades), 0),"
        " total(pips), coalesce(sum(length), 0) FROM episode_totals WHERE run = ?"
        + ("" if source is None else " AND source = ?"),
        (run,) if source is None else (run, source)).fetchone()
    return EpisodeTotals(run, source, int(row[0]), float(row[1]), int(row[2]),
                         float(row[3]), int(row[4]))
