"""Benchmark: the console database over 90 fast-forwarded days, under ``ops.db_max_mb``.

A fake clock runs a system like a default headless run, which wrote ~32,000 training
trade rows and ~20,000 metric rows in its first 8 minutes (67 trades/s, 42 metric
rows/s; here spread over ``--keys`` (worker, key) pairs), plus ~2 episodes/s and a few
events an hour. A new training run starts every ``--run-days`` (default: never, as the
supervisor follows one run; the run before becomes inactive and keeps only the floor of
its sample of trades). The retention pass runs as the supervisor runs it, with the default
``[ops]`` policy; the file size (and WAL), the rows per table and the pressure level are
printed once a fake day. Prints figures; asserts nothing.

Writing 90 days at those rates (~900 million rows) would take hours, so the history is
written at the density the retention leaves anyway, and the last ``--full-hours`` at the
full rates with a pass every 5 fake minutes (the supervisor's cadence):

- history: metrics one row per key a minute (what the minute tier keeps; the pass thins
  them to one an hour as they age), trades at 1/240 of the rate (1,000 an hour: the
  newest ``ops.trade_rows`` per run and source are kept whatever the rate, and each
  run's sample is full within its days), episodes at 1/60, events and orders as real; a
  pass every fake hour;
- the end: every metric row, trade and episode at the full rates.

The longest single transaction of a pass is printed too: what a worker writing at the
same time may wait for.

    python bench/bench_retention.py [--days 90] [--full-hours 8] [--keys 80] [--run-days 7]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from fxconsole.config import OpsConfig
from fxconsole.ops.db import connect, transaction
from fxconsole.ops.retention import MB, PassReport, RetentionPolicy, retention_steps
from fxconsole.ops.writer import INSERTS

T0 = 1_790_000_000.0
METRICS_PER_S = 20_000 / 480
TRADES_PER_S = 32_000 / 480
EPISODES_PER_S = 2.0
TRADE_THINNING, EPISODE_THINNING = 240, 60  # of the history
TABLES = ("metrics", "trades", "episodes", "events", "orders")


class Sim:
    """The fake system: writes rows for a span of fake time, runs passes, prints sizes."""

    def __init__(self, db: Path, keys: int, run_days: float) -> None:
        self.db, self.conn = db, connect(db)
        self.policy = RetentionPolicy.from_config(OpsConfig())
        self.keys = [(f"collector-{k % 2}" if k % 4 == 3 else "trainer", f"train/k{k}")
                     for k in range(keys)]
        self.run_days, self.rng = run_days, random.Random(5)
        self.step, self.longest, self.passes = 0, 0.0, 0
        self.pass_seconds = 0.0
        self.run = ""
        self.last = PassReport()

    def run_at(self, ts: float) -> str:
        if self.run_days <= 0:
            return "main"
        return f"run-{int((ts - T0) / (self.run_days * 86400)):03d}"

    def write(self, start: float, end: float, history: bool) -> None:
        """Rows of fake time [start, end): at the full rates, or thinned as the history."""
        run = self.run_at(start)
        if run != self.run:  # as the supervisor does when it follows a new run
            self.run = run
            with transaction(self.conn):
                self.conn.execute("UPDATE runs SET state = 'inactive'")
                self.conn.execute("INSERT INTO runs (name, created) VALUES (?, ?)", (run, start))
        thin, thin_episodes = (TRADE_THINNING, EPISODE_THINNING) if history else (1, 1)
        if history:
            metrics = [(ts, run, w, k, self._steps(), self.rng.random())
                       for ts in _range(start, end, 60.0) for w, k in self.keys]
        else:
            every = len(self.keys) / METRICS_PER_S
            metrics = [(ts + i * every / len(self.keys), run, w, k, self._steps(),
                        self.rng.random())
                       for ts in _range(start, end, every) for i, (w, k) in enumerate(self.keys)]
        trades = [(ts, run, "trainer" if i % 3 else "collector-1", "train" if i % 3 else
                   "collect", "long" if i % 2 else "short", ts - 300, ts, 190.0, 190.1,
                   self.rng.gauss(-0.3, 8.0), 2.0, 30, 0, self.step)
                  for i, ts in enumerate(_range(start, end, thin / TRADES_PER_S))]
        episodes = [(ts, run, "collector-1", "collect", self.rng.gauss(0, 1), 12, 3.0, 360)
                    for ts in _range(start, end, thin_episodes / EPISODES_PER_S)]
        events = [(ts, "info", "trainer", "checkpoint", "saved latest", "{}")
                  for ts in _range(start, end, 1200.0)]
        with transaction(self.conn):
            for table, rows in (("metrics", metrics), ("trades", trades),
                                ("episodes", episodes), ("events", events)):
                self.conn.executemany(INSERTS[table], rows)
            self.conn.executemany(
                "INSERT INTO orders (client_id, run, worker, broker, instrument, units, purpose,"
                " created, state, updated) VALUES (?, ?, 'live', 'paper', 'GBP_JPY', 1, 'open',"
                " ?, 'FILLED', ?)", [(f"fx-{ts:.0f}", run, ts, ts)
                                     for ts in _range(start, end, 1800.0)])

    def retention(self, now: float) -> None:
        """One pass, each transaction timed."""
        self.last = PassReport()
        steps = retention_steps(self.conn, self.policy, now, self.last)
        began = time.perf_counter()
        while True:
            t = time.perf_counter()
            if next(steps, None) is None:
                break
            self.longest = max(self.longest, time.perf_counter() - t)
        self.pass_seconds = max(self.pass_seconds, time.perf_counter() - began)
        self.passes += 1

    def line(self, label: str, wall: float) -> None:
        size = self.db.stat().st_size / MB
        wal = self.db.with_name(self.db.name + "-wal")
        wal_mb = wal.stat().st_size / MB if wal.exists() else 0.0
        counts = " ".join(f"{t} {self._count(t):>9,}" for t in TABLES)
        print(f"{label:>9} file {size:7.1f} MB (+wal {wal_mb:5.1f}) pressure "
              f"{self.last.level}  {counts}  [{wall:5.0f} s]", flush=True)

    def _count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT max(rowid) - min(rowid) + 1 FROM {table}"
                                     if table == "orders" else f"SELECT count(*) FROM {table}"
                                     ).fetchone()[0] or 0)

    def _steps(self) -> int:
        self.step += 1
        return self.step


def _range(start: float, end: float, every: float) -> list[float]:
    n = max(0, int((end - start) / every))
    return [start + i * every for i in range(n)]


def main() -> None:
    """Run the fast-forward and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=90, help="fake days in all")
    parser.add_argument("--full-hours", type=float, default=8.0,
                        help="fake hours at the end written at the full rates")
    parser.add_argument("--keys", type=int, default=80, help="(worker, metric key) pairs")
    parser.add_argument("--run-days", type=float, default=0.0,
                        help="a new training run starts every this many fake days (0: never)")
    args = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        sim = Sim(Path(tmp) / "console.sqlite", args.keys, args.run_days)
        print(f"budget ops.db_max_mb = {sim.policy.budget_bytes / MB:.0f} MB; policy "
              f"{sim.policy}")
        end = T0 + args.days * 86400.0
        full_from = end - args.full_hours * 3600.0
        t = T0
        while t < full_from:
            hour_end = min(t + 3600.0, full_from)
            sim.write(t, hour_end, history=True)
            t = hour_end
            sim.retention(t)
            if round((t - T0) % 86400.0) == 0:
                sim.line(f"day {(t - T0) / 86400:.0f}", time.perf_counter() - began)
        sim.line("history", time.perf_counter() - began)
        while t < end:
            sim.write(t, t + 300.0, history=False)
            t += 300.0
            sim.retention(t)
            if round((t - full_from) % 3600.0) == 0:
                sim.line(f"+{(t - full_from) / 3600:.0f} h full", time.perf_counter() - began)
        _summary(sim)


def _summary(sim: Sim) -> None:
    conn: sqlite3.Connection = sim.conn
    totals = conn.execute("SELECT count(*), sum(trades) FROM trade_totals").fetchone()
    print(f"passes {sim.passes:,}; longest single transaction of a pass "
          f"{sim.longest * 1000:.0f} ms; longest pass {sim.pass_seconds:.2f} s")
    print(f"trades counted in trade_totals: {totals[1]:,} over {totals[0]} run/source pairs; "
          f"raw trade rows kept: {sim._count('trades'):,}")
    print(f"final file {sim.db.stat().st_size / MB:.1f} MB of a "
          f"{sim.policy.budget_bytes / MB:.0f} MB budget")


if __name__ == "__main__":
    main()
