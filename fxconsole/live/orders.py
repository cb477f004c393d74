"""Orders sent once, journaled first, resolved later (DESIGN.md, Live trading safety).

:meth:`OrderDesk.send` commits the intent, commits SENT, sends the market order exactly
once and records what came back; any failure of the call itself is an UNKNOWN outcome
(the request may have reached the broker). :meth:`OrderDesk.resolve` settles the
journal's INTENT, SENT and UNKNOWN orders by their client ids: found at the broker → its
outcome; not found → NOT_FOUND (at once for an INTENT, which was never sent, else after
a grace period counted from when the outcome became unknown, since a fresh order may
take a moment to show).
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
class Resolution:
    """What resolving the journal found: settled orders and how many are still open."""

    settled: list[tuple[JournalOrder, OrderResult]]
    pending: int


class OrderDesk:
    """Sends market orders of one instrument through a broker, journaled."""

    def __init__(self, broker: Broker, journal: Journal, instrument: str,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """Use ``broker`` and ``journal``; ``clock`` (UNIX s) measures the grace period;
        ``monotonic`` stamps :attr:`sent_at`, when the last request went out (after its
        journal commits)."""
        self.broker, self.journal, self.instrument, self.clock = broker, journal, instrument, clock
        self.monotonic = monotonic
        self.sent_at = 0.0

    def send(self, units: int, purpose: str, bar_ts: int | None, price: float | None,
             reduce_only: bool = False) -> tuple[JournalOrder, OrderResult]:
        """Journal, send once, record; return the journal row after the outcome.

        ``reduce_only``: an exit (the broker must not open or grow a position with it).

        Raises:
            AuthError: the credentials were refused (the order is recorded UNKNOWN).
        """
        order = self.journal.record_intent(self.instrument, units, purpose, bar_ts, price)
        self.journal.mark_sent(order.client_id)
        self.sent_at = self.monotonic()
        try:
            result = self.broker.market_order(OrderRequest(order.client_id, self.instrument,
                                                           units, reduce_only))
        except AuthError:
            self.journal.record_outcome(OrderResult(order.client_id, OrderState.UNKNOWN,
                                                    reason="credentials refused"))
            raise
        except Exception as exc:  # whatever happened, the order may have reached the broker
            logger.exception("order %s: outcome unknown", order.client_id)
            reason = redact(f"{type(exc).__name__}: {exc}")[:200]
            result = OrderResult(order.client_id, OrderState.UNKNOWN, reason=reason)
        fault_point("after-send")
        return self.journal.record_outcome(result), result

    def resolve(self, grace_seconds: float) -> Resolution:
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
                continue
            waited = self.clock() - unknown_since(order)
            if result is None and (order.state is OrderState.INTENT
                                   or waited >= grace_seconds):
                missing = OrderResult(order.client_id, OrderState.NOT_FOUND,
                                      reason="not found at the broker")
                settled.append((self.journal.record_outcome(missing), missing))
                continue
            pending += 1
        return Resolution(settled, pending)
