"""The headless system with the MuZero agent as real processes: the trainer learns from
the collector's shards, the validator validates its checkpoints, a collector SIGKILLed
mid-play is restarted and no shard is misread, SIGTERM leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from fxconsole.agents.muzero.shards import ShardTail, read_shard
from fxconsole.config import Config, with_overrides
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore

from system_support import FXCONSOLE, alive, query, wait_for, workers  # isort: skip

pytestmark = pytest.mark.slow
CONFIG = """
[train]
agent = "muzero"
periodic_every = 2880
keep_periodic = 100
progress_seconds = 0.5
[muzero]
channels = 16
static_hidden = 4
envs = 4
checkpoint_episodes = 4
updates_per_episode = 2
batch_size = 16
[supervisor]
startsecs = 1.0
stopwaitsecs = 8.0
heartbeat_timeout = 60.0
status_seconds = 1.0
[workers]
validator_poll = 1.0
[validation]
runs = 20
sizing_runs = 10
[live]
bars_per_second = 50.0
"""


def test_the_headless_system_trains_muzero_from_collector_shards(tmp_path: Path) -> None:
    ws = tmp_path
    (ws / "fxconsole.toml").write_text(CONFIG)
    cfg = with_overrides(Config(), "synth", years=0.15, seed=12)
    with MarketStore(ws / "data" / "market.duckdb") as store:
        synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
    log = (ws / "supervisor.out").open("w")
    proc = subprocess.Popen([FXCONSOLE, "--workspace", str(ws), "--no-ui"], stdout=log,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    replay = ws / "checkpoints" / "main" / "replay"
    try:
        wait_for("all four workers RUNNING",
                 lambda: len(w := workers(ws)) == 4
                 and all(s == "RUNNING" for s, _, _ in w.values()), timeout=90)
        wait_for("episode shards from collector-1",
                 lambda: any(p.name.startswith("collector-1-") for p in replay.glob("*.npz")),
                 timeout=120)
        wait_for("episodes recorded by the collector", lambda: query(
            ws, "SELECT count(*) FROM episodes WHERE worker = 'collector-1'")[0][0] >= 4,
            timeout=60)
        wait_for("the trainer's loss terms", lambda: {k for (k,) in query(
            ws, "SELECT DISTINCT key FROM metrics WHERE worker = 'trainer'")} >= {
            "train/policy_loss", "train/value_loss", "train/reward_loss",
            "train/chance_loss", "train/afterstate_value_loss", "train/episodes",
            "replay/size", "search/root_value", "rollout/action_hold"}, timeout=120)
        rows = wait_for("a validation of a MuZero checkpoint",
                        lambda: query(ws, "SELECT timesteps, trades FROM validations"),
                        timeout=240)
        assert rows[0][0] is not None
        # a collector killed mid-play (it writes a shard per batch) is restarted
        _, pid, restarts = workers(ws)["collector-1"]
        os.kill(pid, signal.SIGKILL)
        wait_for("collector-1 restarted", lambda: workers(ws)["collector-1"][2] > restarts
                 and workers(ws)["collector-1"][0] == "RUNNING", timeout=60)
        played = "SELECT count(*) FROM episodes WHERE worker = 'collector-1'"
        before = query(ws, played)[0][0]
        wait_for("episodes played after the restart",
                 lambda: query(ws, played)[0][0] > before, timeout=120)
        for path in ShardTail(replay, 10**6).existing():
            try:
                read_shard(path)  # every shard present is whole
            except FileNotFoundError:  # pruned by the trainer meanwhile
                continue
        assert not list(replay.glob("*.bad"))
        pids = [p for _, p, _ in workers(ws).values() if p]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in pids if alive(p)]
    assert proc.returncode == 0, (ws / "supervisor.out").read_text()[-3000:]
