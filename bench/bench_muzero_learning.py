"""Learning is real? Stochastic MuZero on synthetic bars with a planted signal (issue 13).

Synthesises ``--years`` (1.5) of GBPJPY-like M1 bars with ``synth.signal = --signal`` (3)
into a temporary workspace, prints the validation-split baselines of
``bench_learning.py`` (always flat, random, the momentum rule), then trains MuZero the
way the supervisor runs it: the learner in this process (``self_play = False``) and
``--collectors`` (1) self-play processes writing episode shards, for ``--minutes`` (30)
of wall time — on this 2-core machine one core each. A periodic checkpoint every
``--every`` timesteps (self-play transitions taken in). After training, each periodic
checkpoint (and the final ``latest``) is backtested on the validation split and judged
by the real promotion path (deflated SQN with K = the run's checkpoints validated so far,
the test exam only after a validation pass), in timestep order. Prints figures; asserts
nothing. Every SPEC §7 default is used unless ``--set muzero.KEY=VALUE`` says otherwise.

    .venv/bin/python bench/bench_muzero_learning.py [--minutes 30] [--collectors 1]
        [--every 150000] [--signal 3] [--years 1.5] [--set muzero.simulations=5]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from fxconsole.agents.base import TrainRequest
from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.muzero.actor import spawn_actors
from fxconsole.agents.muzero.train import train_muzero
from fxconsole.agents.registry import load_policy
from fxconsole.agents.sinks import MemorySink
from fxconsole.config import Config, with_overrides
from fxconsole.evaluation.backtest import run_backtest
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore
from fxconsole.ops.db import connect
from fxconsole.trading.market_data import load_market_data
from fxconsole.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))
from bench_learning import (  # isort: skip
    HEADER, CheckpointRow, apply_assignments, judge, print_baselines, row)

RUN = "muzero"


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="training wall time")
    parser.add_argument("--collectors", type=int, default=1, help="self-play processes")
    parser.add_argument("--every", type=int, default=150_000,
                        help="periodic checkpoint every this many timesteps")
    parser.add_argument("--signal", type=float, default=3.0, help="synth.signal")
    parser.add_argument("--years", type=float, default=1.5, help="years of bars")
    parser.add_argument("--seed", type=int, default=0, help="random baseline seed")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a config override (repeatable)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp)).ensure()
        cfg = with_overrides(Config(), "synth", years=args.years, signal=args.signal, seed=3)
        cfg = with_overrides(cfg, "train", agent="muzero", periodic_every=args.every,
                             keep_periodic=1000)
        cfg = apply_assignments(cfg, args.set)
        with MarketStore(ws.market_db) as store:
            s = synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
        print(f"signal {args.signal:g}: {s.rows_stored:,} bars ({args.years:g} years), "
              f"sessions {s.build.sessions}")
        data = load_market_data(ws.market_db, cfg.data.symbol, cfg.data.timeframe)
        sessions = print_baselines(data, cfg, args.seed)
        deadline = time.monotonic() + args.minutes * 60.0
        sink = MemorySink()
        started = datetime.now(UTC)
        t0 = time.monotonic()
        result = train_muzero(
            TrainRequest(cfg, ws, sink, timesteps=10**12, run=RUN,
                         control=lambda handle: time.monotonic() < deadline),
            self_play=args.collectors == 0,
            collectors=(lambda run_dir: spawn_actors(cfg, ws.root, run_dir.name,
                                                     args.collectors))
            if args.collectors else None)
        took = time.monotonic() - t0
        m = result.metrics
        print(f"\n== MuZero: {args.collectors} collector(s) + learner for {took / 60:.1f} min: "
              f"{result.timesteps:,} timesteps, {m.get('train/episodes', 0):,.0f} episodes "
              f"({m.get('train/episodes_per_hour', 0):,.0f}/h), "
              f"{m.get('train/updates', 0):,.0f} updates "
              f"({m.get('train/updates_per_s', 0):.2f}/s); last losses: "
              + ", ".join(f"{k.removeprefix('train/')} {v:.3f}" for k, v in m.items()
                          if k.startswith("train/") and k.endswith("_loss")))
        print(f"self-play (with exploration) trades {m.get('rollout/trades', 0):,.0f}, "
              f"rolling win {m.get('rollout/win_rate', 0):.1%}, expectancy "
              f"{m.get('rollout/expectancy', 0):+.2f} pips")
        print(HEADER)
        conn = connect(ws.console_db)
        run_store = RunCheckpoints(result.run_dir)
        manifests = [mf for mf in run_store.list() if mf.tag.startswith("periodic")]
        latest = run_store.manifest("latest")
        if latest is not None and all(mf.timesteps != latest.timesteps for mf in manifests):
            manifests.append(latest)
        try:
            for mf in sorted(manifests, key=lambda mf: mf.timesteps):
                path = result.run_dir / f"{mf.tag}.json"
                r = CheckpointRow(mf.timesteps, datetime.fromisoformat(mf.created))
                _, policy = load_policy(path)
                b0 = time.monotonic()
                bt = run_backtest(policy, data, "validation", cfg)
                print(row(f"muzero @ {mf.timesteps:,}", bt.pips, sessions)
                      + f"  [backtest {time.monotonic() - b0:.0f} s, "
                        f"{(r.created - started).total_seconds() / 60:.1f} min in]")
                print(judge(path, cfg, ws, conn, r))
        finally:
            conn.close()


if __name__ == "__main__":
    main()
