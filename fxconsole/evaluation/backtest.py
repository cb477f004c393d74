"""SPEC §6 backtests: play a policy over a split's non-overlapping sessions.

All sessions have the same length, so they are played in lockstep: one batched policy
call and one compiled step call per bar for every session at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fxconsole.agents.base import Actions, Legal, Observations, Policy
from fxconsole.config import Config
from fxconsole.trading import core
from fxconsole.trading.batch import (
    TRADE_FIELDS,
    TRADE_ROW,
    legal_actions,
    new_batch,
    step_batch,
    trade_record,
)
from fxconsole.trading.market_data import MarketData


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
    """Play ``policy`` deterministically over the split's backtest sessions (SPEC §6).

    Raises:
        ValueError: if the split has no sessions.
    """
    starts = backtest_starts(data.split_starts(split), cfg.data.session_bars)
    if max_sessions is not None:
        starts = starts[:max_sessions]
    return play_sessions(policy, data, starts, cfg, split)


def play_sessions(policy: Policy, data: MarketData, starts: npt.NDArray[np.int64],
                  cfg: Config, split: str) -> BacktestResult:
    """Play ``policy`` over the sessions starting at ``starts``, in lockstep.

    The policy sees observations of the kind it names and the legal actions of each
    session. Trades carry ``session_start_index``; they are ordered by exit, then session.
    """
    states, obs = new_batch(starts, cfg, data, policy.observation_kind)
    closed = np.empty((starts.shape[0], TRADE_ROW), dtype=np.float64)
    trades: list[dict[str, Any]] = []
    for _ in range(cfg.data.session_bars):
        actions = np.ascontiguousarray(policy(obs, legal_actions(states)), dtype=np.int64)
        n = step_batch(actions, data.table, states, obs, closed)
        for row in closed[:n]:
            trade = trade_record(row[:TRADE_FIELDS], data.ts)
            trade["session_start_index"] = int(starts[int(row[TRADE_FIELDS])])
            trades.append(trade)
    trades.sort(key=lambda t: (t["exit_index"], t["session_start_index"]))
    return BacktestResult(split, int(starts.size), cfg.data.session_bars, trades,
                          int(states[:, core.S_GATED].sum()),
                          int(states[:, core.S_INVALID].sum()))


class RandomPolicy:
    """Uniformly random actions, legal or not (a baseline: invalid ones act as HOLD)."""

    observation_kind = "ppo"

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: Observations, legal: Legal) -> Actions:
        """A random action per session."""
        return np.asarray(self.rng.integers(0, 4, size=legal.shape[0]), dtype=np.int64)


class FlatPolicy:
    """Always HOLD: never trades (a baseline)."""

    observation_kind = "ppo"

    def __call__(self, obs: Observations, legal: Legal) -> Actions:
        """HOLD for every session."""
        return np.full(legal.shape[0], core.HOLD, dtype=np.int64)


def random_policy(seed: int = 0) -> Policy:
    """Uniformly random actions (a baseline)."""
    return RandomPolicy(seed)


def flat_policy() -> Policy:
    """Always HOLD: never trades (a baseline)."""
    return FlatPolicy()
