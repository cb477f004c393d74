"""Live P/L by trading day and the live equity curve (pure: no widgets, no I/O).

The FX trading day rolls at 17:00 New York (so Monday's trading day starts Sunday 17:00
New York), and the trading week opens Sunday 17:00 New York
(:mod:`fxconsole.market.fxcalendar`); a trade counts on the day it closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from fxconsole.market.fxcalendar import new_york_offset_ns, week_open_ns
from fxconsole.timeutil import NS_PER_DAY, NS_PER_HOUR, NS_PER_SECOND

ROLL_HOUR = 17  # New York


def _ns(ts: Sequence[float]) -> npt.NDArray[np.int64]:
    return np.round(np.asarray(ts, dtype=np.float64) * NS_PER_SECOND).astype(np.int64)


def trading_day_starts(ts: Sequence[float]) -> list[float]:
    """The 17:00 New York at or before each ``ts`` (UNIX seconds), in UNIX seconds."""
    if not len(ts):
        return []
    stamp = _ns(ts)
    local = stamp + new_york_offset_ns(stamp)
    roll = ROLL_HOUR * NS_PER_HOUR
    local_start = (local - roll) // NS_PER_DAY * NS_PER_DAY + roll
    guess = local_start - new_york_offset_ns(stamp)
    return [float(x) / NS_PER_SECOND for x in local_start - new_york_offset_ns(guess)]


def trading_day_start(ts: float) -> float:
    """The 17:00 New York at or before ``ts`` (UNIX seconds), in UNIX seconds."""
    return trading_day_starts([ts])[0]


def trading_week_start(ts: float) -> float:
    """The Sunday 17:00 New York at or before ``ts`` (UNIX seconds), in UNIX seconds."""
    return float(week_open_ns(_ns([ts]))[0]) / NS_PER_SECOND


def trading_day_label(day_start: float) -> str:
    """The trading day that starts at ``day_start`` named by the date it ends on
    (Sunday 17:00 New York starts ``Mon 11-13``)."""
    end = datetime.fromtimestamp(day_start, tz=UTC) + timedelta(days=1)
    return end.strftime("%a %m-%d")


@dataclass(frozen=True)
class DayPnL:
    """The closed trades of one trading day."""

    start: float
    trades: int
    pips: float

    @property
    def label(self) -> str:
        """``Tue 11-14``: the date the trading day ends on."""
        return trading_day_label(self.start)


@dataclass(frozen=True)
class PnL:
    """Today's and this week's closed-trade P/L (trading days, 17:00 New York roll)."""

    today: DayPnL
    week_trades: int
    week_pips: float
    days: tuple[DayPnL, ...]  # this week's trading days with trades, oldest first


def pnl(closed: Sequence[tuple[float, float]], now: float) -> PnL:
    """P/L of ``closed`` trades (``(closed at, pips)``, UNIX seconds) for the trading day
    and the trading week of ``now``."""
    today_start = trading_day_start(now)
    week_start = trading_week_start(now)
    days: dict[float, list[float]] = {}
    week = [(ts, pips) for ts, pips in closed if week_start <= ts <= now]
    for start, (_, pips) in zip(trading_day_starts([ts for ts, _ in week]), week,
                                strict=True):
        days.setdefault(start, []).append(pips)
    by_day = tuple(DayPnL(start, len(p), sum(p)) for start, p in sorted(days.items()))
    today = days.get(today_start, [])
    return PnL(DayPnL(today_start, len(today), sum(today)), len(week),
               sum(p for _, p in week), by_day)


def equity_curve(pips: Sequence[float], total: float | None = None) -> list[float]:
    """Cumulative pips before the first trade and after each one; with ``total`` (the
    sum of every trade ever, when ``pips`` are only the newest), the curve is shifted to
    end at it. No trades: no curve."""
    if not pips:
        return []
    curve, running = [0.0], 0.0
    for p in pips:
        running += p
        curve.append(running)
    shift = 0.0 if total is None else total - running
    return [c + shift for c in curve]
