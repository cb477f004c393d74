"""The live trader's bookkeeping: the tracked position, closed trades and the risk counters.

A fill updates the tracked position (the policy's position features), the day's realised
P/L and, if it closed the position, counts the trade once. An exit resolved after its bar
(after a crash, or a lost reply) reports its trade once, replayed from the journal's entry
to the exit's bar; a fill of an earlier trading day does not count today. The risk limits
are checked here before every order.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from fxconsole.brokers.base import Broker, BrokerError, OrderResult, OrderState, Quote
from fxconsole.live import journal as keys
from fxconsole.live import risk as riskmod
from fxconsole.live.decision import FLATTEN, FORCED, OPEN
from fxconsole.live.journal import Journal, JournalOrder
from fxconsole.live.position import PositionTracker
from fxconsole.live.status import Sink
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


class Ledger:
    """The position, trades and risk counters of one instrument.

    Attributes:
        tracker: the tracked position (its features for the policy).
        believed: the units the journal believes are held (cached; updated on fills).
        limits: the risk limits.
        risk: the risk counters (replaced, never changed in place).
    """

    def __init__(self, broker: Broker, journal: Journal, sink: Sink,
                 features: IncrementalFeatures, totals: dict[str, float], *, instrument: str,
                 pip: float, spread_pips: float, limits: riskmod.RiskLimits,
                 period_ns: int) -> None:
        """Keep the books of ``instrument``.

        Args:
            broker: the broker (its clock, position and quotes).
            journal: the order journal (fills; totals and risk are persisted in it).
            sink: closed trades and events.
            features: the kept bars.
            totals: the running totals, updated in place (the switches' dict).
            instrument: the traded instrument.
            pip: its pip size.
            spread_pips: the spread the tracked position's P/L pays.
            limits: the risk limits.
            period_ns: the bar period (for the stale-bar limit).
        """
        self.broker, self.journal, self.sink, self.features = broker, journal, sink, features
        self.totals, self.instrument, self.pip = totals, instrument, pip
        self.spread_pips, self.limits, self.period_ns = spread_pips, limits, period_ns
        self.tracker = PositionTracker(pip, spread_pips)
        self.believed = 0
        self.risk = riskmod.RiskState()
        self._last_violation = ""

    # --- order outcomes -------------------------------------------------------------

    def apply(self, order: JournalOrder, result: OrderResult, book: bool = True) -> None:
        """Book an order's outcome: the position, the risk counters, a closed trade.

        ``book``: False for a flatten of a position the journal did not believe in (a
        mismatch): the fill is recorded, but no trade is counted.
        """
        state = result.state
        if state is OrderState.UNKNOWN:
            self.sink.event("warning", "order", f"order {order.client_id} outcome unknown: no "
                            "new orders until it is resolved", {"client_id": order.client_id})
            return
        if state is not OrderState.FILLED:
            self.sink.event("warning", "order", f"order {order.client_id} {state.value}: "
                            f"{result.reason or result.code}", {"client_id": order.client_id})
            return
        self.believed = self.journal.believed_position(self.instrument)
        today = self._filled_today(result)
        self.update_risk(realised_ccy=result.pl if today else 0.0)
        if not book:
            self.rebuild(self.believed)
        elif result.units != order.units:
            logger.warning("order %s filled %+d of %+d units", order.client_id, result.units,
                           order.units)
            self.rebuild(self.journal.believed_position(self.instrument))
        elif order.purpose == OPEN:
            self.tracker.open(1 if order.units > 0 else -1, order.decision_price or 0.0,
                              order.bar_ts or 0)
        elif not self.tracker.flat and self.tracker.last_ts == order.bar_ts:
            exit_price = order.decision_price if order.purpose == FLATTEN else None
            trade = self.tracker.close(order.bar_ts or 0, exit_price, order.purpose == FORCED)
            self.closed(trade, today)
        else:  # an exit resolved after its bar (at start-up: the tracker is not rebuilt yet)
            replayed = self._replayed_trade(order)
            if not self.tracker.flat:
                self.rebuild(self.journal.believed_position(self.instrument))
            if replayed is not None:
                self.closed(replayed, today)

    def _filled_today(self, result: OrderResult) -> bool:
        """True if the fill belongs to the current trading day (its P/L counts today)."""
        if result.ts <= 0:
            return True
        now = self.broker.now()
        return riskmod.trading_day_start(result.ts) == riskmod.trading_day_start(now)

    def _replayed_trade(self, order: JournalOrder) -> dict[str, Any] | None:
        before = [o for o in self.journal.filled_since_baseline(self.instrument)
                  if o.id < order.id]
        return replay_trade(order, before, self.journal.baseline()["units"], self.features,
                            self.pip, self.spread_pips)

    def closed(self, trade: dict[str, Any], today: bool = True) -> None:
        """Count a closed trade (once: its order was just settled) and persist the totals."""
        totals = self.totals
        totals["trades"] += 1
        totals["realised_pips"] += trade["pips"]
        self.sink.trades(int(totals["decisions"]), [trade])
        self.update_risk(realised_pips=trade["pips"] if today else 0.0)
        self.journal.set_states({keys.TOTALS: totals, keys.RISK: self.risk.to_dict()})
        logger.info("trade closed: %s %+.1f pips", trade["side"], trade["pips"])

    def rebuild(self, believed: int) -> None:
        """Track the ``believed`` position from its entry fill over the kept bars."""
        self.believed = believed
        self.tracker.reset()
        if believed == 0 or not len(self.features):
            return
        side = 1 if believed > 0 else -1
        entry = next((o for o in reversed(self.journal.filled_since_baseline(self.instrument))
                      if o.purpose == OPEN and (o.filled_units or 0) * side > 0
                      and o.bar_ts is not None and o.decision_price is not None), None)
        if entry is None or entry.bar_ts is None or entry.decision_price is None:
            avg = self.broker.position(self.instrument).avg_price
            price = avg if avg is not None else float(self.features.close[-1])
            self.tracker.open(side, price, int(self.features.ts[-1]))
            logger.warning("position %+d without a journaled entry: tracked from %s", believed,
                           price)
            return
        self.tracker.open(side, entry.decision_price, entry.bar_ts)
        mark_bars(self.tracker, self.features, entry.bar_ts)

    # --- risk -----------------------------------------------------------------------

    def roll_day(self) -> None:
        """Start a new trading day's counters if one began (persisted)."""
        rolled = riskmod.roll(self.risk, self.broker.now())
        if rolled.day != self.risk.day:
            if self.risk.tripped:
                self.sink.event("info", "risk", "new trading day: daily loss limit reset", {})
            self.risk = rolled
            self.journal.set_state(keys.RISK, self.risk.to_dict())

    def update_risk(self, realised_pips: float = 0.0, realised_ccy: float = 0.0) -> None:
        """Add realised P/L, mark the open position; trip the daily loss limit if reached."""
        open_pips = 0.0 if self.tracker.flat else self.tracker.unrealised
        self.risk, tripped = riskmod.update(self.risk, self.limits, self.broker.now(),
                                            realised_pips=realised_pips,
                                            realised_ccy=realised_ccy, open_pips=open_pips)
        if tripped:
            self.journal.set_state(keys.RISK, self.risk.to_dict())
            self.sink.event("error", "risk", f"daily loss limit {tripped} reached: no new "
                            "entries until the next trading day", self.risk.to_dict())

    def record_order(self, now_ns: int) -> None:
        """Count an order sent at ``now_ns`` (the order-rate limit)."""
        self.risk = riskmod.record_order(self.risk, now_ns)

    def risk_block(self, units: int, position: int, bar_ts: int | None) -> str:
        """Why the risk limits refuse an order now ("" if they allow it)."""
        try:
            quote: Quote | None = self.broker.quote(self.instrument)
        except BrokerError as exc:
            logger.warning("no quote: %s", exc)
            quote = None
        now = self.broker.now()  # after the quote, which may have taken a while
        self.risk = riskmod.roll(self.risk, now)
        violations = self.limits.check(units, position, self.risk, now, quote, bar_ts,
                                       self.period_ns)
        if not violations:
            self._last_violation = ""
            return ""
        text = "; ".join(v.message for v in violations)
        codes = ",".join(v.code for v in violations)
        # A closed market is no alert, nor what comes with it (a stale price or bar).
        if codes != self._last_violation and riskmod.MARKET_CLOSED not in codes.split(","):
            self.sink.event("warning", "risk", f"order of {units:+d} refused: {text}",
                            {"codes": codes})
        self._last_violation = codes
        return text
