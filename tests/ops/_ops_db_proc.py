"""Test helper: a process using the console database, driven by the ops store tests.

Usage (each mode opens its own connection after the process starts)::

    python _ops_db_proc.py metrics DB WORKER SECONDS   write metrics at full speed, then
                                                       print one JSON line of counters
    python _ops_db_proc.py batches DB FIRST ROWS       write batches of ROWS rows (marker:
                                                       the batch number) until killed;
                                                       prints "batch N" before each flush
    python _ops_db_proc.py claim DB TARGET SECONDS     claim and finish TARGET's commands,
                                                       then print the claimed ids as JSON
                                                       (after a first line "ready")

Logging goes to stderr (warnings and up), so the test can look for "database is locked".
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from fxconsole.ops import commands
from fxconsole.ops.db import connect
from fxconsole.ops.writer import MetricsWriter

KEYS = tuple(f"train/k{i}" for i in range(8))
TRADES_PER_BATCH = 50


def say(line: str) -> None:
    os.write(1, f"{line}\n".encode())


def write_metrics(db: Path, worker: str, seconds: float) -> None:
    conn = connect(db)
    writer = MetricsWriter(conn, "run-c", worker)
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        writer.write(step, {key: step * 0.5 for key in KEYS})
        if step % 100 == 0:
            writer.heartbeat(step, {"loop": step})
        step += 1
    writer.close()
    stats = writer.stats
    say(json.dumps({"worker": worker, "steps": step, "written": stats.metrics,
                    "pending": writer.pending, "failed_flushes": stats.failed_flushes,
                    "dropped": stats.dropped, "flushes": stats.flushes}))


def write_batches(db: Path, first: int, rows: int) -> None:
    conn = connect(db)
    metric_rows = rows - TRADES_PER_BATCH
    writer = MetricsWriter(conn, "run-k", "killed", flush_seconds=1e9, max_rows=rows)
    trade = {"side": "long", "entry_ts": 0.0, "exit_ts": 60.0, "entry_price": 1.0,
             "exit_price": 1.1, "pips": 10.0, "max_dd": 1.0, "bars_held": 1, "forced": False}
    for batch in range(first, 10**9):
        say(f"batch {batch}")
        writer.trades(batch, [trade] * TRADES_PER_BATCH)  # timesteps = batch
        writer.write(batch, {f"kill/{i:06d}": float(batch) for i in range(metric_rows)})
        if writer.pending:
            raise SystemExit(f"batch {batch} was not flushed whole")


def claim_loop(db: Path, target: str, seconds: float) -> None:
    conn = connect(db)
    claimed: list[int] = []
    say("ready")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for command in commands.claim(conn, target):
            claimed.append(command.id)
            commands.finish(conn, command.id, True, f"pid {os.getpid()}")
    say(json.dumps(claimed))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    mode, db = sys.argv[1], Path(sys.argv[2])
    if mode == "metrics":
        write_metrics(db, sys.argv[3], float(sys.argv[4]))
    elif mode == "batches":
        write_batches(db, int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "claim":
        claim_loop(db, sys.argv[3], float(sys.argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
