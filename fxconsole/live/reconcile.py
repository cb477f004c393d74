"""Reconciliation: settle the journal's unresolved orders, then compare positions.

Every journaled order that may have reached the broker (INTENT, SENT, UNKNOWN) is resolved
by its client id — found: its outcome is recorded; not found after
``live.unknown_grace_seconds``: NOT_FOUND. Once none is left, the journal's position is
compared with the broker's. A mismatch halts trading (persisted), raises an error event
and assumes nothing: only an explicit flatten may trade until it is resolved. The
positions are compared again before every entry, after an exit that did not fill as sent
and on a timer (:class:`~.trader.LiveTrader`), so a position changed behind the trader's
back (a margin closeout, a manual close) halts trading too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fxconsole.brokers.base import Broker, OrderResult, OrderState
from fxconsole.live.journal import Journal, JournalOrder
from fxconsole.live.ledger import Ledger
from fxconsole.live.orders import OrderDesk
from fxconsole.live.status import Sink
from fxconsole.live.switches import MISMATCH, Switches

logger = logging.getLogger(__name__)

Apply = Callable[[JournalOrder, OrderResult], None]


def mismatch_reason(believed: int, actual: int) -> str:
    """Why the positions disagree ("" if they agree)."""
    if believed == actual:
        return ""
    return (f"position mismatch: the journal believes {believed:+d}, the broker "
            f"has {actual:+d}")


class Reconciler:
    """Brings the journal and the broker into agreement, or halts trading.

    Attributes:
        reconciled: no order is unresolved and the positions were compared; False again
            after an UNKNOWN outcome (no new orders until :meth:`reconcile` succeeds).
    """

    def __init__(self, broker: Broker, journal: Journal, desk: OrderDesk, ledger: Ledger,
                 sink: Sink, switches: Switches, instrument: str,
                 grace_seconds: float) -> None:
        """Reconcile ``instrument``.

        Args:
            broker: the broker.
            journal: the order journal.
            desk: resolves orders by their client ids.
            ledger: its tracked position is rebuilt once reconciled.
            sink: events.
            switches: the halt.
            instrument: the traded instrument.
            grace_seconds: how long a sent order may be missing before it is NOT_FOUND.
        """
        self.broker, self.journal, self.desk, self.ledger = broker, journal, desk, ledger
        self.sink, self.sw, self.instrument = sink, switches, instrument
        self.grace_seconds = grace_seconds
        self.reconciled = False

    def reconcile(self, apply: Apply) -> None:
        """Resolve unresolved orders; once none is left, compare positions.

        Args:
            apply: books each settled order's outcome.
        """
        pending = self.resolve(apply)
        if pending:
            logger.info("%d order(s) still unresolved: no new orders", pending)
            return
        self.ledger.rebuild(self.compare())
        self.reconciled = True

    def resolve(self, apply: Apply) -> int:
        """Resolve the journal's unresolved orders, ``apply`` each settled one.

        Returns:
            How many are still unresolved.
        """
        found = self.desk.resolve(self.grace_seconds)
        for order, result in found.settled:
            level = "warning" if result.state is OrderState.NOT_FOUND else "info"
            self.sink.event(level, "order", f"order {order.client_id} resolved: "
                            f"{result.state.value}", {"client_id": order.client_id})
            apply(order, result)
        return found.pending

    def compare(self, actual: int | None = None) -> int:
        """Compare positions: halt on a mismatch, lift a mismatch halt on agreement.

        Args:
            actual: the broker's position if just read (None: read it).

        Returns:
            The position the journal believes in.
        """
        believed = self.journal.believed_position(self.instrument)
        if actual is None:
            actual = self.broker.position(self.instrument).units
        reason = mismatch_reason(believed, actual)
        if reason:
            self.sw.halt(MISMATCH, reason)
            self.sink.event("error", "reconcile", f"{reason}; trading halted (flatten to "
                            "resolve, or restart after fixing the account)",
                            {"believed": believed, "broker": actual})
        else:
            if self.sw.mismatch_halt:
                self.sw.unhalt(f"positions agree again ({actual:+d})")
            logger.info("reconciled: position %+d", actual)
        return believed
