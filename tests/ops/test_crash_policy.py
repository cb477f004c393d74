"""The crash policy without processes: fatal exit codes, crash_limit within crash_window
with a growing backoff, the exit reason read from a worker's output, the exit-code map."""

from __future__ import annotations

import pytest

from fxconsole.agents.manifest import CheckpointError
from fxconsole.brokers.base import AuthError
from fxconsole.brokers.credentials import CredentialsError
from fxconsole.config import ConfigError
from fxconsole.ops.crash_reason import error_line, exit_reason
from fxconsole.ops.exitcodes import (
    EX_CONFIG,
    EX_FAILURE,
    EX_NOPERM,
    FATAL_EXIT_CODES,
    exit_code_for,
)
from fxconsole.ops.states import Exited, StartRequested, Tick
from fxconsole.ops.states import WorkerState as S

from test_ops_states import Harness, running, spec  # isort: skip

TRACEBACK = """--- 2026-01-01 00:00:00 supervisor: starting live
worker live pid 12
Traceback (most recent call last):
  File "workers/__main__.py", line 42, in main
    _run(args)
  File "fxconsole/brokers/oanda.py", line 432, in place
    raise auth
fxconsole.brokers.base.AuthError: OANDA refused the credentials (HTTP 401)
worker live exits with code 77 (credentials missing or refused)
"""


def policy(**overrides: object) -> Harness:
    fields: dict[str, object] = {"crash_limit": 3, "crash_window": 60.0,
                                 "fatal_exit_codes": FATAL_EXIT_CODES, **overrides}
    return running(spec(**fields))


@pytest.mark.parametrize("state", ["STARTING", "RUNNING"])
def test_a_fatal_exit_code_is_fatal_at_once(state: str) -> None:
    h = policy() if state == "RUNNING" else Harness(spec(fatal_exit_codes=FATAL_EXIT_CODES))
    h.send(Tick())
    assert h.state is S[state]
    assert h.send(Exited(EX_CONFIG, "ConfigError: ppo.n_envs = 0")) == []
    h.wait(120.0)  # no retry, ever
    status = h.machine.status()
    assert (status.state, status.exit_code, status.restarts) == (S.FATAL, 78, 0)
    assert "configuration error" in status.message
    assert status.reason == "ConfigError: ppo.n_envs = 0"
    h.send(StartRequested())  # an operator's start clears FATAL and the reason
    assert h.state is S.STARTING and h.machine.status().reason == ""


def test_crashes_after_running_back_off_then_go_fatal_within_the_window() -> None:
    h = policy()
    assert h.send(Exited(1, "RuntimeError: first")) != []  # a one-off crash: at once
    assert h.state is S.STARTING
    h.wait(1.1)
    assert h.send(Exited(1, "RuntimeError: second")) == []
    status = h.machine.status()
    assert status.state is S.BACKOFF and "restart in 1s" in status.message
    h.wait(1.05)
    assert h.state is S.STARTING
    h.wait(1.1)
    assert h.state is S.RUNNING
    h.send(Exited(1, "RuntimeError: third"))
    status = h.machine.status()
    assert status.state is S.FATAL and "crashed 3 times within 60s" in status.message
    assert status.reason == "RuntimeError: third" and status.exit_code == 1
    h.wait(120.0)
    assert h.state is S.FATAL


def test_crashes_further_apart_than_the_window_never_go_fatal() -> None:
    h = policy()
    for _ in range(6):
        h.wait(61.0, heartbeat_age=0.0)
        assert h.state is S.RUNNING
        assert h.send(Exited(1)) != []  # always the first crash of its window: at once
    assert h.machine.status().restarts == 6


def test_backoff_delays_grow_and_an_operator_start_resets_the_count() -> None:
    h = policy(crash_limit=5)
    messages = []
    for _ in range(4):
        h.send(Exited(1))
        messages.append(h.machine.status().message)
        h.wait(10.0)
    assert h.state is S.RUNNING
    assert messages[0].startswith("spawned pid")  # the first crash restarts at once
    assert messages[1:] == [f"crashed {n} times within 60s; restart in {d}s"
                            for n, d in ((2, 1), (3, 2), (4, 4))]
    h.send(Exited(1))
    assert h.state is S.FATAL
    h.send(StartRequested())
    h.wait(1.1)
    assert h.send(Exited(1)) != [] and h.state is S.STARTING  # the count starts afresh


def test_no_crash_limit_restarts_forever() -> None:
    h = running()
    for _ in range(10):
        assert h.send(Exited(1)) != []
        h.wait(1.1)
    assert h.state is S.RUNNING and h.machine.status().restarts == 10


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (TRACEBACK, "fxconsole.brokers.base.AuthError: OANDA refused the credentials (HTTP 401)"),
        ("old\nTraceback (most recent call last):\n  x\nValueError: old\n"
         "--- 2026 supervisor: starting w\nstarting\n2026 ERROR w: broker down\nbye\n",
         "2026 ERROR w: broker down"),  # only this start's output counts
        ("a\nb\n\n", "b"),
        ("", ""),
        ("Traceback (most recent call last):\n  File x\nKeyboardInterrupt\n", "KeyboardInterrupt"),
    ],
)
def test_error_line(text: str, line: str) -> None:
    assert error_line(text) == line


def test_exit_reason_names_signals_and_silence() -> None:
    assert exit_reason(0, TRACEBACK) == ""
    assert exit_reason(77, TRACEBACK).startswith("fxconsole.brokers.base.AuthError: OANDA")
    assert exit_reason(-9, "") == "killed by SIGKILL"
    assert exit_reason(-15, TRACEBACK).startswith("killed by SIGTERM (last error: fxconsole")
    assert exit_reason(3, "") == "exited with code 3 (no error line in its output)"
    assert len(error_line("ValueError: " + "x" * 1000)) == 300


@pytest.mark.parametrize(
    ("exc", "code"),
    [(ConfigError("bad key"), EX_CONFIG), (CheckpointError("obs spec differs"), EX_CONFIG),
     (AuthError("401"), EX_NOPERM), (CredentialsError("OANDA_TOKEN missing"), EX_NOPERM),
     (RuntimeError("boom"), EX_FAILURE), (ValueError("x"), EX_FAILURE)],
)
def test_exit_code_contract(exc: Exception, code: int) -> None:
    assert exit_code_for(exc) == code
    assert (code in FATAL_EXIT_CODES) == (code != EX_FAILURE)
