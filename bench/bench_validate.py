"""Time a whole ``fxconsole validate`` of a PPO checkpoint, start-up included.

Uses ``--workspace`` (default: a temporary one with the default 3.5-year synthetic data
set), trains a short PPO run there if it has no checkpoint, then runs the real command
as a subprocess several times (200 Monte Carlo runs, default validation split) and prints
the wall times. Prints figures only.

    .venv/bin/python bench/bench_validate.py [--workspace DIR] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fxconsole.agents.ppo.train import train_ppo
from fxconsole.agents.sinks import MemorySink
from fxconsole.config import Config
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore
from fxconsole.workspace import Workspace

RUN = "bench-validate"


def prepare(ws: Workspace) -> None:
    """Default data and a short PPO run, unless already there."""
    cfg = Config()
    if not ws.market_db.exists():
        with MarketStore(ws.market_db) as store:
            synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
    if not (ws.checkpoints_dir / RUN / "latest.json").exists():
        train_ppo(cfg, ws, MemorySink(), timesteps=20_480, run=RUN)


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(args.workspace or Path(tmp)).ensure()
        prepare(ws)
        entry = Path(sys.executable).parent / "fxconsole"
        command = [str(entry), "--workspace", str(ws.root), "validate", RUN, "--runs", "200",
                   "--json"]
        times = []
        for _ in range(args.repeat + 1):  # the first run also fills numba's cache
            started = time.perf_counter()
            out = subprocess.run(command, capture_output=True, text=True, check=True)
            times.append(time.perf_counter() - started)
        report = json.loads(out.stdout)
        runs = times[1:]
        print(f"validation split: {report['policy']['sessions']} sessions, "
              f"{report['policy']['trades']:,} checkpoint trades, "
              f"{report['baselines']['random']['trades']:,} random-baseline trades")
        sec = report["seconds"]
        print(f"inside the process: load {sec['load']:.2f} s, evaluate {sec['evaluate']:.2f} s"
              f" (checkpoint and its cost stress {sec['checkpoint_and_stress']:.2f}, baselines "
              f"{sec['baselines']:.2f}, safe-f {sec['sizing']:.2f}), whole validation "
              f"{sec['total']:.2f} s")
        print(f"verdict: {'VALIDATED' if report['verdict']['validated'] else 'not validated'}"
              f", DSR {report['deflated']['dsr']:.3f} (K={report['k']['validation']}), "
              f"safe-f {report['sizing']['safe_f']:.3f}, "
              f"{report['sizing']['horizon_trades']:,} trades per sizing run")
        print(f"fxconsole validate (200 runs, incl. start-up and the PNG chart): "
              f"best {min(runs):.2f} s, median {statistics.median(runs):.2f} s "
              f"(first, cold cache: {times[0]:.2f} s); target ≤ 5 s")


if __name__ == "__main__":
    main()
