"""``fxconsole live`` and ``python -m workers live`` as real processes on the paper broker.

The crash test kills the trader with SIGKILL right after the paper broker filled an order
and before the journal recorded it (the ``FXCONSOLE_FAULT=after-send`` hook); the restart
must find the fill at the broker instead of sending a second order.
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.ppo.inference import ACTOR_MEMBER
from fxconsole.cli import main
from fxconsole.ops.commands import enqueue
from fxconsole.ops.db import connect
from fxconsole.trading.core import BUY
from fxconsole.trading.spaces import observation_spec

# Synthetic paper bars (no market store needed), a short feature window, fast play.
CONFIG = """
[data]
mm_window = 240
[env]
gating = false
[live]
paper_source = "synth"
history_bars = 400
bars_per_second = 20.0
unknown_grace_seconds = 0.0
"""


class _Model:
    """Anything with SB3's ``save``: the checkpoint's zip holds only the exported actor."""

    def save(self, buffer: io.BytesIO) -> None:
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("data", "{}")


def save_checkpoint(ws: Path, run: str, action: int, spec: dict[str, Any] | None = None) -> None:
    """A checkpoint whose actor always chooses ``action``."""
    weights = {"w0": np.zeros((4, 17), np.float32), "b0": np.zeros(4, np.float32),
               "w1": np.zeros((4, 4), np.float32), "b1": np.eye(4, dtype=np.float32)[action],
               "activation": np.array("Tanh")}
    npz = io.BytesIO()
    np.savez(npz, **weights)  # type: ignore[arg-type]
    RunCheckpoints(ws / "checkpoints" / run).save(
        _Model(), 1000, ["latest"], config={}, observation_spec=spec or observation_spec("ppo"),
        feature_spec_version=1, extras={ACTOR_MEMBER: npz.getvalue()}, agent="ppo")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "fxconsole.toml").write_text(CONFIG)
    save_checkpoint(tmp_path, "buyer", BUY)
    return tmp_path


def query(ws: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(ws / "data" / "console.sqlite", timeout=10)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def live(ws: Path, *args: str, env: dict[str, str] | None = None,
         timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fxconsole", "--workspace", str(ws), "live",
                           "--checkpoint", "buyer/latest", *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_a_crash_after_the_fill_is_resolved_not_resent(ws: Path) -> None:
    crashed = live(ws, "--duration", "30", env={"FXCONSOLE_FAULT": "after-send"})
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    assert query(ws, "SELECT state FROM orders") == [("SENT",)]
    assert query(ws, "SELECT state FROM paper_orders") == [("FILLED",)]
    again = live(ws, "--duration", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resolved: FILLED" in again.stdout
    journal = query(ws, "SELECT client_id, state, filled_units, fill_price FROM orders")
    broker = query(ws, "SELECT client_id, state, units, price FROM paper_orders")
    assert len(journal) == 1 and len(broker) == 1  # no second order
    assert journal[0] == broker[0]  # the journal holds the broker's fill and price
    assert query(ws, "SELECT units FROM paper_account") == [(1,)]
    assert "position +1" in again.stdout


def test_prints_decisions_and_stops_cleanly(ws: Path) -> None:
    done = live(ws, "--duration", "1.5")
    assert done.returncode == 0, done.stderr
    assert "policy BUY   → BUY" in done.stdout and "FILLED @" in done.stdout
    assert "invalid: BUY while in a position" not in done.stdout  # routine holds: quiet
    assert "stopped:" in done.stdout


def test_a_checkpoint_with_another_observation_spec_is_refused(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = {**observation_spec("ppo"), "shape": [18]}
    save_checkpoint(ws, "other", BUY, other)
    code = main(["--workspace", str(ws), "live", "--checkpoint", "other/latest"])
    err = capsys.readouterr().err
    assert code == 1
    assert "checkpoint other/latest refused" in err and "observation spec" in err


def test_a_second_trader_is_refused(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fxconsole.ops.lock import SupervisorLock

    with SupervisorLock(ws / "data" / "live.lock"):
        assert main(["--workspace", str(ws), "live", "--duration", "1"]) == 1
    assert "another live trader" in capsys.readouterr().err


def heartbeat(ws: Path) -> list[tuple[Any, ...]]:
    """The worker's heartbeat rows; none while the database or its schema is not there yet
    (the file exists a moment before the migration creates the tables)."""
    if not (ws / "data" / "console.sqlite").exists():
        return []
    try:
        return query(ws, "SELECT 1 FROM heartbeats")
    except sqlite3.OperationalError:
        return []


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_live_worker_trades_and_obeys_commands(ws: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "workers", "live", "--workspace", str(ws),
                             "--run", "buyer"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for("a heartbeat", lambda: heartbeat(ws))
        conn = connect(ws / "data" / "console.sqlite")
        command = enqueue(conn, "live", "deploy", {"checkpoint": "buyer/latest"})
        wait_for("the deploy command done", lambda: query(
            ws, f"SELECT 1 FROM commands WHERE id = {command} AND state = 'done'"))
        wait_for("a fill", lambda: query(ws, "SELECT 1 FROM orders WHERE state = 'FILLED'"))
        enqueue(conn, "live", "kill-switch", {})
        wait_for("the kill switch in the metrics", lambda: query(
            ws, "SELECT 1 FROM metrics WHERE key = 'live/kill_switch' AND value = 1"))
        assert query(ws, "SELECT value FROM live_state WHERE key = 'kill_switch'") == [("true",)]
        conn.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
