"""The console database under real processes: concurrent writers, and kill -9 mid-batch."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest

from fxconsole.ops import queries
from fxconsole.ops.db import connect

PROC = Path(__file__).with_name("_ops_db_proc.py")
DURATION_SECONDS = 60.0  # each of the writers writes at full speed this long
WRITERS = 4
KEYS_PER_STEP = 8  # _ops_db_proc.KEYS
BATCH_ROWS = 100_000  # big enough to spill from the page cache into the WAL mid-transaction
TRADES_PER_BATCH = 50  # _ops_db_proc.TRADES_PER_BATCH


def start(args: list[str], stderr: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(PROC), *args], stdout=subprocess.PIPE,
                            stderr=stderr)


def read_while_writing(conn: sqlite3.Connection, procs: list[subprocess.Popen[bytes]]) -> int:
    """Read like the UI until every writer has exited; return the number of read rounds."""
    rounds = 0
    while any(proc.poll() is None for proc in procs):
        queries.latest_metrics(conn, "run-c")
        queries.metric_series(conn, "run-c", "train/k0", limit=200)
        queries.workers(conn)
        rounds += 1
        time.sleep(0.02)
    return rounds


@pytest.mark.slow
def test_four_writers_at_full_speed_lose_no_row_and_never_lock(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    conn = connect(path)
    logs = [(tmp_path / f"w{i}.err").open("wb") for i in range(WRITERS)]
    procs = [start(["metrics", str(path), f"w{i}", str(DURATION_SECONDS)], logs[i])
             for i in range(WRITERS)]
    rounds = read_while_writing(conn, procs)
    outputs = [proc.communicate(timeout=120)[0].decode() for proc in procs]
    errors = [(tmp_path / f"w{i}.err").read_text() for i in range(WRITERS)]
    assert [proc.returncode for proc in procs] == [0] * WRITERS, errors
    assert not any("locked" in text for text in errors), errors
    reports = {r["worker"]: r for r in (json.loads(out.splitlines()[-1]) for out in outputs)}
    in_db = dict(conn.execute("SELECT worker, count(*) FROM metrics GROUP BY worker").fetchall())
    for worker, report in reports.items():
        assert (report["pending"], report["failed_flushes"], report["dropped"]) == (0, 0, 0)
        assert report["written"] == report["steps"] * KEYS_PER_STEP == in_db[worker]
    assert len(in_db) == WRITERS and rounds > 0
    heartbeats = dict(conn.execute("SELECT worker, step FROM heartbeats").fetchall())
    assert heartbeats.keys() == in_db.keys()
    conn.close()
    for file in tmp_path.glob("console.sqlite*"):  # about a gigabyte: don't keep it around
        file.unlink()


def announced(proc: subprocess.Popen[bytes], at_least: int) -> list[int]:
    """Batch numbers the writer announced, reading until it has announced ``at_least``."""
    assert proc.stdout is not None
    batches: list[int] = []
    while len(batches) < at_least:
        line = proc.stdout.readline()
        assert line, "the batch writer died"
        batches.append(int(line.split()[1]))
    return batches


def check_batches(path: Path) -> tuple[list[int], dict[int, int], dict[int, int]]:
    """A fresh connection: integrity, then rows per batch of metrics and of trades."""
    conn = connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    metrics = dict(conn.execute(
        "SELECT step, count(*) FROM metrics WHERE run = 'run-k' GROUP BY step").fetchall())
    trades = dict(conn.execute(
        "SELECT timesteps, count(*) FROM trades WHERE run = 'run-k' GROUP BY timesteps"
    ).fetchall())
    conn.close()
    return sorted(metrics), metrics, trades


@pytest.mark.slow
def test_a_writer_killed_mid_batch_leaves_whole_batches(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    connect(path).close()
    rng = random.Random(5)
    first, torn, all_announced = 0, 0, []
    for _ in range(20):  # until a kill lands inside a batch (usually the first or second)
        with (tmp_path / "batches.err").open("ab") as err:
            proc = start(["batches", str(path), str(first), str(BATCH_ROWS)], err)
            batches = announced(proc, 2)  # the first batch is committed
            time.sleep(rng.uniform(0.0, 0.5))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            assert proc.stdout is not None
            batches += [int(line.split()[1]) for line in proc.stdout.read().split(b"\n") if line]
        all_announced += batches
        steps, metrics, trades = check_batches(path)
        assert set(metrics.values()) == {BATCH_ROWS - TRADES_PER_BATCH}
        assert trades == dict.fromkeys(steps, TRADES_PER_BATCH)
        missing = set(batches) - set(steps)
        assert set(steps) <= set(all_announced) and missing <= {batches[-1]}, missing
        torn += bool(missing)
        first = batches[-1] + 1
        if torn:
            break
    assert torn >= 1, "no kill landed inside a batch"
