"""Execution: the one owner of the live orders and of the position the journal believes in.

Orders are sent once, journaled first and resolved later (DESIGN.md, Live trading
safety). :meth:`Execution.send` commits the intent, commits SENT, sends the market order
exactly once and records what came back; any failure of the call itself is an UNKNOWN
outcome (the request may have reached the broker). :meth:`Execution.resolve` settles the
journal's INTENT, SENT and UNKNOWN orders by their client ids: found at the broker → its
outcome; not found → NOT_FOUND (at once for an INTENT, which was never sent, else after
``grace_seconds`` counted from when the outcome became unknown, since a fresh order may
take a moment to show).

An UNKNOWN outcome, or refused credentials, makes the execution *unreconciled*: no new
order may be sent until the engine has resolved the journal and compared the positions
again (:meth:`confirm`). The journal (:mod:`.journal`) is its persistence.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from fxconsole.brokers.base import (
    FINAL_STATES,
    AuthError,
    Broker,
    OrderRequest,
    OrderResult,
    OrderState,
)
from fxconsole.brokers.credentials import redact
from fxconsole.live.journal import Journal, JournalOrder

logger = logging.getLogger(__name__)

FAULT_ENV = "FXCONSOLE_FAULT"  # test hook: "after-send" kills the process after an order


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL if ``$FXCONSOLE_FAULT`` names this point (tests)."""
    if os.environ.get(FAULT_ENV) == name:
        logger.error("fault injection %r: SIGKILL", name)
        os.kill(os.getpid(), signal.SIGKILL)


def unknown_since(order: JournalOrder) -> float:
    """Since when (UNIX s) the outcome of ``order`` is unknown: when it became UNKNOWN
    (its reply timed out, perhaps long after it was sent), else when it was sent."""
    if order.state is OrderState.UNKNOWN:
        return order.updated
    return order.sent or order.created


@dataclass(frozen=True)
class Sent:
    """An order sent once and its outcome.

    Attributes:
        order: the journal row after the outcome.
        result: what the broker answered (or UNKNOWN).
        started: when sending began (monotonic s).
        sent_at: when the request went out, after the journal's commits (monotonic s).
        now_ns: the broker's clock when sending began.
    """

    order: JournalOrder
    result: OrderResult
    started: float
    sent_at: float
    now_ns: int


@dataclass(frozen=True)
class Resolution:
    """What resolving the journal found: settled orders and how many are still open."""

    settled: list[tuple[JournalOrder, OrderResult]]
    pending: int


class Execution:
    """Sends one instrument's market orders through a broker, journaled.

    Attributes:
        believed: the units the journal believes are held (kept current on fills).
        reconciled: no order is unresolved and the positions were compared; False after
            an UNKNOWN outcome or refused credentials, until :meth:`confirm`.
    """

    def __init__(self, broker: Broker, journal: Journal, instrument: str,
                 grace_seconds: float, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """Trade ``instrument`` through ``broker``, journaled in ``journal``.

        Args:
            broker: the broker.
            journal: the order journal (persistence of orders and the believed position).
            instrument: the traded instrument.
            grace_seconds: how long a sent order may be missing before it is NOT_FOUND.
            clock: UNIX seconds (the grace period).
            monotonic: stamps when requests go out.
        """
        self.broker, self.journal, self.instrument = broker, journal, instrument
        self.grace_seconds, self.clock, self.monotonic = grace_seconds, clock, monotonic
        self.believed = 0
        self.reconciled = False

    def send(self, units: int, purpose: str, bar_ts: int | None, price: float | None,
             reduce_only: bool = False) -> Sent:
        """Journal, send once, record.

        ``reduce_only``: an exit (the broker must not open or grow a position with it).

        Raises:
            AuthError: the credentials were refused (the order is recorded UNKNOWN).
        """
        now_ns, started = self.broker.now(), self.monotonic()
        order = self.journal.record_intent(self.instrument, units, purpose, bar_ts, price)
        self.journal.mark_sent(order.client_id)
        sent_at = self.monotonic()
        try:
            result = self.broker.market_order(OrderRequest(order.client_id, self.instrument,
                                                           units, reduce_only))
        except AuthError:
            self.journal.record_outcome(OrderResult(order.client_id, OrderState.UNKNOWN,
                                                    reason="credentials refused"))
            self.reconciled = False
            raise
        except Exception as exc:  # whatever happened, the order may have reached the broker
            logger.exception("order %s: outcome unknown", order.client_id)
            reason = redact(f"{type(exc).__name__}: {exc}")[:200]
            result = OrderResult(order.client_id, OrderState.UNKNOWN, reason=reason)
        fault_point("after-send")
        recorded = self.journal.record_outcome(result)
        self._after(result)
        return Sent(recorded, result, started, sent_at, now_ns)

    def resolve(self) -> Resolution:
        """Settle the journal's unresolved orders where the broker can tell.

        Raises:
            BrokerError: if the broker cannot be asked (nothing is settled wrongly).
        """
        settled: list[tuple[JournalOrder, OrderResult]] = []
        pending = 0
        for order in self.journal.unresolved():
            result = self.broker.order_by_client_id(order.client_id)
            if result is not None and result.state in FINAL_STATES:
                settled.append((self.journal.record_outcome(result), result))
                self._after(result)
                continue
            waited = self.clock() - unknown_since(order)
            if result is None and (order.state is OrderState.INTENT
                                   or waited >= self.grace_seconds):
                missing = OrderResult(order.client_id, OrderState.NOT_FOUND,
                                      reason="not found at the broker")
                settled.append((self.journal.record_outcome(missing), missing))
                continue
            pending += 1
        return Resolution(settled, pending)

    def _after(self, result: OrderResult) -> None:
        if result.state is OrderState.UNKNOWN:
            self.reconciled = False
        elif result.state is OrderState.FILLED:
            self.believed = self.journal.believed_position(self.instrument)

    def broker_position(self) -> int:
        """The units the broker holds now (one read)."""
        return self.broker.position(self.instrument).units

    def load_believed(self) -> int:
        """Re-read the believed position from the journal."""
        self.believed = self.journal.believed_position(self.instrument)
        return self.believed

    def confirm(self) -> None:
        """The journal is resolved and the positions were compared: orders may go out."""
        self.reconciled = True

    def unconfirm(self) -> None:
        """Stop new orders until the journal is reconciled again (refused credentials)."""
        self.reconciled = False

    def set_flat_baseline(self) -> None:
        """An operator's flatten made the broker flat: so is the journal from now on."""
        if self.journal.believed_position(self.instrument) != 0:
            self.journal.set_baseline(0)
        self.believed = 0
