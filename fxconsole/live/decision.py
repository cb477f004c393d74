"""From the policy's action to what the live trader does on a bar (pure).

The environment's rules (SPEC §4) first, by the trading core's own
:func:`~fxconsole.trading.core.action_effect`: an entry while in a position and CLOSE
while flat are invalid and act as HOLD; an entry while flat is gated (HOLD) if σ20 is
below the gate. A position that has been held ``session_bars − 1`` bars is closed as the
environment's forced close at the end of a session. Then the operator's and the safety
switches: a kill switch, paused entries or a halt stop entries; a halt (the broker's
position is not what the journal believes) also stops the policy's exits — only an
explicit flatten may then trade.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fxconsole.timeutil import iso_utc
from fxconsole.trading import core
from fxconsole.trading.core import BUY, CLOSE, HOLD, SELL

ACTION_NAMES = {HOLD: "HOLD", BUY: "BUY", SELL: "SELL", CLOSE: "CLOSE"}
OPEN, CLOSE_PURPOSE, FORCED, FLATTEN = "open", "close", "forced_close", "flatten"


@dataclass(frozen=True)
class DecisionContext:
    """What the rules look at besides the policy's action.

    Attributes:
        side: −1, 0, 1: the position the journal believes in.
        bars_held: bars since the entry bar.
        session_bars: the environment's session length.
        sigma20: raw σ20 of the bar in pips.
        gate_sigma_pips: entries while flat need σ20 ≥ this (−inf: gating off).
        kill_switch: the operator's kill switch is engaged.
        entries_paused: the operator paused entries.
        halted: why trading is halted ("" if it is not).
    """

    side: int
    bars_held: int
    session_bars: int
    sigma20: float
    gate_sigma_pips: float = -math.inf
    kill_switch: bool = False
    entries_paused: bool = False
    halted: str = ""


@dataclass(frozen=True)
class Choice:
    """The action taken on a bar and why (``purpose``: the order's, "" for HOLD)."""

    action: int
    reason: str
    purpose: str = ""

    @property
    def name(self) -> str:
        """HOLD, BUY, SELL or CLOSE."""
        return ACTION_NAMES[self.action]


@dataclass
class Decision:
    """What happened on one bar (also what the console shows, newest first)."""

    bar_ts: int
    price: float
    policy: str
    action: str
    reason: str
    client_id: str = ""
    state: str = ""
    fill_price: float | None = None
    units: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, with the bar time as ISO-8601."""
        return {"bar_ts": iso_utc(self.bar_ts), "price": self.price, "policy": self.policy,
                "action": self.action, "reason": self.reason, "client_id": self.client_id,
                "state": self.state, "fill_price": self.fill_price, "units": self.units}


def choose(policy: int | None, ctx: DecisionContext) -> Choice:
    """The action to take on a bar given the policy's (None: no policy, or not warm yet)."""
    if ctx.side != 0 and ctx.bars_held >= ctx.session_bars - 1:
        if ctx.halted:
            return Choice(HOLD, f"forced close held back: halted ({ctx.halted})")
        return Choice(CLOSE, f"forced close after {ctx.bars_held} bars", FORCED)
    if policy is None or policy == HOLD:
        return Choice(HOLD, "policy" if policy is not None else "no decision")
    if policy not in ACTION_NAMES:
        return Choice(HOLD, f"invalid action {policy}")
    effect = core.action_effect(policy, float(ctx.side), ctx.sigma20, ctx.gate_sigma_pips)
    if effect == core.EFFECT_INVALID:
        if policy == CLOSE:
            return Choice(HOLD, "invalid: CLOSE while flat")
        return Choice(HOLD, f"invalid: {ACTION_NAMES[policy]} while in a position")
    if effect == core.EFFECT_GATED:
        return Choice(HOLD, f"gated: σ20 {ctx.sigma20:.2f} < {ctx.gate_sigma_pips:.2f} pips")
    if ctx.halted:
        return Choice(HOLD, f"halted: {ctx.halted}")
    if effect == core.EFFECT_CLOSE:
        return Choice(CLOSE, "policy", CLOSE_PURPOSE)
    if ctx.kill_switch:
        return Choice(HOLD, "kill switch engaged")
    if ctx.entries_paused:
        return Choice(HOLD, "entries paused")
    return Choice(policy, "policy", OPEN)


def order_units(choice: Choice, position_units: int, units: int) -> int:
    """Signed units of the order for ``choice`` (0: no order)."""
    if choice.action == BUY:
        return units
    if choice.action == SELL:
        return -units
    if choice.action == CLOSE:
        return -position_units
    return 0
