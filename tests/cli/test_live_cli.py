"""``fxconsole live`` and ``python -m workers live`` as real processes on the paper broker,
and on OANDA (the fake v20 server) for the deploy gate.

The crash test kills the trader with SIGKILL right after the paper broker filled an order
and before the journal recorded it (the ``FXCONSOLE_FAULT=after-send`` hook); the restart
must find the fill at the broker instead of sending a second order.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fake_v20 import FakeV20  # isort: skip
from live_support import record_stage, save_checkpoint  # isort: skip

from fxconsole.agents.checkpoints import RunCheckpoints
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


# --- the deploy gate: an OANDA account trades only a validated checkpoint ----------------

OANDA_CONFIG = CONFIG + """
[oanda]
connect_timeout = 1.0
read_timeout = 2.0
retries = 1
backoff_seconds = 0.01
backoff_cap_seconds = 0.05
"""


@pytest.fixture
def oanda_ws(tmp_path: Path, fake_v20: FakeV20, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace whose OANDA credentials and URLs (in the environment, as in production)
    point at the fake v20 server; the checkpoint ``buyer/latest`` is not validated."""
    (tmp_path / "fxconsole.toml").write_text(OANDA_CONFIG)
    save_checkpoint(tmp_path, "buyer", BUY)
    for name, value in oanda_env(fake_v20).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FXCONSOLE_WORKSPACE", raising=False)
    return tmp_path


def oanda_env(fake: FakeV20) -> dict[str, str]:
    return {"OANDA_TOKEN": fake.token, "OANDA_ACCOUNT": fake.account,
            "OANDA_API_URL": fake.api_url, "OANDA_STREAM_URL": fake.stream_url}


def fx(ws: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``fxconsole --workspace WS ARGS…`` as a process (in this environment)."""
    return subprocess.run([sys.executable, "-m", "fxconsole", "--workspace", str(ws), *args],
                          capture_output=True, text=True, timeout=timeout)


def deploy_events(ws: Path) -> list[tuple[str, str]]:
    return query(ws, "SELECT level, message FROM events WHERE kind = 'deploy' ORDER BY id")


def one_line(text: str) -> str:
    return " ".join(text.split())


def validate(ws: Path, run: str = "buyer") -> None:
    """Record that the run's latest checkpoint passed validation and its test exam."""
    manifest = RunCheckpoints(ws / "checkpoints" / run).manifest("latest")
    assert manifest is not None
    conn = connect(ws / "data" / "console.sqlite")
    record_stage(conn, manifest, "validation", True)
    record_stage(conn, manifest, "test", True)
    conn.close()


def test_oanda_refuses_an_unvalidated_checkpoint(
        oanda_ws: Path, fake_v20: FakeV20, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--workspace", str(oanda_ws), "live", "--broker", "oanda",
                 "--checkpoint", "buyer/latest", "--duration", "1"])
    err = one_line(capsys.readouterr().err)
    assert code == 1
    assert "checkpoint buyer @ 1,000 (sha " in err
    assert ("is not validated (never validated): an OANDA account trades only a validated "
            "checkpoint; `fxconsole validate buyer/latest` validates it, `--force` deploys it "
            "anyway") in err
    assert fake_v20.requests == []  # refused before talking to the broker
    assert fake_v20.token not in err


