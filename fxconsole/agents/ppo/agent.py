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

    PPO is trained without action masks (SPEC §4: invalid actions act as HOLD), so the
    legal actions are not imposed on its choice: imposing them would play another policy
    than the one validated.
    """

    observation_kind = "ppo"

    def __init__(self, act: Any) -> None:
        """``act``: observations (n, 17) → actions (n,)."""
        self._act = act

    def __call__(self, obs: Observations, legal: Legal) -> Actions:
        """The action of each observation."""
        return np.asarray(self._act(obs), dtype=np.int64)


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
        actor = NumpyActor.from_zip(model)
        if actor is not None:
            return PPOPolicy(actor)
        from stable_baselines3 import PPO

        return sb3_policy(PPO.load(io.BytesIO(model), device="cpu"))


def sb3_policy(model: Any) -> PPOPolicy:
    """The most probable action of a stable-baselines3 model, as a Policy."""
    return PPOPolicy(lambda obs: model.predict(obs, deterministic=True)[0])
