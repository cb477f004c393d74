"""SPEC §6 backtests: play a policy over a split's non-overlapping sessions.

All sessions have the same length, so they are played in lockstep: one batched policy
call and one compiled step call per bar for every session at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fxconsole.agents.base import Actions, Legal, Observations, Policy, PreparesSessions
from fxconsole.config import Config
from fxconsole.timeutil import iso_utc
from fxconsole.trading import core
from fxconsole.trading.batch import (
    F32,
    TRADE_FIELDS,
    TRADE_ROW,
    MuZeroBatch,
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
    played: tuple[str, str] = ("", "")  # ISO-8601 of the first and the last bar played

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
    return play_spreads(policy, data, starts, cfg, split, [cfg.env.spread_pips])[0]


def session_pips(starts: npt.NDArray[np.int64], trades: list[dict[str, Any]]
                 ) -> list[list[float]]:
    """The pips of each session's trades, in the order of ``starts`` (a session without a
    trade has an empty list): the episodes of a collector's batch."""
    per_session: dict[int, list[float]] = {int(s): [] for s in starts}
    for t in trades:
        per_session[int(t["session_start_index"])].append(float(t["pips"]))
    return list(per_session.values())


def play_spreads(policy: Policy, data: MarketData, starts: npt.NDArray[np.int64],
                 cfg: Config, split: str, spreads: list[float]) -> list[BacktestResult]:
    """:func:`play_sessions` once per spread, all in one lockstep batch (one policy call
    per bar for every session at every spread): the cost stress of SPEC §6.2."""
    n = starts.shape[0]
    batches = [new_batch(starts, dataclasses.replace(
        cfg, env=dataclasses.replace(cfg.env, spread_pips=spread)), data,
        policy.observation_kind) for spread in spreads]
    states = np.concatenate([b[0] for b in batches])
    obs: F32 | MuZeroBatch
    parts = [b[1] for b in batches]
    windows = [o for o in parts if isinstance(o, MuZeroBatch)]
    if windows:
        obs = MuZeroBatch(np.concatenate([o.temporal for o in windows]),
                          np.concatenate([o.static for o in windows]),
                          np.concatenate([o.rows for o in windows if o.rows is not None]))
    else:
        obs = np.concatenate([o for o in parts if not isinstance(o, MuZeroBatch)])
    if isinstance(policy, PreparesSessions) and n:
        policy.prepare_sessions(data.table, starts, cfg.data.session_bars)
    closed = np.empty((states.shape[0], TRADE_ROW), dtype=np.float64)
    trades: list[list[dict[str, Any]]] = [[] for _ in spreads]
    for _ in range(cfg.data.session_bars):
        actions = np.ascontiguousarray(policy(obs, legal_actions(states)), dtype=np.int64)
        k = step_batch(actions, data.table, states, obs, closed)
        for row in closed[:k]:
            group, session = divmod(int(row[TRADE_FIELDS]), n)
            trade = trade_record(row[:TRADE_FIELDS], data.ts)
            trade["session_start_index"] = int(starts[session])
            trades[group].append(trade)
    played = (iso_utc(data.ts[starts[0]]),
              iso_utc(data.ts[starts[-1] + cfg.data.session_bars - 1])) if n else ("", "")
    out = []
    for group, found in enumerate(trades):
        found.sort(key=lambda t: (t["exit_index"], t["session_start_index"]))
        rows = states[group * n:(group + 1) * n]
        out.append(BacktestResult(split, n, cfg.data.session_bars, found,
                                  int(rows[:, core.S_GATED].sum()),
                                  int(rows[:, core.S_INVALID].sum()), played))
    return out


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


class MomentumPolicy:
    """SPEC §6.2's momentum rule: while flat, BUY if ``m60 > 0``, SELL if ``m60 < 0``;
    CLOSE once the trade has been held ``hold_bars`` bars (a baseline).

    It reads the PPO observation: ``momentum_60_pips = tanh(m60 / 100)`` keeps m60's sign,
    and ``bars_since_entry = tanh(bars / 100)`` gives the bars held back. Gated entries
    are the environment's to block, as for any policy.
    """

    observation_kind = "ppo"
    M60, SIDE, BARS = 6, 7, 9  # PPO observation columns (SPEC §4)

    def __init__(self, hold_bars: int = 60) -> None:
        self.hold_bars = hold_bars

    def __call__(self, obs: Observations, legal: Legal) -> Actions:
        """The rule's action per session."""
        x = np.asarray(obs)
        m60, side = x[:, self.M60], x[:, self.SIDE]
        held = np.rint(np.arctanh(np.clip(x[:, self.BARS].astype(np.float64), 0.0,
                                          1.0 - 1e-12)) * 100.0)
        entry = np.where(m60 > 0, core.BUY, np.where(m60 < 0, core.SELL, core.HOLD))
        exit_ = np.where(held >= self.hold_bars, core.CLOSE, core.HOLD)
        return np.where(side == 0, entry, exit_).astype(np.int64)


def momentum_policy(hold_bars: int = 60) -> Policy:
    """SPEC §6.2's momentum rule (a baseline)."""
    return MomentumPolicy(hold_bars)


def random_policy(seed: int = 0) -> Policy:
    """Uniformly random actions (a baseline)."""
    return RandomPolicy(seed)


def flat_policy() -> Policy:
    """Always HOLD: never trades (a baseline)."""
    return FlatPolicy()
