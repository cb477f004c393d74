"""Stochastic MuZero's search (SPEC §7), batched across environments, the tree in arrays.

Every environment of a batch grows its own tree of decision nodes (states: pUCT over the
4 actions) and chance nodes (afterstates: the 3 market outcomes, chosen deterministically
by ``argmax σ(c) / (N(c) + 1)``). A simulation walks every tree at once; the leaves it
reaches are expanded with at most two batched model calls — one ``afterstate`` call for
the trees whose walk ended on an action edge, one ``dynamics`` call for those that ended
on an outcome edge — never a Python tree per environment. A decision → afterstate edge
has reward 0 and discount 1; a chance → decision edge the predicted reward and discount
``γ``. Q̄ is the min-max normalised value over each tree, 0 for unvisited actions.
Pure numpy; the model is anything with the two batched calls of :class:`SearchModel`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B8 = npt.NDArray[np.bool_]

N_ACTIONS = 4
N_OUTCOMES = 3
PB_C_BASE = 19652.0
PB_C_INIT = 1.25


class SearchModel(Protocol):
    """The recurrent half of the networks, batched (SPEC §7's φ, ψ, g, f)."""

    def afterstate(self, states: F32, actions: I64) -> tuple[F32, F32, F32]:
        """``φ(s, a)`` and ``ψ``: afterstates (n, H), outcome logits σ (n, 3), Q (n,)."""
        ...

    def dynamics(self, afterstates: F32, outcomes: I64) -> tuple[F32, F32, F32, F32]:
        """``g(as, c)`` and ``f``: next states (n, H), rewards (n,), policy logits (n, 4),
        values (n,)."""
        ...


@dataclass(frozen=True)
class SearchConfig:
    """The search's parameters (SPEC §7 defaults)."""

    simulations: int = 5
    discount: float = 0.997
    dirichlet_alpha: float = 1.0
    noise_fraction: float = 0.5


@dataclass(frozen=True)
class SearchResult:
    """What the search of a batch found."""

    visits: I64  # (B, 4) root visit counts
    q: F64  # (B, 4) root action values (NaN where unvisited)
    value: F64  # (B,) root value estimate: the visit-weighted mean of the root's Q
    action: I64  # (B,) the most visited legal action (lowest index on ties)


def _softmax(logits: npt.ArrayLike) -> F64:
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    out: F64 = e / e.sum(axis=-1, keepdims=True)
    return out


class _Trees:
    """B trees of at most ``n + 1`` decision and ``n + 1`` chance nodes each."""

    def __init__(self, b: int, n: int, hidden: int) -> None:
        size = n + 2
        self.prior = np.zeros((b, size, N_ACTIONS))
        self.n_a = np.zeros((b, size, N_ACTIONS), dtype=np.int64)
        self.w_a = np.zeros((b, size, N_ACTIONS))
        self.after_child = np.full((b, size, N_ACTIONS), -1, dtype=np.int64)
        self.states = np.zeros((b, size, hidden), dtype=np.float32)
        self.sigma = np.zeros((b, size, N_OUTCOMES))
        self.n_c = np.zeros((b, size, N_OUTCOMES), dtype=np.int64)
        self.reward = np.zeros((b, size, N_OUTCOMES))
        self.dec_child = np.full((b, size, N_OUTCOMES), -1, dtype=np.int64)
        self.afters = np.zeros((b, size, hidden), dtype=np.float32)
        self.n_dec = np.ones(b, dtype=np.int64)  # node 0 is the root
        self.n_chance = np.zeros(b, dtype=np.int64)
        self.lo = np.full(b, math.inf)
        self.hi = np.full(b, -math.inf)

    def normalised_q(self, b: int, node: int) -> F64:
        n = self.n_a[b, node]
        q = np.where(n > 0, self.w_a[b, node] / np.maximum(n, 1), 0.0)
        if self.hi[b] > self.lo[b]:
            q = np.where(n > 0, (q - self.lo[b]) / (self.hi[b] - self.lo[b]), 0.0)
        return np.asarray(q, dtype=np.float64)


def search(model: SearchModel, root_states: F32, root_logits: F32, root_values: F32,
           legal: B8, cfg: SearchConfig, rng: np.random.Generator | None = None) -> SearchResult:
    """Run ``cfg.simulations`` simulations for every root of the batch.

    Args:
        model: the batched recurrent model.
        root_states: (B, H) hidden states of the roots (the representation's output).
        root_logits: (B, 4) policy logits at the roots.
        root_values: (B,) values at the roots (unused but for a search without visits).
        legal: (B, 4) the actions each root's position allows: the only ones searched.
        cfg: simulations, discount, noise.
        rng: with it, Dirichlet noise at the roots (self-play); without, none (backtests,
            live).

    Returns:
        Root visits, Q, value and the most visited legal action of each root.

    Raises:
        ValueError: a root without a legal action, or mismatching shapes.
    """
    states = np.asarray(root_states, dtype=np.float32)
    b, hidden = states.shape
    legal = np.asarray(legal, dtype=np.bool_)
    if legal.shape != (b, N_ACTIONS) or not legal.any(axis=1).all():
        raise ValueError(f"legal must be ({b}, {N_ACTIONS}) with a legal action per root")
    prior = np.where(legal, _softmax(root_logits), 0.0)
    prior /= prior.sum(axis=1, keepdims=True)
    if rng is not None and cfg.noise_fraction > 0:
        noise = rng.dirichlet([cfg.dirichlet_alpha] * N_ACTIONS, size=b)
        noise = np.where(legal, noise, 0.0)
        noise /= noise.sum(axis=1, keepdims=True)
        prior = (1 - cfg.noise_fraction) * prior + cfg.noise_fraction * noise
    t = _Trees(b, cfg.simulations, hidden)
    t.prior[:, 0] = prior
    t.states[:, 0] = states
    for _ in range(cfg.simulations):
        _simulate(model, t, legal, cfg.discount)
    visits = t.n_a[:, 0].copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(visits > 0, t.w_a[:, 0] / visits, np.nan)
    total = visits.sum(axis=1)
    value = np.where(total > 0, np.nansum(np.nan_to_num(q) * visits, axis=1)
                     / np.maximum(total, 1), np.asarray(root_values, dtype=np.float64))
    ranked = np.where(legal, visits, -1)
    return SearchResult(visits, q, value, np.asarray(ranked.argmax(axis=1), dtype=np.int64))


def _simulate(model: SearchModel, t: _Trees, legal: B8, discount: float) -> None:
    """One simulation in every tree: select, expand with ≤ 2 model calls, back up."""
    b = t.prior.shape[0]
    paths: list[list[tuple[str, int, int]]] = []
    ends: list[tuple[str, int, int]] = []
    for i in range(b):
        path: list[tuple[str, int, int]] = []
        node = 0
        while True:
            a = _select_action(t, i, node, legal[i] if node == 0 else None)
            path.append(("d", node, a))
            chance = int(t.after_child[i, node, a])
            if chance < 0:
                ends.append(("d", node, a))
                break
            c = select_outcome(t.sigma[i, chance], t.n_c[i, chance])
            path.append(("c", chance, c))
            nxt = int(t.dec_child[i, chance, c])
            if nxt < 0:
                ends.append(("c", chance, c))
                break
            node = nxt
        paths.append(path)
    leaf = np.zeros(b)
    on_action = [i for i in range(b) if ends[i][0] == "d"]
    on_outcome = [i for i in range(b) if ends[i][0] == "c"]
    if on_action:
        idx = np.asarray(on_action)
        nodes = np.asarray([ends[i][1] for i in on_action])
        acts = np.asarray([ends[i][2] for i in on_action], dtype=np.int64)
        after, sigma_logits, q = model.afterstate(t.states[idx, nodes], acts)
        for k, i in enumerate(on_action):
            c = int(t.n_chance[i])
            t.n_chance[i] += 1
            t.afters[i, c] = after[k]
            t.sigma[i, c] = _softmax(sigma_logits[k])
            t.after_child[i, nodes[k], acts[k]] = c
            leaf[i] = float(q[k])
    if on_outcome:
        idx = np.asarray(on_outcome)
        chances = np.asarray([ends[i][1] for i in on_outcome])
        outs = np.asarray([ends[i][2] for i in on_outcome], dtype=np.int64)
        new_states, reward, logits, value = model.dynamics(t.afters[idx, chances], outs)
        for k, i in enumerate(on_outcome):
            d = int(t.n_dec[i])
            t.n_dec[i] += 1
            t.states[i, d] = new_states[k]
            t.prior[i, d] = _softmax(logits[k])
            t.reward[i, chances[k], outs[k]] = float(reward[k])
            t.dec_child[i, chances[k], outs[k]] = d
            leaf[i] = float(value[k])
    for i in range(b):
        g = leaf[i]
        for kind, node, edge in reversed(paths[i]):
            if kind == "c":  # chance → decision: the predicted reward, discounted
                g = t.reward[i, node, edge] + discount * g
                t.n_c[i, node, edge] += 1
            else:  # decision → afterstate: reward 0, discount 1
                t.n_a[i, node, edge] += 1
                t.w_a[i, node, edge] += g
                q = t.w_a[i, node, edge] / t.n_a[i, node, edge]
                t.lo[i], t.hi[i] = min(t.lo[i], q), max(t.hi[i], q)


def select_outcome(sigma: F64, visits: I64) -> int:
    """SPEC §7's deterministic chance selection: ``argmax σ(c) / (N(c) + 1)``."""
    return int(np.argmax(sigma / (visits + 1)))


def _select_action(t: _Trees, i: int, node: int, legal: B8 | None) -> int:
    """pUCT (SPEC §7) over the node's actions; at the root only the legal ones."""
    n = t.n_a[i, node]
    total = int(n.sum())
    if total == 0:  # nothing visited yet: the prior decides
        score = t.prior[i, node]
    else:
        c = PB_C_INIT + math.log((total + PB_C_BASE + 1) / PB_C_BASE)
        score = t.normalised_q(i, node) + t.prior[i, node] * math.sqrt(total) / (1 + n) * c
    if legal is not None:
        score = np.where(legal, score, -np.inf)
    return int(np.argmax(score))
