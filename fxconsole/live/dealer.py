"""The live trader's orders: the risk limits, one journaled send, its timing, its booking.

Every order — the policy's or the operator's flatten — must pass the risk limits, counts
towards the order rate, is journaled and sent once (:class:`~.orders.OrderDesk`), is timed
(new bar → request) and its outcome is booked (:class:`~.ledger.Ledger`). An UNKNOWN
outcome, or refused credentials, stops every new order until the journal is reconciled
again. A flatten is one order per request: a refused one is reported, not retried.

Exits (the policy's CLOSE, a forced close, a flatten) are sent reduce-only and sized by
the position the journal believes in, so an exit never opens a position; before every
entry the broker's position is read and compared with the journal's (a difference
halts trading, no order is sent).
"""

from __future__ import annotations

from collections.abc import Callable

from fxconsole.brokers.base import AuthError, Bar, Broker, OrderResult, OrderState
from fxconsole.live.decision import FLATTEN, OPEN, Choice, Decision, order_units
from fxconsole.live.journal import JournalOrder
from fxconsole.live.ledger import Ledger, slippage_pips
from fxconsole.live.orders import OrderDesk
from fxconsole.live.reconcile import Reconciler, mismatch_reason
from fxconsole.live.status import Sink, Status
from fxconsole.live.switches import Switches
from fxconsole.market.incremental import IncrementalFeatures


def order_latencies(seen: float, start: float, sent: float, now_ns: int, bar_ts: int | None,
                    period_ns: int) -> dict[str, float]:
    """An order's latency metrics (ms).

    Args:
        seen: when the new bar was seen (monotonic s).
        start: when sending began (monotonic s).
        sent: when the request went out, after the journal's commits (monotonic s).
        now_ns: the broker's clock when sending began.
        bar_ts: the decided bar's open time (ns), if any.
        period_ns: the bar period.
    """
    values = {"live/latency_ms": (sent - seen) * 1000.0}
    if bar_ts is not None:  # bar close → request, on the broker's clock
        values["live/bar_latency_ms"] = (
            (now_ns - bar_ts - period_ns) / 1e6 + (sent - start) * 1000.0)
    return values


class Dealer:
    """Sends one instrument's orders and books their outcomes."""

    def __init__(self, broker: Broker, desk: OrderDesk, ledger: Ledger,
                 reconciler: Reconciler, switches: Switches, status: Status, sink: Sink,
                 features: IncrementalFeatures, *, instrument: str, units: int, pip: float,
                 period_ns: int, monotonic: Callable[[], float]) -> None:
        """Deal through ``desk``.

        Args:
            broker: the broker (its clock, position and quotes).
            desk: journals and sends the orders.
            ledger: the risk limits; books the outcomes.
            reconciler: an UNKNOWN outcome makes the trader unreconciled.
            switches: the pending flatten.
            status: the connection and the last order's metrics.
            sink: events.
            features: the kept bars (a flatten's bar).
            instrument: the traded instrument.
            units: the units of an entry (``live.units``; exits close what the journal
                believes is held).
            pip: the pip size (slippage).
            period_ns: the bar period (latency from the bar's close).
            monotonic: for latencies.
        """
        self.broker, self.desk, self.ledger, self.reconciler = broker, desk, ledger, reconciler
        self.sw, self.status, self.sink, self.features = switches, status, sink, features
        self.instrument, self.units, self.pip = instrument, units, pip
        self.period_ns, self.monotonic = period_ns, monotonic

    def trade(self, choice: Choice, bar: Bar, decision: Decision, seen: float) -> None:
        """Send the order ``choice`` calls for on ``bar``, noted in ``decision``.

        A refusal by the risk limits turns the decision into a HOLD with the reason.
        """
        position = self.ledger.believed  # not side × live.units: the units may have changed
        units = order_units(choice, position, self.units)
        if units == 0:
            decision.action, decision.reason = "HOLD", "no position to close"
            return
        blocked = self.ledger.risk_block(units, position, bar.ts)
        if blocked:
            decision.action, decision.reason = "HOLD", f"risk: {blocked}"
            return
        entry = choice.purpose == OPEN
        if entry:  # one read per entry: never open on top of a position we do not know
            mismatch = self._mismatch()
            if mismatch:
                decision.action, decision.reason = "HOLD", f"halted: {mismatch}"
                return
        order, result = self.send(units, choice.purpose, bar.ts, bar.close, seen,
                                  reduce_only=not entry)
        decision.client_id, decision.state = order.client_id, result.state.value
        decision.fill_price, decision.units = result.price, units
        self.apply(order, result)
        if not entry and result.state is not OrderState.UNKNOWN and result.units != units:
            self.reconciler.compare()  # an exit that did not close what we hold

    def _mismatch(self) -> str:
        """Compare the broker's position with the believed one; halt on a difference.

        Returns:
            The mismatch ("" if the positions agree).
        """
        actual = self.broker.position(self.instrument).units
        if actual == self.ledger.believed:
            return ""
        believed = self.reconciler.compare(actual)
        return mismatch_reason(believed, actual)

    def flatten(self) -> bool:
        """Send the order that flattens the broker's position, if the limits allow it.

        Returns:
            True if the broker's position is flat now (already, or filled).
        """
        if not self.reconciler.reconciled:
            return False
        actual = self.broker.position(self.instrument).units
        if actual == 0:
            return True
        blocked = self.ledger.risk_block(-actual, actual, self.features.last_ts)
        if blocked:
            return False  # retried next step
        agreed = self.ledger.believed == actual  # else the trade it closes is not ours
        quote = self.broker.quote(self.instrument)
        order, result = self.send(-actual, FLATTEN, self.features.last_ts, quote.mid,
                                  self.monotonic(), reduce_only=True)
        self.sw.set_flatten(False)  # one order per request: a refused one is reported
        self.apply(order, result, book=agreed)
        if result.state is OrderState.FILLED:
            return True
        if result.state is not OrderState.UNKNOWN:
            self.sink.event("error", "flatten", f"flatten {result.state.value}: "
                            f"{result.reason or result.code}; ask again", {})
        return False

    def send(self, units: int, purpose: str, bar_ts: int | None, price: float | None,
             seen: float, reduce_only: bool = False) -> tuple[JournalOrder, OrderResult]:
        """Count, journal and send an order once (an exit ``reduce_only``); time it.

        Raises:
            AuthError: if the broker refuses the credentials (the order is UNKNOWN).
        """
        now, start = self.broker.now(), self.monotonic()
        self.ledger.record_order(now)
        try:
            return self.desk.send(units, purpose, bar_ts, price, reduce_only)
        except AuthError as exc:
            self.reconciler.reconciled = False
            self.status.disconnected(exc, "error")
            raise
        finally:
            sent = self.desk.sent_at
            if sent >= start:  # the request went out: time it, journal commits included
                self.status.fill = order_latencies(seen, start, sent, now, bar_ts,
                                                   self.period_ns)

    def apply(self, order: JournalOrder, result: OrderResult, book: bool = True) -> None:
        """Book an order's outcome; an UNKNOWN one stops new orders until it is resolved.

        ``book``: False if a flattened position was not the journal's (no trade counted).
        """
        if result.state is OrderState.UNKNOWN:
            self.reconciler.reconciled = False
        slippage = slippage_pips(order, result, self.pip)
        if slippage is not None:
            self.status.fill["live/slippage_pips"] = slippage
        self.ledger.apply(order, result, book)
