"""PPO end-to-end training speed on this machine, for the defaults and a few peers.

Each configuration trains from scratch in the same process on the default synthetic
data (generated into a temporary workspace if ``--workspace`` has none) and prints its
timesteps per second, including rollout collection, optimisation, metrics and
checkpoints. Prints figures only.

    .venv/bin/python bench/bench_ppo.py [--timesteps 61440] [--million]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from fxconsole.agents.ppo.train import train_ppo
from fxconsole.agents.sinks import MemorySink
from fxconsole.config import Config, with_overrides
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore
from fxconsole.workspace import Workspace

VARIANTS: dict[str, dict[str, int]] = {
    "defaults (8 envs × 256 steps, batch 512)": {},
    "4 envs × 512 steps, batch 256": {"n_envs": 4, "n_steps": 512, "batch_size": 256},
    "4 envs × 512 steps, batch 512": {"n_envs": 4, "n_steps": 512},
    "8 envs × 256 steps, batch 256": {"batch_size": 256},
    "16 envs × 128 steps, batch 512": {"n_envs": 16, "n_steps": 128},
    "8 envs, batch 64": {"batch_size": 64},
}


def ensure_data(ws: Workspace, cfg: Config) -> None:
    """Synthesise the default data set if the workspace has none."""
    if not ws.market_db.exists():
        with MarketStore(ws.market_db) as store:
            synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)


def measure(ws: Workspace, cfg: Config, timesteps: int, run: str) -> float:
    """Timesteps per second of one training call (after a warm-up call)."""
    started = time.perf_counter()
    result = train_ppo(cfg, ws, MemorySink(), timesteps=timesteps, run=run)
    return result.timesteps / (time.perf_counter() - started)


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timesteps", type=int, default=61_440)
    parser.add_argument("--workspace", type=Path)
    parser.add_argument("--million", action="store_true", help="also time 1M default steps")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(args.workspace or Path(tmp)).ensure()
        base = Config()
        ensure_data(ws, base)
        measure(ws, base, 4096, "bench-warmup")  # numba, torch and data caches
        results: dict[str, float] = {}
        for name, overrides in VARIANTS.items():
            cfg = with_overrides(base, "ppo", **overrides) if overrides else base
            results[name] = measure(ws, cfg, args.timesteps, f"bench-{len(results)}")
            print(f"{name:<40} {results[name]:>8,.0f} steps/s", flush=True)
        first = next(iter(results.values()))
        print(f"defaults vs best variant: {first / max(results.values()):.2f}")
        if args.million:
            started = time.perf_counter()
            train_ppo(base, ws, MemorySink(), timesteps=1_000_000, run="bench-million")
            took = time.perf_counter() - started
            print(f"1M timesteps with the defaults: {took:.0f} s ({1e6 / took:,.0f} steps/s)")


if __name__ == "__main__":
    main()
