"""PPO (stable-baselines3) behind the Agent seam: the first agent.

Training is :func:`fxconsole.agents.ppo.train.train_ppo` (imported when training starts:
it loads torch). A checkpoint plays through its exported numpy actor, torch-free; one
saved without it falls back to stable-baselines3.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from fxconsole.agents.base import Actions, Legal, Observations, Policy, TrainRequest, TrainResult
from fxconsole.agents.manifest import Manifest
from fxconsole.agents.ppo.inference import NumpyActor


class PPOPolicy:
    """The most probable action of a PPO actor on PPO observations (n, 17).

    A policy trained unmasked (``ppo.mask_actions = false``) is played unmasked: its
    invalid actions act as HOLD (SPEC §4), as in training — imposing the legal actions
    would play another policy than the one validated. A MaskablePPO policy chooses only
    among the legal actions, as it was trained to.
    """

    observation_kind = "ppo"

    def __init__(self, act: Any, masked: bool = False) -> None:
        """``act``: observations (n, 17) and legal actions (n, 4) or None → actions (n,)."""
        self._act = act
        self.masked = masked

    def __call__(self, obs: Observations, legal: Legal) -> Actions:
        """The action of each observation."""
        return np.asarray(self._act(obs, legal if self.masked else None), dtype=np.int64)


def is_masked(manifest: Manifest) -> bool:
    """Whether the checkpoint's run trained MaskablePPO (``ppo.mask_actions``)."""
    return bool(manifest.config.get("ppo", {}).get("mask_actions", False))


class PPOAgent:
    """stable-baselines3 PPO on the 17-float observation."""

    name = "ppo"
    observation_kind = "ppo"

    def train(self, request: TrainRequest) -> TrainResult:
        """Train or continue a run (see :func:`~fxconsole.agents.ppo.train.train_ppo`)."""
        from fxconsole.agents.ppo.train import train_request

        return train_request(request)

    def load_policy(self, manifest: Manifest, model: bytes) -> Policy:
        """The checkpoint's exported actor, or the SB3 model if it has none."""
        masked = is_masked(manifest)
        actor = NumpyActor.from_zip(model)
        if actor is not None:
            return PPOPolicy(actor, masked)
        return sb3_policy(sb3_class(masked).load(io.BytesIO(model), device="cpu"), masked)


def sb3_class(masked: bool) -> Any:
    """stable-baselines3's PPO, or sb3-contrib's MaskablePPO for a masked run."""
    if masked:
        from sb3_contrib import MaskablePPO

        return MaskablePPO
    from stable_baselines3 import PPO

    return PPO


def sb3_policy(model: Any, masked: bool = False) -> PPOPolicy:
    """The most probable action of a stable-baselines3 model, as a Policy."""
    if masked:
        return PPOPolicy(lambda obs, legal: model.predict(
            obs, deterministic=True, action_masks=legal)[0], masked=True)
    return PPOPolicy(lambda obs, legal: model.predict(obs, deterministic=True)[0])
