"""The stable-baselines3 callback of a training run: metrics, trades, checkpoints, stop."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from fxconsole.agents.manifest import CheckpointError, Manifest
from fxconsole.agents.ppo.checkpointing import CheckpointPolicy
from fxconsole.agents.sinks import MetricsSink, rollout_values
from fxconsole.agents.weighting import LoserWeightSchedule
from fxconsole.trading.metrics import RollingTrades

# SB3's logger keys of the last optimisation → our metric keys.
PPO_LOSS_KEYS = {
    "train/policy_gradient_loss": "train/policy_loss",
    "train/value_loss": "train/value_loss",
    "train/entropy_loss": "train/entropy_loss",
    "train/approx_kl": "train/approx_kl",
    "train/clip_fraction": "train/clip_fraction",
    "train/explained_variance": "train/explained_variance",
    "train/loss": "train/loss",
}


class EpisodeCounters:
    """Per-episode counters summed over the episodes finished since the last emit."""

    def __init__(self) -> None:
        self.episodes = 0
        self.gated = 0
        self.entry_attempts = 0
        self.invalid_actions = 0
        self.with_trades = 0

    def add(self, info: dict[str, Any], trades: int) -> None:
        """Count one finished episode from its last step's info."""
        self.episodes += 1
        self.gated += int(info.get("gated", 0))
        self.entry_attempts += int(info.get("entry_attempts", 0))
        self.invalid_actions += int(info.get("invalid_actions", 0))
        self.with_trades += trades > 0

    def metrics(self) -> dict[str, float]:
        """Gate rate and invalid actions per episode (empty if no episode ended)."""
        if not self.episodes:
            return {}
        rate = self.gated / self.entry_attempts if self.entry_attempts else 0.0
        return {"rollout/gate_rate": rate,
                "rollout/invalid_actions": self.invalid_actions / self.episodes,
                "rollout/trade_ratio": self.with_trades / self.episodes,
                "rollout/episodes": float(self.episodes)}


class TrainingCallback(BaseCallback):
    """Streams metrics and trades to a sink, saves checkpoints, and asks ``control``
    (called every step with this callback) whether to go on: the CLI's Ctrl-C and the
    trainer worker's commands (pause, checkpoint-now, rollback) act through it.
    """

    def __init__(
        self,
        sink: MetricsSink,
        schedule: LoserWeightSchedule,
        checkpoints: CheckpointPolicy | None,
        rolling_window: int = 500,
        emit_seconds: float = 2.0,
        control: Callable[[TrainingCallback], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.sink = sink
        self.schedule = schedule
        self.checkpoints = checkpoints
        self.rolling = RollingTrades(rolling_window)
        self.emit_seconds = emit_seconds
        self.control = control or (lambda callback: True)
        self.clock = clock
        self._episodes = EpisodeCounters()
        self._episode_trades: list[int] = []
        self._pending: list[dict[str, Any]] = []
        self._last_emit = 0.0
        self._start_time = 0.0
        self._start_steps = 0
        self.last_metrics: dict[str, float] = {}

    def _on_training_start(self) -> None:
        self._start_time = self._last_emit = self.clock()
        self._start_steps = self.num_timesteps

    def _on_step(self) -> bool:
        infos: list[dict[str, Any]] = self.locals["infos"]
        dones = self.locals["dones"]
        if len(self._episode_trades) != len(infos):
            self._episode_trades = [0] * len(infos)
        for i, info in enumerate(infos):
            trade = info.get("trade")
            if trade is not None:
                self._pending.append({**trade, "env": i, "timesteps": self.num_timesteps,
                                      "loser_weight": info.get("loser_weight", 1.0)})
                self.rolling.extend((trade["pips"],))
                self._episode_trades[i] += 1
            if dones[i]:
                self._episodes.add(info, self._episode_trades[i])
                self._episode_trades[i] = 0
        if self.checkpoints is not None:
            self.checkpoints.on_step(self.model, self.num_timesteps, self.rolling.metrics,
                                     self.schedule.state())
        if self.clock() - self._last_emit >= self.emit_seconds:
            self.emit()
        return self.control(self)

    def _on_training_end(self) -> None:
        self.emit()
        if self.checkpoints is not None:
            self.checkpoints.final(self.model, self.num_timesteps, self.rolling.metrics(),
                                   self.schedule.state())

    def save_manual(self) -> Manifest:
        """An operator's checkpoint-now: ``manual-<timesteps>`` and ``latest``, at once.

        Raises:
            CheckpointError: if this training writes no checkpoints.
        """
        if self.checkpoints is None:
            raise CheckpointError("this training writes no checkpoints")
        return self.checkpoints.manual(self.model, self.num_timesteps, self.rolling.metrics(),
                                       self.schedule.state())

    def snapshot(self) -> dict[str, float]:
        """Current metric values (what :meth:`emit` sends)."""
        elapsed = max(self.clock() - self._start_time, 1e-9)
        values: dict[str, float] = {
            "train/timesteps": float(self.num_timesteps),
            "train/fps": (self.num_timesteps - self._start_steps) / elapsed,
            **rollout_values(self.rolling),
            "train/phase": float(self.schedule.phase),
            "train/loser_weight": self.schedule.loser_weight,
        }
        ep_info = getattr(self.model, "ep_info_buffer", None)
        if ep_info:
            values["rollout/ep_reward_mean"] = sum(e["r"] for e in ep_info) / len(ep_info)
        values.update(self._episodes.metrics())
        logged = self.model.logger.name_to_value if self.model.logger else {}
        for sb3_key, key in PPO_LOSS_KEYS.items():
            if sb3_key in logged:
                values[key] = float(logged[sb3_key])
        if "train/entropy_loss" in values:
            values["train/entropy"] = -values["train/entropy_loss"]
        return {k: float(v) for k, v in values.items()}

    def emit(self) -> None:
        """Send the metric snapshot and the trades closed since the last emit."""
        self._last_emit = self.clock()
        self.last_metrics = self.snapshot()
        if self._pending:
            self.sink.trades(self.num_timesteps, self._pending)
            self._pending = []
        self.sink.write(self.num_timesteps, self.last_metrics)
        self._episodes = EpisodeCounters()
