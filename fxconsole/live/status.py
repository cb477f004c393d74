"""What the live trader reports: ``live/…`` metrics from a snapshot, its ``live_state`` rows,
the broker's connection.

The engine hands :class:`Status` a function that takes a :class:`Snapshot` of its
components; the metrics are written at every decision and command, otherwise at most
every :data:`IDLE_METRICS_SECONDS`; the last order's latencies and slippage go with the
next row. The broker's connection is reported as events when it changes (connected,
lost).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fxconsole.brokers.base import AuthError, BrokerError
from fxconsole.live import journal as keys
from fxconsole.live.position import PositionTracker
from fxconsole.live.risk import RiskState
from fxconsole.timeutil import ns_to_seconds, seconds_to_ns

logger = logging.getLogger(__name__)

IDLE_METRICS_SECONDS = 5.0


class Sink(Protocol):
    """Where the trader's metrics, closed trades and events go (e.g. a MetricsWriter)."""

    def write(self, step: int, values: Mapping[str, float]) -> None:
        """Record metric values."""

    def trades(self, step: int, trades: list[dict[str, Any]]) -> None:
        """Record closed trades."""

    def event(self, level: str, kind: str, message: str,
              data: Mapping[str, Any] | None = None) -> None:
        """Record an event (warning and error are alerts)."""


class Status:
    """The broker's connection and the metrics rows of one trader.

    Attributes:
        connected: the last broker call went through.
    """

    def __init__(self, broker_name: str, sink: Sink, monotonic: Callable[[], float],
                 snapshot: Callable[[], Snapshot]) -> None:
        """Report through ``sink``.

        Args:
            broker_name: the broker's name in events.
            sink: metrics and events.
            monotonic: paces the idle metrics rows.
            snapshot: what the engine's components hold now (read only when a row is
                written).
        """
        self.broker_name, self.sink, self.monotonic = broker_name, sink, monotonic
        self.snapshot = snapshot
        self.connected = False
        self._order: dict[str, float] = {}
        self._last_write = -math.inf

    def guarded(self, action: Callable[[], None]) -> bool:
        """Run ``action``; a broker failure is reported and gives False.

        Raises:
            AuthError: if the broker refuses the credentials (reported as an error).
        """
        try:
            action()
        except AuthError as exc:
            self.disconnected(exc, "error")
            raise
        except BrokerError as exc:
            self.disconnected(exc)
            return False
        if not self.connected:
            self.connected = True
            self.sink.event("info", "broker", f"{self.broker_name}: connected", {})
        return True

    def disconnected(self, exc: BrokerError, level: str = "warning") -> None:
        """Report a broker failure (an event once per outage; ``error`` always)."""
        if self.connected or level == "error":
            self.sink.event(level, "broker", f"{self.broker_name}: {exc}", {})
        logger.warning("broker %s: %s", self.broker_name, exc)
        self.connected = False
        self.publish()

    def note_order(self, values: Mapping[str, float], new: bool = False) -> None:
        """Report the last order's metrics (latencies, slippage) with the next row;
        ``new``: they replace those of an earlier order not yet written."""
        if new:
            self._order = {}
        self._order.update(values)

    def publish(self, force: bool = False) -> None:
        """Write the metrics now if ``force`` or if the last row is old enough."""
        now = self.monotonic()
        if not force and now - self._last_write < IDLE_METRICS_SECONDS:
            return
        self._last_write = now
        snap = self.snapshot()
        values = live_metrics(snap, self.connected)
        values.update(self._order)
        self._order = {}
        self.sink.write(snap.decisions, values)


@dataclass(frozen=True)
class Snapshot:
    """What the live engine's components hold at one moment (read by :class:`Status`).

    Attributes:
        decisions: decisions so far.
        trades: closed trades so far.
        realised_pips: their pips.
        tracker: the tracked position.
        position: the units the journal believes are held.
        risk: the risk counters.
        fills: filled orders in the journal.
        rejects: rejected or cancelled orders.
        unresolved: orders whose outcome is not known yet.
        entries_paused: the operator paused entries.
        kill_switch: the kill switch is engaged.
        halted: trading is halted (or orders are still unresolved).
        deployed: a policy is deployed.
    """

    decisions: int
    trades: int
    realised_pips: float
    tracker: PositionTracker
    position: int
    risk: RiskState
    fills: int
    rejects: int
    unresolved: int
    entries_paused: bool
    kill_switch: bool
    halted: bool
    deployed: bool


def live_metrics(snap: Snapshot, connected: bool) -> dict[str, float]:
    """The ``live/…`` metrics of a snapshot; ``connected``: the broker answers."""
    risk, tracker = snap.risk, snap.tracker
    now_day = risk.tripped and risk.tripped_day == risk.day
    return {
        "live/decisions": float(snap.decisions),
        "live/position": float(snap.position),
        "live/unrealised_pips": 0.0 if tracker.flat else tracker.unrealised,
        "live/realised_pips": float(snap.realised_pips),
        "live/today_pips": risk.day_pips,
        "live/trades": float(snap.trades),
        "live/fills": float(snap.fills),
        "live/rejects": float(snap.rejects),
        "live/unresolved": float(snap.unresolved),
        "live/entries_paused": float(snap.entries_paused),
        "live/kill_switch": float(snap.kill_switch),
        "live/halted": float(snap.halted),
        "live/risk_tripped": float(bool(now_day)),
        "live/connected": float(connected),
        "live/deployed": float(snap.deployed),
    }


def totals(snap: Snapshot) -> dict[str, float]:
    """The ``totals`` row of ``live_state``."""
    return {"decisions": snap.decisions, "trades": snap.trades,
            "realised_pips": snap.realised_pips}


def saved_state(snap: Snapshot, last_decided: int | None,
                decisions: list[dict[str, Any]]) -> dict[str, Any]:
    """The trader's ``live_state`` rows (the switches are written when they change)."""
    return {
        keys.LAST_BAR_TS: ns_to_seconds(last_decided),
        keys.DECISIONS: decisions, keys.RISK: snap.risk.to_dict(),
        keys.TOTALS: totals(snap),
        keys.POSITION: {**snap.tracker.to_dict(), "units": snap.position},
    }


def restored_last_decided(saved_seconds: float | None, journal_ns: int | None) -> int | None:
    """The newest bar decided before (ns): the saved one or the journal's, if later."""
    known = [t for t in (seconds_to_ns(saved_seconds), journal_ns) if t is not None]
    return max(known) if known else None
