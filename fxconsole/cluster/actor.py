"""Collectors and validators as Ray actors: a collector plays the checkpoint it is sent
(MuZero: self-play sessions of the train split, returned as a shard; any other agent, as
PPO: greedy out-of-sample sessions of the validation split, returned as trades); a
validator evaluates the checkpoint bytes it is sent.

The classes are plain Python (the driver wraps them with ``ray.remote``): they never read
the workspace. The market data arrives once, as an object-store reference resolved by Ray
when the actor starts (also when Ray restarts it); the weights come with each
:meth:`CollectorActor.play` call as a reference inside a list, fetched only when their
hash differs from the loaded one. A batch returns the shard's bytes and the episodes'
figures; the driver writes them, keyed by the task id, so a retried task never writes
twice. A validator returns its evaluation (``fxconsole.evaluation.validate``'s pure
part); the driver judges and records it once by report id (checkpoint sha256 + split).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fxconsole.config import Config
from fxconsole.trading.market_data import MarketData

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Weights:
    """A checkpoint's identity and what playing it needs (its bytes travel apart)."""

    sha256: str
    timesteps: int
    episodes: int  # the checkpoint's own episode counter (the temperature schedule)
    pinned: dict[str, Any]
    label: str  # the manifest's name, for messages
    agent: str = "muzero"
    manifest: Any = None  # its Manifest: what an agent's policy is built from


@dataclass(frozen=True)
class EpisodeRow:
    """One played episode's figures (a row of ``episodes``)."""

    reward: float
    trades: int
    pips: float
    length: int


@dataclass(frozen=True)
class PlayResult:
    """What one :meth:`CollectorActor.play` task returns to the driver."""

    task_id: str
    actor: str
    pid: int
    node: str
    shard: bytes
    episodes: list[EpisodeRow]
    steps: int
    checkpoint_timesteps: int
    stats: dict[str, float] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)  # out-of-sample play's
    agent: str = "muzero"


@dataclass(frozen=True)
class Identity:
    """Where an actor runs (its answer to a ping)."""

    actor: str
    pid: int
    node: str
    node_id: str
    host: str
    loaded: str  # sha256 of the weights it holds ("" before the first batch)
    at: float  # the actor's own clock: informative only, ages use the driver's


def node_ip() -> str:
    """This process's node address as Ray sees it (the host name outside Ray)."""
    try:
        import ray

        if ray.is_initialized():
            return str(ray.util.get_node_ip_address())
    except Exception:  # an old Ray
        pass
    return socket.gethostname()


def node_id() -> str:
    """Ray's id of this process's node ("" outside Ray).

    Asks only a process already in Ray: Ray's runtime context would otherwise start (or
    join a stale address file's) cluster of its own.
    """
    try:
        import ray

        if ray.is_initialized():
            return str(ray.get_runtime_context().get_node_id())
    except Exception:  # an old Ray
        pass
    return ""


def fetch(box: list[Any]) -> bytes:
    """The model bytes of ``box``: ``[bytes]``, or ``[ObjectRef]`` resolved by Ray."""
    if isinstance(box[0], bytes):
        return box[0]
    import ray

    return bytes(ray.get(box[0]))


OOS_SPLIT = "validation"  # what a non-MuZero collector plays (as a local one)


