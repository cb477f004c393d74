"""Operator commands: queue, claim, finish, wait, verb checks, claims across processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fxconsole.ops import commands
from fxconsole.ops.commands import Command, claim, enqueue, finish, wait
from fxconsole.ops.db import connect

PROC = Path(__file__).with_name("_ops_db_proc.py")


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    return connect(tmp_path / "console.sqlite")


def tick(start: float = 100.0) -> Callable[[], float]:
    t = [start]

    def clock() -> float:
        t[0] += 1.0
        return t[0]

    return clock


def test_enqueue_claim_finish(db: sqlite3.Connection) -> None:
    clock = tick()
    first = enqueue(db, "trainer", "pause", None, "ui", clock=clock)
    second = enqueue(db, "trainer", "rollback-to", {"checkpoint": "best"}, "ctl", clock=clock)
    enqueue(db, "live", "kill-switch", {}, "ui", clock=clock)
    claimed = claim(db, "trainer", clock=clock)
    assert [(c.id, c.verb, c.args, c.state) for c in claimed] == [
        (first, "pause", {}, "running"), (second, "rollback-to", {"checkpoint": "best"}, "running")]
    assert claimed[0] == Command(first, 101.0, "trainer", "pause", {}, "running", "", 104.0, "ui")
    assert claim(db, "trainer") == []
    done = finish(db, first, True, "paused", clock=clock)
    failed = finish(db, second, False, "no such checkpoint", clock=clock)
    assert (done.state, done.result, done.updated, done.finished) == ("done", "paused", 105.0, True)
    assert (failed.state, failed.result) == ("failed", "no such checkpoint")
    with pytest.raises(ValueError, match=f"command {first} has already finished"):
        finish(db, first, True)
    with pytest.raises(ValueError, match="no command 999"):
        finish(db, 999, True)


def test_claim_reads_without_locking_when_nothing_is_pending(db: sqlite3.Connection) -> None:
    seen: list[str] = []
    db.set_trace_callback(seen.append)
    assert claim(db, "trainer") == []
    assert not [s for s in seen if s.startswith("BEGIN")]


def test_wait_returns_the_finished_command(db: sqlite3.Connection) -> None:
    command_id = enqueue(db, "supervisor", "restart", {"worker": "all"}, "ctl")
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # the "supervisor" acts while we wait
        sleeps.append(seconds)
        if len(sleeps) == 2:
            claim(db, "supervisor")
            finish(db, command_id, True, "restarted 4 workers")

    command = wait(db, command_id, timeout=5.0, poll=0.01, sleep=sleep)
    assert (command.state, command.result, sleeps) == ("done", "restarted 4 workers", [0.01] * 2)


def test_wait_times_out_naming_the_command(db: sqlite3.Connection) -> None:
    command_id = enqueue(db, "validator", "validate", {"checkpoint": "best"}, "ui")
    clock = tick(0.0)
    with pytest.raises(TimeoutError, match=rf"command {command_id} \(validate for validator\) "
                                           r"is still pending after 2 s"):
        wait(db, command_id, timeout=2.0, clock=clock, sleep=lambda s: None)
    with pytest.raises(ValueError, match="no command 42"):
        wait(db, 42, timeout=1.0)


@pytest.mark.parametrize(("target", "verb", "args", "message"), [
    ("trainer", "deploy", {}, r"verb 'deploy' is not allowed for target 'trainer' \(role "
                              r"trainer\); allowed: checkpoint-now, pause, resume, rollback-to"),
    ("collector-1", "pause", {}, r"verb 'pause' is not allowed for target 'collector-1': role "
                                 r"'collector' accepts no commands \(targets with commands: "
                                 r"supervisor, trainer, validator, live, cluster\)"),
    ("supervisor", "pause", {}, r"'pause'.*'supervisor'.*allowed: start, stop, restart"),
    ("live", "validate", {}, r"allowed: deploy, pause-entries, resume-entries, kill-switch"),
    ("trainer", "rollback-to", {}, r"rollback-to for 'trainer' needs argument\(s\) checkpoint"),
    ("supervisor", "restart", {"worker": ""}, r"restart for 'supervisor' needs.*worker"),
])
def test_invalid_commands_are_refused(
    db: sqlite3.Connection, target: str, verb: str, args: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        enqueue(db, target, verb, args, "ui")
    assert db.execute("SELECT count(*) FROM commands").fetchone()[0] == 0


def test_a_target_role_comes_from_the_workers_table(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO workers (name, role, state, updated) VALUES ('learner', 'trainer',"
               " 'RUNNING', 0)")
    assert enqueue(db, "learner", "checkpoint-now", {}, "ui") > 0
    assert commands.role_of(db, "validator-2") == "validator"


def test_two_processes_never_claim_the_same_command(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    db = connect(path)
    procs = [subprocess.Popen([sys.executable, str(PROC), "claim", str(path), "trainer", "4"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    assert [proc.stdout.readline() for proc in procs if proc.stdout] == ["ready\n"] * 2
    ids = []
    for i in range(200):
        ids.append(enqueue(db, "trainer", "pause" if i % 2 else "resume", {}, "test"))
        if i % 20 == 0:
            time.sleep(0.05)
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in outputs]
    claimed = [json.loads(out) for out, _ in outputs]
    assert all(claimed)  # both were claiming
    assert not set(claimed[0]) & set(claimed[1])
    assert sorted(claimed[0] + claimed[1]) == ids
    assert all(ids == sorted(ids) for ids in claimed)  # oldest first
    states = db.execute("SELECT state, count(*) FROM commands GROUP BY state").fetchall()
    assert states == [("done", 200)]
