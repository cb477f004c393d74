"""SPEC §4 written as plain Python loops: the oracle the numba-driven env is tested against.

Readable before fast: one method per rule, floats via ``math``, no numba, no numpy in the
step logic (arrays are only read).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

HOLD, BUY, SELL, CLOSE = 0, 1, 2, 3
PPO_MARKET = (0, 1, 2, 3, 4, 9, 10)
PPO_TIME = (5, 6, 7, 8)


@dataclass
class Trade:
    """An open position."""

    side: int  # +1 long, −1 short
    entry_index: int
    entry_price: float
    unrealised: float = 0.0
    peak: float = -math.inf
    dd: float = 0.0
    max_dd: float = 0.0
    area_dd: float = 0.0


@dataclass
class ReferenceEnv:
    """One episode of SPEC §4 over plain lists of closes, σ20 and feature rows."""

    close: list[float]
    sigma20: list[float]
    features: list[list[float]]
    pip: float
    session_bars: int = 360
    spread: float = 4.0
    open_reward: float = 1.0
    hold_flat_reward: float = -0.05
    dd_penalty: float = 0.01
    gate: float | None = None  # σ20 threshold, None = gating off
    reward: str = "amddp1"  # or "mtm": the change of the open trade's value each step
    start: int = 0
    k: int = 0
    done: bool = True
    trade: Trade | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def reset(self, start: int) -> None:
        """Begin the session starting at row ``start``."""
        self.start, self.k, self.done, self.trade = start, 0, False, None
        self.counts = {"invalid_actions": 0, "gated": 0, "entry_attempts": 0}

    @property
    def bar(self) -> int:
        """The bar the observation describes."""
        return self.start + self.k

    def unrealised(self, trade: Trade, t: int) -> float:
        """Pips net of spread of ``trade`` at ``c_t``."""
        if trade.side == 1:
            return (self.close[t] - trade.entry_price) / self.pip - self.spread
        return (trade.entry_price - self.close[t]) / self.pip - self.spread

    def mark(self, trade: Trade, t: int) -> None:
        """Update unrealised, peak, dd, max_dd and area_dd at bar ``t``."""
        trade.unrealised = self.unrealised(trade, t)
        trade.peak = max(trade.peak, trade.unrealised)
        trade.dd = trade.peak - trade.unrealised
        trade.max_dd = max(trade.max_dd, trade.dd)
        trade.area_dd += trade.dd

    def close_trade(self, t: int, forced: bool) -> tuple[float, dict[str, Any]]:
        """Close at ``c_t``; return (close reward, trade record)."""
        trade = self.trade
        assert trade is not None
        pips = self.unrealised(trade, t)
        record = {"side": "long" if trade.side == 1 else "short",
                  "entry_index": trade.entry_index, "exit_index": t,
                  "entry_price": trade.entry_price, "exit_price": self.close[t],
                  "pips": pips, "max_dd": trade.max_dd,
                  "bars_held": t - trade.entry_index, "forced": forced}
        self.trade = None
        return pips - self.dd_penalty * trade.max_dd, record

    def act(self, action: int, t: int) -> tuple[float, dict[str, Any] | None]:
        """Apply the action at bar ``t``; return (reward, closed trade or None)."""
        if self.trade is None:
            if action in (BUY, SELL):
                self.counts["entry_attempts"] += 1
                if self.gate is not None and self.sigma20[t] < self.gate:
                    self.counts["gated"] += 1
                    return self.hold_flat_reward, None
                self.trade = Trade(1 if action == BUY else -1, t, self.close[t])
                self.mark(self.trade, t)
                return self.open_reward, None
            if action == CLOSE:
                self.counts["invalid_actions"] += 1
            return self.hold_flat_reward, None
        if action == CLOSE:
            return self.close_trade(t, forced=False)
        if action in (BUY, SELL):
            self.counts["invalid_actions"] += 1
        return 0.0, None

    def step(self, action: int) -> tuple[float, bool, dict[str, Any] | None]:
        """One step; return (reward, terminated, closed trade or None)."""
        assert not self.done
        t = self.start + self.k
        value_before = self.trade.unrealised if self.trade is not None else 0.0
        reward, record = self.act(action, t)
        if self.k == self.session_bars - 1:
            if self.trade is not None:
                close_reward, record = self.close_trade(t, forced=True)
                reward += close_reward
            self.done = True
        else:
            self.k += 1
            if self.trade is not None:
                self.mark(self.trade, t + 1)
        if self.reward == "mtm":  # SPEC §4: what the position is worth now, minus before
            value_after = self.trade.unrealised if self.trade is not None else 0.0
            if record is not None:
                value_after += record["pips"]
            reward = value_after - value_before
        return reward, self.done, record

    def position_features(self) -> list[float]:
        """The 6 position features of the current bar."""
        trade = self.trade
        if trade is None:
            return [0.0] * 6
        bars = self.bar - trade.entry_index
        return [float(trade.side), math.tanh(trade.unrealised / 100),
                math.tanh(bars / 100), math.tanh(trade.dd / 100),
                math.tanh(trade.max_dd / 100), math.tanh(trade.area_dd / 100)]

    def ppo_observation(self) -> list[float]:
        """Market [0–4, volatility_20, momentum_60_pips], position, time [5–8]."""
        row = self.features[self.bar]
        return ([row[i] for i in PPO_MARKET] + self.position_features()
                + [row[i] for i in PPO_TIME])

    def muzero_observation(self) -> tuple[list[list[float]], list[float]]:
        """(features 0–8 of bars t−31 … t, position features)."""
        rows = [self.features[t][:9] for t in range(self.bar - 31, self.bar + 1)]
        return rows, self.position_features()
