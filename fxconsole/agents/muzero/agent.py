"""Stochastic MuZero behind the Agent seam (SPEC §7): the second agent.

Importing this module loads no torch; training and playing a checkpoint do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fxconsole.agents.base import Policy, TrainRequest, TrainResult
from fxconsole.agents.manifest import Manifest

if TYPE_CHECKING:
    from fxconsole.agents.muzero.actor import Actors


class MuZeroAgent:
    """Self-play with a batched search, a learner over a replay buffer."""

    name = "muzero"
    observation_kind = "muzero"

    def train(self, request: TrainRequest) -> TrainResult:
        """Train or continue a run (see :mod:`fxconsole.agents.muzero.train`)."""
        from fxconsole.agents.muzero.actor import spawn_actors
        from fxconsole.agents.muzero.train import train_muzero

        n = request.collectors

        def starter(run_dir: Path) -> Actors:
            return spawn_actors(request.config, request.workspace.root, run_dir.name, n)

        return train_muzero(request, self_play=request.self_play,
                            collectors=starter if n else None)

    def load_policy(self, manifest: Manifest, model: bytes) -> Policy:
        """The checkpoint's networks behind a search (``muzero.simulations`` of its run)."""
        from fxconsole.agents.muzero.codec import load_model
        from fxconsole.agents.muzero.policy import MuZeroPolicy
        from fxconsole.agents.muzero.search import SearchConfig

        mz = manifest.config.get("muzero", {})
        search = SearchConfig(simulations=int(mz.get("simulations", 5)),
                              discount=float(mz.get("discount", 0.997)))
        threads = int(manifest.config.get("train", {}).get("torch_threads", 1))
        return MuZeroPolicy(load_model(model, manifest.model_file).net, search, threads)
