"""The live trading loop, independent of the worker runtime: bars in, orders out.

:meth:`LiveTrader.start` warms the features up from the broker's candles and reconciles:
every journaled order that may have reached the broker (INTENT, SENT, UNKNOWN) is
resolved by its client id — found: its outcome is recorded; not found after
``live.unknown_grace_seconds``: NOT_FOUND — and then the journal's position is compared
with the broker's. A mismatch halts trading (persisted), raises an error event and assumes
nothing: only an explicit flatten may trade until it is resolved. An exit resolved after
its bar (after a crash, or a lost reply) reports its trade once, replayed from the
journal's entry to the exit's bar; a fill of an earlier trading day does not count today.

:meth:`LiveTrader.step` polls for new complete bars. On a new bar: features, observation,
the policy's action, the rules of :mod:`.decision`, the risk limits, then an order:
journaled (committed) as an intent, marked sent, sent once, its outcome recorded. An
UNKNOWN outcome stops every new order until it is resolved (retried each step). Without
a new bar the step only keeps the switches, the risk day and the metrics current.

Operator commands are methods (:meth:`kill_switch`, :meth:`pause_entries`,
:meth:`resume_entries`, :meth:`flatten`, :meth:`deploy`); they take effect at once and
persist in ``live_state``.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from fxconsole.broker import journal as keys
from fxconsole.broker import risk as riskmod
from fxconsole.broker.base import (
    AuthError,
    Bar,
    Broker,
    BrokerError,
    OrderResult,
    OrderState,
    Quote,
    instrument_name,
)
from fxconsole.broker.decision import (
    ACTION_NAMES,
    FLATTEN,
    FORCED,
    OPEN,
    Choice,
    Decision,
    DecisionContext,
    choose,
    order_units,
)
from fxconsole.broker.feed import BarFeed
from fxconsole.broker.journal import Journal, JournalOrder, push_decision
from fxconsole.broker.orders import OrderDesk
from fxconsole.broker.position import PositionTracker, observation
from fxconsole.config import Config
from fxconsole.market.bars import NS_PER_SECOND, pip_size, timeframe_seconds
from fxconsole.market.incremental import IncrementalFeatures
from fxconsole.trading.core import HOLD

logger = logging.getLogger(__name__)

IDLE_METRICS_SECONDS = 5.0
Actor = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.int64]]


class Sink(Protocol):
    """Where the trader's metrics, closed trades and events go (e.g. a MetricsWriter)."""

    def write(self, step: int, values: Mapping[str, float]) -> None:
        """Record metric values."""

    def trades(self, step: int, trades: list[dict[str, Any]]) -> None:
        """Record closed trades."""

    def event(self, level: str, kind: str, message: str,
              data: Mapping[str, Any] | None = None) -> None:
        """Record an event (warning and error are alerts)."""


@dataclass
class _Switches:
    kill_switch: bool = False
    entries_paused: bool = False
    halted: dict[str, Any] | None = None
    totals: dict[str, float] = field(default_factory=lambda: {
        "decisions": 0, "trades": 0, "realised_pips": 0.0})


