"""When a training run saves which checkpoint: latest, periodic, candidate (rolling SQN),
manual (the operator's checkpoint-now)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from fxconsole.agents.checkpoints import Manifest, RunCheckpoints
from fxconsole.agents.ppo.inference import actor_extras
from fxconsole.config import TrainConfig
from fxconsole.trading.metrics import TradeMetrics, rolling_record

logger = logging.getLogger(__name__)

MIN_TRADES_FOR_BEST = 30


class CheckpointPolicy:
    """Saves ``latest`` every ``latest_every`` steps, a periodic one every
    ``periodic_every``, and ``candidate`` when the rolling training SQN (over at least
    30 trades) beats the best so far. ``best`` is chosen by validation SQN (the validator
    validates each new candidate).
    """

    def __init__(
        self,
        store: RunCheckpoints,
        cfg: TrainConfig,
        config_dict: dict[str, Any],
        observation_spec: dict[str, Any],
        feature_spec_version: int,
        start_timesteps: int = 0,
        best_sqn: float | None = None,
        agent: str = "ppo",
        pinned: dict[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.pinned = pinned or {}
        self.agent = agent
        self.cfg = cfg
        self.config_dict = config_dict
        self.observation_spec = observation_spec
        self.feature_spec_version = feature_spec_version
        self.next_latest = start_timesteps + cfg.latest_every
        self.next_periodic = start_timesteps + cfg.periodic_every
        self.best_sqn = best_sqn
        self.saved: list[Manifest] = []

    def on_step(self, model: Any, timesteps: int, metrics: Callable[[], TradeMetrics],
                state: dict[str, Any]) -> None:
        """Save whatever is due at ``timesteps`` (metrics computed only when saving)."""
        tags = []
        if timesteps >= self.next_latest:
            tags.append("latest")
            self.next_latest = timesteps + self.cfg.latest_every
        if timesteps >= self.next_periodic:
            tags.append("periodic")
            self.next_periodic = timesteps + self.cfg.periodic_every
        if tags:
            self._save(model, timesteps, tags, metrics(), state)

    def final(self, model: Any, timesteps: int, metrics: TradeMetrics,
              state: dict[str, Any]) -> Manifest:
        """Save ``latest`` (and ``candidate`` if it improved) now."""
        return self._save(model, timesteps, ["latest"], metrics, state)

    def manual(self, model: Any, timesteps: int, metrics: TradeMetrics,
               state: dict[str, Any]) -> Manifest:
        """Save ``manual-<timesteps>`` and ``latest`` (and ``candidate`` if it improved)
        now; returns the manual manifest."""
        return self._save(model, timesteps, ["manual", "latest"], metrics, state)

    def _save(self, model: Any, timesteps: int, tags: list[str], m: TradeMetrics,
              state: dict[str, Any]) -> Manifest:
        if (m.trades >= MIN_TRADES_FOR_BEST and math.isfinite(m.sqn)  # NaN: undefined
                and (self.best_sqn is None or m.sqn > self.best_sqn)):
            self.best_sqn = m.sqn
            tags.append("candidate")
        manifest = self.store.save(
            model, timesteps=timesteps, tags=tags, config=self.config_dict,
            observation_spec=self.observation_spec,
            feature_spec_version=self.feature_spec_version,
            metrics=rolling_record(m),
            state={"weighting": state},
            extras=actor_extras(model), agent=self.agent, pinned=self.pinned,
        )
        logger.debug("checkpoint %s at %d timesteps (%s)", manifest.model_file, timesteps,
                     ", ".join(tags))
        self.saved.append(manifest)
        return manifest
