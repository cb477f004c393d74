"""Read helpers for the status command and the UI."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fxconsole.ops import queries
from fxconsole.ops.commands import claim, enqueue, finish
from fxconsole.ops.db import connect
from fxconsole.ops.queries import MetricValue, TradeStats
from fxconsole.ops.registry import upsert_run
from fxconsole.ops.writer import MetricsWriter


class Wall:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    return connect(tmp_path / "console.sqlite")


def writer(
    db: sqlite3.Connection, run: str, worker: str, wall: Wall, source: str = "train"
) -> MetricsWriter:
    return MetricsWriter(db, run, worker, clock=lambda: 0.0, wall_clock=wall, source=source)


def test_latest_metrics_is_the_newest_write_per_key(db: sqlite3.Connection) -> None:
    wall = Wall()
    old = writer(db, "run-old", "trainer", wall)
    old.write(900, {"train/fps": 50.0, "train/only_old": 1.0})
    old.close()
    new = writer(db, "run-new", "trainer", wall)
    new.write(100, {"train/fps": 10.0, "train/timesteps": 100.0})
    new.write(200, {"train/fps": 20.0, "train/timesteps": 200.0})
    new.write(150, {"train/timesteps": 150.0})  # a rollback: lower step, written last
    new.close()
    latest = queries.latest_metrics(db)  # the run written last
    assert latest == {
        "train/fps": MetricValue(1003.0, "run-new", "trainer", "train/fps", 200, 20.0),
        "train/timesteps": MetricValue(1004.0, "run-new", "trainer", "train/timesteps", 150,
                                       150.0)}
    old_latest = queries.latest_metrics(db, "run-old")  # fps rewritten since by run-new
    assert {k: (v.step, v.value) for k, v in old_latest.items()} == {
        "train/fps": (900, 50.0), "train/only_old": (900, 1.0)}
    picked = queries.latest_metrics(db, "run-new", keys=["train/fps", "missing"])
    assert list(picked) == ["train/fps"]
    assert queries.latest_metrics(db, "run-new", keys=[]) == {}
    assert queries.latest_metrics(db, "nobody") == {}


def test_latest_metrics_of_an_empty_database(db: sqlite3.Connection) -> None:
    assert queries.latest_metrics(db) == {}


def test_metric_series_in_step_order_after_a_step(db: sqlite3.Connection) -> None:
    w = writer(db, "run-a", "trainer", Wall())
    for step in range(10):
        w.write(step * 10, {"train/loss": float(step), "train/other": 0.0})
    w.close()
    series = queries.metric_series(db, "run-a", "train/loss")
    assert [p.step for p in series] == list(range(0, 100, 10))
    tail = queries.metric_series(db, "run-a", "train/loss", since_step=50, limit=3)
    assert [(p.step, p.value) for p in tail] == [(70, 7.0), (80, 8.0), (90, 9.0)]
    assert queries.metric_series(db, "run-a", "train/loss", since_step=90) == []


def test_trades_and_their_stats(db: sqlite3.Connection) -> None:
    wall = Wall()
    train = writer(db, "run-a", "trainer", wall)
    collect = writer(db, "run-a", "collector-0", wall, source="collect")
    pips = [10.0, -5.0, 20.0, -5.0, 0.0, 30.0]
    for i, p in enumerate(pips):
        train.trades(i, [{"side": "long", "pips": p, "forced": i == 5}])
    collect.trades(9, [{"side": "short", "pips": -100.0}])
    train.close()
    collect.close()
    recent = queries.recent_trades(db, "run-a", limit=3)
    assert [(t.pips, t.source, t.forced) for t in recent] == [
        (-100.0, "collect", False), (30.0, "train", True), (0.0, "train", False)]
    assert [t.pips for t in queries.recent_trades(db, source="collect")] == [-100.0]
    stats = queries.trade_stats(db, "run-a", window=4, source="train")
    assert stats.trades == 4
    assert stats.expectancy == pytest.approx((20 - 5 + 0 + 30) / 4)
    assert (stats.win_rate, stats.total_pips) == (0.5, 45.0)
    # no trades: expectancy, win rate and SQN are undefined (issue 17 #10)
    assert queries.trade_stats(db, "other", window=10) == TradeStats("other", 0, None, None,
                                                                     None, 0.0)


def test_workers_with_their_heartbeats(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO workers (name, role, state, pid, restarts, updated)"
               " VALUES ('trainer', 'trainer', 'RUNNING', 42, 1, 5.0),"
               " ('validator', 'validator', 'STOPPED', NULL, 0, 6.0)")
    w = writer(db, "run-a", "trainer", Wall())
    w.heartbeat(77, {"fps": 3.0})
    w.close()
    rows = queries.workers(db)
    assert [(r.name, r.state, r.restarts, r.heartbeat_step, r.heartbeat_info) for r in rows] == [
        ("trainer", "RUNNING", 1, 77, {"fps": 3.0}), ("validator", "STOPPED", 0, None, None)]


def test_commands_events_runs_checkpoints(db: sqlite3.Connection) -> None:
    first = enqueue(db, "trainer", "pause", {}, "ui")
    second = enqueue(db, "live", "deploy", {"checkpoint": "best"}, "ctl")
    claim(db, "trainer")
    finish(db, first, True, "paused")
    assert [(c.id, c.state) for c in queries.recent_commands(db, 10)] == [
        (second, "pending"), (first, "done")]
    w = writer(db, "run-a", "supervisor", Wall())
    for i in range(3):
        w.event("warning", "alert", f"m{i}", {"i": i})
    w.close()
    events = queries.recent_events(db, limit=10, since_ts=1001.0)
    assert [(e.message, e.data, e.source) for e in events] == [
        ("m2", {"i": 2}, "supervisor"), ("m1", {"i": 1}, "supervisor")]
    upsert_run(db, "run-a", "ppo", {"x": 1}, clock=lambda: 1.0)
    upsert_run(db, "run-b", "ppo", {}, clock=lambda: 2.0)
    assert [(r.name, r.config) for r in queries.runs(db)] == [("run-b", {}), ("run-a", {"x": 1})]
    db.execute("INSERT INTO checkpoints (run, tag, model_file, sha256, timesteps, created,"
               " manifest_path, metrics) VALUES ('run-a', 'best', 'm.zip', 'ab', 5, 1.0, 'b.json',"
               " '{\"sqn\": 2.0}'), ('run-a', 'latest', 'n.zip', 'cd', 9, 2.0, 'l.json', '{}')")
    assert [(c.tag, c.metrics) for c in queries.checkpoints(db, "run-a")] == [
        ("latest", {}), ("best", {"sqn": 2.0})]
    assert queries.checkpoints(db, "run-b") == []
