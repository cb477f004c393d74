"""A self-play actor: plays the run's newest ``latest`` on its pinned train split and
writes each batch of episodes as a shard for the learner.

The collector worker runs one (under the supervisor); ``fxconsole train --collectors N``
starts N as child processes (:func:`spawn_actors`).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import numpy as np

from fxconsole.agents.checkpoint_load import read_verified
from fxconsole.agents.manifest import CheckpointError, read_manifest
from fxconsole.agents.muzero.codec import load_model
from fxconsole.agents.muzero.model import InferenceModel
from fxconsole.agents.muzero.selfplay import Episode, SelfPlayer
from fxconsole.agents.muzero.shards import REPLAY_DIR, write_shard
from fxconsole.config import Config
from fxconsole.trading.market_data import load_market_data
from fxconsole.trading.pinning import PinError, pinned_play
from fxconsole.trading.spaces import observation_spec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Played:
    """One batch an actor played and wrote."""

    episodes: list[Episode]
    shard: Path
    checkpoint_timesteps: int


class SelfPlayActor:
    """Reloads on each new ``latest`` of its run; plays and writes shards."""

    def __init__(self, cfg: Config, checkpoints_dir: Path, market_db: Path, run: str,
                 name: str, seed: int | None = None) -> None:
        self.cfg = cfg
        self.name = name
        self.run_dir = checkpoints_dir / run
        self.latest = self.run_dir / "latest.json"
        self.store_data = load_market_data(market_db, cfg.data.symbol, cfg.data.timeframe)
        self.rng = np.random.default_rng(seed)
        self.player: SelfPlayer | None = None
        self.loaded_sha = ""
        self.timesteps = 0
        self.episodes_base = 0  # the checkpoint's episode counter (for the temperature)
        self.played = 0
        self.seq = 0

    def reload(self) -> bool:
        """Load ``latest`` if it changed; returns whether the actor has weights.

        Raises:
            PinError: the checkpoint's pinned bars changed (it must not be played).
        """
        if not self.latest.exists():
            return self.player is not None
        try:
            if read_manifest(self.latest).sha256 == self.loaded_sha:
                return True
            manifest, data = read_verified(self.latest, observation_spec("muzero"))
            model = load_model(data, str(self.latest))
        except CheckpointError as exc:  # mid-save or damaged: keep the previous weights
            logger.warning("not reloading %s: %s", self.latest, exc)
            return self.player is not None
        market, cfg = pinned_play(self.store_data, self.cfg, manifest.pinned, str(self.latest))
        if self.player is None:
            self.player = SelfPlayer(InferenceModel(model.net), market, cfg, self.rng)
        else:
            self.player.model.net.load_state_dict(model.net.state_dict())
        self.loaded_sha = manifest.sha256
        self.timesteps = manifest.timesteps
        self.episodes_base = model.counters.get("episodes", 0)
        self.played = 0
        logger.info("%s: self-play with %s @ %d timesteps", self.name, manifest.model_file,
                    manifest.timesteps)
        return True

    def play(self, on_step: Any = None) -> Played | None:
        """Play one batch with the loaded weights and write its shard (None: no weights
        yet, or abandoned by ``on_step``)."""
        if self.player is None:
            return None
        episodes = self.player.play(self.episodes_base + self.played, on_step=on_step)
        if not episodes:
            return None
        self.played += len(episodes)
        self.seq += 1
        shard = write_shard(self.run_dir / REPLAY_DIR, f"{self.name}-{os.getpid()}-{self.seq:08d}",
                            episodes, {"actor": self.name, "checkpoint_sha256": self.loaded_sha,
                                       "checkpoint_timesteps": self.timesteps,
                                       "written": time.time()})
        return Played(episodes, shard, self.timesteps)


def actor_loop(cfg: Config, checkpoints_dir: Path, market_db: Path, run: str, name: str,
               stop: Event, seed: int | None = None) -> None:
    """Play until ``stop`` is set (a child process of :func:`spawn_actors`)."""
    import torch

    torch.set_num_threads(cfg.train.torch_threads)
    actor = SelfPlayActor(cfg, checkpoints_dir, market_db, run, name, seed)
    while not stop.is_set():
        try:
            ready = actor.reload()
        except PinError as exc:
            logger.error("%s: not playing %s: %s", name, actor.latest, exc)
            return
        if not ready:
            stop.wait(0.5)
            continue
        actor.play(on_step=lambda: not stop.is_set())


class Actors:
    """Child self-play processes; ``stop()`` ends them."""

    def __init__(self, processes: list[Any], stop: Event) -> None:
        self.processes = processes
        self._stop = stop

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every actor to stop, then wait (and terminate stragglers)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for p in self.processes:
            p.join(max(deadline - time.monotonic(), 0.1))
            if p.is_alive():
                p.terminate()
                p.join(5)


def spawn_actors(cfg: Config, workspace_root: Path, run: str, n: int) -> Actors:
    """Start ``n`` self-play processes for ``run`` (spawned: no torch state is forked)."""
    from fxconsole.workspace import Workspace

    ws = Workspace(workspace_root)
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    processes = []
    for i in range(n):
        p = ctx.Process(target=actor_loop, name=f"collector-{i + 1}",
                        args=(cfg, ws.checkpoints_dir, ws.market_db, run, f"collector-{i + 1}",
                              stop, cfg.muzero.seed + 1000 * (i + 1)), daemon=True)
        p.start()
        processes.append(p)
    logger.info("started %d self-play collector process(es)", n)
    return Actors(processes, stop)
