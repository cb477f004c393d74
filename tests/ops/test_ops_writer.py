"""MetricsWriter: batching, flushing, heartbeats, events, trades, failures; the registry."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from fxconsole.agents.manifest import FORMAT, Manifest
from fxconsole.agents.sinks import FanoutSink, MetricsSink
from fxconsole.ops.db import connect
from fxconsole.ops.registry import sync_checkpoints, upsert_run
from fxconsole.ops.writer import MetricsWriter, unix_seconds

WALL = 1_700_000_000.0
TRADE: dict[str, Any] = {"side": "short", "entry_ts": "2024-01-02T03:04:00+00:00",
         "exit_ts": "2024-01-02T03:09:00+00:00", "entry_price": 190.5, "exit_price": 190.25,
         "pips": 23.0, "max_dd": 4.5, "bars_held": 5, "forced": True, "entry_index": 7,
         "exit_index": 12}


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    return connect(tmp_path / "console.sqlite")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_writer(conn: sqlite3.Connection, clock: FakeClock, **kwargs: object) -> MetricsWriter:
    return MetricsWriter(conn, "run-a", "trainer", clock=clock, wall_clock=lambda: WALL,
                         **kwargs)  # type: ignore[arg-type]


def count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def begins(conn: sqlite3.Connection) -> list[str]:
    seen: list[str] = []
    conn.set_trace_callback(lambda s: seen.append(s) if s.startswith("BEGIN") else None)
    return seen


def test_rows_wait_for_the_interval_then_go_in_one_transaction(
    db: sqlite3.Connection, clock: FakeClock
) -> None:
    writer = make_writer(db, clock)
    seen = begins(db)
    writer.write(1, {"train/a": 1.0, "train/b": 2.0})
    writer.trades(1, [TRADE])
    writer.episode(reward=1.5, trades=1, pips=23.0, length=40)
    writer.heartbeat(1, {"fps": 10})
    writer.event("info", "started", "trainer started")
    clock.t = 0.99
    writer.write(2, {"train/a": 3.0})
    assert (seen, count(db, "metrics"), writer.pending) == ([], 0, 7)
    clock.t = 1.0
    writer.write(3, {"train/a": 4.0})
    assert seen == ["BEGIN IMMEDIATE"]
    assert [count(db, t) for t in ("metrics", "trades", "episodes", "heartbeats", "events")] \
        == [4, 1, 1, 1, 1]
    assert writer.pending == 0
    assert dataclasses.asdict(writer.stats) == {
        "metrics": 4, "trades": 1, "episodes": 1, "events": 1, "heartbeats": 1,
        "flushes": 1, "failed_flushes": 0, "dropped": 0}
    rows = db.execute("SELECT ts, run, worker, key, step, value FROM metrics ORDER BY rowid")
    assert rows.fetchall()[:2] == [(WALL, "run-a", "trainer", "train/a", 1, 1.0),
                                   (WALL, "run-a", "trainer", "train/b", 1, 2.0)]


def test_max_rows_flushes_early_in_one_transaction(
    db: sqlite3.Connection, clock: FakeClock
) -> None:
    writer = make_writer(db, clock, max_rows=10)
    seen = begins(db)
    writer.write(1, {f"k{i}": i for i in range(6)})
    assert count(db, "metrics") == 0
    writer.write(2, {f"k{i}": i for i in range(6)})
    assert (seen, count(db, "metrics")) == (["BEGIN IMMEDIATE"], 12)


def test_close_and_flush_write_everything(db: sqlite3.Connection, clock: FakeClock) -> None:
    writer = make_writer(db, clock)
    writer.write(1, {"a": 1.0})
    assert writer.flush() is True and count(db, "metrics") == 1
    writer.write(2, {"a": 2.0})
    with writer:
        pass
    assert count(db, "metrics") == 2
    assert writer.flush() is True  # nothing pending: no transaction, still fine


def test_heartbeat_is_an_upsert(db: sqlite3.Connection, clock: FakeClock) -> None:
    writer = make_writer(db, clock)
    writer.heartbeat(5, {"fps": 1.0})
    writer.heartbeat(6, {"fps": 2.0})  # replaces the buffered one
    writer.flush()
    writer.heartbeat(7, {"fps": math.nan})
    writer.flush()
    assert db.execute("SELECT worker, ts, pid, step, info FROM heartbeats").fetchall() == [
        ("trainer", WALL, os.getpid(), 7, '{"fps": null}')]
    assert writer.stats.heartbeats == 2


def test_events_are_stored_and_bad_levels_refused(
    db: sqlite3.Connection, clock: FakeClock
) -> None:
    writer = make_writer(db, clock)
    writer.event("warning", "heartbeat-gap", "no heartbeat for 30 s", {"age": 30.5})
    writer.event("error", "fatal", "collector-1 is FATAL")
    with pytest.raises(ValueError, match="'debug'.*info, warning, error"):
        writer.event("debug", "x", "y")
    writer.close()
    assert db.execute("SELECT ts, level, source, kind, message, data FROM events").fetchall() == [
        (WALL, "warning", "trainer", "heartbeat-gap", "no heartbeat for 30 s", '{"age": 30.5}'),
        (WALL, "error", "trainer", "fatal", "collector-1 is FATAL", "{}")]


def test_trade_fields(db: sqlite3.Connection, clock: FakeClock) -> None:
    writer = make_writer(db, clock, source="collect")
    writer.trades(640, [TRADE, {**TRADE, "side": 1, "forced": False, "timesteps": 600,
                                "source": "backtest", "entry_ts": 10, "exit_ts": None}])
    writer.close()
    rows = db.execute(
        "SELECT ts, run, worker, source, side, entry_ts, exit_ts, entry_price, exit_price, pips,"
        " max_dd, bars_held, forced, timesteps FROM trades ORDER BY id").fetchall()
    entry, exit_ = unix_seconds(TRADE["entry_ts"]), unix_seconds(TRADE["exit_ts"])
    assert rows == [
        (WALL, "run-a", "trainer", "collect", "short", entry, exit_, 190.5, 190.25, 23.0, 4.5, 5,
         1, 640),
        (WALL, "run-a", "trainer", "backtest", "long", 10.0, None, 190.5, 190.25, 23.0, 4.5, 5,
         0, 600)]
    assert exit_ is not None and entry is not None and exit_ - entry == 300.0


def test_malformed_trades_are_logged_and_skipped_never_raised(
    db: sqlite3.Connection, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    writer = make_writer(db, clock)
    bad: list[dict[str, object]] = [
        {**TRADE, "side": "flat"}, {"pips": 1.0}, {**TRADE, "entry_ts": "yesterday"}]
    writer.trades(1, [*bad, TRADE])
    writer.close()
    assert count(db, "trades") == 1
    assert "skipped 3 malformed trade(s)" in caplog.text


def test_nan_and_junk_metric_values_are_stored_as_null(
    db: sqlite3.Connection, clock: FakeClock
) -> None:
    writer = make_writer(db, clock)
    writer.write(1, {"a": math.nan, "b": "junk", "c": math.inf})  # type: ignore[dict-item]
    writer.close()
    assert db.execute("SELECT key, value FROM metrics ORDER BY key").fetchall() == [
        ("a", None), ("b", None), ("c", math.inf)]


def test_a_failing_flush_keeps_rows_logs_once_and_succeeds_later(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "console.sqlite"
    blocker = connect(path)
    writer = make_writer(connect(path, busy_timeout=0.05), clock, max_rows=4)
    blocker.execute("BEGIN IMMEDIATE")
    caplog.set_level(logging.INFO, "fxconsole.ops.writer")
    writer.write(1, {f"k{i}": i for i in range(4)})  # max_rows: an attempt, which fails
    assert (writer.stats.failed_flushes, writer.pending) == (1, 4)
    writer.write(2, {f"k{i}": i for i in range(4)})  # no new attempt before the interval
    assert writer.stats.failed_flushes == 1
    clock.t = 1.0
    writer.write(3, {"k0": 0.0})  # interval passed: retried, fails again
    assert (writer.stats.failed_flushes, writer.pending) == (2, 9)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "database is locked" in caplog.text
    blocker.execute("ROLLBACK")
    clock.t = 2.0
    writer.heartbeat(3)
    assert (writer.pending, count(blocker, "metrics"), writer.stats.metrics) == (0, 9, 9)
    assert "resumed after 2 failed attempt(s)" in caplog.records[-1].getMessage()


def test_the_buffer_is_capped_while_writes_fail(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "console.sqlite"
    blocker = connect(path)
    writer = make_writer(connect(path, busy_timeout=0.01), clock, max_rows=2, max_buffered=5)
    blocker.execute("BEGIN IMMEDIATE")
    for step in range(4):
        writer.write(step, {"a": step, "b": step})
    blocker.execute("ROLLBACK")
    assert writer.flush()
    assert writer.stats.dropped == 3
    assert [r[0] for r in blocker.execute("SELECT step FROM metrics ORDER BY rowid")] == [
        1, 2, 2, 3, 3]
    assert "metric buffer full" in caplog.text


def test_a_broken_connection_never_raises_into_the_loop(
    db: sqlite3.Connection, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    writer = make_writer(db, clock)
    sink: MetricsSink = writer
    db.close()
    sink.write(1, {"a": 1.0})
    sink.trades(1, [TRADE])
    clock.t = 5.0
    writer.heartbeat(1)  # the flush fails with ProgrammingError: logged, batch dropped
    sink.close()
    assert writer.stats.dropped == 3
    assert "rejected a batch" in caplog.text


def test_writer_works_behind_the_fanout_sink(db: sqlite3.Connection, clock: FakeClock) -> None:
    writer = make_writer(db, clock)
    fanout = FanoutSink(writer)
    fanout.write(3, {"rollout/win_rate": 0.5})
    fanout.trades(3, [TRADE])
    fanout.close()
    assert (count(db, "metrics"), count(db, "trades")) == (1, 1)


def test_bad_constructor_arguments_are_refused(db: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="source 'paper'"):
        MetricsWriter(db, "r", "w", source="paper")
    with pytest.raises(ValueError, match="max_rows"):
        MetricsWriter(db, "r", "w", max_rows=0)


def manifest(tag: str, timesteps: int, sha: str = "a" * 64, run: str = "run-a") -> Manifest:
    return Manifest(
        format=FORMAT, run=run, tag=tag, model_file=f"models/{timesteps:012d}-{sha[:12]}.zip",
        sha256=sha, timesteps=timesteps, agent="ppo", config={"ppo": {"n_steps": 64}},
        feature_spec_version=1, observation_spec={}, created="2024-05-01T00:00:00+00:00",
        metrics={"sqn": 1.5}, state={})


def test_sync_checkpoints_upserts_and_prunes(db: sqlite3.Connection, tmp_path: Path) -> None:
    run_dir = tmp_path / "checkpoints" / "run-a"
    first = [manifest("latest", 200), manifest("best", 100), manifest("periodic-000000000100", 100)]
    assert sync_checkpoints(db, "run-a", first, run_dir) == 3
    second = [manifest("latest", 300, "b" * 64), manifest("best", 100)]
    assert sync_checkpoints(db, "run-a", second, run_dir) == 2
    rows = db.execute("SELECT run, tag, sha256, timesteps, created, manifest_path, metrics"
                      " FROM checkpoints ORDER BY tag").fetchall()
    created = unix_seconds("2024-05-01T00:00:00+00:00")
    assert rows == [
        ("run-a", "best", "a" * 64, 100, created, str(run_dir / "best.json"), '{"sqn": 1.5}'),
        ("run-a", "latest", "b" * 64, 300, created, str(run_dir / "latest.json"),
         '{"sqn": 1.5}')]
    assert db.execute("SELECT name, agent, created FROM runs").fetchall() == [
        ("run-a", "ppo", created)]
    with pytest.raises(ValueError, match="run-b"):
        sync_checkpoints(db, "run-a", [manifest("latest", 1, run="run-b")], run_dir)
    sync_checkpoints(db, "run-a", [], run_dir, prune=False)
    assert count(db, "checkpoints") == 2


def test_upsert_run_keeps_created(db: sqlite3.Connection) -> None:
    upsert_run(db, "run-a", "ppo", {"a": 1}, clock=lambda: 10.0)
    upsert_run(db, "run-a", "ppo", {"a": 2}, state="finished", clock=lambda: 20.0)
    assert db.execute("SELECT * FROM runs").fetchall() == [
        ("run-a", "ppo", 10.0, '{"a": 2}', "finished")]
