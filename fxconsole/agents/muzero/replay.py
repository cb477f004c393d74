"""The replay buffer of SPEC §7: the last ``capacity`` transitions with a trade quota, a
success memory beside them, and batches of unrolled targets.

Episodes are kept whole while any of their transitions is a member (the unroll reads the
steps after a sampled one). On overflow the oldest transitions go first, except that the
buffer keeps at least ``trade_quota`` of its transitions inside a trade while it has them.
The success memory holds the last ``success_capacity`` transitions whose reward exceeded
``success_pips``; a share of every batch is drawn from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fxconsole.agents.muzero.networks import WINDOW
from fxconsole.agents.muzero.selfplay import NEUTRAL, Episode
from fxconsole.config import MuZeroConfig

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
B8 = npt.NDArray[np.bool_]
N_BAR_FEATURES = 9


def value_targets(rewards: F32, values: F32, n: int, discount: float) -> F32:
    """SPEC §7: ``Σ_{i<n} γ^i r_{t+i} + γ^n v_{t+n}``, no bootstrap past the episode's end."""
    length = rewards.shape[0]
    out = np.zeros(length, np.float64)
    for i in range(min(n, length)):
        out[:length - i] += discount ** i * rewards[i:]
    if n < length:
        out[:length - n] += discount ** n * values[n:]
    result: F32 = out.astype(np.float32)
    return result


@dataclass(frozen=True)
class Batch:
    """A learner batch: B samples, K unroll steps."""

    temporal: F32  # (B, 32, 9)
    static: F32  # (B, 6)
    actions: I64  # (B, K)
    chance: I64  # (B, K) the outcome fed to g (NEUTRAL where undefined)
    chance_mask: B8  # (B, K) a defined label inside the episode
    rewards: F32  # (B, K)
    step_mask: B8  # (B, K + 1) the step lies inside the episode
    values: F32  # (B, K + 1) value targets
    policy: F32  # (B, K + 1, 4) visit distributions


class ReplayBuffer:
    """Transitions of self-play episodes, for the learner."""

    def __init__(self, cfg: MuZeroConfig) -> None:
        self.cfg = cfg
        self._episodes: dict[int, tuple[Episode, F32]] = {}  # id → (episode, value targets)
        self._next_id = 0
        self._member_ep = np.empty(0, np.int64)  # oldest first
        self._member_t = np.empty(0, np.int64)
        self._member_trade = np.empty(0, np.bool_)
        self._success: list[tuple[int, int]] = []
        self.added_transitions = 0
        self.added_episodes = 0

    def __len__(self) -> int:
        return int(self._member_ep.shape[0])

    @property
    def success_size(self) -> int:
        """Transitions in the success memory."""
        return len(self._success)

    def in_trade_share(self) -> float:
        """The share of the buffer's transitions inside a trade."""
        return float(self._member_trade.mean()) if len(self) else 0.0

    def add(self, episode: Episode) -> None:
        """Add an episode's transitions, then evict beyond capacity."""
        ep_id = self._next_id
        self._next_id += 1
        targets = value_targets(episode.rewards, episode.values, self.cfg.td_steps,
                                self.cfg.discount)
        self._episodes[ep_id] = (episode, targets)
        n = len(episode)
        self._member_ep = np.concatenate([self._member_ep, np.full(n, ep_id, np.int64)])
        self._member_t = np.concatenate([self._member_t, np.arange(n, dtype=np.int64)])
        self._member_trade = np.concatenate([self._member_trade, episode.in_trade])
        for t in np.flatnonzero(episode.rewards > self.cfg.success_pips):
            self._success.append((ep_id, int(t)))
        del self._success[:max(len(self._success) - self.cfg.success_capacity, 0)]
        self.added_transitions += n
        self.added_episodes += 1
        self._evict()

    def _evict(self) -> None:
        cap = self.cfg.replay_capacity
        size = len(self)
        if size <= cap:
            return
        trade = self._member_trade
        newest = np.zeros(size, np.bool_)
        newest[size - cap:] = True
        keep = newest
        need = min(int(trade.sum()), math.ceil(self.cfg.trade_quota * cap))
        if int(trade[newest].sum()) < need:  # keep the newest `need` in-trade ones
            trade_idx = np.flatnonzero(trade)[-need:]
            flat_idx = (np.flatnonzero(~trade)[-(cap - need):] if cap > need
                        else np.empty(0, np.int64))
            keep = np.zeros(size, np.bool_)
            keep[trade_idx] = True
            keep[flat_idx] = True
        self._member_ep = self._member_ep[keep]
        self._member_t = self._member_t[keep]
        self._member_trade = self._member_trade[keep]
        live = set(np.unique(self._member_ep).tolist()) | {e for e, _ in self._success}
        for ep_id in [e for e in self._episodes if e not in live]:
            del self._episodes[ep_id]

    def stored_episodes(self) -> int:
        """Episodes held (whole) for the buffer and the success memory."""
        return len(self._episodes)

    def sample(self, batch_size: int, rng: np.random.Generator, table: npt.NDArray[np.float64]
               ) -> Batch:
        """A batch of unrolled targets; windows from the market ``table``.

        Raises:
            ValueError: if the buffer is empty.
        """
        if not len(self):
            raise ValueError("the replay buffer is empty")
        n_success = (round(batch_size * self.cfg.success_fraction)
                     if self._success else 0)
        picks = rng.integers(0, len(self), batch_size - n_success)
        eps = list(self._member_ep[picks])
        ts = list(self._member_t[picks])
        for j in rng.integers(0, len(self._success), n_success):
            e, t = self._success[int(j)]
            eps.append(e)
            ts.append(t)
        return self._unroll(np.asarray(eps), np.asarray(ts), table)

    def _unroll(self, eps: I64, ts: I64, table: npt.NDArray[np.float64]) -> Batch:
        k = self.cfg.unroll
        b = eps.shape[0]
        rows = np.empty(b, np.int64)
        static = np.empty((b, 6), np.float32)
        actions = np.zeros((b, k), np.int64)
        chance = np.full((b, k), NEUTRAL, np.int64)
        chance_mask = np.zeros((b, k), np.bool_)
        rewards = np.zeros((b, k), np.float32)
        step_mask = np.zeros((b, k + 1), np.bool_)
        values = np.zeros((b, k + 1), np.float32)
        policy = np.full((b, k + 1, 4), 0.25, np.float32)
        for i, (e, t) in enumerate(zip(eps.tolist(), ts.tolist(), strict=True)):
            ep, targets = self._episodes[e]
            length = len(ep)
            rows[i] = ep.rows[t]
            static[i] = ep.static[t]
            span = min(k + 1, length - t)
            step_mask[i, :span] = True
            values[i, :span] = targets[t:t + span]
            policy[i, :span] = ep.policy[t:t + span]
            m = min(k, length - t)
            actions[i, :m] = ep.actions[t:t + m]
            rewards[i, :m] = ep.rewards[t:t + m]
            labels = ep.chance[t:t + m].astype(np.int64)
            defined = labels >= 0
            chance[i, :m] = np.where(defined, labels, NEUTRAL)
            chance_mask[i, :m] = defined
        offsets = np.arange(WINDOW) - (WINDOW - 1)
        temporal = table[rows[:, None] + offsets[None, :], :N_BAR_FEATURES].astype(np.float32)
        return Batch(temporal, static, actions, chance, chance_mask, rewards, step_mask,
                     values, policy)
