"""Train Stochastic MuZero (SPEC §7): self-play episodes in, learner updates, checkpoints.

The learner ingests episodes from two sources: its own self-play (``self_play``; the
foreground ``train`` without collectors) and the shards collectors write to
``checkpoints/<run>/replay/``. It performs ``muzero.updates_per_episode`` updates per new
episode (waiting when ahead), saves ``latest`` every ``muzero.checkpoint_episodes``
episodes (a fresh run saves one at once, so collectors can start), a periodic checkpoint
every ``train.periodic_every`` timesteps, and ``candidate`` when the rolling SQN of the
self-play trades improves. A timestep is one self-play transition the learner took in.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fxconsole.agents.base import RunStart, TrainRequest, TrainResult
from fxconsole.agents.checkpoint_load import read_verified
from fxconsole.agents.checkpoints import RunCheckpoints, new_run_name, resolve_checkpoint
from fxconsole.agents.manifest import Manifest, validate_run_name
from fxconsole.agents.muzero.codec import MuZeroModel, load_model, network_shape
from fxconsole.agents.muzero.learner import Learner, Losses
from fxconsole.agents.muzero.model import InferenceModel
from fxconsole.agents.muzero.networks import MuZeroNet
from fxconsole.agents.muzero.replay import ReplayBuffer
from fxconsole.agents.muzero.selfplay import Episode, SearchStats, SelfPlayer
from fxconsole.agents.muzero.shards import REPLAY_DIR, ShardTail
from fxconsole.agents.pinned_run import pinned_training, run_pin
from fxconsole.agents.sinks import rollout_values
from fxconsole.config import config_record
from fxconsole.market.features import FEATURE_SPEC_VERSION
from fxconsole.trading.batch import gate_threshold
from fxconsole.trading.market_data import load_market_data
from fxconsole.trading.metrics import RollingTrades, rolling_record
from fxconsole.trading.spaces import observation_spec

logger = logging.getLogger(__name__)
AGENT = "muzero"
MIN_TRADES_FOR_CANDIDATE = 30
IDLE_SLEEP = 0.05
UPDATE_CHUNK = 8  # updates between two looks at new episodes and the control hook


@dataclass
class Counters:
    """The run's counters, kept in every checkpoint (resume and rollback continue them)."""

    timesteps: int = 0
    episodes: int = 0
    updates: int = 0

    def to_dict(self) -> dict[str, int]:
        """As stored in the model file and the manifest's state."""
        return dataclasses.asdict(self)


@dataclass
class Window:
    """Figures since the last progress emit."""

    episodes: int = 0
    with_trades: int = 0
    updates: int = 0
    losses: dict[str, float] = field(default_factory=dict)
    search: SearchStats = field(default_factory=SearchStats)

    def add_losses(self, losses: Losses) -> None:
        """Accumulate one update's losses."""
        self.updates += 1
        for k, v in (("loss", losses.total), *losses.terms.items()):
            self.losses[k] = self.losses.get(k, 0.0) + v


