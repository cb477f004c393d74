"""Bounded stores: the retention pass over a real console database (issue 16, item 1)."""

from __future__ import annotations

import hashlib
import math
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fxconsole.config import OpsConfig
from fxconsole.ops import queries
from fxconsole.ops.db import connect, ensure_incremental_vacuum, transaction
from fxconsole.ops.retention import (
    MAX_LEVEL,
    MB,
    MIN_TRADE_ROWS,
    RetentionPolicy,
    file_bytes,
    next_level,
    run_pass,
)
from fxconsole.ops.totals import episode_totals, trade_totals
from fxconsole.ops.writer import INSERTS, MetricsWriter
from fxconsole.trading.metrics import trade_metrics

NOW = 1_800_000_000.0  # a multiple of an hour: the tiers' cutoffs fall on slice bounds
HOUR, DAY = 3600.0, 86400.0
AUDIT = ("events", "commands", "orders", "validations", "checkpoints", "runs")


def policy(**kw: Any) -> RetentionPolicy:
    base = {"budget_bytes": 64 * MB, "trade_rows": 1000, "episode_rows": 200,
            "full_seconds": HOUR, "minute_seconds": DAY}
    return RetentionPolicy(**(base | kw))


def trade(ts: float, run: str, source: str, pips: float | None) -> tuple[Any, ...]:
    return (ts, run, "w", source, "long", ts - 60, ts, 150.0, 150.1, pips, 0.0, 5, 0, 1)


def insert(conn: sqlite3.Connection, table: str, rows: list[tuple[Any, ...]]) -> None:
    with transaction(conn):
        conn.executemany(INSERTS[table], rows)


def add_audit(conn: sqlite3.Connection, n: int, ts: float) -> None:
    with transaction(conn):
        for i in range(n):
            conn.execute("INSERT INTO events (ts, level, source, kind, message) VALUES"
                         " (?, 'info', 'supervisor', 'k', ?)", (ts + i, f"event {i}"))
            conn.execute("INSERT INTO commands (created, target, verb, updated) VALUES"
                         " (?, 'trainer', 'pause', ?)", (ts + i, ts + i))
            conn.execute("INSERT INTO orders (client_id, run, worker, broker, instrument, units,"
                         " purpose, created, state, updated) VALUES (?, 'r', 'live', 'paper',"
                         " 'GBP_JPY', 1, 'open', ?, 'FILLED', ?)", (f"fx-{ts}-{i}", ts, ts))
            conn.execute("INSERT INTO validations (ts, run, sha256, split, validated)"
                         " VALUES (?, 'r', ?, 'validation', 0)", (ts + i, f"{i:064x}"))
        conn.execute("INSERT OR IGNORE INTO runs (name, created) VALUES ('r', ?)", (ts,))


def audit_digest(conn: sqlite3.Connection) -> dict[str, str]:
    return {t: hashlib.sha256(repr(conn.execute(f"SELECT * FROM {t} ORDER BY rowid")
                                   .fetchall()).encode()).hexdigest() for t in AUDIT}


def test_every_trade_is_counted_while_raw_rows_are_pruned(tmp_path: Path) -> None:
    conn = connect(tmp_path / "console.sqlite")
    rng = random.Random(3)
    pips: dict[str, list[float | None]] = {"train": [], "collect": [], "live": []}
    for source, n in (("train", 7000), ("collect", 3500), ("live", 1500)):
        values = [None if i % 97 == 0 else round(rng.gauss(0.2, 5.0), 2) for i in range(n)]
        pips[source] = values
        insert(conn, "trades", [trade(NOW - n + i, "r", source, p)
                                for i, p in enumerate(values)])
    # the writer's own path counts too (the trigger fires whoever inserts)
    with MetricsWriter(conn, "r", "trainer", wall_clock=lambda: NOW) as writer:
        writer.trades(1, [{"side": "short", "pips": 4.5}])
    pips["train"].append(4.5)
    add_audit(conn, 20, NOW)
    before = audit_digest(conn)

    report = run_pass(conn, policy(trade_rows=1000), NOW)

    assert report.trades == 6001 + 2500
    for source in ("train", "collect"):  # the newest 1000 raw rows are kept
        kept = [r[0] for r in conn.execute("SELECT pips FROM trades WHERE source = ? ORDER BY id",
                                           (source,))]
        assert kept == pips[source][-1000:]
    assert conn.execute("SELECT count(*) FROM trades WHERE source = 'live'").fetchone()[0] == 1500
    for source, values in pips.items():
        totals = trade_totals(conn, "r", source)
        scored = [p for p in values if p is not None]
        m = trade_metrics(scored)
        assert totals.trades == len(values) and totals.scored == len(scored)
        assert totals.wins == sum(p > 0 for p in scored)
        assert totals.expectancy == pytest.approx(m.expectancy)
        assert totals.win_rate == pytest.approx(m.win_rate)
        assert totals.sqn == pytest.approx(m.sqn)
    assert trade_totals(conn, "r").trades == sum(map(len, pips.values()))
    # the console's last-500-trade statistics are unchanged by the pass
    stats = queries.trade_stats(conn, "r", source="train")
    assert stats.trades == 500
    last = trade_metrics([p for p in pips["train"] if p is not None][-500:])
    assert (stats.expectancy, stats.win_rate) == pytest.approx((last.expectancy, last.win_rate))
    assert audit_digest(conn) == before


