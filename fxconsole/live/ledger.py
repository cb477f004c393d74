"""The live books: the tracked position, the closed trades' totals and the risk counters.

The ledger owns them and nothing else: it reads fills from the order journal, never
writes orders, talks to no broker and reports nothing itself — it returns what changed
(a closed trade, a tripped limit) and the engine reports it. A fill updates the tracked
position (the policy's position features), the day's realised P/L and, if it closed the
position, counts the trade once. An exit resolved after its bar (after a crash, or a lost
reply) reports its trade once, replayed from the journal's entry to the exit's bar; a
fill of an earlier trading day does not count today.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fxconsole.brokers.base import OrderResult, OrderState, Quote
from fxconsole.live import journal as keys
from fxconsole.live import risk as riskmod
from fxconsole.live.decision import FLATTEN, FORCED, OPEN
from fxconsole.live.journal import Journal, JournalOrder
from fxconsole.live.position import PositionTracker
from fxconsole.market.incremental import IncrementalFeatures

logger = logging.getLogger(__name__)


def slippage_pips(order: JournalOrder, result: OrderResult, pip: float) -> float | None:
    """A fill's price against the decision's, in pips (positive: worse); None if unknown."""
    if (result.state is not OrderState.FILLED or result.price is None
            or order.decision_price is None):
        return None
    direction = 1 if order.units > 0 else -1
    return (result.price - order.decision_price) / pip * direction


def mark_bars(tracker: PositionTracker, features: IncrementalFeatures, after_ts: int,
              through_ts: int | None = None) -> None:
    """Mark ``tracker`` with the kept bars after ``after_ts`` (up to ``through_ts``)."""
    ts, close = features.ts, features.close
    first = int(np.searchsorted(ts, after_ts, side="right"))
    last = ts.shape[0]
    if through_ts is not None:
        last = int(np.searchsorted(ts, through_ts, side="right"))
    for i in range(first, last):
        tracker.mark(float(close[i]), int(ts[i]))


def replay_trade(order: JournalOrder, before: list[JournalOrder], baseline_units: int,
                 features: IncrementalFeatures, pip: float,
                 spread_pips: float) -> dict[str, Any] | None:
    """The trade an exit order closed, replayed from the journal's entry fill.

    For an exit whose outcome was resolved after its bar (an UNKNOWN outcome, or a crash
    between sending and recording it): the position it closed is the one the fills
    journaled before it held; the trade runs from that position's entry to the exit
    order's bar over the kept bars, and exits at the exit's decision price.

    Args:
        order: the exit order.
        before: the fills journaled before it since the baseline, oldest first.
        baseline_units: the journal's baseline position.
        features: the kept bars.
        pip: the pip size.
        spread_pips: the spread the trade pays.

    Returns:
        The trade, or None if the journal knew no such position (e.g. a flatten of a
        mismatch).
    """
    held = baseline_units + sum(o.filled_units or 0 for o in before)
    side = (held > 0) - (held < 0)
    if side == 0 or order.units * side >= 0 or order.bar_ts is None:
        return None
    if order.purpose == FLATTEN and order.units != -held:
        return None  # a flatten of a position the journal did not know: no trade of ours
    entry = next((o for o in reversed(before)
                  if o.purpose == OPEN and (o.filled_units or 0) * side > 0), None)
    if entry is None or entry.bar_ts is None or entry.decision_price is None:
        logger.warning("order %s closed a position without a journaled entry: no trade "
                       "reported", order.client_id)
        return None
    tracker = PositionTracker(pip, spread_pips)
    tracker.open(side, entry.decision_price, entry.bar_ts)
    mark_bars(tracker, features, entry.bar_ts, order.bar_ts)
    return tracker.close(order.bar_ts, order.decision_price, order.purpose == FORCED)


@dataclass(frozen=True)
class Booking:
    """What booking a fill changed: the trade it closed (if any) and a tripped limit."""

    trades: list[dict[str, Any]] = field(default_factory=list)
    tripped: str = ""


class Ledger:
    """The position, trades and risk counters of one instrument.

    Attributes:
        tracker: the tracked position (its features for the policy).
        limits: the risk limits.
        risk: the risk counters (replaced, never changed in place).
        trades: closed trades so far.
        realised_pips: their pips.
    """

    def __init__(self, journal: Journal, features: IncrementalFeatures, *, instrument: str,
                 pip: float, spread_pips: float, limits: riskmod.RiskLimits,
                 period_ns: int) -> None:
        """Keep the books of ``instrument``.

        Args:
            journal: the order journal (fills are read from it; the totals and the risk
                counters are persisted in its ``live_state``).
            features: the kept bars.
            instrument: the traded instrument.
            pip: its pip size.
            spread_pips: the spread the tracked position's P/L pays.
            limits: the risk limits.
            period_ns: the bar period (for the stale-bar limit).
        """
        self.journal, self.features, self.instrument = journal, features, instrument
        self.pip, self.spread_pips, self.limits, self.period_ns = (
            pip, spread_pips, limits, period_ns)
        self.tracker = PositionTracker(pip, spread_pips)
        self.risk = riskmod.RiskState()
        self.trades = 0
        self.realised_pips = 0.0

    def load(self, totals: dict[str, Any] | None, risk: dict[str, Any] | None) -> None:
        """Restore the persisted totals and risk counters."""
        totals = totals or {}
        self.trades = int(totals.get("trades", 0))
        self.realised_pips = float(totals.get("realised_pips", 0.0))
        self.risk = riskmod.RiskState.from_dict(risk)

    # --- fills ----------------------------------------------------------------------

    def book(self, order: JournalOrder, result: OrderResult, believed: int, now_ns: int,
             book: bool = True) -> Booking:
        """Book a FILLED order: the position, the risk counters, a closed trade.

        Args:
            order: the journal row of the order.
            result: its fill.
            believed: the units the journal believes are held after it.
            now_ns: the broker's clock (the trading day the fill counts in).
            book: False for a flatten of a position the journal did not believe in (a
                mismatch): the fill is recorded, but no trade is counted.
        """
        if result.state is not OrderState.FILLED:
            return Booking()
        today = result.ts <= 0 or (riskmod.trading_day_start(result.ts)
                                    == riskmod.trading_day_start(now_ns))
        tripped = self.update_risk(now_ns, realised_ccy=result.pl if today else 0.0)
        trade: dict[str, Any] | None = None
        if not book:
            self.rebuild(believed)
        elif result.units != order.units:
            logger.warning("order %s filled %+d of %+d units", order.client_id, result.units,
                           order.units)
            self.rebuild(believed)
        elif order.purpose == OPEN:
            self.tracker.open(1 if order.units > 0 else -1, order.decision_price or 0.0,
                              order.bar_ts or 0)
        elif not self.tracker.flat and self.tracker.last_ts == order.bar_ts:
            exit_price = order.decision_price if order.purpose == FLATTEN else None
            trade = self.tracker.close(order.bar_ts or 0, exit_price, order.purpose == FORCED)
        else:  # an exit resolved after its bar (at start-up: the tracker is not rebuilt yet)
            trade = self._replayed_trade(order)
            if not self.tracker.flat:
                self.rebuild(believed)
        if trade is None:
            return Booking(tripped=tripped)
        return Booking([trade], self.closed(trade, now_ns, today) or tripped)

    def _replayed_trade(self, order: JournalOrder) -> dict[str, Any] | None:
        before = [o for o in self.journal.filled_since_baseline(self.instrument)
                  if o.id < order.id]
        return replay_trade(order, before, self.journal.baseline()["units"], self.features,
                            self.pip, self.spread_pips)

    def closed(self, trade: dict[str, Any], now_ns: int, today: bool = True) -> str:
        """Count a closed trade (once: its order was just settled).

        Returns:
            The daily loss limit it tripped ("" if none).
        """
        self.trades += 1
        self.realised_pips += trade["pips"]
        logger.info("trade closed: %s %+.1f pips", trade["side"], trade["pips"])
        return self.update_risk(now_ns, realised_pips=trade["pips"] if today else 0.0)

    def rebuild(self, believed: int,
                fallback_price: Callable[[], float | None] = lambda: None) -> None:
        """Track the ``believed`` position from its entry fill over the kept bars.

        ``fallback_price``: the broker's average price, asked for only when the journal
        has no entry fill of the position.
        """
        self.tracker.reset()
        if believed == 0 or not len(self.features):
            return
        side = 1 if believed > 0 else -1
        entry = next((o for o in reversed(self.journal.filled_since_baseline(self.instrument))
                      if o.purpose == OPEN and (o.filled_units or 0) * side > 0
                      and o.bar_ts is not None and o.decision_price is not None), None)
        if entry is None or entry.bar_ts is None or entry.decision_price is None:
            avg = fallback_price()
            price = avg if avg is not None else float(self.features.close[-1])
            self.tracker.open(side, price, int(self.features.ts[-1]))
            logger.warning("position %+d without a journaled entry: tracked from %s", believed,
                           price)
            return
        self.tracker.open(side, entry.decision_price, entry.bar_ts)
        mark_bars(self.tracker, self.features, entry.bar_ts)

    # --- risk -----------------------------------------------------------------------

    def roll_day(self, now_ns: int) -> bool:
        """Start a new trading day's counters if one began (persisted).

        Returns:
            True if a tripped daily loss limit was reset by it.
        """
        rolled = riskmod.roll(self.risk, now_ns)
        if rolled.day == self.risk.day:
            return False
        was_tripped = self.risk.tripped
        self.risk = rolled
        self.journal.set_state(keys.RISK, self.risk.to_dict())
        return bool(was_tripped)

    def update_risk(self, now_ns: int, realised_pips: float = 0.0,
                    realised_ccy: float = 0.0) -> str:
        """Add realised P/L, mark the open position; trip the daily loss limit if reached.

        Returns:
            The limit tripped now ("" if none); a trip is persisted at once.
        """
        open_pips = 0.0 if self.tracker.flat else self.tracker.unrealised
        self.risk, tripped = riskmod.update(self.risk, self.limits, now_ns,
                                            realised_pips=realised_pips,
                                            realised_ccy=realised_ccy, open_pips=open_pips)
        if tripped:
            self.journal.set_state(keys.RISK, self.risk.to_dict())
        return tripped

    def record_order(self, now_ns: int) -> None:
        """Count an order sent at ``now_ns`` (the order-rate limit)."""
        self.risk = riskmod.record_order(self.risk, now_ns)

    def violations(self, units: int, position: int, now_ns: int, quote: Quote | None,
                   bar_ts: int | None) -> list[riskmod.Violation]:
        """The risk limits an order of ``units`` would break now (empty: allowed)."""
        self.risk = riskmod.roll(self.risk, now_ns)
        return self.limits.check(units, position, self.risk, now_ns, quote, bar_ts,
                                 self.period_ns)