class CollectorActor:
    """MuZero self-play on the train split of the checkpoint's pinned window, or (any other
    agent) greedy sessions of its validation split: a local collector's two kinds."""

    def __init__(self, name: str, cfg: Config, market: MarketData, seed: int) -> None:
        """Keep the configuration and market arrays; no weights yet.

        Args:
            name: the worker name the console shows (``collector-N``).
            cfg: the running configuration.
            market: the store's market data (resolved from the object store by Ray).
            seed: the self-play RNG's seed (mixed with the pid: a restart plays anew).
        """
        import numba
        import torch

        torch.set_num_threads(cfg.train.torch_threads)
        numba.set_num_threads(1)  # as a local collector: one core per actor
        self.name = name
        self.cfg = cfg
        self.market = market
        self.rng = np.random.default_rng([seed, os.getpid()])  # a restart plays anew
        self.player: Any = None
        self.policy: Any = None  # an out-of-sample collector's
        self.play_market: MarketData = market
        self.play_cfg: Config = cfg
        self.loaded = ""
        self.episodes_base = 0
        self.timesteps = 0
        self.played = 0
        self.node, self.node_id = node_ip(), node_id()
        logger.info("%s: actor up on %s, pid %d", name, self.node, os.getpid())

    def identity(self) -> Identity:
        """Who and where this actor is (answered between self-play steps too)."""
        return Identity(self.name, os.getpid(), self.node, self.node_id, socket.gethostname(),
                        self.loaded, time.time())

    def _load(self, weights: Weights, box: list[Any]) -> None:
        """Take new weights: fetch their bytes, rebuild or update the player.

        Raises:
            PinError: the checkpoint's pinned bars differ from the market data sent.
            CheckpointError: not a MuZero model file.
        """

        from fxconsole.agents.muzero.codec import load_model
        from fxconsole.agents.muzero.model import InferenceModel
        from fxconsole.agents.muzero.selfplay import SelfPlayer
        from fxconsole.trading.pinning import pinned_play

        data = fetch(box)
        model = load_model(data, weights.label)
        market, cfg = pinned_play(self.market, self.cfg, weights.pinned, weights.label)
        if self.player is None:
            self.player = SelfPlayer(InferenceModel(model.net), market, cfg, self.rng)
        else:
            self.player.model.net.load_state_dict(model.net.state_dict())
        self.loaded = weights.sha256
        self.timesteps = weights.timesteps
        self.episodes_base = weights.episodes
        self.played = 0
        logger.info("%s: self-play with %s @ %d timesteps", self.name, weights.label,
                    weights.timesteps)

    def play(self, task_id: str, weights: Weights, box: list[Any]) -> PlayResult:
        """Play one batch of ``muzero.envs`` sessions with ``weights``.

        Args:
            task_id: the driver's id of this task (the shard's name, the write key).
            weights: the checkpoint to play.
            box: ``[ObjectRef]`` of the model bytes (or ``[bytes]``), fetched only when
                ``weights`` is not the loaded one.
        """
        from fxconsole.agents.muzero.selfplay import SearchStats
        from fxconsole.agents.muzero.shards import shard_bytes

        if weights.agent != "muzero":
            return self._play_out_of_sample(task_id, weights, box)
        if weights.sha256 != self.loaded:
            self._load(weights, box)
        episodes = self.player.play(self.episodes_base + self.played)
        self.played += len(episodes)
        stats = self.player.stats.metrics()
        self.player.stats = SearchStats()
        meta = {"actor": self.name, "checkpoint_sha256": self.loaded,
                "checkpoint_timesteps": self.timesteps, "written": time.time(),
                "task": task_id, "node": self.node}
        rows = [EpisodeRow(float(ep.rewards.sum()), len(ep.trades), float(ep.pips()), len(ep))
                for ep in episodes]
        return PlayResult(task_id, self.name, os.getpid(), self.node,
                          shard_bytes(episodes, meta) if episodes else b"", rows,
                          sum(len(ep) for ep in episodes), self.timesteps,
                          {k: float(v) for k, v in stats.items()})

    def _play_out_of_sample(self, task_id: str, weights: Weights, box: list[Any]
                            ) -> PlayResult:
        """``workers.collector_sessions`` random greedy sessions of the validation split of
        the checkpoint's pinned window, as a local PPO collector plays them."""

        from fxconsole.agents.registry import get_agent
        from fxconsole.evaluation.backtest import play_sessions, session_pips
        from fxconsole.trading.pinning import pinned_play

        if weights.sha256 != self.loaded:
            data = fetch(box)
            market, cfg = pinned_play(self.market, self.cfg, weights.pinned, weights.label)
            self.policy = get_agent(weights.agent).load_policy(weights.manifest, data)
            self.play_market, self.play_cfg = market, cfg
            self.loaded, self.timesteps = weights.sha256, weights.timesteps
            logger.info("%s: out-of-sample play with %s @ %d timesteps", self.name,
                        weights.label, weights.timesteps)
        cfg = self.play_cfg
        pool = self.play_market.split_starts(OOS_SPLIT)
        starts = np.asarray(self.rng.choice(pool, size=min(cfg.workers.collector_sessions,
                                                           pool.size), replace=False),
                            dtype=np.int64)
        result = play_sessions(self.policy, self.play_market, starts, cfg, OOS_SPLIT)
        rows = [EpisodeRow(sum(p), len(p), sum(p), cfg.data.session_bars)
                for p in session_pips(starts, result.trades)]
        return PlayResult(task_id, self.name, os.getpid(), self.node, b"", rows,
                          len(starts) * cfg.data.session_bars, self.timesteps,
                          trades=[dict(t) for t in result.trades], agent=weights.agent)


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint sent to a validator actor (its model bytes travel apart)."""

    path: str  # its manifest's path on the driver's host: a name, never opened
    manifest: Any  # fxconsole.agents.manifest.Manifest
    label: str


@dataclass(frozen=True)
class EvaluateResult:
    """What one :meth:`ValidatorActor.evaluate` task returns to the driver."""

    task_id: str
    report_id: str  # checkpoint sha256 + split: the write key
    actor: str
    pid: int
    node: str
    sha256: str
    split: str
    evaluation: Any  # fxconsole.evaluation.validate.Evaluation
    seconds: dict[str, float] = field(default_factory=dict)


def report_id(sha256: str, split: str) -> str:
    """The id a validation's records are written once by."""
    return f"{sha256}:{split}"


