"""The live trading loop, independent of the worker runtime: bars in, orders out.

:class:`LiveTrader` coordinates components that each own their state and never touch
each other's: :class:`~.feed.BarFeed` (bars and features), :class:`~.execution.Execution`
(orders and the believed position), :class:`~.ledger.Ledger` (the tracked position,
trades, risk counters), :class:`~.switches.Switches` (the operator's switches, the halt)
and :class:`~.status.Status` (the connection, the metrics rows). Only the engine reads
one and tells another.

:meth:`LiveTrader.start` loads the persisted state, warms the features up from the
broker's candles and reconciles: unresolved orders are resolved by their client ids,
then the journal's position is compared with the broker's; a mismatch halts trading
until a flatten.

:meth:`LiveTrader.step` polls for new complete bars. On a new bar: features, the
observation the policy asks for, its action, the rules of :mod:`.decision` (the trading
core's SPEC §4 rules and the switches), the risk limits, then an order: journaled as an
intent, sent once, its outcome booked. An UNKNOWN outcome stops every new order until it
is resolved (retried each step). Without a new bar the step keeps the risk day and the
metrics current and every :data:`POSITION_CHECK_SECONDS` compares the broker's position
with the journal's. Exits (the policy's CLOSE, a forced close, a flatten) are sent
reduce-only and sized by the believed position, so an exit never opens a position;
before every entry the broker's position is read and compared.

Operator commands are methods (:meth:`kill_switch`, :meth:`pause_entries`,
:meth:`resume_entries`, :meth:`flatten`, :meth:`deploy`); they take effect at once and
persist in ``live_state``.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from fxconsole.agents.base import Observations, Policy
from fxconsole.brokers.base import (
    AuthError,
    Bar,
    Broker,
    BrokerError,
    OrderResult,
    OrderState,
    Quote,
    instrument_name,
)
from fxconsole.config import Config
from fxconsole.live import journal as keys
from fxconsole.live import risk as riskmod
from fxconsole.live.decision import (
    ACTION_NAMES,
    FLATTEN,
    OPEN,
    Choice,
    Decision,
    DecisionContext,
    choose,
    order_units,
)
from fxconsole.live.execution import Execution, Sent
from fxconsole.live.feed import BarFeed
from fxconsole.live.journal import Journal, JournalOrder, push_decision
from fxconsole.live.ledger import Ledger, slippage_pips
from fxconsole.live.position import PositionTracker, muzero_observation, ppo_observation
from fxconsole.live.reconcile import Finding, compare
from fxconsole.live.status import (
    IDLE_METRICS_SECONDS,
    Sink,
    Snapshot,
    Status,
    live_metrics,
    restored_last_decided,
    saved_state,
    totals,
)
from fxconsole.live.switches import MISMATCH, Switches
from fxconsole.market.bars import pip_size
from fxconsole.market.incremental import IncrementalFeatures, lookback_rows
from fxconsole.timeutil import NS_PER_SECOND, timeframe_seconds
from fxconsole.trading.core import HOLD, TEMPORAL_BARS

__all__ = ["IDLE_METRICS_SECONDS", "POSITION_CHECK_SECONDS", "LiveTrader", "Sink"]

logger = logging.getLogger(__name__)

POSITION_CHECK_SECONDS = 60.0  # between bars, the broker's position is compared this often


def order_latencies(sent: Sent, seen: float, bar_ts: int | None,
                    period_ns: int) -> dict[str, float]:
    """An order's latency metrics (ms): new bar seen → request, and bar close → request
    on the broker's clock (journal commits included)."""
    values = {"live/latency_ms": (sent.sent_at - seen) * 1000.0}
    if bar_ts is not None:
        values["live/bar_latency_ms"] = (
            (sent.now_ns - bar_ts - period_ns) / 1e6 + (sent.sent_at - sent.started) * 1000.0)
    return values


