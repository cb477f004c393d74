"""Self-play (SPEC §7): sessions of the train split played in lockstep, one batched
search per step for all of them, acting by visit counts with a temperature and ε.

An :class:`Episode` holds what the learner needs: the table row and position of each
step (the window is rebuilt from the market table, so shards stay small), the action,
the env's reward, the root's visit distribution and value, and the chance label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fxconsole.agents.muzero.model import InferenceModel
from fxconsole.agents.muzero.search import N_ACTIONS, SearchConfig
from fxconsole.config import Config, MuZeroConfig
from fxconsole.trading.batch import (
    TRADE_FIELDS,
    TRADE_ROW,
    MuZeroBatch,
    legal_actions,
    new_batch,
    step_batch,
    trade_record,
)
from fxconsole.trading.market_data import MarketData

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
NEUTRAL = 1  # the chance code fed to g where the label is undefined (its loss is masked)


@dataclass
class Episode:
    """One self-play session (arrays of the session's length ``L``)."""

    start: int
    rows: I64  # (L,) table row of each step's bar
    static: F32  # (L, 6) position features
    actions: npt.NDArray[np.int8]  # (L,)
    rewards: F32  # (L,) env reward (pips)
    policy: F32  # (L, 4) root visit distribution
    values: F32  # (L,) root search value
    chance: npt.NDArray[np.int8]  # (L,) outcome label of the step's bar (−1 undefined)
    trades: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    @property
    def in_trade(self) -> npt.NDArray[np.bool_]:
        """(L,) whether a position is open at the step's decision."""
        out: npt.NDArray[np.bool_] = self.static[:, 0] != 0.0
        return out

    def pips(self) -> float:
        """The session's closed-trade pips."""
        return float(sum(t["pips"] for t in self.trades))


def search_config(cfg: MuZeroConfig) -> SearchConfig:
    """The search parameters of the ``[muzero]`` section."""
    return SearchConfig(cfg.simulations, cfg.discount, cfg.dirichlet_alpha, cfg.noise_fraction)


def temperature(cfg: MuZeroConfig, episodes: int) -> float:
    """The visit temperature after ``episodes`` episodes: linear from start to end."""
    frac = min(max(episodes, 0) / cfg.temperature_episodes, 1.0)
    return cfg.temperature_start + (cfg.temperature_end - cfg.temperature_start) * frac


def choose_actions(visits: I64, legal: npt.NDArray[np.bool_], temp: float, epsilon: float,
                   rng: np.random.Generator) -> I64:
    """Sample each root's action from visits^(1/T) over its legal actions; with
    probability ε a uniformly random legal action instead."""
    weights = np.where(legal, visits.astype(np.float64), 0.0)
    has = weights.sum(axis=1, keepdims=True) > 0
    weights = np.where(has, weights, legal.astype(np.float64))
    weights = weights ** (1.0 / temp)
    probs = weights / weights.sum(axis=1, keepdims=True)
    uniform = legal / legal.sum(axis=1, keepdims=True)
    explore = np.asarray(rng.random(visits.shape[0]) < epsilon)
    probs = np.where(explore[:, None], uniform, probs)
    cum: npt.NDArray[np.float64] = np.cumsum(probs, axis=1)
    draw = rng.random((visits.shape[0], 1)) * cum[:, -1:]
    out: I64 = np.minimum((draw >= cum).sum(axis=1), N_ACTIONS - 1).astype(np.int64)
    return out


@dataclass
class SearchStats:
    """What the searches of a batch of episodes looked like (for the console)."""

    decisions: int = 0
    root_value: float = 0.0
    visit_entropy: float = 0.0
    actions: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(4, np.int64))

    def add(self, visits: I64, values: npt.NDArray[np.float64], actions: I64) -> None:
        """Add one step of every root."""
        p = visits / np.maximum(visits.sum(axis=1, keepdims=True), 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        self.decisions += visits.shape[0]
        self.root_value += float(values.sum())
        self.visit_entropy += float(ent.sum())
        self.actions += np.bincount(actions, minlength=N_ACTIONS)[:N_ACTIONS]

    def add_episode(self, ep: Episode) -> None:
        """Add the steps of a played episode (its visit distributions and root values)."""
        p = ep.policy.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        self.decisions += len(ep)
        self.root_value += float(ep.values.sum())
        self.visit_entropy += float(ent.sum())
        self.actions += np.bincount(ep.actions.astype(np.int64), minlength=N_ACTIONS)[:N_ACTIONS]

    def metrics(self) -> dict[str, float]:
        """Mean root value, visit entropy and the action shares."""
        if not self.decisions:
            return {}
        n = self.decisions
        names = ("hold", "buy", "sell", "close")
        return {"search/root_value": self.root_value / n,
                "search/visit_entropy": self.visit_entropy / n,
                **{f"rollout/action_{a}": float(self.actions[i]) / n
                   for i, a in enumerate(names)}}


class SelfPlayer:
    """Plays batches of train-split sessions with a model (SPEC §7's acting rule)."""

    def __init__(self, model: InferenceModel, data: MarketData, cfg: Config,
                 rng: np.random.Generator, split: str = "train") -> None:
        self.model = model
        self.data = data
        self.cfg = cfg
        self.rng = rng
        self.pool = data.split_starts(split)
        if self.pool.size == 0:
            raise ValueError(f"no valid {split} sessions to self-play on")
        self.search_cfg = search_config(cfg.muzero)
        self.stats = SearchStats()

    def play(self, episodes_so_far: int, n: int | None = None,
             on_step: Callable[[], bool] | None = None) -> list[Episode]:
        """Play ``n`` (default ``muzero.envs``) random sessions together.

        ``on_step`` is called every step (heartbeats, commands); if it returns False the
        batch is abandoned and no episode returned.
        """
        mz = self.cfg.muzero
        n = n or mz.envs
        starts = np.sort(self.rng.choice(self.pool, size=n, replace=n > self.pool.size))
        return self.play_starts(np.asarray(starts, np.int64), temperature(mz, episodes_so_far),
                                mz.epsilon, self.rng, on_step)

    def play_starts(self, starts: I64, temp: float, epsilon: float,
                    rng: np.random.Generator | None,
                    on_step: Callable[[], bool] | None = None) -> list[Episode]:
        """Play the sessions at ``starts``; without ``rng``: no noise, most visited action."""
        cfg, data = self.cfg, self.data
        length = cfg.data.session_bars
        n = starts.shape[0]
        states, obs = new_batch(starts, cfg, data, "muzero")
        assert isinstance(obs, MuZeroBatch) and obs.rows is not None
        self.model.encode_sessions(data.table, starts, length)
        outcome = data.outcome()
        rows = np.empty((n, length), np.int64)
        static = np.empty((n, length, 6), np.float32)
        actions = np.empty((n, length), np.int8)
        rewards = np.empty((n, length), np.float32)
        policy = np.empty((n, length, N_ACTIONS), np.float32)
        values = np.empty((n, length), np.float32)
        closed = np.empty((n, TRADE_ROW), np.float64)
        step_rewards = np.empty(n, np.float64)
        trades: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        for t in range(length):
            if on_step is not None and not on_step():
                return []
            legal = legal_actions(states)
            encoded = self.model.encoded(obs.rows)
            if encoded is None:  # pragma: no cover - the sessions were just encoded
                encoded = self.model.encode_windows(obs.temporal)
            result = self.model.search(encoded, obs.static, legal, self.search_cfg, rng)
            if rng is None:
                act = result.action
            else:
                act = choose_actions(result.visits, legal, temp, epsilon, rng)
            self.stats.add(result.visits, result.value, act)
            rows[:, t] = obs.rows
            static[:, t] = obs.static
            actions[:, t] = act
            visits = result.visits.astype(np.float32)
            policy[:, t] = visits / np.maximum(visits.sum(axis=1, keepdims=True), 1.0)
            values[:, t] = result.value
            k = step_batch(np.ascontiguousarray(act, np.int64), data.table, states, obs,
                           closed, step_rewards)
            rewards[:, t] = step_rewards
            for row in closed[:k]:
                trade = trade_record(row[:TRADE_FIELDS], data.ts)
                trade["session_start_index"] = int(starts[int(row[TRADE_FIELDS])])
                trades[int(row[TRADE_FIELDS])].append(trade)
        return [Episode(int(starts[i]), rows[i], static[i], actions[i], rewards[i],
                        policy[i], values[i], outcome[rows[i]].astype(np.int8), trades[i])
                for i in range(n)]
