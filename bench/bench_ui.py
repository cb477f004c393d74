"""The console's own costs: start-up to first full frame, idle CPU, metric → screen
latency, key → command row. Prints figures only.

A temporary workspace is filled like a running system (four workers up for an hour,
heartbeats and metrics written once a second by a separate writer process, so the CPU
figures are the UI's alone); the app runs headless (``App.run_test``), so terminal I/O is
not included.

    .venv/bin/python bench/bench_ui.py [--idle-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import queue
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from fxconsole.config import Config
from fxconsole.ops.db import connect, transaction
from fxconsole.ops.writer import MetricsWriter
from fxconsole.ui.app import FxConsoleApp
from fxconsole.workspace import Workspace

WORKERS = (("trainer", "trainer"), ("collector-1", "collector"), ("validator", "validator"),
           ("live", "live"))


def cpu() -> float:
    """This process's CPU seconds so far."""
    t = os.times()
    return t.user + t.system


def system_writer(root: str, stop: Any, probes: Any, written: Any) -> None:
    """Heartbeats and a few metrics once a second; a probe value as soon as one arrives
    (its write time, ``time.monotonic()``, goes back on ``written``)."""
    ws = Workspace(Path(root))
    conn = connect(ws.console_db)
    with transaction(conn):
        for name, role in WORKERS:
            conn.execute("INSERT OR REPLACE INTO workers (name, role, state, pid, started,"
                         " restarts, heartbeat_timeout, updated) VALUES (?,?,?,?,?,0,60,?)",
                         (name, role, "RUNNING", os.getpid(), time.time() - 3600, time.time()))
    writers = {name: MetricsWriter(conn, "main", name, flush_seconds=0.0) for name, _ in WORKERS}
    step = 0
    next_beat = 0.0
    while not stop.is_set():
        if time.monotonic() >= next_beat:
            next_beat = time.monotonic() + 1.0
            step += 1000
            for w in writers.values():
                w.heartbeat(step)
            writers["trainer"].write(step, {"train/timesteps": step, "train/fps": 5000.0,
                                            "rollout/trades": step / 10.0})
            for w in writers.values():
                w.flush()
        try:
            value = probes.get(timeout=max(0.0, next_beat - time.monotonic()))
        except queue.Empty:
            continue
        writers["trainer"].write(step, {"rollout/expectancy": value})
        writers["trainer"].flush()
        written.put(time.monotonic())
    conn.close()


async def measure(ws: Workspace, idle_seconds: float, probes: Any, written: Any) -> None:
    """Drive the app and print the figures."""
    app = FxConsoleApp(ws, Config())
    started = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        while app.snapshot is None:
            await pilot.pause(0.01)
        await pilot.pause()
        print(f"start-up to first full frame: {time.perf_counter() - started:.2f} s "
              "(target < 2 s)")

        before, t0 = cpu(), time.perf_counter()
        await asyncio.sleep(idle_seconds)
        share = (cpu() - before) / (time.perf_counter() - t0)
        print(f"idle CPU of the UI process (the system writing once a second): {share:.1%} "
              "of a core (target < 3 %)")

        latencies = []
        for i in range(10):
            value = 100.0 + i
            probes.put(value)
            while written.empty():
                await asyncio.sleep(0.001)
            at = written.get()
            while (app.snapshot is None or app.snapshot.value("rollout/expectancy") != value):
                await asyncio.sleep(0.005)
            latencies.append(time.monotonic() - at)
        print(f"metric write → on screen: median {statistics.median(latencies) * 1000:.0f} ms, "
              f"max {max(latencies) * 1000:.0f} ms (target < 1 s)")

        conn = connect(ws.console_db)
        key_times = []
        for _ in range(10):
            count = conn.execute("SELECT count(*) FROM commands").fetchone()[0]
            pressed = time.perf_counter()
            await pilot.press("c")
            while conn.execute("SELECT count(*) FROM commands").fetchone()[0] == count:
                await asyncio.sleep(0.001)
            key_times.append(time.perf_counter() - pressed)
            await pilot.pause(0.05)
        conn.close()
        print(f"key → command row: median {statistics.median(key_times) * 1000:.1f} ms, "
              f"max {max(key_times) * 1000:.1f} ms (target < 100 ms)")


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp)).ensure()
        stop, probes, written = ctx.Event(), ctx.Queue(), ctx.Queue()
        writer = ctx.Process(target=system_writer, args=(tmp, stop, probes, written))
        writer.start()
        time.sleep(2.0)
        try:
            asyncio.run(measure(ws, args.idle_seconds, probes, written))
        finally:
            stop.set()
            writer.join(timeout=5)


if __name__ == "__main__":
    main()
