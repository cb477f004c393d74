"""The live trading loop, independent of the worker runtime: bars in, orders out.

:meth:`LiveTrader.start` loads the persisted state, warms the features up from the
broker's candles and reconciles (:mod:`.reconcile`): unresolved orders are resolved by
their client ids, then the journal's position is compared with the broker's; a mismatch
halts trading until a flatten.

:meth:`LiveTrader.step` polls for new complete bars. On a new bar: features, observation,
the policy's action, the rules of :mod:`.decision`, the risk limits, then an order:
journaled (committed) as an intent, marked sent, sent once, its outcome recorded
(:mod:`.orders`) and booked (:mod:`.ledger`). An UNKNOWN outcome stops every new order
until it is resolved (retried each step). Without a new bar the step only keeps the
switches, the risk day and the metrics current (:mod:`.status`), and every
:data:`POSITION_CHECK_SECONDS` compares the broker's position with the journal's (a
position closed behind the trader's back halts trading).

Operator commands are methods (:meth:`kill_switch`, :meth:`pause_entries`,
:meth:`resume_entries`, :meth:`flatten`, :meth:`deploy`); they take effect at once and
persist in ``live_state`` (:mod:`.switches`).
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from fxconsole.brokers.base import Bar, Broker, instrument_name
from fxconsole.config import Config
from fxconsole.live import journal as keys
from fxconsole.live import risk as riskmod
from fxconsole.live.dealer import Dealer
from fxconsole.live.decision import ACTION_NAMES, Choice, Decision, DecisionContext, choose
from fxconsole.live.feed import BarFeed
from fxconsole.live.journal import Journal, push_decision
from fxconsole.live.ledger import Ledger
from fxconsole.live.orders import OrderDesk
from fxconsole.live.position import observation
from fxconsole.live.reconcile import Reconciler
from fxconsole.live.status import (
    IDLE_METRICS_SECONDS,
    Sink,
    Status,
    live_metrics,
    restored_last_decided,
    saved_state,
)
from fxconsole.live.switches import Switches
from fxconsole.market.bars import pip_size
from fxconsole.market.incremental import IncrementalFeatures
from fxconsole.timeutil import NS_PER_SECOND, timeframe_seconds
from fxconsole.trading.core import HOLD

__all__ = ["IDLE_METRICS_SECONDS", "POSITION_CHECK_SECONDS", "Actor", "LiveTrader", "Sink"]

POSITION_CHECK_SECONDS = 60.0  # between bars, the broker's position is compared this often

Actor = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.int64]]


class LiveTrader:
    """Trades one instrument through a broker with a policy, under the risk limits.

    The coordinator of :class:`~.switches.Switches` (:attr:`sw`: the operator's switches,
    the halt, the totals), :class:`~.ledger.Ledger` (:attr:`ledger`: :attr:`tracker`, the
    risk counters), :class:`~.reconcile.Reconciler`, :class:`~.dealer.Dealer` (orders) and
    :class:`~.status.Status` (metrics, the broker's connection).
    """

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
        self.sw = Switches(self.journal, sink, clock, config.live.flatten_on_kill)
        self.ledger = Ledger(broker, self.journal, sink, self.features, self.sw.totals,
                             instrument=self.instrument, pip=self.pip,
                             spread_pips=config.env.spread_pips,
                             limits=riskmod.RiskLimits.from_config(config.risk),
                             period_ns=self.period_ns)
        self.tracker, self.limits = self.ledger.tracker, self.ledger.limits
        self.reconciler = Reconciler(broker, self.journal, self.desk, self.ledger, sink,
                                     self.sw, self.instrument,
                                     config.live.unknown_grace_seconds)
        self.status = Status(broker.name, sink, monotonic, self.metrics,
                             lambda: int(self.sw.totals["decisions"]))
        self.dealer = Dealer(broker, self.desk, self.ledger, self.reconciler, self.sw,
                             self.status, sink, self.features, instrument=self.instrument,
                             units=self.units, pip=self.pip, period_ns=self.period_ns,
                             monotonic=monotonic)
        self.decisions: list[dict[str, Any]] = []
        self.last_decided: int | None = None
        self.position_check_seconds = POSITION_CHECK_SECONDS
        self._position_checked = monotonic()

    @property
    def risk(self) -> riskmod.RiskState:
        """The risk counters (kept by :attr:`ledger`)."""
        return self.ledger.risk

    @property
    def reconciled(self) -> bool:
        """True if no order is unresolved and the positions were compared."""
        return self.reconciler.reconciled

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
        self.ledger.risk = riskmod.RiskState.from_dict(j.get_state(keys.RISK))
        self.decisions = list(j.get_state(keys.DECISIONS) or [])
        self.last_decided = restored_last_decided(j)
        j.set_states({keys.DEPLOYED: {"label": self.deployed} if self.actor else None,
                      keys.BROKER: {"name": self.broker.name, "instrument": self.instrument}})

    def _prepare(self) -> None:
        if not self.feed.warmed:
            self.last_decided = self.feed.warm_up(self.last_decided)
        if not self.reconciled:
            self.reconciler.reconcile(self.dealer.apply)

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
            if self.sw.flatten_pending and self.dealer.flatten():
                self._flattened()
            bars = self.feed.poll()

        if not self.status.guarded(poll):
            return False
        self.ledger.roll_day()
        if bars:
            self._on_bars(bars)
        else:
            self.status.guarded(self._check_position)
            self.status.publish()
        self.journal.checkpoint_wal()  # after the bar's orders, never before them
        return bool(bars)

    def _check_position(self) -> None:
        """Every :attr:`position_check_seconds` (between bars): compare the broker's
        position with the journal's; a difference halts trading."""
        now = self.monotonic()
        if not self.reconciled or now - self._position_checked < self.position_check_seconds:
            return
        self._position_checked = now
        actual = self.broker.position(self.instrument).units
        if (actual == self.ledger.believed) != self.sw.mismatch_halt:
            return  # nothing new: agreeing and not halted, or still halted by a mismatch
        self.reconciler.compare(actual)

    def _on_bars(self, bars: list[Bar]) -> None:
        seen = self.monotonic()
        row = self.feed.add(bars)
        for bar in bars:
            self.tracker.mark(bar.close, bar.ts)
        newest = bars[-1]
        self.ledger.update_risk()
        if self.last_decided is not None and newest.ts <= self.last_decided:
            self.status.publish()
            return
        decision = self._decide(newest, row, seen)
        self.last_decided = newest.ts
        self.sw.totals["decisions"] += 1
        self.decisions = push_decision(self.decisions, decision.to_dict())
        self._persist()
        self.status.publish(force=True)
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
            self.dealer.trade(choice, bar, decision, seen)
        return decision

    def _context(self) -> DecisionContext:
        return DecisionContext(self.tracker.side, self.tracker.bars,
                               self.config.data.session_bars, self.features.sigma20(),
                               self.gate_sigma_pips, self.sw.kill_switch,
                               self.sw.entries_paused, self.sw.halt_reason(self.reconciled))

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
        actual = self.broker.position(self.instrument).units
        if actual != 0:
            return
        if self.journal.believed_position(self.instrument) != 0:
            self.journal.set_baseline(0)
        self.ledger.rebuild(0)
        if self.sw.mismatch_halt:
            self.sw.unhalt("flattened: the broker and the journal agree (flat)")
        self._persist()
        self.status.publish(force=True)

    def deploy(self, actor: Actor | None, label: str) -> str:
        """Trade another policy from the next bar on."""
        self.actor, self.deployed = actor, label
        self.journal.set_state(keys.DEPLOYED, {"label": label} if actor else None)
        self.sink.event("info", "deploy", f"live trades {label}", {"label": label})
        self.status.publish(force=True)
        return f"deployed {label}"

    # --- state and metrics ----------------------------------------------------------

    def metrics(self) -> dict[str, float]:
        """The current ``live/…`` metrics."""
        sw = self.sw
        return live_metrics(sw.totals, self.tracker, self.ledger.believed, self.ledger.risk,
                            self.journal, entries_paused=sw.entries_paused,
                            kill_switch=sw.kill_switch,
                            halted=sw.halted is not None or not self.reconciled,
                            connected=self.status.connected, deployed=self.actor is not None)

    def _persist(self) -> None:
        self.journal.set_states(saved_state(self.last_decided, self.decisions,
                                            self.ledger.risk, self.sw.totals, self.tracker,
                                            self.ledger.believed))

    def close(self) -> None:
        """Save the state and write the last metrics (the broker stays open)."""
        self._persist()
        self.status.publish(force=True)
