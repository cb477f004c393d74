"""SPEC §6 backtests: play a policy over a split's non-overlapping sessions.

All sessions have the same length, so they are played in lockstep: one batched policy
call per step for every session at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fxconsole.config import Config
from fxconsole.trading.env import TradingEnv
from fxconsole.trading.market_data import MarketData

Policy = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.int64]]
HOLD = 0


def backtest_starts(
    valid_starts: npt.NDArray[np.int64], session_bars: int
) -> npt.NDArray[np.int64]:
    """The first valid start, then repeatedly the first valid start ≥ previous + length."""
    chosen: list[int] = []
    next_allowed = -1
    for s in np.sort(valid_starts):
        if s >= next_allowed:
            chosen.append(int(s))
            next_allowed = int(s) + session_bars
    return np.asarray(chosen, dtype=np.int64)


@dataclass(frozen=True)
class BacktestResult:
    """Closed trades of a backtest and what was played."""

    split: str
    sessions: int
    steps: int
    trades: list[dict[str, Any]]
    gated: int
    invalid_actions: int

    @property
    def pips(self) -> npt.NDArray[np.float64]:
        """Pips of every closed trade, in order."""
        return np.asarray([t["pips"] for t in self.trades], dtype=np.float64)


def run_backtest(policy: Policy, data: MarketData, split: str, cfg: Config,
                 max_sessions: int | None = None) -> BacktestResult:
    """Play ``policy`` deterministically over the split's backtest sessions.

    Raises:
        ValueError: if the split has no sessions.
    """
    starts = backtest_starts(data.split_starts(split), cfg.data.session_bars)
    if max_sessions is not None:
        starts = starts[:max_sessions]
    if starts.size == 0:
        raise ValueError(f"split {split!r} of {data.symbol} {data.timeframe} has no sessions")
    envs = [TradingEnv(data.symbol, data.timeframe, split, "ppo", data=data, config=cfg)
            for _ in starts]
    obs = np.stack([env.reset(options={"start_index": int(s)})[0]
                    for env, s in zip(envs, starts, strict=True)])
    trades: list[dict[str, Any]] = []
    gated = invalid = steps = 0
    done = False
    while not done:
        actions = policy(obs)
        for i, env in enumerate(envs):
            obs[i], _, terminated, _, info = env.step(int(actions[i]))
            if "trade" in info:
                trades.append({**info["trade"], "session": int(starts[i])})
            if terminated:
                gated += info["gated"]
                invalid += info["invalid_actions"]
                done = True
        steps += 1
    trades.sort(key=lambda t: (t["exit_ts"], t["session"]))
    return BacktestResult(split, int(starts.size), steps, trades, gated, invalid)


def sb3_policy(model: Any) -> Policy:
    """The most probable action of a stable-baselines3 model, batched."""

    def act(obs: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        actions, _ = model.predict(obs, deterministic=True)
        return np.asarray(actions, dtype=np.int64)

    return act


def random_policy(seed: int = 0) -> Policy:
    """Uniformly random actions (a baseline)."""
    rng = np.random.default_rng(seed)

    def act(obs: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        return np.asarray(rng.integers(0, 4, size=obs.shape[0]), dtype=np.int64)

    return act


def flat_policy() -> Policy:
    """Always HOLD: never trades (a baseline)."""
    return lambda obs: np.full(obs.shape[0], HOLD, dtype=np.int64)
