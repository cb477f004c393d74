"""Risk limits checked before every order (DESIGN.md, Live trading safety). Pure.

:func:`RiskLimits.check` lists what an order would violate: the largest position, the
daily loss (pips and account currency), orders per minute, a stale or non-tradeable
price, a stale newest bar, the weekend closure. An exit (an order that only reduces the
position) passes the daily loss and orders-per-minute limits — a limit never traps a
position — but not a closed market or a stale price.

:class:`RiskState` is what the limits remember: the trading day (it rolls at 17:00 New
York, with the FX week), the day's realised pips and money, the open position's
unrealised pips, the recent order times and a tripped daily-loss limit. The trader
persists it, so a tripped limit stays tripped until the next trading day across restarts.
All times are the broker's clock in ns UTC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from fxconsole.brokers.base import Quote
from fxconsole.config import RiskConfig
from fxconsole.market.fxcalendar import is_weekend, week_close_ns, week_open_ns
from fxconsole.timeutil import NS_PER_DAY, NS_PER_SECOND

MINUTE_NS = 60 * NS_PER_SECOND

# Violation codes.
MAX_UNITS = "max_units"
DAILY_LOSS = "daily_loss"
ORDERS_PER_MINUTE = "orders_per_minute"
STALE_PRICE = "stale_price"
NOT_TRADEABLE = "not_tradeable"
STALE_BAR = "stale_bar"
MARKET_CLOSED = "market_closed"
WEEK_CLOSING = "week_closing"


@dataclass(frozen=True)
class Violation:
    """One limit an order would break."""

    code: str
    message: str


def trading_day_start(now_ns: int) -> int:
    """Start (ns UTC) of the FX trading day holding ``now_ns``: the latest 17:00 New York.

    Days are counted from the week open (Sunday 17:00 New York), which follows any
    daylight-saving switch of that weekend, so every day of a week starts at 17:00.
    """
    stamp = np.array([now_ns], dtype=np.int64)
    opened = int(week_open_ns(stamp)[0])
    return opened + (now_ns - opened) // NS_PER_DAY * NS_PER_DAY


def market_closed(now_ns: int) -> bool:
    """True in the weekend closure (Friday 17:00 to Sunday 17:00 New York)."""
    return bool(is_weekend(np.array([now_ns], dtype=np.int64))[0])


@dataclass
class RiskState:
    """What the limits remember (JSON-able through :meth:`to_dict` / :meth:`from_dict`).

    Attributes:
        day: start (ns UTC) of the trading day the counters belong to (0: none yet).
        day_pips: pips realised today (trades net of spread).
        day_ccy: account-currency P/L realised today (fills' ``pl``).
        open_pips: unrealised pips of the open position (0 while flat).
        order_times: broker times of the orders sent in the last minute.
        tripped: the daily-loss limit that tripped today ("" if none).
        tripped_day: the trading day it tripped on.
    """

    day: int = 0
    day_pips: float = 0.0
    day_ccy: float = 0.0
    open_pips: float = 0.0
    order_times: list[int] = field(default_factory=list)
    tripped: str = ""
    tripped_day: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {"day": self.day, "day_pips": self.day_pips, "day_ccy": self.day_ccy,
                "open_pips": self.open_pips, "order_times": list(self.order_times),
                "tripped": self.tripped, "tripped_day": self.tripped_day}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> RiskState:
        """Rebuild from :meth:`to_dict` output (missing keys take their defaults)."""
        raw = raw or {}
        return cls(day=int(raw.get("day") or 0), day_pips=float(raw.get("day_pips") or 0.0),
                   day_ccy=float(raw.get("day_ccy") or 0.0),
                   open_pips=float(raw.get("open_pips") or 0.0),
                   order_times=[int(t) for t in raw.get("order_times") or []],
                   tripped=str(raw.get("tripped") or ""),
                   tripped_day=int(raw.get("tripped_day") or 0))

    def tripped_on(self, now_ns: int) -> bool:
        """True if a daily-loss limit tripped on the trading day of ``now_ns``."""
        return bool(self.tripped) and self.tripped_day == trading_day_start(now_ns)


@dataclass(frozen=True)
class RiskLimits:
    """The configured limits (0 turns a daily-loss limit off)."""

    max_units: int = 1
    daily_loss_pips: float = 150.0
    daily_loss_ccy: float = 0.0
    max_orders_per_minute: int = 6
    stale_price_seconds: float = 30.0
    stale_bar_periods: float = 3.0
    week_close_minutes: float = 0.0

    @classmethod
    def from_config(cls, cfg: RiskConfig) -> RiskLimits:
        """The limits of the ``[risk]`` config section."""
        return cls(cfg.max_units, cfg.daily_loss_pips, cfg.daily_loss_ccy,
                   cfg.max_orders_per_minute, cfg.stale_price_seconds, cfg.stale_bar_periods,
                   cfg.week_close_minutes)

    def check(self, order_units: int, position_units: int, state: RiskState, now_ns: int,
              quote: Quote | None, newest_bar_ts: int | None, period_ns: int) -> list[Violation]:
        """Everything an order of ``order_units`` would violate now (empty: allowed).

        Args:
            order_units: signed units of the order.
            position_units: signed units held before it.
            state: the remembered counters (see :func:`roll` and :func:`update`).
            now_ns: the broker's clock.
            quote: the latest price (None: no price at all).
            newest_bar_ts: open time of the newest complete bar (None: no bar).
            period_ns: the bar period.
        """
        out: list[Violation] = []
        exit_only = is_exit(order_units, position_units)
        after = position_units + order_units
        if abs(after) > self.max_units and abs(after) > abs(position_units):
            out.append(Violation(MAX_UNITS, f"position would be {after} units, limit "
                                             f"±{self.max_units}"))
        if not exit_only:
            out.extend(self._entry_checks(state, now_ns))
        out.extend(self._market_checks(exit_only, now_ns, quote, newest_bar_ts, period_ns))
        return out

    def _entry_checks(self, state: RiskState, now_ns: int) -> list[Violation]:
        out: list[Violation] = []
        breached = state.tripped if state.tripped_on(now_ns) else self.breached(state)
        if breached:
            out.append(Violation(DAILY_LOSS, f"daily loss limit {breached} reached today "
                                             f"({state.day_pips + state.open_pips:+.1f} pips, "
                                             f"{state.day_ccy:+.2f} realised)"))
        left = (int(week_close_ns(np.array([now_ns], dtype=np.int64))[0]) - now_ns) / 60e9
        if 0 < left < self.week_close_minutes:
            out.append(Violation(WEEK_CLOSING, f"the week closes in {left:.0f} min: no entries "
                                               f"in its last {self.week_close_minutes:g} min"))
        recent = recent_orders(state, now_ns)
        if recent >= self.max_orders_per_minute:
            out.append(Violation(ORDERS_PER_MINUTE, f"{recent} orders in the last minute, "
                                                    f"limit {self.max_orders_per_minute}"))
        return out

    def _market_checks(self, exit_only: bool, now_ns: int, quote: Quote | None,
                       newest_bar_ts: int | None, period_ns: int) -> list[Violation]:
        out: list[Violation] = []
        if market_closed(now_ns):
            out.append(Violation(MARKET_CLOSED, "the market is closed (weekend)"))
        if quote is None:
            out.append(Violation(STALE_PRICE, "no price"))
        else:
            age = (now_ns - quote.ts) / NS_PER_SECOND
            if age > self.stale_price_seconds:
                out.append(Violation(STALE_PRICE, f"the price is {age:.0f} s old, limit "
                                                  f"{self.stale_price_seconds:g} s"))
            if not quote.tradeable:
                out.append(Violation(NOT_TRADEABLE, "the instrument is not tradeable now"))
        if not exit_only:
            if newest_bar_ts is None:
                out.append(Violation(STALE_BAR, "no complete bar"))
            else:
                late = (now_ns - (newest_bar_ts + period_ns)) / period_ns
                if late > self.stale_bar_periods:
                    out.append(Violation(STALE_BAR, f"the newest bar closed {late:.1f} periods "
                                                    f"ago, limit {self.stale_bar_periods:g}"))
        return out

    def breached(self, state: RiskState) -> str:
        """The daily-loss limit the state is beyond now ("" if none)."""
        loss_pips = -(state.day_pips + state.open_pips)
        if self.daily_loss_pips > 0 and loss_pips >= self.daily_loss_pips:
            return f"{self.daily_loss_pips:g} pips"
        if self.daily_loss_ccy > 0 and -state.day_ccy >= self.daily_loss_ccy:
            return f"{self.daily_loss_ccy:g} in account currency"
        return ""


def is_exit(order_units: int, position_units: int) -> bool:
    """True if the order only reduces the position (never opens or flips one)."""
    return (position_units != 0 and order_units != 0 and (order_units > 0) != (position_units > 0)
            and abs(order_units) <= abs(position_units))


def recent_orders(state: RiskState, now_ns: int) -> int:
    """Orders sent within the minute before ``now_ns``."""
    return sum(1 for t in state.order_times if now_ns - MINUTE_NS < t <= now_ns)


def roll(state: RiskState, now_ns: int) -> RiskState:
    """The state on the trading day of ``now_ns``: a new day starts from zero, untripped."""
    day = trading_day_start(now_ns)
    times = [t for t in state.order_times if t > now_ns - MINUTE_NS]
    if day == state.day:
        return state if times == state.order_times else replace(state, order_times=times)
    return RiskState(day=day, open_pips=state.open_pips, order_times=times)


def record_order(state: RiskState, now_ns: int) -> RiskState:
    """The state after sending an order at ``now_ns``."""
    times = [t for t in state.order_times if t > now_ns - MINUTE_NS]
    return replace(state, order_times=[*times, int(now_ns)])


def update(state: RiskState, limits: RiskLimits, now_ns: int, *, realised_pips: float = 0.0,
           realised_ccy: float = 0.0, open_pips: float | None = None) -> tuple[RiskState, str]:
    """Add realised P/L and the open position's pips; trip the daily loss if breached.

    Returns:
        (the new state, the limit that tripped just now or "").
    """
    rolled = roll(state, now_ns)
    new = replace(rolled, day_pips=rolled.day_pips + realised_pips,
                  day_ccy=rolled.day_ccy + realised_ccy,
                  open_pips=rolled.open_pips if open_pips is None else float(open_pips))
    if not math.isfinite(new.open_pips):
        new = replace(new, open_pips=0.0)
    if new.tripped_on(now_ns):
        return new, ""
    breached = limits.breached(new)
    if breached:
        return replace(new, tripped=breached, tripped_day=new.day), breached
    return new, ""