class LiveTrader:
    """Trades one instrument through a broker with a policy, under the risk limits."""

    def __init__(self, broker: Broker, conn: sqlite3.Connection, actor: Actor | None,
                 config: Config, sink: Sink, *, run: str = "main", worker: str = "live",
                 gate_sigma_pips: float = -math.inf, deployed: str = "",
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic,
                 observer: Callable[[Decision], None] | None = None) -> None:
        """Set up; nothing is read from the broker before :meth:`start`.

        Args:
            broker: the broker to trade through.
            conn: the console database (journal and ``live_state``).
            actor: the policy (observations → actions), or None to hold.
            config: the configuration (``live``, ``risk``, ``data``, ``env``).
            sink: metrics, trades and events.
            run: the run whose checkpoint trades (in client ids).
            worker: this process's name in the journal.
            gate_sigma_pips: the entry gate (−inf: off).
            deployed: a label of the traded checkpoint.
            clock: UNIX seconds (journal times, the unknown-order grace).
            monotonic: for latencies and metric pacing.
            observer: called with every decision (e.g. the CLI prints it).
        """
        self.broker, self.actor, self.config, self.sink = broker, actor, config, sink
        self.deployed, self.observer = deployed, observer
        self.clock, self.monotonic = clock, monotonic
        self.instrument = instrument_name(config.data.symbol)
        self.granularity = config.data.timeframe
        self.period_ns = timeframe_seconds(config.data.timeframe) * NS_PER_SECOND
        self.pip = pip_size(config.data.symbol)
        self.units = config.live.units
        self.gate_sigma_pips = gate_sigma_pips
        self.journal = Journal(conn, run, worker, broker.name, clock)
        self.desk = OrderDesk(broker, self.journal, self.instrument, clock, self.monotonic)
        self.features = IncrementalFeatures(self.pip, config.data.mm_window,
                                            config.live.history_bars)
        self.feed = BarFeed(broker, self.instrument, self.granularity, self.period_ns,
                            self.features)
        self.tracker = PositionTracker(self.pip, config.env.spread_pips)
        self.limits = riskmod.RiskLimits.from_config(config.risk)
        self.risk = riskmod.RiskState()
        self.sw = _Switches()
        self.decisions: list[dict[str, Any]] = []
        self.last_decided: int | None = None
        self.connected = False
        self.reconciled = False
        self.flatten_pending = False
        self._last_metrics = -math.inf
        self._last_violation = ""
        self._last_fill: dict[str, float] = {}

    # --- start-up -------------------------------------------------------------------

    def start(self) -> bool:
        """Load the persisted state, warm up the features, reconcile with the broker.

        Returns:
            True if ready to trade; False if the broker could not be reached or orders
            are still being resolved (:meth:`step` retries).

        Raises:
            AuthError: if the broker refuses the credentials.
        """
        self._load_state()
        ok = self._guarded(self._prepare)
        self._publish(force=True)
        return ok and self.reconciled

    def _load_state(self) -> None:
        j = self.journal
        self.sw.kill_switch = bool(j.get_state(keys.KILL_SWITCH, False))
        self.sw.entries_paused = bool(j.get_state(keys.ENTRIES_PAUSED, False))
        self.sw.halted = j.get_state(keys.HALTED)
        self.sw.totals.update(j.get_state(keys.TOTALS) or {})
        self.risk = riskmod.RiskState.from_dict(j.get_state(keys.RISK))
        self.decisions = list(j.get_state(keys.DECISIONS) or [])
        stamps = [j.get_state(keys.LAST_BAR_TS), j.last_decided_bar()]
        stored = stamps[0] if stamps[0] is None else round(float(stamps[0]) * 1e6) * 1000
        known = [t for t in (stored, stamps[1]) if t is not None]
        self.last_decided = max(known) if known else None
        if self.sw.kill_switch and self.config.live.flatten_on_kill:
            self.flatten_pending = True
        j.set_states({keys.DEPLOYED: {"label": self.deployed} if self.actor else None,
                      keys.BROKER: {"name": self.broker.name, "instrument": self.instrument}})

    def _prepare(self) -> None:
        if not self.feed.warmed:
            self.last_decided = self.feed.warm_up(self.last_decided)
        if not self.reconciled:
            self._reconcile()

    def _guarded(self, action: Callable[[], None]) -> bool:
        """Run ``action``; a broker failure is reported and gives False (AuthError raises)."""
        try:
            action()
        except AuthError as exc:
            self._disconnected(exc, "error")
            raise
        except BrokerError as exc:
            self._disconnected(exc)
            return False
        if not self.connected:
            self.connected = True
            self.sink.event("info", "broker", f"{self.broker.name}: connected", {})
        return True

    # --- reconciliation -------------------------------------------------------------

    def _reconcile(self) -> None:
        """Resolve unresolved orders; once none is left, compare positions."""
        pending = self._resolve()
        if pending:
            logger.info("%d order(s) still unresolved: no new orders", pending)
            return
        believed = self.journal.believed_position(self.instrument)
        actual = self.broker.position(self.instrument).units
        if believed != actual:
            reason = (f"position mismatch: the journal believes {believed:+d}, the broker "
                      f"has {actual:+d}")
            self._halt("mismatch", reason)
            self.sink.event("error", "reconcile", f"{reason}; trading halted (flatten to "
                            "resolve, or restart after fixing the account)",
                            {"believed": believed, "broker": actual})
        else:
            if self.sw.halted and self.sw.halted.get("kind") == "mismatch":
                self._unhalt(f"positions agree again ({actual:+d})")
            logger.info("reconciled: position %+d", actual)
        self._rebuild_tracker(believed)
        self.reconciled = True

    def _resolve(self) -> int:
        """Resolve the journal's unresolved orders; return how many are still open."""
        found = self.desk.resolve(self.config.live.unknown_grace_seconds)
        for order, result in found.settled:
            level = "warning" if result.state is OrderState.NOT_FOUND else "info"
            self.sink.event(level, "order", f"order {order.client_id} resolved: "
                            f"{result.state.value}", {"client_id": order.client_id})
            self._apply(order, result)
        return found.pending

    def _rebuild_tracker(self, believed: int) -> None:
        """The position's features from its entry fill and the kept bars."""
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
        self._catch_up(entry.bar_ts)

    def _catch_up(self, after_ts: int) -> None:
        ts, close = self.features.ts, self.features.close
        for i in range(int(np.searchsorted(ts, after_ts, side="right")), ts.shape[0]):
            self.tracker.mark(float(close[i]), int(ts[i]))

    # --- the loop -------------------------------------------------------------------

    def step(self) -> bool:
        """Process new complete bars, if any.

        Returns:
            True if a new bar was processed.

        Raises:
            AuthError: if the broker refuses the credentials (the worker stops trading).
        """
        bars: list[Bar] = []

        def poll() -> None:
            nonlocal bars
            self._prepare()
            if self.flatten_pending:
                self._flatten_now()
            bars = self.feed.poll()

        if not self._guarded(poll):
            return False
        self._roll_day()
        if bars:
            self._on_bars(bars)
        else:
            self._publish()
        self.journal.checkpoint_wal()  # after the bar's orders, never before them
        return bool(bars)

    def _on_bars(self, bars: list[Bar]) -> None:
        seen = self.monotonic()
        row = self.feed.add(bars)
        for bar in bars:
            self.tracker.mark(bar.close, bar.ts)
        newest = bars[-1]
        self._risk_update()
        if self.last_decided is not None and newest.ts <= self.last_decided:
            self._publish()
            return
        decision = self._decide(newest, row, seen)
        self.last_decided = newest.ts
        self.sw.totals["decisions"] += 1
        self.decisions = push_decision(self.decisions, decision.to_dict())
        self._persist()
        self._publish(force=True)
        if self.observer is not None:
            self.observer(decision)

    def _decide(self, bar: Bar, row: npt.NDArray[np.float64], seen: float) -> Decision:
        policy: int | None = None
        reason = ""
        if np.isnan(row).any():
            reason = "warming up"
        elif self.actor is None:
            reason = "no model deployed"
        else:
            obs = observation(row, self.tracker)
            policy = int(self.actor(obs[None, :])[0])
        choice = choose(policy, self._context())
        if policy is None and choice.action == HOLD:
            choice = Choice(HOLD, reason)
        policy_name = "-" if policy is None else ACTION_NAMES.get(policy, str(policy))
        decision = Decision(bar.ts, bar.close, policy_name, choice.name, choice.reason)
        if choice.action != HOLD:
            self._trade(choice, bar, decision, seen)
        return decision

    def _context(self) -> DecisionContext:
        halted = str(self.sw.halted.get("reason", "halted")) if self.sw.halted else ""
        if not halted and not self.reconciled:
            halted = "orders unresolved"
        return DecisionContext(self.tracker.side, self.tracker.bars,
                               self.config.data.session_bars, self.features.sigma20(),
                               self.gate_sigma_pips, self.sw.kill_switch,
                               self.sw.entries_paused, halted)

    # --- orders ---------------------------------------------------------------------

    def _trade(self, choice: Choice, bar: Bar, decision: Decision, seen: float) -> None:
        position = self.tracker.side * self.units
        units = order_units(choice, position, self.units)
        blocked = self._risk_block(units, position, bar.ts)
        if blocked:
            decision.action, decision.reason = "HOLD", f"risk: {blocked}"
            return
        order, result = self._send(units, choice.purpose, bar.ts, bar.close, seen)
        decision.client_id, decision.state = order.client_id, result.state.value
        decision.fill_price, decision.units = result.price, units
        self._apply(order, result)

    def _risk_block(self, units: int, position: int, bar_ts: int | None) -> str:
        """Why the risk limits refuse an order now ("" if they allow it)."""
        now = self.broker.now()
        self.risk = riskmod.roll(self.risk, now)
        try:
            quote: Quote | None = self.broker.quote(self.instrument)
        except BrokerError as exc:
            logger.warning("no quote: %s", exc)
            quote = None
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

    def _send(self, units: int, purpose: str, bar_ts: int | None, price: float | None,
              seen: float) -> tuple[JournalOrder, OrderResult]:
        now, start = self.broker.now(), self.monotonic()
        self.risk = riskmod.record_order(self.risk, now)
        try:
            return self.desk.send(units, purpose, bar_ts, price)
        except AuthError as exc:
            self.reconciled = False
            self._disconnected(exc, "error")
            raise
        finally:
            sent = self.desk.sent_at
            if sent >= start:  # the request went out: time it, journal commits included
                self._last_fill = {"live/latency_ms": (sent - seen) * 1000.0}
                if bar_ts is not None:  # bar close → request, on the broker's clock
                    self._last_fill["live/bar_latency_ms"] = (
                        (now - bar_ts - self.period_ns) / 1e6 + (sent - start) * 1000.0)

    def _apply(self, order: JournalOrder, result: OrderResult) -> None:
        """Update the position, risk counters and metrics for an order's outcome."""
        state = result.state
        if state is OrderState.UNKNOWN:
            self.reconciled = False
            self.sink.event("warning", "order", f"order {order.client_id} outcome unknown: no "
                            "new orders until it is resolved", {"client_id": order.client_id})
            return
        if state is not OrderState.FILLED:
            self.sink.event("warning", "order", f"order {order.client_id} {state.value}: "
                            f"{result.reason or result.code}", {"client_id": order.client_id})
            return
        if result.price is not None and order.decision_price is not None:
            direction = 1 if order.units > 0 else -1
            self._last_fill["live/slippage_pips"] = (
                (result.price - order.decision_price) / self.pip * direction)
        today = self._filled_today(result)
        self._risk_update(realised_ccy=result.pl if today else 0.0)
        if result.units != order.units:
            logger.warning("order %s filled %+d of %+d units", order.client_id, result.units,
                           order.units)
            self._rebuild_tracker(self.journal.believed_position(self.instrument))
        elif order.purpose == OPEN:
            self.tracker.open(1 if order.units > 0 else -1, order.decision_price or 0.0,
                              order.bar_ts or 0)
        elif not self.tracker.flat and self.tracker.last_ts == order.bar_ts:
            exit_price = order.decision_price if order.purpose == FLATTEN else None
            trade = self.tracker.close(order.bar_ts or 0, exit_price, order.purpose == FORCED)
            self._closed(trade, today)
        else:  # an exit resolved after its bar (at start-up: the tracker is not rebuilt yet)
            replayed = self._replayed_trade(order)
            if not self.tracker.flat:
                self._rebuild_tracker(self.journal.believed_position(self.instrument))
            if replayed is not None:
                self._closed(replayed, today)

    def _filled_today(self, result: OrderResult) -> bool:
        """True if the fill belongs to the current trading day (its P/L counts today)."""
        if result.ts <= 0:
            return True
        now = self.broker.now()
        return riskmod.trading_day_start(result.ts) == riskmod.trading_day_start(now)

    def _replayed_trade(self, order: JournalOrder) -> dict[str, Any] | None:
        """The trade an exit order closed, replayed from the journal's entry fill.

        For an exit whose outcome was resolved after its bar (an UNKNOWN outcome, or a
        crash between sending and recording it): the position it closed is the one the
        fills journaled before it held; the trade runs from that position's entry to the
        exit order's bar over the kept bars, and exits at the exit's decision price.
        None if the journal knew no such position (e.g. a flatten of a mismatch).
        """
        before = [o for o in self.journal.filled_since_baseline(self.instrument)
                  if o.id < order.id]
        held = self.journal.baseline()["units"] + sum(o.filled_units or 0 for o in before)
        side = (held > 0) - (held < 0)
        if side == 0 or order.units * side >= 0 or order.bar_ts is None:
            return None
        entry = next((o for o in reversed(before)
                      if o.purpose == OPEN and (o.filled_units or 0) * side > 0), None)
        if entry is None or entry.bar_ts is None or entry.decision_price is None:
            logger.warning("order %s closed a position without a journaled entry: no trade "
                           "reported", order.client_id)
            return None
        tracker = PositionTracker(self.pip, self.config.env.spread_pips)
        tracker.open(side, entry.decision_price, entry.bar_ts)
        ts, close = self.features.ts, self.features.close
        first = int(np.searchsorted(ts, entry.bar_ts, side="right"))
        last = int(np.searchsorted(ts, order.bar_ts, side="right"))
        for i in range(first, last):
            tracker.mark(float(close[i]), int(ts[i]))
        return tracker.close(order.bar_ts, order.decision_price, order.purpose == FORCED)

    def _closed(self, trade: dict[str, Any], today: bool = True) -> None:
        """Count a closed trade (once: its order was just settled) and persist the totals."""
        totals = self.sw.totals
        totals["trades"] += 1
        totals["realised_pips"] += trade["pips"]
        self.sink.trades(int(totals["decisions"]), [trade])
        self._risk_update(realised_pips=trade["pips"] if today else 0.0)
        self.journal.set_states({keys.TOTALS: totals, keys.RISK: self.risk.to_dict()})
        logger.info("trade closed: %s %+.1f pips", trade["side"], trade["pips"])

    # --- risk -----------------------------------------------------------------------

    def _roll_day(self) -> None:
        rolled = riskmod.roll(self.risk, self.broker.now())
        if rolled.day != self.risk.day:
            if self.risk.tripped:
                self.sink.event("info", "risk", "new trading day: daily loss limit reset", {})
            self.risk = rolled
            self.journal.set_state(keys.RISK, self.risk.to_dict())

    def _risk_update(self, realised_pips: float = 0.0, realised_ccy: float = 0.0) -> None:
        open_pips = 0.0 if self.tracker.flat else self.tracker.unrealised
        self.risk, tripped = riskmod.update(self.risk, self.limits, self.broker.now(),
                                            realised_pips=realised_pips,
                                            realised_ccy=realised_ccy, open_pips=open_pips)
        if tripped:
            self.journal.set_state(keys.RISK, self.risk.to_dict())
            self.sink.event("error", "risk", f"daily loss limit {tripped} reached: no new "
                            "entries until the next trading day", self.risk.to_dict())

    # --- operator commands ----------------------------------------------------------

    def kill_switch(self) -> str:
        """Stop entries at once; flatten too if ``live.flatten_on_kill``."""
        self.sw.kill_switch = True
        self.journal.set_state(keys.KILL_SWITCH, True)
        flatten = self.config.live.flatten_on_kill
        if flatten:
            self.flatten_pending = True
        self.sink.event("warning", "kill-switch", "kill switch engaged" +
                        (": flattening" if flatten else ""), {})
        self._publish(force=True)
        return "kill switch on: no new entries" + ("; flattening" if flatten else "")

    def pause_entries(self) -> str:
        """Stop opening positions (exits go on)."""
        self.sw.entries_paused = True
        self.journal.set_state(keys.ENTRIES_PAUSED, True)
        self._publish(force=True)
        return "entries paused"

    def resume_entries(self) -> str:
        """Allow entries again (releases the kill switch too; not a halt or a risk limit)."""
        self.sw.entries_paused = self.sw.kill_switch = False
        self.journal.set_states({keys.ENTRIES_PAUSED: False, keys.KILL_SWITCH: False})
        self._publish(force=True)
        extra = f" (still halted: {self.sw.halted['reason']})" if self.sw.halted else ""
        return "entries resumed (kill switch released)" + extra

    def flatten(self) -> str:
        """Close whatever position the broker holds, at the next step (exits only)."""
        self.flatten_pending = True
        return "flatten requested: the broker's position is closed at the next step"

    def deploy(self, actor: Actor | None, label: str) -> str:
        """Trade another policy from the next bar on."""
        self.actor, self.deployed = actor, label
        self.journal.set_state(keys.DEPLOYED, {"label": label} if actor else None)
        self.sink.event("info", "deploy", f"live trades {label}", {"label": label})
        self._publish(force=True)
        return f"deployed {label}"

    def _flatten_now(self) -> None:
        if not self.reconciled:
            return
        actual = self.broker.position(self.instrument).units
        if actual == 0:
            self._flattened()
            return
        blocked = self._risk_block(-actual, actual, self.features.last_ts)
        if blocked:
            return  # retried next step
        quote = self.broker.quote(self.instrument)
        order, result = self._send(-actual, FLATTEN, self.features.last_ts, quote.mid,
                                   self.monotonic())
        self.flatten_pending = False  # one order per request: a refused flatten is reported
        self._apply(order, result)
        if result.state is OrderState.FILLED:
            self._flattened()
        elif result.state is not OrderState.UNKNOWN:
            self.sink.event("error", "flatten", f"flatten {result.state.value}: "
                            f"{result.reason or result.code}; ask again", {})

    def _flattened(self) -> None:
        self.flatten_pending = False
        actual = self.broker.position(self.instrument).units
        if actual != 0:
            return
        if self.journal.believed_position(self.instrument) != 0:
            self.journal.set_baseline(0)
        self.tracker.reset()
        if self.sw.halted and self.sw.halted.get("kind") == "mismatch":
            self._unhalt("flattened: the broker and the journal agree (flat)")
        self._persist()
        self._publish(force=True)

    def _halt(self, kind: str, reason: str) -> None:
        self.sw.halted = {"kind": kind, "reason": reason, "since": self.clock()}
        self.journal.set_state(keys.HALTED, self.sw.halted)

    def _unhalt(self, why: str) -> None:
        self.sw.halted = None
        self.journal.set_state(keys.HALTED, None)
        self.sink.event("info", "reconcile", f"halt lifted: {why}", {})

    # --- state and metrics ----------------------------------------------------------

    def _disconnected(self, exc: BrokerError, level: str = "warning") -> None:
        if self.connected or level == "error":
            self.sink.event(level, "broker", f"{self.broker.name}: {exc}", {})
        logger.warning("broker %s: %s", self.broker.name, exc)
        self.connected = False
        self._publish()

    def _persist(self) -> None:
        self.journal.set_states({
            keys.LAST_BAR_TS: None if self.last_decided is None else self.last_decided / 1e9,
            keys.DECISIONS: self.decisions, keys.RISK: self.risk.to_dict(),
            keys.TOTALS: self.sw.totals,
            keys.POSITION: {**self.tracker.to_dict(), "units": self.tracker.side * self.units},
        })

    def metrics(self) -> dict[str, float]:
        """The current ``live/…`` metrics."""
        now_day = self.risk.tripped and self.risk.tripped_day == self.risk.day
        return {
            "live/decisions": float(self.sw.totals["decisions"]),
            "live/position": float(self.tracker.side * self.units),
            "live/unrealised_pips": 0.0 if self.tracker.flat else self.tracker.unrealised,
            "live/realised_pips": float(self.sw.totals["realised_pips"]),
            "live/today_pips": self.risk.day_pips,
            "live/trades": float(self.sw.totals["trades"]),
            "live/fills": float(self.journal.fills()),
            "live/rejects": float(self.journal.rejects()),
            "live/unresolved": float(len(self.journal.unresolved())),
            "live/entries_paused": float(self.sw.entries_paused),
            "live/kill_switch": float(self.sw.kill_switch),
            "live/halted": float(self.sw.halted is not None or not self.reconciled),
            "live/risk_tripped": float(bool(now_day)),
            "live/connected": float(self.connected),
            "live/deployed": float(self.actor is not None),
        }

    def _publish(self, force: bool = False) -> None:
        now = self.monotonic()
        if not force and now - self._last_metrics < IDLE_METRICS_SECONDS:
            return
        self._last_metrics = now
        values = self.metrics()
        values.update(self._last_fill)
        self._last_fill = {}
        self.sink.write(int(self.sw.totals["decisions"]), values)

    def close(self) -> None:
        """Save the state and write the last metrics (the broker stays open)."""
        self._persist()
        self._publish(force=True)
