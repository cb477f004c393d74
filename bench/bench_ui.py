"""The console's own costs: start-up to first full frame, idle CPU, metric → screen
latency, key → command row; then, in a real terminal, idle CPU at 80×24 and 160×48 and
the console's resident memory. Prints figures only.

A temporary workspace is filled like a running system (four workers up for an hour,
heartbeats and metrics written once a second by a separate writer process, so the CPU
figures are the UI's alone). The first part runs the app headless (``App.run_test``), so
terminal I/O is not included; the second (``--terminal``, the default; needs tmux) runs
the real ``fxconsole attach`` in a tmux terminal (the writer holds the supervisor lock,
so the console attaches to it as to a supervisor) and measures that process with psutil:
idle CPU over ``--idle-seconds`` at each size, and its RSS (targets: ≤ 3 % of a core at
80×24, ≤ 5 % at 160×48, ≤ 200 MB).

    .venv/bin/python bench/bench_ui.py [--idle-seconds 10] [--no-headless] [--no-terminal]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from fxconsole.config import Config
from fxconsole.ops.db import connect, transaction
from fxconsole.ops.lock import SupervisorLock
from fxconsole.ops.writer import MetricsWriter
from fxconsole.ui.app import FxConsoleApp
from fxconsole.workspace import Workspace

WORKERS = (("trainer", "trainer"), ("collector-1", "collector"), ("validator", "validator"),
           ("live", "live"))


def cpu() -> float:
    """This process's CPU seconds so far."""
    t = os.times()
    return t.user + t.system


def busy_second(ws: Workspace, writers: dict[str, MetricsWriter], step: int) -> None:
    """What a busy system adds each second: the trainer's rollout figures (the charts
    move), live's figures and a closed trade now and then, an alert every 30 s, and two
    lines in each worker's log (the log pane follows the selected one)."""
    second = step // 1000
    # (not rollout/expectancy: the latency probe writes that one)
    writers["trainer"].write(step, {"rollout/win_rate": 0.4 + (second % 11) / 100,
                                    "rollout/avg_win": 12.0, "rollout/avg_loss": -8.0})
    writers["live"].write(step, {"live/position": second % 3 - 1, "live/realised_pips": second,
                                 "live/unrealised_pips": (second % 7) - 3.0,
                                 "live/trades": second // 5, "live/connected": 1})
    if second % 5 == 0:
        writers["live"].trades(step, [{"side": "long", "pips": (second % 9) - 4.0,
                                       "entry_price": 190.0, "exit_price": 190.1,
                                       "bars_held": 5}])
    if second % 30 == 0:
        writers["trainer"].event("warning", "slow-update", f"update {second} took long")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    for name, _ in WORKERS:
        with (ws.logs_dir / f"{name}.log").open("a", encoding="utf-8") as log:
            log.write(f"{stamp} INFO {name}: step {step} done\n"
                      f"{stamp} INFO {name}: rollout of 2048 steps collected\n")


def system_writer(root: str, stop: Any, probes: Any, written: Any, busy: bool = False) -> None:
    """Heartbeats and a few metrics once a second (with ``busy``, what a busy system adds:
    :func:`busy_second`); a probe value as soon as one arrives (its write time,
    ``time.monotonic()``, goes back on ``written``)."""
    ws = Workspace(Path(root))
    lock = SupervisorLock.for_workspace(ws).acquire()  # `fxconsole attach` needs a holder
    conn = connect(ws.console_db)
    ws.logs_dir.mkdir(parents=True, exist_ok=True)
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
            if busy:
                busy_second(ws, writers, step)
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
    lock.release()


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


SIZES = ((80, 24, 0.03), (160, 48, 0.05))  # columns, rows, idle CPU target
RSS_TARGET = 200 * 2**20
TMUX_SOCKET = f"fxbench-{os.getpid()}"


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", TMUX_SOCKET, *args], check=True,
                          capture_output=True, text=True).stdout


def _console_process(shell_pid: int, timeout: float = 30.0) -> psutil.Process:
    """The python process running the console under the tmux pane's shell."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shell = psutil.Process(shell_pid)
        for proc in [shell, *shell.children(recursive=True)]:
            try:
                if "fxconsole" in " ".join(proc.cmdline()) and "python" in proc.name():
                    return proc
            except psutil.Error:
                continue
        time.sleep(0.2)
    raise RuntimeError("the console did not start in the tmux pane")


def measure_terminal(ws: Workspace, idle_seconds: float, settle: float = 4.0) -> None:
    """Run ``fxconsole attach`` in a real (tmux) terminal; print its idle CPU at each size
    of :data:`SIZES` and its RSS."""
    if shutil.which("tmux") is None:
        print("real terminal: tmux not found, skipped")
        return
    cols, rows, _ = SIZES[0]
    command = (f"{sys.executable} -m fxconsole --workspace {ws.root} attach; "
               "sleep 3600")  # the pane outlives a crash, so its output can be read
    _tmux("new-session", "-d", "-s", "bench", "-x", str(cols), "-y", str(rows),
          "env", "TERM=xterm-256color", "COLORTERM=truecolor",
          f"PYTHONPATH={os.environ.get('PYTHONPATH', '')}", "sh", "-c", command)
    try:
        shell_pid = int(_tmux("display-message", "-p", "-t", "bench", "#{pane_pid}").strip())
        proc = _console_process(shell_pid)
        peak = 0
        for cols, rows, target in SIZES:
            _tmux("resize-window", "-t", "bench", "-x", str(cols), "-y", str(rows))
            time.sleep(settle)
            before, t0 = proc.cpu_times(), time.monotonic()
            time.sleep(idle_seconds)
            after, elapsed = proc.cpu_times(), time.monotonic() - t0
            share = (after.user + after.system - before.user - before.system) / elapsed
            rss = proc.memory_info().rss
            peak = max(peak, rss)
            print(f"real terminal {cols}×{rows}: idle CPU {share:.1%} of a core "
                  f"(target ≤ {target:.0%}), RSS {rss / 2**20:.0f} MB")
        loaded = {m for m in ("duckdb", "pyarrow", "pandas", "numba", "torch")
                  if any(f"/{m}" in (mm.path or "") for mm in proc.memory_maps())}
        print(f"console RSS peak {peak / 2**20:.0f} MB (target ≤ {RSS_TARGET / 2**20:.0f} MB); "
              f"heavy libraries mapped: {', '.join(sorted(loaded)) or 'none'}")
    except psutil.NoSuchProcess:
        print("the console exited; its terminal showed:\n"
              + _tmux("capture-pane", "-p", "-t", "bench", "-S", "-40"))
        raise
    finally:
        subprocess.run(["tmux", "-L", TMUX_SOCKET, "kill-server"], check=False,
                       capture_output=True)


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--no-headless", dest="headless", action="store_false",
                        help="skip the headless (run_test) figures")
    parser.add_argument("--no-terminal", dest="terminal", action="store_false",
                        help="skip the real-terminal (tmux) figures")
    parser.add_argument("--busy", action="store_true",
                        help="the system also writes rollout and live figures, trades, "
                             "alerts and log lines every second")
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp)).ensure()
        stop, probes, written = ctx.Event(), ctx.Queue(), ctx.Queue()
        writer = ctx.Process(target=system_writer, args=(tmp, stop, probes, written, args.busy))
        writer.start()
        time.sleep(2.0)
        try:
            if args.headless:
                asyncio.run(measure(ws, args.idle_seconds, probes, written))
            if args.terminal:
                measure_terminal(ws, args.idle_seconds)
        finally:
            stop.set()
            writer.join(timeout=5)


if __name__ == "__main__":
    main()
