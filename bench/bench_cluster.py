"""Self-play on Ray actors against local collectors (issue 15). Prints figures only.

The same workspace (``--years`` of synthetic M1 bars, an untrained ``latest`` of the
seed's networks, ``--envs`` sessions a batch) is played by, in turn:

- **local** — N ``python -m workers collector`` processes, as the supervisor starts them;
- **ray** — one ``python -m workers cluster`` process (the Ray driver, with a private
  one-host cluster in ``data/ray``) placing N collector actors;

for N in ``--actors`` (1 and 2 by default). Each run is warmed up until every collector has
written an episode, then the episodes written to ``console.sqlite`` over ``--seconds``
are counted: episodes/h. For the driver: its RSS once its actors play, and its start-up
time (process start → every actor has played a batch). Ray's figure over local's is the
goal's ratio (≥ 0.85).

    .venv/bin/python bench/bench_cluster.py [--seconds 120] [--actors 1,2] [--envs 16]
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch

from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.muzero.codec import MuZeroModel, network_shape
from fxconsole.agents.muzero.networks import MuZeroNet
from fxconsole.config import config_record, load_config, with_overrides
from fxconsole.market.features import FEATURE_SPEC_VERSION
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore
from fxconsole.trading.market_data import load_market_data
from fxconsole.trading.pinning import make_pin
from fxconsole.trading.spaces import observation_spec

logger = logging.getLogger("bench_cluster")
TOML = """
[train]
agent = "muzero"
[muzero]
envs = {envs}
[supervisor]
heartbeat_timeout = 120.0
[cluster]
backend = "ray"
collectors = {actors}
"""


@dataclass
class Figures:
    """One run's figures."""

    episodes_per_hour: float
    startup: float
    driver_rss_mb: float | None


def prepare(ws: Path, years: float, envs: int, actors: int) -> None:
    """Data, config and an untrained ``latest`` of the seed's networks."""
    (ws / "fxconsole.toml").write_text(TOML.format(envs=envs, actors=actors))
    cfg = load_config(ws / "fxconsole.toml", environ={})
    db = ws / "data" / "market.duckdb"
    if not db.exists():
        with MarketStore(db) as store:
            synthesize(store, cfg.data.symbol, cfg.data.timeframe,
                       with_overrides(cfg, "synth", years=years, seed=3).synth, cfg.data)
    if (ws / "checkpoints" / "main" / "latest.json").exists():
        return
    data = load_market_data(db, cfg.data.symbol, cfg.data.timeframe)
    torch.manual_seed(0)
    model = MuZeroModel(MuZeroNet(network_shape(cfg.muzero)), None, {"episodes": 0})
    RunCheckpoints(ws / "checkpoints" / "main").save(
        model, timesteps=0, tags=["latest"], config=config_record(cfg),
        observation_spec=observation_spec("muzero"), feature_spec_version=FEATURE_SPEC_VERSION,
        agent="muzero", pinned=make_pin(data, cfg).to_dict(), state={"counters": {}})


def spawn(ws: Path, role: str, name: str) -> subprocess.Popen[bytes]:
    """A worker process as the pool starts it (one thread each)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "NUMBA_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    log = (ws / f"{name}.out").open("ab")
    return subprocess.Popen([sys.executable, "-m", "workers", role, "--workspace", str(ws),
                             "--name", name, "--run", "main"], stdout=log,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)


def episodes(ws: Path) -> dict[str, int]:
    """Episodes written so far, by worker."""
    db = ws / "data" / "console.sqlite"
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return dict(conn.execute("SELECT worker, count(*) FROM episodes GROUP BY worker"))
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def measure(ws: Path, backend: str, n: int, seconds: float) -> Figures:
    """Run ``n`` collectors of ``backend``; episodes/h over ``seconds`` after warm-up."""
    names = [f"collector-{i + 1}" for i in range(n)]
    t0 = time.monotonic()
    procs = ([spawn(ws, "cluster", "cluster")] if backend == "ray"
             else [spawn(ws, "collector", name) for name in names])
    try:
        while not all(episodes(ws).get(name, 0) > 0 for name in names):
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a {backend} worker exited: see {ws}/*.out")
            time.sleep(0.5)
        startup = time.monotonic() - t0
        rss = psutil.Process(procs[0].pid).memory_info().rss / 2**20 if backend == "ray" \
            else None
        before, start = sum(episodes(ws).values()), time.monotonic()
        time.sleep(seconds)
        played = sum(episodes(ws).values()) - before
        rate = played * 3600.0 / (time.monotonic() - start)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
    return Figures(rate, startup, rss)


def main() -> None:
    """Parse arguments, run each configuration, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--actors", default="1,2")
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--years", type=float, default=0.5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory(prefix="fxb-") as tmp:
        for n in [int(x) for x in args.actors.split(",")]:
            figures = {}
            for backend in ("local", "ray"):
                ws = Path(tmp) / f"{backend}{n}"
                ws.mkdir()
                prepare(ws, args.years, args.envs, n)
                figures[backend] = measure(ws, backend, n, args.seconds)
            rows.append((n, figures["local"], figures["ray"]))
    print(f"self-play, seed networks, {args.envs} envs a batch, {args.seconds:.0f} s a "
          f"run, {os.cpu_count()} cores")
    print("| collectors | local episodes/h | ray episodes/h | ray / local | driver RSS "
          "| driver start-up (to every actor's first batch) |")
    print("|---|---|---|---|---|---|")
    for n, local, ray in rows:
        ratio = ray.episodes_per_hour / local.episodes_per_hour if local.episodes_per_hour \
            else float("nan")
        print(f"| {n} | {local.episodes_per_hour:,.0f} | {ray.episodes_per_hour:,.0f} | "
              f"{ratio:.2f}× | {ray.driver_rss_mb or 0:.0f} MB | {ray.startup:.1f} s "
              f"(local: {local.startup:.1f} s) |")


if __name__ == "__main__":
    main()
