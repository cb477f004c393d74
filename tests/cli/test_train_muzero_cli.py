"""``fxconsole train --agent muzero`` as a real process: collectors as child processes,
the progress line, Ctrl-C saving ``latest``, resume keeping the counters, and
``backtest`` / ``validate`` taking the MuZero checkpoint like a PPO one."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fxconsole.agents.manifest import read_manifest
from fxconsole.config import Config, with_overrides
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore
from fxconsole.workspace import Workspace

pytestmark = pytest.mark.slow
FXCONSOLE = str(Path(sys.executable).parent / "fxconsole")
CONFIG = """
[muzero]
channels = 16
static_hidden = 4
envs = 4
updates_per_episode = 1
batch_size = 16
[train]
progress_seconds = 0.5
[validation]
runs = 20
sizing_runs = 10
min_trades = 1
"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("mzcli")).ensure()
    (ws.root / "fxconsole.toml").write_text(CONFIG)
    cfg = with_overrides(Config(), "synth", years=0.1, seed=8)
    with MarketStore(ws.market_db) as store:
        synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
    return ws


def fx(ws: Workspace, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FXCONSOLE, "--workspace", str(ws.root), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_train_with_collectors_then_resume_backtest_and_validate(ws: Workspace) -> None:
    done = fx(ws, "train", "--agent", "muzero", "--timesteps", "2880", "--collectors", "1",
              "--run", "mz")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "episodes/h" in done.stdout and "loss p " in done.stdout
    run_dir = ws.checkpoints_dir / "mz"
    latest = read_manifest(run_dir / "latest.json")
    assert latest.agent == "muzero" and latest.timesteps >= 2880
    counters = latest.state["counters"]
    assert counters["episodes"] >= 8 and counters["updates"] >= 1
    shards = list((run_dir / "replay").glob("collector-1-*.npz"))
    assert shards, "the collector process wrote no shard"
    again = fx(ws, "train", "--resume", "mz", "--timesteps", "1440")
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = read_manifest(run_dir / "latest.json")
    assert resumed.agent == "muzero" and resumed.timesteps >= latest.timesteps + 1440
    assert resumed.state["counters"]["episodes"] >= counters["episodes"] + 4
    assert resumed.state["counters"]["updates"] > counters["updates"]
    outs = [ws.root / f"trades-{i}.csv" for i in range(2)]
    bt = [fx(ws, "backtest", "mz", "--trades-out", str(out)) for out in outs]
    assert all(b.returncode == 0 for b in bt), bt[0].stderr[-3000:]
    assert outs[0].read_text() == outs[1].read_text()  # a MuZero backtest is deterministic
    assert outs[0].read_text().startswith("side,entry_ts")  # (a short run may hold only)
    val = fx(ws, "validate", "mz", "--json")
    assert val.returncode == 0, val.stderr[-3000:]
    assert json.loads(val.stdout)["checkpoint"]["sha256"] == resumed.sha256


def test_ctrl_c_saves_latest(ws: Workspace) -> None:
    proc = subprocess.Popen([FXCONSOLE, "--workspace", str(ws.root), "train", "--agent",
                             "muzero", "--run", "mzint", "--timesteps", "10000000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    latest = ws.checkpoints_dir / "mzint" / "latest.json"
    deadline = time.monotonic() + 120
    while not latest.exists() or read_manifest(latest).timesteps == 0:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no episode taken in within 120 s"
        time.sleep(0.2)
    before = read_manifest(latest)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    assert "saving latest" in out
    after = read_manifest(latest)
    assert after.created != before.created and after.timesteps >= before.timesteps


def test_collectors_need_the_muzero_agent(ws: Workspace) -> None:
    done = fx(ws, "train", "--agent", "ppo", "--collectors", "2", "--timesteps", "10")
    assert done.returncode != 0
    assert "only the muzero agent has self-play collectors" in done.stderr