class ValidatorActor:
    """Backtest, Monte Carlo and baselines of a checkpoint on its pinned window: the pure
    part of a validation (``fxconsole.evaluation.validate.evaluate``); the driver judges
    and records."""

    def __init__(self, name: str, cfg: Config, market: MarketData) -> None:
        """Keep the configuration and the market arrays.

        Args:
            name: the worker name the console shows (``validator-N``).
            cfg: the running configuration.
            market: the store's market data (resolved from the object store by Ray).
        """
        import numba

        numba.set_num_threads(1)
        try:
            import torch

            torch.set_num_threads(cfg.train.torch_threads)
        except ImportError:  # a PPO-only install plays through its exported actor
            pass
        self.name = name
        self.cfg = cfg
        self.market = market
        self.loaded = ""
        self.node, self.node_id = node_ip(), node_id()
        logger.info("%s: validator actor up on %s, pid %d", name, self.node, os.getpid())

    def identity(self) -> Identity:
        """Who and where this actor is (answered during an evaluation too)."""
        return Identity(self.name, os.getpid(), self.node, self.node_id, socket.gethostname(),
                        self.loaded, time.time())

    def evaluate(self, task_id: str, checkpoint: Checkpoint, box: list[Any], split: str,
                 runs: int | None = None, seed: int | None = None) -> EvaluateResult:
        """Evaluate ``checkpoint`` on ``split`` (``"test"``: the exam's evaluation).

        Args:
            task_id: the driver's id of this task.
            checkpoint: what to evaluate.
            box: ``[ObjectRef]`` of the model bytes (or ``[bytes]``).
            split: ``"validation"`` or ``"test"``.
            runs: Monte Carlo runs (default: the config's).
            seed: its seed (default: the config's).

        Raises:
            CheckpointError: bytes not matching the manifest's sha256, an unknown agent.
            PinError: the pinned bars differ from the market data sent.
            ValueError: the split has no sessions.
        """
        import hashlib

        from fxconsole.agents.manifest import CheckpointError
        from fxconsole.agents.registry import get_agent
        from fxconsole.evaluation.runner import checkpoint_context, context_data
        from fxconsole.evaluation.validate import evaluate

        started = time.perf_counter()
        m = checkpoint.manifest
        data = fetch(box)
        if hashlib.sha256(data).hexdigest() != m.sha256:
            raise CheckpointError(f"{checkpoint.label}: the bytes received do not match "
                                  f"its sha256")
        ctx = checkpoint_context(Path(checkpoint.path), m, self.cfg)
        if (ctx.symbol, ctx.timeframe) != (self.market.symbol, self.market.timeframe):
            raise CheckpointError(
                f"{checkpoint.label} trades {ctx.symbol} {ctx.timeframe}; the cluster's "
                f"market data is {self.market.symbol} {self.market.timeframe}")
        policy = get_agent(m.agent).load_policy(m, data)
        self.loaded = m.sha256
        loaded = time.perf_counter()
        ev = evaluate(policy, context_data(ctx, self.market), ctx.config, split, runs, seed,
                      exam=split == "test")
        logger.info("%s: %s evaluated on %s", self.name, checkpoint.label, split)
        return EvaluateResult(task_id, report_id(m.sha256, split), self.name, os.getpid(),
                              self.node, m.sha256, split, ev,
                              {"load": round(loaded - started, 3),
                               "evaluate": round(time.perf_counter() - loaded, 3)})