def test_an_inactive_run_keeps_only_the_floor_of_its_sample(tmp_path: Path) -> None:
    conn = connect(tmp_path / "console.sqlite")
    with transaction(conn):
        conn.execute("INSERT INTO runs (name, created) VALUES ('main', 1)")
        conn.execute("INSERT INTO runs (name, created, state) VALUES ('old', 1, 'inactive')")
    for run in ("main", "old", "unregistered"):
        insert(conn, "trades", [trade(NOW + i, run, "train", 1.0) for i in range(3000)])
    run_pass(conn, policy(trade_rows=2000), NOW)
    kept = dict(conn.execute("SELECT run, count(*) FROM trades GROUP BY run").fetchall())
    assert kept == {"main": 2000, "old": MIN_TRADE_ROWS, "unregistered": 2000}
    assert [trade_totals(conn, run).trades for run in kept] == [3000] * 3


def test_episodes_pruned_and_counted(tmp_path: Path) -> None:
    conn = connect(tmp_path / "console.sqlite")
    rows = [(NOW + i, "r", "c", "collect", float(i), 2, 1.5, 360) for i in range(900)]
    insert(conn, "episodes", rows)
    insert(conn, "episodes", [(NOW, "r", "c", "backtest", 1.0, 1, 1.0, 360)] * 50)
    run_pass(conn, policy(episode_rows=200), NOW + 1000)
    assert [r[0] for r in conn.execute(
        "SELECT reward FROM episodes WHERE source = 'collect' ORDER BY id")] == [
        float(i) for i in range(700, 900)]
    assert conn.execute("SELECT count(*) FROM episodes WHERE source = 'backtest'"
                        ).fetchone()[0] == 50
    totals = episode_totals(conn, "r", "collect")
    assert (totals.episodes, totals.trades, totals.length) == (900, 1800, 900 * 360)
    assert totals.reward == sum(range(900))


def metric_rows(start: float, end: float, every: float) -> list[tuple[Any, ...]]:
    rows, ts, step = [], start, 0
    while ts < end:
        for key in ("train/loss", "rollout/sqn"):
            rows.append((ts, "r", "trainer", key, step, math.sin(step)))
        ts += every
        step += 1
    return rows


def test_metrics_are_downsampled_with_age(tmp_path: Path) -> None:
    conn = connect(tmp_path / "console.sqlite")
    rows = metric_rows(NOW - 3 * DAY, NOW, 5.0)
    for i in range(0, len(rows), 20000):
        insert(conn, "metrics", rows[i:i + 20000])
    latest = queries.latest_metrics(conn, "r")
    add_audit(conn, 5, NOW)
    before = audit_digest(conn)

    run_pass(conn, policy(full_seconds=HOUR, minute_seconds=DAY), NOW)

    kept = conn.execute("SELECT ts, key, step FROM metrics ORDER BY rowid").fetchall()
    full_cut, minute_cut = NOW - HOUR, NOW - HOUR - DAY
    recent = {(ts, key) for ts, key, _ in kept if ts >= full_cut}
    assert recent == {(r[0], r[3]) for r in rows if r[0] >= full_cut}  # every row
    for lo, hi, bucket in ((minute_cut, full_cut, 60.0), (NOW - 3 * DAY, minute_cut, HOUR)):
        tier = [(ts, key) for ts, key, _ in kept if lo <= ts < hi]
        buckets = {(key, math.floor(ts / bucket)) for ts, key in tier}
        assert len(tier) == len(buckets) == 2 * (hi - lo) / bucket  # one row per key a bucket
        for ts, _ in tier:  # …the newest of its bucket
            assert ts == math.floor(ts / bucket) * bucket + bucket - 5.0
    assert queries.latest_metrics(conn, "r") == latest
    series = queries.metric_series(conn, "r", "train/loss", limit=10_000)
    assert [p.step for p in series] == sorted(p.step for p in series)
    assert audit_digest(conn) == before
    # a second pass has nothing left to do; a later one only the new rows
    assert run_pass(conn, policy(), NOW).metrics == 0
    insert(conn, "metrics", metric_rows(NOW, NOW + 2 * HOUR, 5.0))
    # two more hours reach each tier: 720 → 60 rows an hour, and 60 → 1, per key
    assert run_pass(conn, policy(), NOW + 2 * HOUR).metrics == 2 * 2 * ((720 - 60) + (60 - 1))


def test_the_file_shrinks(tmp_path: Path) -> None:
    conn = connect(tmp_path / "console.sqlite")
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental, from birth
    for chunk in range(10):
        insert(conn, "trades", [trade(NOW + chunk * 10_000 + i, "r", "train", 1.0)
                                for i in range(10_000)])
    big = file_bytes(conn)
    report = run_pass(conn, policy(trade_rows=1000), NOW + DAY)
    assert report.pages_freed > 0
    assert file_bytes(conn) < big / 5
    assert (tmp_path / "console.sqlite").stat().st_size < big / 5
    assert trade_totals(conn, "r").trades == 100_000