class MuZeroTraining:
    """One training call: the learner, its replay, its sources and its checkpoints."""

    def __init__(self, request: TrainRequest, self_play: bool) -> None:
        self.request = request
        cfg = request.config
        torch.set_num_threads(cfg.train.torch_threads)
        resume_manifest, resume_model = self._resolve_resume(request)
        self.run = request.run or (resume_manifest.run if resume_manifest else
                                   new_run_name(AGENT))
        validate_run_name(self.run)
        self.run_dir = request.workspace.checkpoints_dir / self.run
        data = load_market_data(request.workspace.market_db, cfg.data.symbol,
                                cfg.data.timeframe)
        self.cfg, self.data, self.pin = pinned_training(
            cfg, data, run_pin(self.run_dir, resume_manifest))
        self.mz = self.cfg.muzero
        self.gate = float(gate_threshold(self.cfg, self.data))
        if resume_model is not None:
            self.net = resume_model.net
            self.counters = Counters(**{k: resume_model.counters.get(k, 0)
                                        for k in ("timesteps", "episodes", "updates")})
            self.counters.timesteps = resume_manifest.timesteps if resume_manifest else 0
        else:
            torch.manual_seed(self.mz.seed)
            self.net = MuZeroNet(network_shape(self.mz))
            self.counters = Counters()
        self.learner = Learner(self.net, self.mz)
        if resume_model is not None and resume_model.optimizer:
            self.learner.optimizer.load_state_dict(resume_model.optimizer)
        self.learner.updates = self.counters.updates
        self.start_timesteps = self.counters.timesteps
        self.rng = np.random.default_rng(self.mz.seed + self.counters.episodes)
        self.replay = ReplayBuffer(self.mz)
        self.store = RunCheckpoints(self.run_dir, cfg.train.keep_periodic)
        self.tail = ShardTail(self.run_dir / REPLAY_DIR, self.mz.replay_shards)
        self.player = (SelfPlayer(InferenceModel(copy.deepcopy(self.net)), self.data,
                                  self.cfg, self.rng) if self_play else None)
        self.rolling = RollingTrades(cfg.train.best_window)
        self.best_sqn = self._candidate_sqn()
        self.window = Window()
        self.last_metrics: dict[str, float] = {}
        self.newest_episode = 0.0  # wall clock of the newest episode taken in
        self.total_trades = 0
        self._saved_latest_at = self.counters.episodes
        self._next_periodic = self.start_timesteps + cfg.train.periodic_every
        self._episodes_at_start = self.counters.episodes
        self._updates_at_start = self.counters.updates
        self._stop = False
        self._started = time.monotonic()

    @staticmethod
    def _resolve_resume(request: TrainRequest) -> tuple[Manifest | None, MuZeroModel | None]:
        if request.resume is None:
            return None, None
        path = resolve_checkpoint(request.resume, request.workspace.checkpoints_dir)
        manifest, data = read_verified(path, observation_spec("muzero"))
        return manifest, load_model(data, str(path))

    def _candidate_sqn(self) -> float | None:
        best = self.store.manifest("candidate") if self.run_dir.is_dir() else None
        value = best.metrics.get("rolling_sqn") if best is not None else None
        return float(value) if value is not None else None

    # the TrainingHandle of the control hook
    @property
    def num_timesteps(self) -> int:
        """Transitions taken in, the run's earlier ones included."""
        return self.counters.timesteps

    def save_manual(self) -> Manifest:
        """An operator's checkpoint-now: ``manual-<timesteps>`` and ``latest`` (and
        ``candidate`` if the rolling SQN improved), at once; returns the manual manifest."""
        return self.save(["manual", "latest"])

    def save(self, tags: list[str]) -> Manifest:
        """Write a checkpoint with ``tags`` (+ candidate when due)."""
        m = self.rolling.metrics()
        if m.trades >= MIN_TRADES_FOR_CANDIDATE and math.isfinite(m.sqn) and (
                self.best_sqn is None or m.sqn > self.best_sqn):
            self.best_sqn = m.sqn
            tags = [*tags, "candidate"]
        self.counters.updates = self.learner.updates
        model = MuZeroModel(self.net, self.learner.optimizer.state_dict(),
                            self.counters.to_dict())
        manifest = self.store.save(
            model, timesteps=self.counters.timesteps, tags=tags,
            config=config_record(self.cfg), observation_spec=observation_spec("muzero"),
            feature_spec_version=FEATURE_SPEC_VERSION,
            metrics=rolling_record(m),
            state={"counters": self.counters.to_dict()}, agent=AGENT,
            pinned=self.pin.to_dict())
        logger.debug("checkpoint %s at %d timesteps, %d episodes (%s)", manifest.model_file,
                     self.counters.timesteps, self.counters.episodes, ", ".join(tags))
        return manifest

    def _control(self) -> bool:
        control = self.request.control
        if control is not None and not control(self):
            self._stop = True
        return not self._stop

    def take(self, episodes: list[Episode], count: bool = True) -> None:
        """Add episodes to the replay; counted ones advance the counters and the metrics."""
        for ep in episodes:
            self.replay.add(ep)
            if not count:
                continue
            self.counters.episodes += 1
            self.counters.timesteps += len(ep)
            self.window.episodes += 1
            self.window.with_trades += bool(ep.trades)
            self.window.search.add_episode(ep)
            self.newest_episode = time.time()
            if ep.trades:
                self.rolling.extend(float(t["pips"]) for t in ep.trades)
                self.total_trades += len(ep.trades)
                self.request.sink.trades(self.counters.timesteps, [
                    {**t, "timesteps": self.counters.timesteps} for t in ep.trades])

    def ensure_latest(self) -> None:
        """Save ``latest`` if the run has none yet (collectors start from it)."""
        if self.store.manifest("latest") is None:
            self.save(["latest"])

    def run_loop(self, budget: int) -> None:
        """Learn until ``budget`` more timesteps were taken in or the control hook stops.

        Each round takes in what is new (its own self-play once the learner has caught
        up, the collectors' shards), then performs at most ``UPDATE_CHUNK`` updates.
        """
        self.ensure_latest()
        for shard in self.tail.poll():  # shards already on disk refill the buffer, uncounted
            self.take(shard.episodes, count=False)
        end = self.start_timesteps + budget
        last_emit = time.monotonic()
        while self._control() and self.counters.timesteps < end:
            progressed = False
            if self.player is not None and self.learner.updates >= self._update_target():
                self.player.model.net.load_state_dict(self.net.state_dict())
                self.take(self.player.play(self.counters.episodes, on_step=self._control))
                progressed = True
            for shard in self.tail.poll():
                self.take(shard.episodes)
                progressed = True
            self.tail.prune()
            for _ in range(UPDATE_CHUNK):
                if not len(self.replay) or self.learner.updates >= self._update_target() \
                        or not self._control():
                    break
                batch = self.replay.sample(self.mz.batch_size, self.rng, self.data.table)
                self.window.add_losses(self.learner.update(batch))
                progressed = True
            self._checkpoints_due()
            if time.monotonic() - last_emit >= self.cfg.train.progress_seconds:
                self.emit()
                last_emit = time.monotonic()
            if not progressed:
                time.sleep(IDLE_SLEEP)
        self.emit()
        self.save(["latest"])

    def _update_target(self) -> float:
        """Updates due for the episodes taken in so far (the replay ratio)."""
        new = self.counters.episodes - self._episodes_at_start
        return self._updates_at_start + new * self.mz.updates_per_episode

    def _checkpoints_due(self) -> None:
        tags = []
        if self.counters.episodes - self._saved_latest_at >= self.mz.checkpoint_episodes:
            tags.append("latest")
            self._saved_latest_at = self.counters.episodes
        if self.counters.timesteps >= self._next_periodic:
            tags.append("periodic")
            self._next_periodic = self.counters.timesteps + self.cfg.train.periodic_every
        if tags:
            self.save(tags)

    def snapshot(self) -> dict[str, float]:
        """The metrics of the window since the last emit (and the run's totals)."""
        w = self.window
        run_elapsed = max(time.monotonic() - self._started, 1e-9)
        values: dict[str, float] = {
            "train/timesteps": float(self.counters.timesteps),
            "train/episodes": float(self.counters.episodes),
            "train/updates": float(self.learner.updates),
            # rates over the whole call: a window without a new shard is not a stall
            "train/fps": (self.counters.timesteps - self.start_timesteps) / run_elapsed,
            "train/episodes_per_hour": (self.counters.episodes - self._episodes_at_start)
            * 3600.0 / run_elapsed,
            "train/updates_per_s": (self.learner.updates - self._updates_at_start) / run_elapsed,
            **rollout_values(self.rolling),
            "replay/size": float(len(self.replay)),
            "replay/in_trade": self.replay.in_trade_share(),
            "replay/success": float(self.replay.success_size),
            "search/simulations": float(self.mz.simulations),
        }
        if self.newest_episode:
            values["replay/age_s"] = max(time.time() - self.newest_episode, 0.0)
        if w.episodes:
            values["rollout/trade_ratio"] = w.with_trades / w.episodes
        if w.updates:
            for k, v in w.losses.items():
                values[f"train/{k}" if k == "loss" else f"train/{k}_loss"] = v / w.updates
        values.update(w.search.metrics())
        return values

    def emit(self) -> None:
        """Send the snapshot to the sink and start a new window."""
        self.last_metrics = {**self.last_metrics, **self.snapshot()}
        self.request.sink.write(self.counters.timesteps, self.last_metrics)
        self.window = Window()


