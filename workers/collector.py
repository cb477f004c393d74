"""The collector: plays episodes with the newest checkpoint of the run.

For PPO these are greedy sessions of the validation split of the checkpoint's pinned
window (SPEC §6.1), played with its pinned env: a continuous out-of-sample trade stream
beside the training metrics. For MuZero (``train.agent = "muzero"``) the collector is a
self-play actor: it plays train-split sessions with the search's exploration and writes
them as episode shards for the trainer (DESIGN.md "Agents"). Both reload when a newer
``latest`` appears.
"""

from __future__ import annotations

import functools
import logging
import time

import numpy as np

from fxconsole.agents.base import Policy
from fxconsole.agents.manifest import CheckpointError, read_manifest
from fxconsole.agents.registry import load_policy
from fxconsole.config import Config
from fxconsole.evaluation.backtest import play_sessions, session_pips
from fxconsole.ops.run_trades import run_trades
from fxconsole.ops.runtime import WorkerRuntime
from fxconsole.trading.market_data import MarketData, load_market_data
from fxconsole.trading.metrics import RollingTrades
from fxconsole.trading.pinning import PinError, pinned_play

logger = logging.getLogger(__name__)

SPLIT = "validation"


def main(rt: WorkerRuntime) -> None:
    """Loop: reload the newest checkpoint if it changed, play a batch of sessions, pause."""
    if rt.config.train.agent == "muzero":
        self_play(rt)
        return
    cfg = rt.config
    store_data = load_market_data(rt.workspace.market_db, cfg.data.symbol, cfg.data.timeframe)
    data, play_cfg = store_data, cfg
    rng = np.random.default_rng()
    rolling = RollingTrades(cfg.train.best_window)
    actor: Policy | None = None
    loaded_sha = ""
    episodes = 0
    latest = rt.workspace.checkpoints_dir / rt.run / "latest.json"
    while not rt.stop.is_set():
        rt.beat(episodes)
        if latest.exists() and read_manifest(latest).sha256 != loaded_sha:
            try:
                manifest, policy = load_policy(latest)
                data, play_cfg = pinned_play(store_data, cfg, manifest.pinned, str(latest))
            except CheckpointError as exc:  # mid-save or unusable: keep the previous one
                logger.warning("not reloading %s: %s", latest, exc)
            except PinError as exc:  # its pinned window changed: playing it would mislead
                logger.error("not playing %s: %s", latest, exc)
                rt.writer.event("error", "collector", f"not playing {latest.name}: {exc}", {})
                actor, loaded_sha = None, read_manifest(latest).sha256
            else:
                actor = policy
                loaded_sha = manifest.sha256
                logger.info("playing with %s @ %d timesteps", manifest.model_file,
                            manifest.timesteps)
        if actor is None:
            rt.sleep(2.0)
            continue
        episodes += play_batch(rt, actor, data, rng, rolling, play_cfg)
        rt.sleep(rt.config.workers.collector_pause)


def play_batch(rt: WorkerRuntime, actor: Policy, data: MarketData,
               rng: np.random.Generator, rolling: RollingTrades,
               cfg: Config | None = None) -> int:
    """Play ``workers.collector_sessions`` random sessions of the validation split (of the
    checkpoint's pinned window); record trades, episodes, metrics."""
    cfg = cfg or rt.config
    pool = data.split_starts(SPLIT)
    starts = rng.choice(pool, size=min(cfg.workers.collector_sessions, pool.size), replace=False)
    result = play_sessions(actor, data, np.asarray(starts, dtype=np.int64), cfg, SPLIT)
    rt.writer.trades(rolling.total, result.trades)
    for pips in session_pips(np.asarray(starts, dtype=np.int64), result.trades):
        rt.writer.episode(reward=sum(pips), trades=len(pips), pips=sum(pips),
                          length=cfg.data.session_bars)
    rolling.extend(float(t["pips"]) for t in result.trades)
    m = rolling.metrics()
    rt.writer.flush()  # the trades above, counted with every earlier one of the run
    rt.writer.write(rolling.total, {"collect/trades": float(run_trades(rt.conn, rt.run,
                                                                        ("collect",))),
                                    "collect/expectancy": m.expectancy,
                                    "collect/win_rate": m.win_rate, "collect/sqn": m.sqn})
    return result.sessions


def self_play(rt: WorkerRuntime) -> None:
    """MuZero self-play: shards for the trainer; episodes and throughput for the console."""
    import torch

    from fxconsole.agents.muzero.actor import SelfPlayActor
    from fxconsole.agents.muzero.selfplay import SearchStats

    torch.set_num_threads(rt.config.train.torch_threads)
    ws = rt.workspace
    actor = SelfPlayActor(rt.config, ws.checkpoints_dir, ws.market_db, rt.run, rt.name)
    started, episodes, steps = time.monotonic(), 0, 0
    blocked = ""
    while not rt.stop.is_set():
        rt.beat(episodes)
        try:
            ready = actor.reload()
        except PinError as exc:  # its pinned window changed: playing it would mislead
            if actor.latest.exists() and read_manifest(actor.latest).sha256 != blocked:
                blocked = read_manifest(actor.latest).sha256
                logger.error("not playing %s: %s", actor.latest, exc)
                rt.writer.event("error", "collector", f"not playing {actor.latest.name}: {exc}",
                                {})
            rt.sleep(2.0)
            continue
        if not ready:
            rt.sleep(1.0)
            continue
        played = actor.play(on_step=functools.partial(_beat_on, rt, episodes))
        if played is None:
            continue
        for ep in played.episodes:
            pips = ep.pips()
            rt.writer.episode(reward=float(ep.rewards.sum()), trades=len(ep.trades), pips=pips,
                              length=len(ep))
        episodes += len(played.episodes)
        steps += sum(len(ep) for ep in played.episodes)
        elapsed = max(time.monotonic() - started, 1e-9)
        stats = actor.player.stats.metrics() if actor.player is not None else {}
        if actor.player is not None:
            actor.player.stats = SearchStats()
        rt.writer.write(episodes, {"selfplay/episodes": float(episodes),
                                   "selfplay/episodes_per_hour": episodes * 3600.0 / elapsed,
                                   "selfplay/steps_per_s": steps / elapsed,
                                   "selfplay/checkpoint_timesteps":
                                       float(played.checkpoint_timesteps),
                                   **{f"selfplay/{k.split('/')[-1]}": v
                                      for k, v in stats.items()}})


def _beat_on(rt: WorkerRuntime, episodes: int) -> bool:
    rt.beat(episodes)
    return not rt.stop.is_set()
