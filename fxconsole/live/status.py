"""What the live trader reports: ``live/…`` metrics, its ``live_state`` rows, the connection.

The metrics are written at every decision and command, otherwise at most every
:data:`IDLE_METRICS_SECONDS`; the last order's latencies and slippage go with the next
row. The broker's connection is reported as events when it changes (connected, lost).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from fxconsole.brokers.base import AuthError, BrokerError
from fxconsole.live import journal as keys
from fxconsole.live.journal import Journal
from fxconsole.live.position import PositionTracker
from fxconsole.live.risk import RiskState

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
        fill: the last order's metrics (latencies, slippage), written with the next row.
    """

    def __init__(self, broker_name: str, sink: Sink, monotonic: Callable[[], float],
                 metrics: Callable[[], dict[str, float]], step: Callable[[], int]) -> None:
        """Report through ``sink``.

        Args:
            broker_name: the broker's name in events.
            sink: metrics and events.
            monotonic: paces the idle metrics rows.
            metrics: the current ``live/…`` metrics.
            step: the step of the next metrics row (the decisions so far).
        """
        self.broker_name, self.sink, self.monotonic = broker_name, sink, monotonic
        self.metrics, self.step = metrics, step
        self.connected = False
        self.fill: dict[str, float] = {}
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

    def publish(self, force: bool = False) -> None:
        """Write the metrics now if ``force`` or if the last row is old enough."""
        now = self.monotonic()
        if not force and now - self._last_write < IDLE_METRICS_SECONDS:
            return
        self._last_write = now
        values = self.metrics()
        values.update(self.fill)
        self.fill = {}
        self.sink.write(self.step(), values)


def live_metrics(totals: Mapping[str, float], tracker: PositionTracker, position: int,
                 risk: RiskState, journal: Journal, *, entries_paused: bool,
                 kill_switch: bool, halted: bool, connected: bool,
                 deployed: bool) -> dict[str, float]:
    """The ``live/…`` metrics of a trader.

    Args:
        totals: decisions, trades and realised pips so far.
        tracker: the tracked position.
        position: the units the journal believes are held.
        risk: the risk counters.
        journal: the order journal (fills, rejects, unresolved orders).
        entries_paused: the operator paused entries.
        kill_switch: the kill switch is engaged.
        halted: trading is halted (or orders are still unresolved).
        connected: the broker answers.
        deployed: a policy is deployed.
    """
    now_day = risk.tripped and risk.tripped_day == risk.day
    return {
        "live/decisions": float(totals["decisions"]),
        "live/position": float(position),
        "live/unrealised_pips": 0.0 if tracker.flat else tracker.unrealised,
        "live/realised_pips": float(totals["realised_pips"]),
        "live/today_pips": risk.day_pips,
        "live/trades": float(totals["trades"]),
        "live/fills": float(journal.fills()),
        "live/rejects": float(journal.rejects()),
        "live/unresolved": float(len(journal.unresolved())),
        "live/entries_paused": float(entries_paused),
        "live/kill_switch": float(kill_switch),
        "live/halted": float(halted),
        "live/risk_tripped": float(bool(now_day)),
        "live/connected": float(connected),
        "live/deployed": float(deployed),
    }


def saved_state(last_decided: int | None, decisions: list[dict[str, Any]], risk: RiskState,
                totals: Mapping[str, float], tracker: PositionTracker,
                position: int) -> dict[str, Any]:
    """The trader's ``live_state`` rows (the switches are written when they change);
    ``position``: the units the journal believes are held."""
    return {
        keys.LAST_BAR_TS: None if last_decided is None else last_decided / 1e9,
        keys.DECISIONS: decisions, keys.RISK: risk.to_dict(),
        keys.TOTALS: totals,
        keys.POSITION: {**tracker.to_dict(), "units": position},
    }


def restored_last_decided(journal: Journal) -> int | None:
    """The newest bar decided before (ns): the saved one or the journal's, if later."""
    stamps = [journal.get_state(keys.LAST_BAR_TS), journal.last_decided_bar()]
    stored = stamps[0] if stamps[0] is None else round(float(stamps[0]) * 1e6) * 1000
    known = [t for t in (stored, stamps[1]) if t is not None]
    return max(known) if known else None
