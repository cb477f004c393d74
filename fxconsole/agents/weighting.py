"""SPEC §5 weighted learning: losing trades count less early in a run.

Phase 1: until the run has seen ``phase1_winners`` winning trades, losers weigh 0.
Phase 2: the loser weight ramps linearly from ``ramp_start`` to 1 over the next
``ramp_trades`` closed trades, then stays 1. Winners always weigh 1. A loser closing
with weight ``w`` gets the close reward ``w · r_close − (1 − w) · entry_reward``, so the
whole trade (entry plus close reward) is scaled by ``w``.

The schedule is plain state shared by every environment of a run (they live in one
process under a DummyVecEnv) and saved in checkpoints so a resumed run keeps its phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, SupportsFloat

import gymnasium

from fxconsole.config import EnvConfig, WeightingConfig


@dataclass
class LoserWeightSchedule:
    """Counts winners and closed trades; answers the current loser weight."""

    phase1_winners: int = 1000
    ramp_trades: int = 10_000
    ramp_start: float = 0.2
    enabled: bool = True
    winners: int = 0
    trades_in_phase2: int = 0

    @classmethod
    def from_config(cls, cfg: WeightingConfig) -> LoserWeightSchedule:
        """A fresh schedule with the configured phases."""
        return cls(cfg.phase1_winners, cfg.ramp_trades, cfg.ramp_start, cfg.enabled)

    @property
    def phase(self) -> int:
        """1 until enough winners were seen, then 2."""
        return 1 if self.winners < self.phase1_winners else 2

    @property
    def loser_weight(self) -> float:
        """The weight a losing trade closing now gets."""
        if not self.enabled:
            return 1.0
        if self.phase == 1:
            return 0.0
        progress = min(self.trades_in_phase2 / self.ramp_trades, 1.0)
        return self.ramp_start + (1.0 - self.ramp_start) * progress

    def observe(self, pips: float) -> None:
        """Count one closed trade (after its reward was weighted)."""
        if self.phase == 2:
            self.trades_in_phase2 += 1
        if pips > 0:
            self.winners += 1

    def state(self) -> dict[str, int]:
        """The counters to save in a checkpoint."""
        return {"winners": self.winners, "trades_in_phase2": self.trades_in_phase2}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from counters saved by :meth:`state`."""
        self.winners = int(state.get("winners", 0))
        self.trades_in_phase2 = int(state.get("trades_in_phase2", 0))


def weighted_reward(reward: float, trade: dict[str, Any], weight: float,
                    env_cfg: EnvConfig) -> float:
    """The step reward with a losing trade's close reward replaced per SPEC §5.

    ``reward`` may include other parts of the same step (an entry at the last step);
    only the close reward ``pips − drawdown_penalty · max_dd`` is replaced. With the
    ``mtm`` reward a trade's rewards add up to its pips, spread over its steps: the close
    step then takes ``−(1 − w) · pips`` more, so the trade's total is again ``w ·`` its
    total.
    """
    if trade["pips"] > 0:
        return reward
    if env_cfg.reward == "mtm":
        return reward - (1.0 - weight) * trade["pips"]
    close = trade["pips"] - env_cfg.drawdown_penalty * trade["max_dd"]
    return reward - close + weight * close - (1.0 - weight) * env_cfg.open_reward


class WeightedRewardWrapper(gymnasium.Wrapper[Any, Any, Any, Any]):
    """Applies a shared :class:`LoserWeightSchedule` to every closed trade.

    ``info["loser_weight"]`` carries the weight used on a closing step and
    ``info["raw_reward"]`` the unweighted reward.
    """

    def __init__(self, env: gymnasium.Env[Any, Any], schedule: LoserWeightSchedule,
                 env_cfg: EnvConfig) -> None:
        super().__init__(env)
        self.schedule = schedule
        self.env_cfg = env_cfg

    def action_masks(self) -> Any:
        """The wrapped env's legal actions (for MaskablePPO)."""
        return self.env.unwrapped.action_masks()  # type: ignore[attr-defined]

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env; reweight the reward if a losing trade closed."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        trade = info.get("trade")
        if trade is not None:
            weight = self.schedule.loser_weight
            info["raw_reward"] = float(reward)
            info["loser_weight"] = weight
            reward = weighted_reward(float(reward), trade, weight, self.env_cfg)
            self.schedule.observe(trade["pips"])
        return obs, reward, terminated, truncated, info
