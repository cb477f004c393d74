"""The pool's glue without processes: workers table, events, alerts, lifecycle commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fxconsole.config import Config
from fxconsole.ops import commands
from fxconsole.ops.pool import Pool, program_specs
from fxconsole.ops.states import WorkerState, WorkerStatus
from fxconsole.ops.writer import MetricsWriter
from fxconsole.workspace import Workspace


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[Pool]:
    p = Pool(Config(), Workspace(tmp_path), "main")
    yield p
    p.close(timeout=5)


def events(pool: Pool) -> list[tuple[str, str]]:
    return pool.conn.execute("SELECT level, kind FROM events ORDER BY id").fetchall()


def test_specs_follow_the_config(tmp_path: Path) -> None:
    names = [s.name for s in program_specs(Config(), Workspace(tmp_path), "main")]
    assert names == ["trainer", "collector-1", "validator", "live"]
    spec = program_specs(Config(), Workspace(tmp_path), "r")[0]
    assert spec.command()[1:4] == ("-m", "workers", "trainer") and "r" in spec.command()
    assert spec.heartbeat_timeout == Config().supervisor.heartbeat_timeout


def test_state_changes_fill_the_workers_table_and_raise_events(pool: Pool) -> None:
    pool._on_change(WorkerStatus("trainer", WorkerState.RUNNING, pid=123, restarts=2))
    row = pool.conn.execute("SELECT role, state, pid, restarts FROM workers WHERE name = "
                            "'trainer'").fetchone()
    assert row == ("trainer", "RUNNING", 123, 2)
    assert events(pool) == []
    pool._on_change(WorkerStatus("trainer", WorkerState.STOPPING,
                                 message="heartbeat stale (61.0s > 60s); treated as hung"))
    pool._on_change(WorkerStatus("trainer", WorkerState.EXITED,
                                 message="heartbeat stale (61.0s > 60s); treated as hung"))
    pool._on_change(WorkerStatus("live", WorkerState.FATAL, message="exited too quickly"))
    assert events(pool) == [("warning", "heartbeat-gap"), ("error", "worker-fatal")]


def test_alerts_are_raised_once_and_cleared(pool: Pool) -> None:
    writer = MetricsWriter(pool.conn, "main", "trainer")
    bad = {"rollout/trades": 500.0, "rollout/win_rate": 0.01, "rollout/expectancy": 1.0,
           "rollout/trade_ratio": 0.9}
    writer.write(1, bad)
    writer.flush()
    pool._check_alerts()
    pool._check_alerts()
    assert events(pool) == [("warning", "model-collapse")]
    writer.write(2, {**bad, "rollout/win_rate": 0.4})
    writer.flush()
    pool._check_alerts()
    assert events(pool)[-1] == ("info", "model-collapse")


def test_lifecycle_commands_are_executed_and_recorded(pool: Pool) -> None:
    ok = commands.enqueue(pool.conn, commands.SUPERVISOR, "stop", {"worker": "trainer"})
    bad = commands.enqueue(pool.conn, commands.SUPERVISOR, "restart", {"worker": "nobody"})
    pool._run_commands()
    assert commands.get(pool.conn, ok).state == commands.DONE
    failed = commands.get(pool.conn, bad)
    assert failed.state == commands.FAILED and "nobody" in failed.result


def test_the_pool_run_is_the_active_one(tmp_path: Path) -> None:
    from fxconsole.ops.registry import upsert_run
    from fxconsole.ops.status import active_run

    ws = Workspace(tmp_path)
    first = Pool(Config(), ws, "older")
    first.close(timeout=5)
    pool = Pool(Config(), ws, "newer")
    try:
        upsert_run(pool.conn, "stray", "ppo", {}, state="inactive")
        assert active_run(pool.conn, "main") == "newer"
    finally:
        pool.close(timeout=5)