def test_oanda_trades_it_with_force_and_records_the_override(
        oanda_ws: Path, fake_v20: FakeV20) -> None:
    done = fx(oanda_ws, "live", "--broker", "oanda", "--checkpoint", "buyer/latest",
              "--force", "--duration", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    out = one_line(done.stdout)
    assert "warning deploy: forced deploy of an unvalidated checkpoint: buyer @ 1,000" in out
    assert "oanda broker" in out and "trading buyer @ 1,000" in out
    [(level, message)] = deploy_events(oanda_ws)
    assert level == "warning" and message.startswith("forced deploy of an unvalidated")
    assert "OANDA practice account" in message and "test exam" in message
    assert fake_v20.token not in done.stdout + done.stderr


def test_oanda_trades_a_validated_checkpoint_without_force(oanda_ws: Path) -> None:
    validate(oanda_ws)
    done = fx(oanda_ws, "live", "--broker", "oanda", "--checkpoint", "buyer/latest",
              "--duration", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "trading buyer @ 1,000" in done.stdout and "not validated" not in done.stdout
    assert deploy_events(oanda_ws) == []


def test_paper_trades_an_unvalidated_checkpoint_with_a_warning(ws: Path) -> None:
    done = live(ws, "--duration", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the paper account trades it anyway" in one_line(done.stdout)
    [(level, message)] = deploy_events(ws)
    assert level == "warning" and "is not validated (never validated)" in message


def test_oanda_refuses_the_deployed_checkpoint_unless_force_deployed(
        oanda_ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoints = RunCheckpoints(oanda_ws / "checkpoints" / "buyer")
    latest = checkpoints.manifest("latest")
    assert latest is not None
    checkpoints.point("deployed", latest, {"forced": False})
    args = ["--workspace", str(oanda_ws), "live", "--broker", "oanda", "--run", "buyer"]
    assert main(args) == 1
    assert "`fxconsole validate buyer/deployed` validates it" in one_line(
        capsys.readouterr().err)
    checkpoints.point("deployed", latest, {"forced": True, "forced_account": "practice"})
    done = fx(oanda_ws, "live", "--broker", "oanda", "--run", "buyer", "--duration", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "trading a force-deployed unvalidated checkpoint: buyer @ 1,000" in one_line(
        done.stdout)


def test_the_worker_on_oanda_deploys_only_validated_or_forced_checkpoints(
        oanda_ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoints = RunCheckpoints(oanda_ws / "checkpoints" / "buyer")
    latest = checkpoints.manifest("latest")
    assert latest is not None
    checkpoints.point("deployed", latest)  # deployed before the gate: not validated
    (oanda_ws / "fxconsole.toml").write_text(OANDA_CONFIG.replace(
        "[live]", '[live]\nbroker = "oanda"'))
    proc = subprocess.Popen([sys.executable, "-m", "workers", "live", "--workspace",
                             str(oanda_ws), "--run", "buyer"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for("a heartbeat", lambda: heartbeat(oanda_ws))
        [(level, message)] = wait_for("the start refusal", lambda: deploy_events(oanda_ws))
        assert level == "error"
        assert message.startswith("not trading the deployed checkpoint: checkpoint buyer")
        assert "is not validated (never validated)" in message
        # the live worker runs alone here, without a supervisor: --queue leaves it the command
        ctl = ["--workspace", str(oanda_ws), "ctl", "deploy", "buyer/latest", "--queue"]
        assert main(ctl) == 1
        out = one_line(capsys.readouterr().out)
        assert "deploy → live: failed: checkpoint buyer @ 1,000" in out
        assert "an OANDA account trades only a validated checkpoint" in out
        assert main([*ctl, "--force"]) == 0
        out = one_line(capsys.readouterr().out)
        assert "deploy → live: done: deployed buyer @ 1,000" in out and "FORCED" in out
        rows = query(oanda_ws, "SELECT args, state FROM commands ORDER BY id")
        assert [(json.loads(a), s) for a, s in rows] == [
            ({"checkpoint": "buyer/latest"}, "failed"),
            ({"checkpoint": "buyer/latest", "force": True}, "done")]
        warnings = [m for lv, m in deploy_events(oanda_ws) if lv == "warning"]
        assert len(warnings) == 1
        assert warnings[0].startswith("forced deploy of an unvalidated checkpoint: buyer @ 1,000")
        pointer = json.loads((oanda_ws / "checkpoints" / "buyer" / "deployed.json").read_text())
        assert pointer["metrics"]["forced"] is True
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log = (oanda_ws / "data" / "logs" / "live.log").read_text()
    assert os.environ["OANDA_TOKEN"] not in log
