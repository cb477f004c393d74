"""The cluster worker (the Ray driver) as a real process on a local two-node cluster:
actors on both nodes, episodes, metrics and shards arriving once each, the actors as
``workers`` rows with their nodes, an actor SIGKILLed and back, a restart asked through
the supervisor's command path, the driver SIGKILLed and back, a clean stop leaving no
actor."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fxconsole.agents.muzero.shards import read_shard
from fxconsole.ops import commands as cmd
from fxconsole.ops.db import connect
from fxconsole.ops.status import snapshot

from cluster_support import make_workspace, save_latest  # isort: skip
from system_support import alive, query, wait_for  # isort: skip

pytestmark = pytest.mark.slow
ACTORS = ("collector-1", "collector-2")


def start_driver(ws: Path) -> subprocess.Popen[bytes]:
    """``python -m workers cluster`` as the supervisor would start it."""
    out = (ws / "data" / "logs")
    out.mkdir(parents=True, exist_ok=True)
    with (out / "cluster.out").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "workers", "cluster", "--workspace", str(ws), "--name",
             "cluster", "--run", "main"], stdout=log, stderr=subprocess.STDOUT, cwd=ws,
            env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})


def actors(ws: Path) -> dict[str, tuple[str, int | None, int, str]]:
    """name → (state, pid, restarts, node id) of the actor rows."""
    rows = query(ws, "SELECT w.name, w.state, w.pid, w.restarts, h.info FROM workers w "
                     "LEFT JOIN heartbeats h ON h.worker = w.name WHERE w.role = 'collector'")
    return {n: (s, p, r, json.loads(i or "{}").get("node_id", "")) for n, s, p, r, i in rows}


def running(ws: Path) -> bool:
    a = actors(ws)
    return set(a) == set(ACTORS) and all(v[0] == "RUNNING" and v[1] for v in a.values())


def episodes(ws: Path, worker: str) -> int:
    return int(query(ws, "SELECT count(*) FROM episodes WHERE worker = ?", worker)[0][0])


def no_duplicates(ws: Path) -> None:
    """Each task written once: episodes = the tasks' episodes; one shard per task."""
    (n_episodes,), = query(ws, "SELECT count(*) FROM episodes")
    (n_tasks, in_tasks), = query(ws, "SELECT count(*), COALESCE(SUM(episodes), 0) "
                                     "FROM cluster_tasks")
    shards = sorted((ws / "checkpoints" / "main" / "replay").glob("*.npz"))
    assert n_episodes == in_tasks
    assert n_tasks == len(shards)
    tasks = {t for (t,) in query(ws, "SELECT task_id FROM cluster_tasks")}
    assert {p.stem for p in shards} == tasks
    assert all(len(read_shard(p).episodes) == 4 for p in shards)


def test_collectors_run_as_ray_actors_seen_like_local_workers(ray_cluster: str,
                                                                tmp_path: Path) -> None:
    ws = tmp_path
    cfg = make_workspace(ws, ray_cluster)
    driver = start_driver(ws)
    pids: list[int] = []
    try:
        wait_for("both actors RUNNING", lambda: running(ws), timeout=120)
        wait_for("episodes from both actors",
                 lambda: all(episodes(ws, a) >= 4 for a in ACTORS), timeout=180)
        nodes = {a: v[3] for a, v in actors(ws).items()}
        assert len(set(nodes.values())) == 2, nodes  # SPREAD: one actor on each node
        keys = {k for (k,) in query(ws, "SELECT DISTINCT key FROM metrics "
                                        "WHERE worker = 'collector-1'")}
        assert {"selfplay/episodes", "selfplay/episodes_per_hour", "selfplay/steps_per_s",
                "selfplay/checkpoint_timesteps"} <= keys
        conn = connect(ws / "data" / "console.sqlite")
        try:
            snap = snapshot(conn, "main")
        finally:
            conn.close()
        rows = {w["name"]: w for w in snap["workers"]}
        assert rows["collector-1"]["node"] == "127.0.0.1"
        assert rows["collector-1"]["heartbeat_age"] is not None
        assert snap["cluster"] is not None and len(snap["cluster"]["nodes"]) == 2
        assert snap["cluster"]["cpus"] == 2.0
        # an actor's process SIGKILLed: Ray restarts it, the driver counts and records it
        _, pid, restarts, _ = actors(ws)["collector-1"]
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for("collector-1 back with a new pid", lambda: (a := actors(ws)["collector-1"])[2]
                 > restarts and a[0] == "RUNNING" and a[1] != pid, timeout=120)
        assert query(ws, "SELECT count(*) FROM events WHERE kind = 'actor-restarted' "
                         "AND source = 'collector-1'")[0][0] >= 1
        before = episodes(ws, "collector-1")
        wait_for("collector-1 plays again", lambda: episodes(ws, "collector-1") > before,
                 timeout=180)
        no_duplicates(ws)
        # new weights reach the actors
        sha = save_latest(ws, cfg, seed=1, timesteps=4096)
        wait_for("episodes played with the new weights", lambda: query(
            ws, "SELECT count(*) FROM metrics WHERE key = 'selfplay/checkpoint_timesteps' "
                "AND value = 4096")[0][0] >= 1, timeout=180)
        assert sha
        # the console's r on an actor row: supervisor → forwarded → the driver restarts it
        conn = connect(ws / "data" / "console.sqlite")
        try:
            _, pid2, restarts2, _ = actors(ws)["collector-2"]
            command = cmd.enqueue(conn, "cluster", "restart-actor", {"worker": "collector-2"},
                                  issued_by="test")
            done = cmd.wait(conn, command, timeout=60)
            assert done.state == cmd.DONE, done.result
        finally:
            conn.close()
        wait_for("collector-2 restarted", lambda: (a := actors(ws)["collector-2"])[2]
                 > restarts2 and a[0] == "RUNNING" and a[1] != pid2, timeout=120)
        # the driver SIGKILLed: its actors die with it; a new driver re-creates them
        old = [v[1] for v in actors(ws).values() if v[1]]
        driver.kill()
        driver.wait(30)
        wait_for("the dead driver's actors gone", lambda: not any(alive(p) for p in old),
                 timeout=60)
        driver = start_driver(ws)
        wait_for("actors re-created by a new driver", lambda: running(ws)
                 and not {v[1] for v in actors(ws).values()} & set(old), timeout=120)
        played = sum(episodes(ws, a) for a in ACTORS)
        wait_for("episodes after the driver's restart",
                 lambda: sum(episodes(ws, a) for a in ACTORS) > played, timeout=180)
        no_duplicates(ws)
        pids = [v[1] for v in actors(ws).values() if v[1]]
    finally:
        if driver.poll() is None:
            driver.send_signal(signal.SIGTERM)
        try:
            code = driver.wait(timeout=60)
        except subprocess.TimeoutExpired:
            driver.kill()
            raise
    assert code == 0, (ws / "data" / "logs" / "cluster.out").read_text()[-3000:]
    wait_for("no actor left", lambda: not any(alive(p) for p in pids), timeout=30)
    assert {v[0] for v in actors(ws).values()} == {"STOPPED"}
