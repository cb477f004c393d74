"""The opt-in tuner worker as a real process: runs the [tune] study, records its trials,
says so in events, beats while training, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fxconsole.cli import main
from fxconsole.config import load_config
from fxconsole.ops.pool import program_specs
from fxconsole.workspace import Workspace


def rows(ws: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(ws / "data" / "console.sqlite", timeout=10)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("ws")
    assert main(["--workspace", str(ws), "data", "synth", "--years", "0.1", "--seed", "5"]) == 0
    (ws / "fxconsole.toml").write_text(
        "[ppo]\nn_envs = 2\n[supervisor]\ntuner = true\n"
        '[tune]\nstudy = "w"\ntrials = 1\ntrial_seconds = 3.0\nreports = 1\n')
    return ws


def test_the_supervisor_starts_a_tuner_only_when_asked(workspace: Path) -> None:
    cfg = load_config(workspace / "fxconsole.toml")
    names = [s.name for s in program_specs(cfg, Workspace(workspace), "main")]
    assert "tuner" in names
    default = [s.name for s in program_specs(load_config(None), Workspace(workspace), "main")]
    assert "tuner" not in default


def test_the_tuner_runs_its_study_and_stops_on_sigterm(workspace: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "workers", "tuner", "--workspace",
                             str(workspace), "--run", "main"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not rows(workspace, "SELECT 1 FROM events WHERE kind = 'tuning' AND message"
                                  " LIKE '%has its 1 trials%'"):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the study never finished"
            time.sleep(0.3)
        assert rows(workspace, "SELECT run, state FROM tuning_trials") == [
            ("tune-w-000", "COMPLETE")]
        messages = [str(r[0]) for r in rows(
            workspace, "SELECT message FROM events WHERE kind = 'tuning' ORDER BY id")]
        assert messages[0].startswith("study w: trial 0 complete, validation SQN")
        assert rows(workspace, "SELECT worker FROM heartbeats") == [("tuner",)]
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert (workspace / "checkpoints" / "tune-w-000" / "latest.json").exists()