def train_muzero(request: TrainRequest, self_play: bool = True,
                 collectors: Callable[[Path], Any] | None = None) -> TrainResult:
    """Train (or continue) a MuZero run; see the module docstring.

    Args:
        request: the training call (config, workspace, sink, budget, run, resume, hooks).
        self_play: whether the learner plays episodes itself (False: collectors only).
        collectors: called with the run folder once the first ``latest`` exists, to start
            self-play processes; returns a handle with ``stop()``.

    Raises:
        CheckpointError: a missing or foreign checkpoint to resume, or changed pinned bars.
    """
    training = MuZeroTraining(request, self_play)
    if request.on_start is not None:
        request.on_start(RunStart(training.run, training.run_dir, training.gate,
                                  training.start_timesteps))
    started = time.monotonic()
    budget = request.timesteps or training.cfg.train.timesteps
    handle = None
    try:
        training.ensure_latest()
        if collectors is not None:
            handle = collectors(training.run_dir)
        training.run_loop(budget)
    finally:
        if handle is not None:
            handle.stop()
    return TrainResult(training.run, training.run_dir, training.start_timesteps,
                       training.counters.timesteps, time.monotonic() - started,
                       training.gate, training.last_metrics, training.rolling.metrics(),
                       training.run_dir / "latest.json")
