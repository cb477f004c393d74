"""PPO's out-of-sample collectors as Ray actors: greedy sessions of the validation split,
their trades and episodes written by the driver as a local collector writes them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fxconsole.agents.checkpoint_load import read_verified
from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.registry import get_agent
from fxconsole.cluster.actor import CollectorActor, PlayResult, Weights
from fxconsole.cluster.driver import ActorSlot, ClusterDriver
from fxconsole.cluster.session import ray_temp_dir
from fxconsole.cluster.store import ClusterStore
from fxconsole.config import Config, config_record, load_config
from fxconsole.evaluation.backtest import play_sessions
from fxconsole.ops.db import connect
from fxconsole.trading.market_data import load_market_data
from fxconsole.trading.pinning import make_pin
from fxconsole.trading.spaces import observation_spec
from fxconsole.workspace import Workspace

from cluster_support import make_workspace  # isort: skip
from live_support import save_checkpoint  # isort: skip
from system_support import alive, query, wait_for  # isort: skip

PPO_TOML = """
[train]
agent = "ppo"
[supervisor]
run = "main"
heartbeat_timeout = 60.0
[cluster]
backend = "ray"
address = "{address}"
collectors = 2
[workers]
collector_sessions = 3
collector_pause = 0.2
"""
LONG = 1  # the always-long policy: every session ends with a trade at least


def ppo_workspace(ws: Path, address: str) -> Config:
    """Synthetic data, a PPO config with two collector actors, and a PPO ``latest``."""
    make_workspace(ws, address)
    (ws / "fxconsole.toml").write_text(PPO_TOML.format(address=address))
    save_checkpoint(ws, "main", LONG)
    return load_config(ws / "fxconsole.toml", environ={})


def start_driver(ws: Path, **env: str) -> subprocess.Popen[bytes]:
    """The cluster worker of run main, its output in ``data/logs/cluster.out``."""
    (ws / "data" / "logs").mkdir(parents=True, exist_ok=True)
    with (ws / "data" / "logs" / "cluster.out").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "workers", "cluster", "--workspace", str(ws), "--name",
             "cluster", "--run", "main"], stdout=log, stderr=subprocess.STDOUT, cwd=ws,
            env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **env})


def stop_driver(ws: Path, driver: subprocess.Popen[bytes]) -> None:
    if driver.poll() is None:
        driver.send_signal(signal.SIGTERM)
    code = driver.wait(timeout=60)
    assert code == 0, (ws / "data" / "logs" / "cluster.out").read_text()[-3000:]


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line mentions ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text in (proc / "cmdline").read_bytes().decode(
                    errors="replace"):
                found.append(int(proc.name))
        except OSError:  # gone meanwhile
            continue
    return [pid for pid in found if alive(pid)]


def weights_of(ws: Path) -> tuple[Weights, bytes]:
    latest = ws / "checkpoints" / "main" / "latest.json"
    manifest, data = read_verified(latest, observation_spec("ppo"))
    return Weights(manifest.sha256, manifest.timesteps, 0, dict(manifest.pinned),
                   f"main/{manifest.model_file}", manifest.agent, manifest), data


def test_a_ppo_collector_actor_plays_greedy_validation_sessions(tmp_path: Path) -> None:
    cfg = ppo_workspace(tmp_path, "127.0.0.1:1")
    market = load_market_data(tmp_path / "data" / "market.duckdb", cfg.data.symbol,
                              cfg.data.timeframe)
    weights, data = weights_of(tmp_path)
    actor = CollectorActor("collector-1", cfg, market, seed=5)  # the pure part, here
    actor.rng = np.random.default_rng(7)
    result = actor.play("t-1", weights, [data])
    assert result.agent == "ppo" and result.shard == b""
    pool = market.split_starts("validation")
    starts = np.random.default_rng(7).choice(pool, size=cfg.workers.collector_sessions,
                                             replace=False).astype(np.int64)
    assert len(result.episodes) == cfg.workers.collector_sessions
    assert {int(t["session_start_index"]) for t in result.trades} <= set(starts.tolist())
    assert result.steps == cfg.workers.collector_sessions * cfg.data.session_bars
    assert sum(e.pips for e in result.episodes) == pytest.approx(
        sum(float(t["pips"]) for t in result.trades))
    assert sum(e.trades for e in result.episodes) == len(result.trades) > 0
    # the same sessions, the same trades as a local collector's
    policy = get_agent("ppo").load_policy(weights.manifest, data)
    local = play_sessions(policy, market, starts, cfg, "validation")
    assert [(t["session_start_index"], t["pips"]) for t in local.trades] == \
        [(t["session_start_index"], t["pips"]) for t in result.trades]


def result_with(trades: list[dict[str, object]], task_id: str = "t-1") -> PlayResult:
    from fxconsole.cluster.actor import EpisodeRow

    pips = sum(float(t["pips"]) for t in trades)  # type: ignore[arg-type]
    return PlayResult(task_id, "collector-1", 1, "127.0.0.1", b"",
                      [EpisodeRow(pips, len(trades), pips, 10)], 10, 1000,
                      trades=trades, agent="ppo")


TRADE = {"side": "long", "pips": 3.5, "entry_ts": 1.0, "exit_ts": 2.0, "bars_held": 1,
         "session_start_index": 0}


def test_a_batch_of_trades_written_twice_is_written_once(tmp_path: Path) -> None:
    cfg = ppo_workspace(tmp_path, "127.0.0.1:1")
    ws = Workspace(tmp_path)
    conn = connect(ws.console_db)
    store = ClusterStore(conn, "main", ws.checkpoints_dir)
    driver = ClusterDriver(cfg, ws, "main", store)
    slot = ActorSlot("collector-1", 0)
    driver.slots[slot.name] = slot
    loss = {**TRADE, "pips": -1.5}
    driver._take(slot, result_with([TRADE, loss]))
    driver._take(slot, result_with([TRADE, loss]))  # Ray retried the task: same id
    rows = conn.execute("SELECT worker, source, side, pips FROM trades ORDER BY id").fetchall()
    assert rows == [("collector-1", "collect", "long", 3.5), ("collector-1", "collect", "long",
                                                               -1.5)]
    assert conn.execute("SELECT count(*) FROM episodes").fetchone()[0] == 1
    assert slot.episodes == 1 and slot.rolling is not None and slot.rolling.total == 2
    metrics = dict(conn.execute("SELECT key, value FROM metrics").fetchall())
    assert metrics["collect/trades"] == 2.0
    assert metrics["collect/expectancy"] == pytest.approx(1.0)
    assert metrics["collect/win_rate"] == pytest.approx(0.5)
    assert "selfplay/episodes" not in metrics
    # the next batch rests as a local collector does
    assert slot.not_before > driver.clock()
    driver._take(slot, result_with([TRADE], "t-2"))
    assert conn.execute("SELECT count(*) FROM trades").fetchone()[0] == 3
    assert conn.execute("SELECT max(value) FROM metrics WHERE key = 'collect/trades'"
                        ).fetchone()[0] == 3.0


@pytest.mark.slow
def test_ppo_collectors_run_as_ray_actors(ray_cluster: str, tmp_path: Path) -> None:
    ws = tmp_path
    ppo_workspace(ws, ray_cluster)
    driver = start_driver(ws)
    pids: list[int] = []
    try:
        wait_for("trades of both collector actors", lambda: len(query(
            ws, "SELECT DISTINCT worker FROM trades WHERE source = 'collect'")) == 2,
            timeout=120)
        rows = query(ws, "SELECT name, role, state, pid FROM workers WHERE role = 'collector'"
                         " ORDER BY name")
        assert [r[:2] for r in rows] == [("collector-1", "collector"),
                                         ("collector-2", "collector")]
        pids = [r[3] for r in rows if r[3]]
        episodes = query(ws, "SELECT worker, count(*), sum(trades) FROM episodes"
                             " GROUP BY worker ORDER BY worker")
        assert [e[0] for e in episodes] == ["collector-1", "collector-2"]
        assert all(n % 3 == 0 for _, n, _ in episodes)  # whole batches of 3 sessions
        keys = {k for (k,) in query(ws, "SELECT DISTINCT key FROM metrics")}
        assert {"collect/trades", "collect/expectancy", "collect/sqn"} <= keys
    finally:
        stop_driver(ws, driver)
    total = query(ws, "SELECT count(*) FROM trades")[0][0]
    episodes_trades = query(ws, "SELECT sum(trades) FROM episodes")[0][0]
    assert total == episodes_trades  # no batch written twice, none half-written
    for pid in pids:
        wait_for("no actor left", lambda pid=pid: not alive(pid), timeout=30)


@pytest.mark.slow
def test_a_private_cluster_stays_on_loopback_in_the_workspace_and_ends_with_its_driver(
        tmp_path: Path) -> None:
    ws = tmp_path
    ppo_workspace(ws, "")  # no address: the driver starts a cluster of its own
    toml = ws / "fxconsole.toml"
    toml.write_text(toml.read_text().replace("collectors = 2", "collectors = 1"))
    temp = ray_temp_dir(ws / "data")
    home = ws / "home"  # where Ray would write a token of its own
    home.mkdir()
    driver = start_driver(ws, HOME=str(home))
    try:
        wait_for("trades of the collector actor", lambda: query(
            ws, "SELECT 1 FROM trades WHERE worker = 'collector-1' LIMIT 1"), timeout=120)
        (info,), = query(ws, "SELECT info FROM heartbeats WHERE worker = 'collector-1'")
        assert json.loads(info)["node"] == "127.0.0.1"  # never the host's routable address
        (info,), = query(ws, "SELECT info FROM heartbeats WHERE worker = 'cluster'")
        assert [n["ip"] for n in json.loads(info)["nodes"]] == ["127.0.0.1"]
        assert any(temp.glob("session_*")), "Ray's session files belong in the workspace"
        assert processes_mentioning(str(temp))  # its raylet and GCS
    finally:
        stop_driver(ws, driver)
    wait_for("no Ray process of the private cluster left",
             lambda: not processes_mentioning(str(temp)), timeout=30)
    assert not (home / ".ray").exists()  # its token lived in its processes' environment only


PASSING = """
[validation]
beat_baselines = false
p5_final_pips = -1000000.0
min_dsr = 0.0
test_expectancy = -1000000.0
min_trades = 1
runs = 20
sizing_runs = 10
[workers]
validator_poll = 0.5
"""


@pytest.mark.slow
def test_a_validator_actor_examines_a_checkpoint_that_passes(ray_cluster: str,
                                                           tmp_path: Path) -> None:
    ws = tmp_path
    ppo_workspace(ws, ray_cluster)
    toml = ws / "fxconsole.toml"  # one validator actor, no collector; a rule any trader passes
    text = toml.read_text().replace("collectors = 2", "collectors = 0\nvalidators = 1")
    toml.write_text(text.split("[workers]")[0] + PASSING)
    cfg = load_config(toml, environ={})
    data = load_market_data(ws / "data" / "market.duckdb", cfg.data.symbol, cfg.data.timeframe)
    m = save_checkpoint(ws, "main", LONG, tags=("candidate",), config=config_record(cfg),
                        pinned=make_pin(data, cfg).to_dict())
    driver = start_driver(ws)
    try:
        wait_for("the validation and the exam recorded, then the event", lambda: query(
            ws, "SELECT 1 FROM events WHERE kind = 'validation'"), timeout=120)
        rows = query(ws, "SELECT split, sha256, validated FROM validations ORDER BY split")
        assert rows == [("test", m.sha256, 1), ("validation", m.sha256, 1)]
        run = RunCheckpoints(ws / "checkpoints" / "main")
        validated, best = run.manifest("validated"), run.manifest("best")
        assert validated is not None and validated.sha256 == m.sha256
        assert best is not None and best.sha256 == m.sha256
        (path,), = query(ws, "SELECT report_path FROM validations WHERE split = 'validation'")
        report = json.loads(Path(path).read_text())
        verdict = report["verdict"]
        assert verdict["validated"] and verdict["validation_passed"] and verdict["test_passed"]
        assert report["stages"]["test"]["split"] == "test"  # the actor's test-split evaluation
    finally:
        stop_driver(ws, driver)
    # examined once: nothing more recorded by the time the driver has stopped
    assert query(ws, "SELECT count(*) FROM validations")[0][0] == 2
