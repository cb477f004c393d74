"""Benchmark: metric rows/s into the console database, and read latency meanwhile.

Writer processes (spawn) each write metrics at full speed through ``MetricsWriter`` (8 keys
per step, flushes of up to 5,000 rows in one ``BEGIN IMMEDIATE`` transaction) for
``--seconds``, first 1 writer, then 4, each on a fresh database. Meanwhile this process
calls ``latest_metrics`` every 20 ms like the UI, times it and watches the WAL's size.
As a peer, one writer that commits every step on its own (no batching) shows what the
batching buys.

    python bench/bench_ops_ingest.py [--seconds 10] [--keys 8]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
from multiprocessing.queues import Queue
from pathlib import Path

from fxconsole.ops.db import connect, transaction
from fxconsole.ops.queries import latest_metrics
from fxconsole.ops.writer import INSERTS, MetricsWriter


def batched_writer(db: str, worker: str, seconds: float, n_keys: int, out: Queue) -> None:
    """Write through MetricsWriter at full speed; report (rows, seconds, flushes, failed)."""
    conn = connect(db)
    writer = MetricsWriter(conn, "bench", worker)
    keys = [f"train/k{i}" for i in range(n_keys)]
    start = time.perf_counter()
    step = 0
    while time.perf_counter() - start < seconds:
        writer.write(step, {key: step * 0.5 for key in keys})
        step += 1
    writer.close()
    stats = writer.stats
    out.put((stats.metrics, time.perf_counter() - start, stats.flushes, stats.failed_flushes))


def naive_writer(db: str, worker: str, seconds: float, n_keys: int, out: Queue) -> None:
    """The peer: one transaction per step, no buffering."""
    conn = connect(db)
    keys = [f"train/k{i}" for i in range(n_keys)]
    start = time.perf_counter()
    step = rows = 0
    while time.perf_counter() - start < seconds:
        now = time.time()
        with transaction(conn):
            conn.executemany(INSERTS["metrics"],
                             [(now, "bench", worker, key, step, step * 0.5) for key in keys])
        rows += len(keys)
        step += 1
    out.put((rows, time.perf_counter() - start, step, 0))


def run_phase(target: str, writers: int, seconds: float, n_keys: int, folder: Path) -> None:
    """Start ``writers`` processes on a fresh database, time reads, print one line."""
    ctx = mp.get_context("spawn")
    db = str(folder / f"{target}-{writers}.sqlite")
    reader = connect(db)
    out: Queue = ctx.Queue()
    func = batched_writer if target == "batched" else naive_writer
    procs = [ctx.Process(target=func, args=(db, f"w{i}", seconds, n_keys, out))
             for i in range(writers)]
    for proc in procs:
        proc.start()
    latencies, wal = [], Path(db + "-wal")
    wal_max = 0
    while any(proc.is_alive() for proc in procs):
        t0 = time.perf_counter()
        latest_metrics(reader, "bench")
        latencies.append((time.perf_counter() - t0) * 1000)
        wal_max = max(wal_max, wal.stat().st_size if wal.exists() else 0)
        time.sleep(0.02)
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    rows = sum(r[0] for r in results)
    elapsed = max(r[1] for r in results)
    in_db = reader.execute("SELECT count(*) FROM metrics").fetchone()[0]
    lat = sorted(latencies) or [0.0]
    print(f"{target:8s} writers={writers}  {rows / elapsed:>10,.0f} rows/s  "
          f"({rows:,} rows in {elapsed:.1f} s, in db {in_db:,}, transactions "
          f"{sum(r[2] for r in results):,}, failed flushes {sum(r[3] for r in results)})  "
          f"latest_metrics ms: p50 {statistics.median(lat):.2f}  "
          f"p95 {lat[int(0.95 * (len(lat) - 1))]:.2f}  max {lat[-1]:.2f}  (n={len(latencies)})  "
          f"WAL max {wal_max / 2**20:.1f} MB")


def main() -> None:
    """Run the phases and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--keys", type=int, default=8)
    args = parser.parse_args()
    print(f"metric ingestion, {args.keys} keys per step, {args.seconds:g} s per phase, "
          f"{mp.cpu_count()} cpus")
    with tempfile.TemporaryDirectory(prefix="bench-ops-") as tmp:
        run_phase("batched", 1, args.seconds, args.keys, Path(tmp))
        run_phase("batched", 4, args.seconds, args.keys, Path(tmp))
        run_phase("naive", 1, args.seconds / 2, args.keys, Path(tmp))


if __name__ == "__main__":
    main()
