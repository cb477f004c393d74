"""The collector: plays greedy out-of-sample episodes with the newest checkpoint.

For PPO these are sessions of the validation split of the checkpoint's pinned window
(SPEC §6.1), played with its pinned env: a continuous trade stream beside the training
metrics. It reloads when a newer checkpoint appears.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from fxconsole.agents.base import Policy
from fxconsole.agents.manifest import CheckpointError, read_manifest
from fxconsole.agents.registry import load_policy
from fxconsole.config import Config
from fxconsole.evaluation.backtest import play_sessions
from fxconsole.ops.runtime import WorkerRuntime
from fxconsole.trading.market_data import MarketData, load_market_data
from fxconsole.trading.metrics import RollingTrades
from fxconsole.trading.pinning import PinError, pin_of, pinned_config, pinned_data

logger = logging.getLogger(__name__)

SPLIT = "validation"


def main(rt: WorkerRuntime) -> None:
    """Loop: reload the newest checkpoint if it changed, play a batch of sessions, pause."""
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


def pinned_play(data: MarketData, cfg: Config, pinned: dict[str, Any], source: str
                ) -> tuple[MarketData, Config]:
    """The data and config a checkpoint plays: split and env as its run is pinned to.

    Raises:
        PinError: its pinned windows' bars changed, or a malformed pin.
    """
    pin = pin_of(pinned, source)
    if pin is None:
        return data, cfg
    return pinned_data(data, pin), pinned_config(cfg, pin)


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
    per_session: dict[int, list[float]] = {int(s): [] for s in starts}
    for t in result.trades:
        per_session[t["session_start_index"]].append(float(t["pips"]))
    for pips in per_session.values():
        rt.writer.episode(reward=sum(pips), trades=len(pips), pips=sum(pips),
                          length=cfg.data.session_bars)
    rolling.extend(float(t["pips"]) for t in result.trades)
    m = rolling.metrics()
    rt.writer.write(rolling.total, {"collect/trades": float(rolling.total),
                                    "collect/expectancy": m.expectancy,
                                    "collect/win_rate": m.win_rate, "collect/sqn": m.sqn})
    return result.sessions
