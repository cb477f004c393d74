"""The head of the cluster lost under a running driver: the driver's process ends with an
error (the supervisor's cue to fall back to local collectors, tested in
test_cluster_pool.py), and a driver started while no head answers records
``cluster-lost`` and exits 69 instead of hanging."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fxconsole.cluster.session import HEAD_TIMEOUT_ENV

from cluster_support import NODE, RAY_ENV, make_workspace  # isort: skip
from system_support import query, wait_for  # isort: skip

pytestmark = pytest.mark.slow


def start_driver(ws: Path) -> subprocess.Popen[bytes]:
    log = (ws / "cluster.out").open("ab")
    env = {k: v for k, v in os.environ.items() if k != HEAD_TIMEOUT_ENV}  # the config's
    return subprocess.Popen([sys.executable, "-m", "workers", "cluster", "--workspace",
                             str(ws), "--name", "cluster", "--run", "main"], stdout=log,
                            stderr=subprocess.STDOUT, env=env)


def test_a_lost_head_ends_the_driver_and_a_new_one_reports_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ray.cluster_utils import Cluster

    for k, v in RAY_ENV.items():
        monkeypatch.setenv(k, v)
    short = tempfile.mkdtemp(prefix="fxr")  # Ray's socket paths must fit 107 characters
    monkeypatch.setenv("RAY_TMPDIR", short)
    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE))
    driver = None
    try:
        cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        ws = tmp_path / "ws"
        ws.mkdir()
        make_workspace(ws, str(cluster.address))
        toml = ws / "fxconsole.toml"  # the head's silence ends the driver after 5 s, not 60
        toml.write_text(toml.read_text().replace("[cluster]", "[cluster]\nhead_timeout = 5.0"))
        driver = start_driver(ws)
        wait_for("episodes from the actors", lambda: (q := query(
            ws, "SELECT count(*) FROM episodes")) and q[0][0] > 0, timeout=120)
        cluster.remove_node(cluster.head_node)
        # cluster.head_timeout (5 s) ends it well before Ray's default 60 s would
        assert driver.wait(timeout=45) != 0
        again = start_driver(ws)
        assert again.wait(timeout=60) == 69
        lost = query(ws, "SELECT level, message FROM events WHERE kind = 'cluster-lost'")
        assert lost and lost[0][0] == "error" and "no Ray head answers" in lost[0][1]
    finally:
        if driver is not None and driver.poll() is None:
            driver.kill()
        cluster.shutdown()
        shutil.rmtree(short, ignore_errors=True)
