"""The supervisor's own cost and how fast it recovers a killed worker.

Starts ``fxconsole --no-ui`` on a temporary workspace (small synthetic data set, default
workers), measures the supervisor process's CPU over ``--seconds`` once every worker is
RUNNING, then kills the trainer with SIGKILL several times and times each return to
RUNNING. Prints figures only.

    .venv/bin/python bench/bench_supervisor.py [--seconds 20] [--kills 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fxconsole.config import Config, with_overrides
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def workers(db: Path) -> dict[str, tuple[str, int]]:
    """name → (state, pid) from the console database."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return {n: (s, p) for n, s, p in conn.execute("SELECT name, state, pid FROM workers")}
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def wait_running(db: Path, old_pid: int | None = None, timeout: float = 120.0) -> float:
    """Seconds until every worker is RUNNING (and the trainer's pid is not ``old_pid``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        w = workers(db)
        if w and all(s == "RUNNING" for s, _ in w.values()) and w["trainer"][1] != old_pid:
            return time.monotonic() - started
        time.sleep(0.05)
    raise TimeoutError("workers did not reach RUNNING")


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        # enough crash budget for every kill: the crash policy would make the trainer FATAL
        (ws / "fxconsole.toml").write_text(
            f"[supervisor]\nstartsecs = 1.0\ncrash_limit = {max(5, args.kills + 1)}\n")
        cfg = with_overrides(Config(), "synth", years=0.2, seed=1)
        with MarketStore(ws / "data" / "market.duckdb") as store:
            synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
        db = ws / "data" / "console.sqlite"
        fx = str(Path(sys.executable).parent / "fxconsole")
        proc = subprocess.Popen([fx, "--workspace", str(ws), "--no-ui"],
                                stdout=subprocess.DEVNULL, start_new_session=True)
        try:
            print(f"all workers RUNNING after {wait_running(db):.1f} s")
            before = cpu_seconds(proc.pid)
            time.sleep(args.seconds)
            used = cpu_seconds(proc.pid) - before
            print(f"supervisor CPU with {len(workers(db))} workers over {args.seconds:.0f} s: "
                  f"{100 * used / args.seconds:.2f} % of a core (target < 1 %)")
            recoveries = []
            for _ in range(args.kills):
                pid = workers(db)["trainer"][1]
                os.kill(pid, signal.SIGKILL)
                recoveries.append(wait_running(db, old_pid=pid))
                time.sleep(2.0)
            print(f"kill -9 trainer → RUNNING again: "
                  f"{', '.join(f'{r:.2f}' for r in recoveries)} s "
                  f"(median {statistics.median(recoveries):.2f} s; includes startsecs 1 s and the "
                  f"crash backoff, which grows 1, 2, 4 … s with each crash in the window)")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
