"""Issue 17 defect 2: the trainer's trades counter is the run's, cumulative over training
chunks, worker restarts and supervisor restarts (it used to start again from 0 at each),
counted from the database's trade totals, which retention never lowers."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from fxconsole.ops.db import connect
from fxconsole.ops.queries import latest_metrics
from fxconsole.ops.run_trades import RunTradesSink, run_trades, training_sources
from fxconsole.ops.writer import MetricsWriter

TRADE: dict[str, Any] = {"side": "short", "entry_ts": "2024-01-02T03:04:00+00:00",
                         "exit_ts": "2024-01-02T04:04:00+00:00", "entry_price": 150.0,
                         "exit_price": 149.9, "pips": 10.0, "bars_held": 4}


def chunk(conn: sqlite3.Connection, run: str, trades: int, step: int) -> None:
    """One training call in a fresh process: its own counter starts at 0."""
    writer = MetricsWriter(conn, run, "trainer")
    sink = RunTradesSink(writer, conn, run)
    sink.trades(step, [TRADE] * trades)
    sink.write(step, {"rollout/trades": float(trades), "rollout/win_rate": 1.0})
    sink.close()


def test_the_counter_adds_up_over_chunks_and_restarts(tmp_path: Path) -> None:
    db = tmp_path / "console.sqlite"
    conn = connect(db)
    chunk(conn, "main", 7, 100)
    assert latest_metrics(conn, "main")["rollout/trades"].value == 7.0
    chunk(conn, "main", 3, 200)  # the next chunk
    conn.close()
    conn = connect(db)  # a supervisor restart: a new process, a new connection
    chunk(conn, "main", 2, 300)
    latest = latest_metrics(conn, "main")
    assert latest["rollout/trades"].value == 12.0 and latest["rollout/win_rate"].value == 1.0
    chunk(conn, "other", 1, 10)  # per run
    assert latest_metrics(conn, "other")["rollout/trades"].value == 1.0
    assert run_trades(conn, "main") == 12


def test_the_counter_survives_pruned_raw_rows_and_never_goes_down(tmp_path: Path) -> None:
    conn = connect(tmp_path / "console.sqlite")
    chunk(conn, "main", 5, 1)
    with conn:
        conn.execute("DELETE FROM trades")  # what retention does to old raw rows
    chunk(conn, "main", 1, 2)
    assert latest_metrics(conn, "main")["rollout/trades"].value == 6.0


def test_muzero_with_collectors_counts_their_self_play() -> None:
    assert training_sources("ppo", 2) == ("train",)
    assert training_sources("muzero", 0) == ("train",)
    assert training_sources("muzero", 2) == ("train", "collect")


def test_the_collectors_of_a_run_are_the_ray_actors_with_the_ray_backend() -> None:
    from fxconsole.config import Config, with_overrides

    local = with_overrides(Config(), "supervisor", collectors=3)
    assert local.collectors == 3
    ray = with_overrides(with_overrides(local, "cluster", backend="ray", collectors=0),
                         "train", agent="muzero")
    assert ray.collectors == 0  # the trainer plays its own self-play then
    assert training_sources("muzero", ray.collectors) == ("train",)
    actors = with_overrides(ray, "cluster", collectors=5)
    assert actors.collectors == 5
    assert training_sources("muzero", actors.collectors) == ("train", "collect")