def check_history(policy: Policy | None, config: Config) -> None:
    """Refuse a policy whose observations need more bars than ``live.history_bars`` keeps
    (it would be "warming up" forever).

    Raises:
        ValueError: naming the key and the bars needed.
    """
    if policy is None or policy.observation_kind != "muzero":
        return
    need = lookback_rows(config.data.mm_window) + TEMPORAL_BARS - 1
    if config.live.history_bars < need:
        raise ValueError(
            f"live.history_bars = {config.live.history_bars} is too short for a MuZero "
            f"policy: its {TEMPORAL_BARS}-bar window needs at least {need} bars "
            f"(data.mm_window + 60 + {TEMPORAL_BARS - 1})")


class LiveTrader:
    """Trades one instrument through a broker with a policy, under the risk limits."""

    def __init__(self, broker: Broker, conn: sqlite3.Connection, policy: Policy | None,
                 config: Config, sink: Sink, *, run: str = "main", worker: str = "live",
                 gate_sigma_pips: float = -math.inf, deployed: str = "",
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic,
                 observer: Callable[[Decision], None] | None = None) -> None:
        """Set up; nothing is read from the broker before :meth:`start`.

        Args:
            broker: the broker to trade through.
            conn: the console database (journal and ``live_state``).
            policy: the policy, or None to hold.
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
        check_history(policy, config)
        self.broker, self.policy, self.config, self.sink = broker, policy, config, sink
        self.deployed, self.observer = deployed, observer
        self.clock, self.monotonic = clock, monotonic
        self.instrument = instrument_name(config.data.symbol)
        self.period_ns = timeframe_seconds(config.data.timeframe) * NS_PER_SECOND
        self.pip = pip_size(config.data.symbol)
        self.units = config.live.units
        self.gate_sigma_pips = gate_sigma_pips
        self.journal = Journal(conn, run, worker, broker.name, clock)
        self.features = IncrementalFeatures(self.pip, config.data.mm_window,
                                            config.live.history_bars)
        self.feed = BarFeed(broker, self.instrument, config.data.timeframe, self.period_ns,
                            self.features)
        self.execution = Execution(broker, self.journal, self.instrument,
                                   config.live.unknown_grace_seconds, clock, monotonic)
        self.ledger = Ledger(self.journal, self.features, instrument=self.instrument,
                             pip=self.pip, spread_pips=config.env.spread_pips,
                             limits=riskmod.RiskLimits.from_config(config.risk),
                             period_ns=self.period_ns)
        self.sw = Switches(self.journal, sink, clock, config.live.flatten_on_kill)
        self.status = Status(broker.name, sink, monotonic, self.snapshot)
        self.decisions: list[dict[str, Any]] = []
        self.decided = 0
        self.last_decided: int | None = None
        self.position_check_seconds = POSITION_CHECK_SECONDS
        self._position_checked = monotonic()
        self._last_violation = ""

    @property
    def tracker(self) -> PositionTracker:
        """The tracked position (kept by the ledger)."""
        return self.ledger.tracker

    @property
    def reconciled(self) -> bool:
        """True if no order is unresolved and the positions were compared."""
        return self.execution.reconciled

    @property
    def connected(self) -> bool:
        """True if the last broker call went through."""
        return self.status.connected

    @property
    def flatten_pending(self) -> bool:
        """True if a flatten is sent at the next step."""
        return self.sw.flatten_pending

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
        ok = self.status.guarded(self._prepare)
        self.status.publish(force=True)
        return ok and self.reconciled

    def _load_state(self) -> None:
        j = self.journal
        self.sw.load()
        saved = j.get_state(keys.TOTALS) or {}
        self.decided = int(saved.get("decisions", 0))
        self.ledger.load(saved, j.get_state(keys.RISK))
        self.decisions = list(j.get_state(keys.DECISIONS) or [])
        self.last_decided = restored_last_decided(j.get_state(keys.LAST_BAR_TS),
                                                  j.last_decided_bar())
        self.execution.load_believed()
        j.set_states({keys.DEPLOYED: {"label": self.deployed} if self.policy else None,
                      keys.BROKER: {"name": self.broker.name, "instrument": self.instrument}})

    def _prepare(self) -> None:
        if not self.feed.warmed:
            self.last_decided = self.feed.warm_up(self.last_decided)
        if not self.reconciled:
            self._reconcile()

    # --- reconciliation -------------------------------------------------------------

    def _reconcile(self) -> None:
        """Resolve unresolved orders; once none is left, compare positions and rebuild the
        tracked position."""
        found = self.execution.resolve()
        for order, result in found.settled:
            level = "warning" if result.state is OrderState.NOT_FOUND else "info"
            self.sink.event(level, "order", f"order {order.client_id} resolved: "
                            f"{result.state.value}", {"client_id": order.client_id})
            self._book(order, result)
        if found.pending:
            logger.info("%d order(s) still unresolved: no new orders", found.pending)
            return
        finding = self._compare()
        self.ledger.rebuild(finding.believed, self._avg_price)
        self.execution.confirm()

    def _compare(self, actual: int | None = None) -> Finding:
        """Compare positions and apply the finding: halt on a mismatch, lift a mismatch
        halt on agreement."""
        believed = self.execution.load_believed()
        finding = compare(believed, self.execution.broker_position() if actual is None
                          else actual)
        if not finding.agree:
            self.sw.halt(MISMATCH, finding.reason)
            self.sink.event("error", "reconcile", f"{finding.reason}; trading halted "
                            "(flatten to resolve, or restart after fixing the account)",
                            {"believed": finding.believed, "broker": finding.actual})
        else:
            if self.sw.mismatch_halt:
                self.sw.unhalt(f"positions agree again ({finding.actual:+d})")
            logger.info("reconciled: position %+d", finding.actual)
        return finding

    def _avg_price(self) -> float | None:
        return self.broker.position(self.instrument).avg_price

    def _check_position(self) -> None:
        """Every :attr:`position_check_seconds` (between bars): compare the broker's
        position with the journal's; a difference halts trading."""
        now = self.monotonic()
        if not self.reconciled or now - self._position_checked < self.position_check_seconds:
            return
        self._position_checked = now
        actual = self.execution.broker_position()
        if (actual == self.execution.believed) != self.sw.mismatch_halt:
            return  # nothing new: agreeing and not halted, or still halted by a mismatch
        self._compare(actual)

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
            if self.sw.flatten_pending and self._flatten_now():
                self._flattened()
            bars = self.feed.poll()

        if not self.status.guarded(poll):
            return False
        if self.ledger.roll_day(self.broker.now()):
            self.sink.event("info", "risk", "new trading day: daily loss limit reset", {})
        if bars:
            self._on_bars(bars)
        else:
            self.status.guarded(self._check_position)
            self.status.publish()
        self.journal.checkpoint_wal()  # after the bar's orders, never before them
        return bool(bars)

    def _on_bars(self, bars: list[Bar]) -> None:
        seen = self.monotonic()
        row = self.feed.add(bars)
        for bar in bars:
            self.tracker.mark(bar.close, bar.ts)
        newest = bars[-1]
        self._report_trip(self.ledger.update_risk(self.broker.now()))
        if self.last_decided is not None and newest.ts <= self.last_decided:
            self.status.publish()
            return
        decision = self._decide(newest, row, seen)
        self.last_decided = newest.ts
        self.decided += 1
        self.decisions = push_decision(self.decisions, decision.to_dict())
        self._persist()
        self.status.publish(force=True)
        if self.observer is not None:
            self.observer(decision)

    def _observe(self, policy: Policy, row: npt.NDArray[np.float64]) -> Observations | None:
        """The observation ``policy`` asks for (None while the features are warming up)."""
        if policy.observation_kind == "muzero":
            window = self.features.features_window(TEMPORAL_BARS)
            return None if np.isnan(window[:, :9]).any() else muzero_observation(
                window, self.tracker)
        return None if np.isnan(row).any() else ppo_observation(row, self.tracker)

    def _decide(self, bar: Bar, row: npt.NDArray[np.float64], seen: float) -> Decision:
        policy: int | None = None
        reason = ""
        obs = None if self.policy is None else self._observe(self.policy, row)
        if self.policy is None:
            reason = "no model deployed"
        elif obs is None:
            reason = "warming up"
        else:
            policy = int(self.policy(obs, self.tracker.legal())[0])
        choice = choose(policy, self._context())
        if policy is None and choice.action == HOLD:
            choice = Choice(HOLD, reason)
        policy_name = "-" if policy is None else ACTION_NAMES.get(policy, str(policy))
        decision = Decision(bar.ts, bar.close, policy_name, choice.name, choice.reason)
        if choice.action != HOLD:
            self._trade(choice, bar, decision, seen)
        return decision

    def _context(self) -> DecisionContext:
        return DecisionContext(self.tracker.side, self.tracker.bars,
                               self.config.data.session_bars, self.features.sigma20(),
                               self.gate_sigma_pips, self.sw.kill_switch,
                               self.sw.entries_paused, self.sw.halt_reason(self.reconciled))

    # --- orders ---------------------------------------------------------------------

    def _trade(self, choice: Choice, bar: Bar, decision: Decision, seen: float) -> None:
        """Send the order ``choice`` calls for on ``bar``, noted in ``decision``.

        A refusal by the risk limits turns the decision into a HOLD with the reason.
        """
        position = self.execution.believed  # not side × live.units: units may have changed
        units = order_units(choice, position, self.units)
        if units == 0:
            decision.action, decision.reason = "HOLD", "no position to close"
            return
        blocked = self._risk_block(units, position, bar.ts)
        if blocked:
            decision.action, decision.reason = "HOLD", f"risk: {blocked}"
            return
        entry = choice.purpose == OPEN
        if entry:  # one read per entry: never open on top of a position we do not know
            actual = self.execution.broker_position()
            if actual != self.execution.believed:
                finding = self._compare(actual)
                decision.action, decision.reason = "HOLD", f"halted: {finding.reason}"
                return
        sent = self._send(units, choice.purpose, bar.ts, bar.close, seen, reduce_only=not entry)
        decision.client_id, decision.state = sent.order.client_id, sent.result.state.value
        decision.fill_price, decision.units = sent.result.price, units
        self._book(sent.order, sent.result)
        if (not entry and sent.result.state is not OrderState.UNKNOWN
                and sent.result.units != units):
            self._compare()  # an exit that did not close what we hold

    def _flatten_now(self) -> bool:
        """Send the order that flattens the broker's position, if the limits allow it.

        Returns:
            True if the broker's position is flat now (already, or filled).
        """
        if not self.reconciled:
            return False
        actual = self.execution.broker_position()
        if actual == 0:
            return True
        if self._risk_block(-actual, actual, self.features.last_ts):
            return False  # retried next step
        agreed = self.execution.believed == actual  # else the trade it closes is not ours
        quote = self.broker.quote(self.instrument)
        sent = self._send(-actual, FLATTEN, self.features.last_ts, quote.mid, self.monotonic(),
                          reduce_only=True)
        self.sw.set_flatten(False)  # one order per request: a refused one is reported
        self._book(sent.order, sent.result, book=agreed)
        state = sent.result.state
        if state is OrderState.FILLED:
            return True
        if state is not OrderState.UNKNOWN:
            self.sink.event("error", "flatten", f"flatten {state.value}: "
                            f"{sent.result.reason or sent.result.code}; ask again", {})
        return False

    def _send(self, units: int, purpose: str, bar_ts: int | None, price: float | None,
              seen: float, reduce_only: bool) -> Sent:
        """Count towards the order rate, send once, time it.

        Raises:
            AuthError: if the broker refuses the credentials (the order is UNKNOWN).
        """
        self.ledger.record_order(self.broker.now())
        try:
            sent = self.execution.send(units, purpose, bar_ts, price, reduce_only)
        except AuthError as exc:
            self.status.disconnected(exc, "error")
            raise
        self.status.note_order(order_latencies(sent, seen, bar_ts, self.period_ns), new=True)
        return sent

    def _book(self, order: JournalOrder, result: OrderResult, book: bool = True) -> None:
        """Report an order's outcome and book a fill (position, trades, risk)."""
        state = result.state
        if state is OrderState.UNKNOWN:
            self.sink.event("warning", "order", f"order {order.client_id} outcome unknown: no "
                            "new orders until it is resolved", {"client_id": order.client_id})
            return
        if state is not OrderState.FILLED:
            self.sink.event("warning", "order", f"order {order.client_id} {state.value}: "
                            f"{result.reason or result.code}", {"client_id": order.client_id})
            return
        slippage = slippage_pips(order, result, self.pip)
        if slippage is not None:
            self.status.note_order({"live/slippage_pips": slippage})
        booking = self.ledger.book(order, result, self.execution.believed, self.broker.now(),
                                   book)
        for trade in booking.trades:
            self.sink.trades(self.decided, [trade])
        if booking.trades:
            self.journal.set_states({keys.TOTALS: totals(self.snapshot()),
                                     keys.RISK: self.ledger.risk.to_dict()})
        self._report_trip(booking.tripped)

    def _risk_block(self, units: int, position: int, bar_ts: int | None) -> str:
        """Why the risk limits refuse an order now ("" if they allow it)."""
        try:
            quote: Quote | None = self.broker.quote(self.instrument)
        except BrokerError as exc:
            logger.warning("no quote: %s", exc)
            quote = None
        now = self.broker.now()  # after the quote, which may have taken a while
        violations = self.ledger.violations(units, position, now, quote, bar_ts)
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

    def _report_trip(self, tripped: str) -> None:
        if tripped:
            self.sink.event("error", "risk", f"daily loss limit {tripped} reached: no new "
                            "entries until the next trading day", self.ledger.risk.to_dict())

    # --- operator commands ----------------------------------------------------------

    def kill_switch(self) -> str:
        """Stop entries at once; flatten too if ``live.flatten_on_kill``."""
        reply = self.sw.engage_kill()
        self.status.publish(force=True)
        return reply

    def pause_entries(self) -> str:
        """Stop opening positions (exits go on)."""
        reply = self.sw.pause()
        self.status.publish(force=True)
        return reply

    def resume_entries(self) -> str:
        """Allow entries again (releases the kill switch too; not a halt or a risk limit)."""
        reply = self.sw.resume()
        self.status.publish(force=True)
        return reply

    def flatten(self) -> str:
        """Close whatever position the broker holds, at the next step (exits only)."""
        return self.sw.request_flatten()

    def _flattened(self) -> None:
        """After a flatten: if the broker is flat, so are the journal and the tracker."""
        self.sw.set_flatten(False)
        if self.execution.broker_position() != 0:
            return
        self.execution.set_flat_baseline()
        self.ledger.rebuild(0)
        if self.sw.mismatch_halt:
            self.sw.unhalt("flattened: the broker and the journal agree (flat)")
        self._persist()
        self.status.publish(force=True)

    def deploy(self, policy: Policy | None, label: str,
               gate_sigma_pips: float | None = None) -> str:
        """Trade another policy from the next bar on (with its own entry gate, if given:
        the one its run is pinned to).

        Raises:
            ValueError: if the kept history is too short for its observations.
        """
        check_history(policy, self.config)
        self.policy, self.deployed = policy, label
        if gate_sigma_pips is not None:
            self.gate_sigma_pips = gate_sigma_pips
        self.journal.set_state(keys.DEPLOYED, {"label": label} if policy else None)
        self.sink.event("info", "deploy", f"live trades {label}", {"label": label})
        self.status.publish(force=True)
        return f"deployed {label}"

    # --- state and metrics ----------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """What the components hold now."""
        j, sw = self.journal, self.sw
        return Snapshot(
            decisions=self.decided, trades=self.ledger.trades,
            realised_pips=self.ledger.realised_pips, tracker=self.tracker,
            position=self.execution.believed, risk=self.ledger.risk, fills=j.fills(),
            rejects=j.rejects(), unresolved=len(j.unresolved()),
            entries_paused=sw.entries_paused, kill_switch=sw.kill_switch,
            halted=sw.halted is not None or not self.reconciled,
            deployed=self.policy is not None)

    def metrics(self) -> dict[str, float]:
        """The current ``live/…`` metrics."""
        return live_metrics(self.snapshot(), self.status.connected)

    def _persist(self) -> None:
        self.journal.set_states(saved_state(self.snapshot(), self.last_decided,
                                            self.decisions))

    def close(self) -> None:
        """Save the state and write the last metrics (the broker stays open)."""
        self._persist()
        self.status.publish(force=True)
