"""Issue 17 defects 12, 13, 14 (status) and 17 (status line), through the real CLI:
piped output does not wrap at 80 columns; `status` groups its metrics by namespace and
formats numbers one way; STOPPED workers show no uptime or heartbeat; usage errors exit 2
everywhere; the headless status line labels every figure."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fxconsole.cli import main
from fxconsole.ops.db import connect
from fxconsole.ops.status import format_status_line
from fxconsole.ops.writer import MetricsWriter
from fxconsole.workspace import Workspace

LONG_RUN = "a-run-name-long-enough-to-push-the-best-validation-line-past-eighty-cols"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A console database as a system leaves it: a RUNNING and a STOPPED worker (with an
    old uptime and heartbeat), metrics of several namespaces, a best validation."""
    Workspace(tmp_path).ensure()
    conn = connect(tmp_path / "data" / "console.sqlite")
    now = time.time()
    with conn:
        conn.execute("INSERT INTO runs (name, agent, created, state, config) VALUES "
                     "(?, 'ppo', ?, 'active', '{}')", (LONG_RUN, now))
        for name, state, pid in (("trainer", "RUNNING", 4242), ("live", "STOPPED", None)):
            conn.execute("INSERT INTO workers (name, role, state, pid, started, restarts,"
                         " heartbeat_timeout, updated) VALUES (?, ?, ?, ?, ?, 0, 60, ?)",
                         (name, name, state, pid, now - 30, now))
            conn.execute("INSERT INTO heartbeats (worker, ts, pid) VALUES (?, ?, ?)",
                         (name, now - 2, pid or 1))
        conn.execute("INSERT INTO validations (ts, run, sha256, timesteps, split, validated,"
                     " sqn, expectancy, trades) VALUES (?, ?, 'ab', 1510000, 'validation',"
                     " 0, 1.234, -7921.3, 40)", (now, LONG_RUN))
    writer = MetricsWriter(conn, LONG_RUN, "trainer")
    writer.write(1_510_000, {"train/timesteps": 1_510_000.0, "train/fps": 812.4,
                             "rollout/trades": 4030.0, "rollout/win_rate": 0.523,
                             "rollout/sqn": float("nan"),
                             "train/policy_gradient_loss": -0.00123})
    writer.close()
    conn.close()
    return tmp_path


def test_piped_status_does_not_wrap_and_groups_metrics(ws: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--workspace", str(ws), "status"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    best = next(line for line in lines if line.startswith("best validation:"))
    assert best.endswith("expectancy -7,921.30 pips, not validated")  # one line, one format
    assert any(len(line) > 80 for line in lines)
    train = next(line for line in lines if line.startswith("train "))
    assert "timesteps" in train and "1,510,000" in train and "policy_gradient_loss" in train
    rollout = next(line for line in lines if line.startswith("rollout "))
    assert "4,030" in rollout and "52.3%" in rollout and "sqn" in rollout and "—" in rollout
    assert "e+0" not in out and "e-0" not in out
    assert lines.index(train) < lines.index(rollout)


def test_stopped_workers_have_no_uptime_or_heartbeat(ws: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--workspace", str(ws), "status", "--json"]) == 0
    snap = json.loads(capsys.readouterr().out)
    rows = {w["name"]: w for w in snap["workers"]}
    assert rows["live"]["uptime"] is None and rows["live"]["heartbeat_age"] is None
    assert rows["trainer"]["uptime"] >= 30 and rows["trainer"]["heartbeat_age"] >= 2
    assert snap["metrics"]["rollout/sqn"] is None  # undefined is null, not NaN
    assert main(["--workspace", str(ws), "status"]) == 0
    live = next(line for line in capsys.readouterr().out.splitlines()
                if line.strip().startswith("live"))
    assert live.split()[2:] == ["—", "—", "0", "—", "—"]  # pid, uptime, restarts, exit, beat


@pytest.mark.parametrize("argv", [
    ["ctl", "bogus"],
    ["ctl", "pause", "--force"],
    ["train", "--timesteps", "0"],
    ["validate", "x", "--runs", "0"],
])
def test_usage_errors_exit_2(tmp_path: Path, argv: list[str],
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--workspace", str(tmp_path), *argv]) == 2
    assert "fxconsole: error:" in capsys.readouterr().err


def test_the_real_command_exits_2_on_usage_errors(tmp_path: Path) -> None:
    for argv in (["ctl", "bogus"], ["bogus"]):
        done = subprocess.run([sys.executable, "-m", "fxconsole", "--workspace", str(tmp_path),
                               *argv], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr


def test_the_status_line_labels_every_figure() -> None:
    metrics = {"train/timesteps": 1_510_000.0, "train/fps": 812.0, "rollout/trades": 18_300.0,
               "rollout/win_rate": 0.523, "rollout/expectancy": 1.2}
    workers = [{"name": "trainer", "state": "RUNNING"}, {"name": "live", "state": "STOPPED"}]
    assert format_status_line("12:00:01", "main", metrics, 1.234, workers) == (
        "12:00:01 main · steps 1.51M at 812/s · trades 18.3k, 52.3% won, +1.20 pips/trade · "
        "best validation SQN +1.23 · workers 1/2 up (live STOPPED)")
    fresh = format_status_line("12:00:01", "main", {}, None, [])
    assert fresh == ("12:00:01 main · steps 0 at 0/s · trades 0 · best validation SQN — · "
                     "workers 0/0 up")
    paused = format_status_line("t", "main", {**metrics, "train/paused": 1.0}, None, [])
    assert "steps 1.51M paused ·" in paused
