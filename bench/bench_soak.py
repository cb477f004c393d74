"""Soak: the real headless system for ``--minutes``, its resources printed every minute.

Starts ``fxconsole run --no-ui`` in a temporary workspace with a small synthetic data
set (``synth.years``, default 0.25) and otherwise the default configuration (trainer,
collector, validator, paper live worker; the supervisor's housekeeping every
``ops.retention_seconds``). Every ``--every`` seconds it prints, per process (the
supervisor and each worker, found by ``--name`` in its command line): RSS and open file
descriptors; then the console database's file and WAL sizes, its raw row counts, the
trades counted in ``trade_totals``, the ``.out``/log files' total size, and restarts.
At the end the supervisor gets SIGTERM (it stops its workers). Prints figures; asserts
nothing.

    python bench/bench_soak.py [--minutes 30] [--every 60] [--years 0.25] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

MB = 1024 * 1024
FXCONSOLE = str(Path(sys.executable).parent / "fxconsole")


def name_of(proc: psutil.Process) -> str:
    """A worker's ``--name`` from its command line, else ``supervisor``/the exe name."""
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return "?"
    if "--name" in cmd and cmd.index("--name") + 1 < len(cmd):
        return cmd[cmd.index("--name") + 1]
    return "supervisor" if "--no-ui" in cmd else Path(cmd[0]).name if cmd else "?"


def processes(root: psutil.Process) -> dict[str, tuple[float, int]]:
    """RSS (MB) and open descriptors of the supervisor and each worker (with its children)."""
    out: dict[str, tuple[float, int]] = {}
    with contextlib.suppress(psutil.Error):
        out["supervisor"] = (root.memory_info().rss / MB, root.num_fds())
        for child in root.children():
            name = name_of(child)
            rss, fds = 0.0, 0
            with contextlib.suppress(psutil.Error):
                for p in (child, *child.children(recursive=True)):
                    rss += p.memory_info().rss / MB
                    fds += p.num_fds()
            out[name] = (rss, fds)
    return out


def database(ws: Path) -> str:
    """File and WAL sizes, raw rows, counted trades and restarts, as one line."""
    db = ws / "data" / "console.sqlite"
    if not db.exists():
        return "no database yet"
    wal = db.with_name(db.name + "-wal")
    size, wal_mb = db.stat().st_size / MB, (wal.stat().st_size / MB if wal.exists() else 0.0)
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            rows = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                    for t in ("metrics", "trades", "episodes", "events")}
            counted = conn.execute("SELECT coalesce(sum(trades), 0) FROM trade_totals"
                                   ).fetchone()[0]
            restarts = conn.execute("SELECT coalesce(sum(restarts), 0) FROM workers"
                                    ).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"db {size:.1f} MB (+wal {wal_mb:.1f}); unreadable now: {exc}"
    raw = " ".join(f"{t} {n:,}" for t, n in rows.items())
    return (f"db {size:.1f} MB (+wal {wal_mb:.1f})  rows: {raw}  trades counted {counted:,}"
            f"  restarts {restarts}")


def logs_mb(ws: Path) -> float:
    """Total size of data/logs (worker logs, .out files, their backups)."""
    logs = ws / "data" / "logs"
    return sum(p.stat().st_size for p in logs.glob("*") if p.is_file()) / MB if logs.is_dir() \
        else 0.0


def soak(ws: Path, minutes: float, every: float, years: float) -> None:
    """Run the system in ``ws`` and print a block of figures every ``every`` seconds."""
    (ws / "fxconsole.toml").write_text(f"[synth]\nyears = {years}\n")
    out = (ws / "supervisor.stdout").open("w")
    proc = subprocess.Popen([FXCONSOLE, "--workspace", str(ws), "run", "--no-ui"],
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    started = time.monotonic()
    root = psutil.Process(proc.pid)
    try:
        deadline = started + minutes * 60.0
        next_print = started + every
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(max(0.0, min(next_print, deadline) - time.monotonic()))
            if time.monotonic() < next_print:
                continue
            next_print += every
            elapsed = (time.monotonic() - started) / 60.0
            procs = "  ".join(f"{n} {rss:.0f} MB/{fds} fds"
                              for n, (rss, fds) in sorted(processes(root).items()))
            print(f"[{elapsed:5.1f} min] {procs}", flush=True)
            print(f"            {database(ws)}  logs {logs_mb(ws):.1f} MB", flush=True)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        out.close()
    print(f"supervisor exited with {proc.returncode} after "
          f"{(time.monotonic() - started) / 60:.1f} min (its output: supervisor.stdout of "
          "the workspace; --keep DIR keeps it)")


def main() -> None:
    """Parse the options, run the soak in a temporary (or kept) workspace."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to run")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between prints")
    parser.add_argument("--years", type=float, default=0.25, help="synth.years of the data")
    parser.add_argument("--keep", type=Path, help="use (and keep) this workspace folder")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        soak(args.keep, args.minutes, args.every, args.years)
        return
    tmp = tempfile.mkdtemp(prefix="fxsoak-")
    try:
        soak(Path(tmp), args.minutes, args.every, args.years)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