def test_an_old_database_is_converted_once_then_shrinks(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    conn = connect(path)
    conn.execute("PRAGMA auto_vacuum = NONE")
    conn.execute("VACUUM")  # as databases created before issue 16
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    insert(conn, "trades", [trade(NOW + i, "r", "collect", 1.0) for i in range(50_000)])
    assert ensure_incremental_vacuum(conn) is True
    assert ensure_incremental_vacuum(conn) is False
    big = path.stat().st_size
    run_pass(conn, policy(trade_rows=1000), NOW)
    assert path.stat().st_size < big / 5


def test_a_fast_forwarded_run_stays_under_its_budget(tmp_path: Path) -> None:
    """A week of a small system (metrics, trades, episodes, events), a pass every six
    hours of fake time: the file never ends a pass over its 1 MB budget, under pressure."""
    conn = connect(tmp_path / "console.sqlite")
    budget = 1 * MB
    pol = RetentionPolicy(budget_bytes=budget, trade_rows=20_000, episode_rows=5000,
                          full_seconds=6 * HOUR, minute_seconds=3 * DAY)
    rng = random.Random(7)
    t, trades, sizes, levels = NOW, 0, [], []
    for _ in range(28):  # 28 × 6 h
        end = t + 6 * HOUR
        insert(conn, "metrics", [(ts, "r", "trainer", f"k{k}", int(ts), rng.random())
                                 for ts in range(int(t), int(end), 60) for k in range(8)])
        batch = [trade(ts, "r", src, rng.gauss(0, 3)) for ts in range(int(t), int(end), 30)
                 for src in ("train", "collect")]
        insert(conn, "trades", batch)
        trades += len(batch)
        insert(conn, "episodes", [(ts, "r", "c", "collect", 1.0, 3, 2.0, 360)
                                  for ts in range(int(t), int(end), 60)])
        add_audit(conn, 3, t)
        t = end
        report = run_pass(conn, pol, t)
        sizes.append(file_bytes(conn))
        levels.append(report.level)
    assert max(sizes) <= budget
    assert max(levels) > 0  # the budget, not the configured rows, bounded it
    assert trade_totals(conn, "r").trades == trades
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 28 * 3


@pytest.mark.parametrize(("level", "used", "expected"), [
    (0, 10, 0), (0, 81, 1), (3, 81, 4), (MAX_LEVEL, 99, MAX_LEVEL), (3, 39, 2), (0, 39, 0),
    (2, 60, 2),
])
def test_pressure_level(level: int, used: int, expected: int) -> None:
    assert next_level(level, used, 100) == expected


def test_pressure_halves_down_to_the_floors() -> None:
    base = RetentionPolicy.from_config(OpsConfig())
    assert base.budget_bytes == 512 * MB and base.full_seconds == 6 * HOUR
    assert base.under_pressure(0) == base
    one = base.under_pressure(1)
    assert (one.trade_rows, one.full_seconds) == (25_000, 3 * HOUR)
    floor = base.under_pressure(MAX_LEVEL)
    assert (floor.trade_rows, floor.episode_rows) == (1000, 100)
    assert (floor.full_seconds, floor.minute_seconds) == (600.0, 3600.0)
    # a configured value below a floor stays as configured
    assert policy(trade_rows=1000).under_pressure(3).trade_rows == 1000


# A worker: trades and metrics through MetricsWriter until told to stop on stdin; then
# prints the trades it committed and its failed flushes.
WRITER = r"""
import select, sys
from fxconsole.ops.db import connect
from fxconsole.ops.writer import MetricsWriter
conn = connect(sys.argv[1])
writer = MetricsWriter(conn, "r", "collector-1", flush_seconds=0.02, source="collect")
step = 0
while not select.select([sys.stdin], [], [], 0)[0]:
    step += 1
    writer.trades(step, [{"side": "long", "pips": (step % 7) - 3.0}] * 20)
    writer.write(step, {"rollout/sqn": step * 0.1, "train/loss": 1.0 / step})
writer.close()
print(writer.stats.trades, writer.stats.failed_flushes, flush=True)
"""


def test_a_pass_runs_beside_a_writing_worker_process(tmp_path: Path) -> None:
    db = tmp_path / "console.sqlite"
    conn = connect(db)
    worker = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        passes = pruned = 0
        while passes < 6:
            assert worker.poll() is None, "the writer died"
            if trade_totals(conn, "r").trades > 2000 * (passes + 1):
                pruned += run_pass(conn, policy(trade_rows=1000), NOW).trades
                passes += 1
            time.sleep(0.01)
        out, _ = worker.communicate("stop\n", timeout=60)
    finally:
        worker.kill()
    committed, failed = map(int, out.split())
    assert failed == 0  # the worker never waited out its busy timeout
    run_pass(conn, policy(trade_rows=1000), NOW)
    assert trade_totals(conn, "r").trades == committed > 12_000
    assert conn.execute("SELECT count(*) FROM trades").fetchone()[0] == 1000
    assert pruned > 0
