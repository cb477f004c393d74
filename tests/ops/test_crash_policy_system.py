"""The crash policy with real processes: the real supervisor (`fxconsole --no-ui`) and the
stand-in workers of ``fake_workers/``. A worker exiting with the configuration code goes
FATAL once; a worker crashing after RUNNING goes FATAL within the window, and its reason
(the exception line of its traceback) is in status, the workers table and the events."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fxconsole.ops.crash_reason import error_line

from daemon_support import (  # isort: skip
    CONFIG, FXCONSOLE, fake_env, fx, kill_everything, make_workspace, wait_until)
from system_support import query  # isort: skip

Headless = tuple[Path, Callable[[], "subprocess.Popen[bytes]"]]
CRASH = "RuntimeError: OANDA said 503 (fake crash)"


@pytest.fixture
def headless(tmp_path: Path) -> Iterator[Headless]:
    """Starts `fxconsole --no-ui` on the workspace the test prepared in ``tmp_path/ws``."""
    ws = tmp_path / "ws"
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        with (tmp_path / "supervisor.out").open("wb") as out:
            proc = subprocess.Popen([FXCONSOLE, "--workspace", str(ws), "--no-ui"], stdout=out,
                                    stderr=subprocess.STDOUT, env=fake_env(),
                                    start_new_session=True)
        procs.append(proc)
        return proc

    yield ws, start
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            kill_everything([proc.pid])


def events(ws: Path, kind: str) -> list[tuple[str, dict[str, object]]]:
    return [(m, json.loads(d)) for m, d in query(
        ws, "SELECT message, data FROM events WHERE kind = ? ORDER BY id", kind)]


def test_a_configuration_exit_is_fatal_once(headless: Headless) -> None:
    ws, start = headless
    make_workspace(ws, {"collector-1": "config-error"},
                   CONFIG.replace("startsecs = 0.5", "startsecs = 3.0"))
    start()
    wait_until("collector-1 FATAL", lambda: query(
        ws, "SELECT 1 FROM workers WHERE name = 'collector-1' AND state = 'FATAL'"))
    wait_until("the trainer RUNNING", lambda: query(
        ws, "SELECT 1 FROM workers WHERE name = 'trainer' AND state = 'RUNNING'"))
    row = query(ws, "SELECT exit_code, restarts, reason FROM workers WHERE name = 'collector-1'")
    assert row == [(78, 0, "fxconsole.config.ConfigError: fake.toml: ppo.n_envs = 0 must be ≥ 1")]
    out = (ws / "data" / "logs" / "collector-1.out").read_text()
    assert out.count("fake worker collector-1 starting") == 1  # started once, never again
    (message, data), = events(ws, "worker-fatal")
    assert "configuration error" in message and "ppo.n_envs = 0" in message
    assert data["exit_code"] == 78 and "ConfigError" in str(data["reason"])


def test_a_crash_loop_after_running_goes_fatal_with_its_reason(
        headless: Headless) -> None:
    ws, start = headless
    make_workspace(ws, {"collector-1": "crash-after:1.0"})  # startsecs 0.5, 3 crashes in 60 s
    start()
    wait_until("collector-1 FATAL", lambda: query(
        ws, "SELECT 1 FROM workers WHERE name = 'collector-1' AND state = 'FATAL'"), timeout=60)
    assert query(ws, "SELECT restarts, exit_code, reason FROM workers WHERE name = "
                     "'collector-1'") == [(2, 1, CRASH)]
    exited = events(ws, "worker-exited")
    assert len(exited) == 3 and all(CRASH in m and d["reason"] == CRASH for m, d in exited)
    (message, data), = events(ws, "worker-fatal")
    assert "crashed 3 times within 60s" in message and message.endswith(CRASH)
    assert data == {"exit_code": 1, "reason": CRASH}
    assert query(ws, "SELECT state FROM workers WHERE name = 'trainer'") == [("RUNNING",)]
    text = fx(ws, "status")
    assert f"collector-1 FATAL: {CRASH}" in text.stdout
    check = fx(ws, "status", "--json", "--check")
    assert check.returncode == 1
    snap = json.loads(check.stdout)
    collector = next(w for w in snap["workers"] if w["name"] == "collector-1")
    assert collector["reason"] == CRASH
    assert f"collector-1 is FATAL: {CRASH}" in snap["problems"]


@pytest.mark.parametrize(("toml", "code", "line"), [
    ("[ppo]\nnenvs = 3\n", 78, "fxconsole.config.ConfigError: "),
    ("[supervisor]\ncrash_limit = -1\n", 78, "must be ≥ 0"),
])
def test_the_real_worker_entry_exits_with_the_contract_code(
        tmp_path: Path, toml: str, code: int, line: str) -> None:
    """`python -m workers` (the real one) with a bad config: the contract's code, and the
    traceback's exception line last but one on stderr (where the supervisor reads it)."""
    (tmp_path / "bad.toml").write_text(toml)
    env = {k: v for k, v in fake_env().items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-m", "workers", "trainer", "--workspace",
                          str(tmp_path), "--run", "main", "--config", str(tmp_path / "bad.toml")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == code
    lines = out.stderr.strip().splitlines()
    assert line in lines[-2] and lines[-1] == f"worker trainer exits with code {code} " \
        "(configuration error)"
    assert line in error_line(out.stderr)
