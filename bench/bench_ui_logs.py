"""The log pane's cost while a worker logs 10,000 lines/s, and how far behind it shows them.

Each mode runs in its own process: a Textual app (80×24, a driver that renders every
frame to ANSI like a terminal would but discards the bytes) hosting one pane that follows
a file. A writer subprocess logs to that file through ``RotatingFileHandler`` (the
workers' format, 10 MB rotation) at ``--rate`` lines/s for ``--seconds``; every message
carries its sequence number and ``time.time()``.

* UI CPU: ``os.times()`` (user + system, all threads) of the app's process from the first
  line shown to the writer's exit, as % of one core; the writer is its own process (its
  CPU, mostly ``logging`` itself, is shown apart).
* Lag: every 100 ms while the writer runs, now minus the timestamp of the last line in the
  widget; then how long after the writer exits its last line is in the widget ("drain"),
  or how far behind it still is after 10 s.

Modes: ``batch`` (LogPane: one ``Log.write_lines`` per batch), ``per-line`` (the same pane,
one ``Log.write_line`` per line), ``richlog`` (the same reads into a ``RichLog``, one
``write`` of a ``Text`` per batch), and ``idle`` (following a file nobody writes).

    .venv/bin/python bench/bench_ui_logs.py [--seconds 10] [--rate 10000] [--modes ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.drivers.headless_driver import HeadlessDriver
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Log, RichLog

from fxconsole.ui.widgets.log_pane import LogPane
from fxconsole.ui.widgets.log_tail import LogTail

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SEQ = re.compile(r"seq=(\d+) t=([\d.]+)")
MODES = ("idle", "batch", "per-line", "richlog")
DRAIN_LIMIT = 10.0


def cpu() -> float:
    """User + system CPU seconds of this process (all threads)."""
    t = os.times()
    return t.user + t.system


def writer(path: Path, rate: float, seconds: float) -> None:
    """Log ``rate`` lines/s for ``seconds``; print {"lines", "cpu"} as JSON at the end."""
    handler = RotatingFileHandler(path, maxBytes=10 * 1024 * 1024, backupCount=3)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    log = logging.getLogger("workers.bench")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    payload = "x" * 40
    levels = (logging.INFO,) * 17 + (logging.DEBUG, logging.WARNING, logging.ERROR)
    start, n = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * rate)
        while n < due:
            log.log(levels[n % 20], "seq=%d t=%.6f step payload=%s", n, time.time(), payload)
            n += 1
        time.sleep(0.002)
    handler.close()
    print(json.dumps({"lines": n, "cpu": cpu(), "seconds": time.perf_counter() - start}))


class NullTerminalDriver(HeadlessDriver):
    """Headless input, but the app renders each frame to ANSI as for a real terminal."""

    written = 0

    @property
    def is_headless(self) -> bool:
        return False

    def write(self, data: str) -> None:
        NullTerminalDriver.written += len(data)


class PerLinePane(LogPane):
    """The naive peer: one ``write_line`` call per line."""

    def _write_lines(self, log: Log, lines: list[str]) -> None:
        for line in lines:
            log.write_line(line, scroll_end=False)


class RichTail(Widget):
    """The same thread-worker reads, rendered by ``RichLog`` (one ``write`` per batch)."""

    class Batch(Message, bubble=False):
        def __init__(self, lines: list[str]) -> None:
            super().__init__()
            self.lines = lines

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.tail = LogTail(path)
        self.rich_log = RichLog(max_lines=10_000, wrap=False, markup=False)
        self.last = ""

    def compose(self) -> ComposeResult:
        yield self.rich_log

    def on_mount(self) -> None:
        self.read()

    @work(thread=True, exclusive=True)
    def read(self) -> None:
        self.post_message(self.Batch(self.tail.read_new()))

    def on_rich_tail_batch(self, message: Batch) -> None:
        if message.lines:
            self.rich_log.write(Text("\n".join(message.lines)))
            self.last = message.lines[-1]
        self.set_timer(0.2, self.read)


class BenchApp(App[None]):
    """Hosts one pane; starts the writer; samples the last line shown; exits when done."""

    def __init__(self, mode: str, path: Path, rate: float, seconds: float) -> None:
        super().__init__(driver_class=NullTerminalDriver)
        self.mode, self.path, self.rate, self.seconds = mode, path, rate, seconds
        self.pane: Widget = (
            RichTail(path) if mode == "richlog"
            else (PerLinePane if mode == "per-line" else LogPane)(path, "bench")
        )
        self.lags: list[float] = []
        self.result: dict[str, Any] = {"mode": mode}
        self.proc: subprocess.Popen[str] | None = None
        self.cpu0 = self.t0 = self.t_end = 0.0
        self.written0 = 0
        self.total: int | None = None

    def compose(self) -> ComposeResult:
        yield self.pane

    def on_mount(self) -> None:
        self.t0, self.cpu0 = time.perf_counter(), cpu()
        if self.mode == "idle":
            self.set_timer(self.seconds, self.finish_idle)
            return
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--writer", str(self.path), "--rate", str(self.rate),
             "--seconds", str(self.seconds)], stdout=subprocess.PIPE, text=True)
        self.set_interval(0.1, self.sample)

    def last_line(self) -> str:
        if isinstance(self.pane, RichTail):
            return self.pane.last
        lines = self.query_one(Log).lines
        return lines[-1] if lines else ""

    def gaps(self) -> int | None:
        """Sequence numbers missing between the first and last line the ``Log`` holds."""
        if isinstance(self.pane, RichTail):
            return None
        seqs = [int(m.group(1)) for line in self.query_one(Log).lines if (m := SEQ.search(line))]
        return seqs[-1] - seqs[0] + 1 - len(seqs) if seqs else None

    def finish_idle(self) -> None:
        self.result["ui_cpu_pct"] = 100 * (cpu() - self.cpu0) / (time.perf_counter() - self.t0)
        self.exit()

    def sample(self) -> None:
        now, match = time.time(), SEQ.search(self.last_line())
        seq = int(match.group(1)) if match else -1
        if match and self.total is None:
            self.lags.append(now - float(match.group(2)))
            if len(self.lags) == 1:  # the CPU window starts with the first line shown
                self.t0, self.cpu0 = time.perf_counter(), cpu()
                self.written0 = NullTerminalDriver.written
        if self.proc is not None and self.total is None and self.proc.poll() is not None:
            out, _ = self.proc.communicate()
            info = json.loads(out)
            self.total, self.t_end = info["lines"], time.perf_counter()
            window = self.t_end - self.t0
            self.result.update(lines=info["lines"], write_s=info["seconds"],
                               ui_cpu_pct=100 * (cpu() - self.cpu0) / window,
                               writer_cpu_pct=100 * info["cpu"] / info["seconds"],
                               term_kb_s=(NullTerminalDriver.written - self.written0)
                               / window / 1024,
                               rotations=sum(Path(f"{self.path}.{i}").exists()
                                             for i in (1, 2, 3)))
        if self.total is None:
            return
        waited = time.perf_counter() - self.t_end
        if seq == self.total - 1 or waited > DRAIN_LIMIT:
            self.result.update(drain_s=waited if seq == self.total - 1 else None,
                               behind=self.total - 1 - seq, lags=self.lags, gaps=self.gaps())
            self.exit()


def run_mode(mode: str, path: Path, rate: float, seconds: float) -> None:
    """Run one mode in this process and print its result as JSON."""
    app = BenchApp(mode, path, rate, seconds)
    app.run(headless=False, size=(80, 24), mouse=False)
    print(json.dumps(app.result))


def report(res: dict[str, Any], rate: float) -> None:
    """Print one mode's figures."""
    if res["mode"] == "idle":
        print(f"{'idle':9s} UI CPU {res['ui_cpu_pct']:5.1f} % of a core (nobody writing)")
        return
    lags = sorted(res["lags"]) or [float("nan")]
    p95 = lags[int(0.95 * (len(lags) - 1))]
    drain = f"{res['drain_s']:.2f} s" if res["drain_s"] is not None else (
        f"not within {DRAIN_LIMIT:.0f} s, {res['behind']:,} lines behind")
    print(f"{res['mode']:9s} UI CPU {res['ui_cpu_pct']:5.1f} % of a core at "
          f"{res['lines'] / res['write_s']:,.0f} lines/s (target {rate:,.0f}); "
          f"lag median {statistics.median(lags):.2f} s, p95 {p95:.2f} s, max {lags[-1]:.2f} s; "
          f"drain {drain}; writer CPU {res['writer_cpu_pct']:.0f} %; "
          f"terminal {res['term_kb_s']:,.0f} KiB/s; {res['rotations']} rotation(s)"
          + ("" if res["gaps"] is None else f", {res['gaps']} gaps in the lines the Log holds"))


def main() -> None:
    """Run each mode in a fresh process and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=10_000.0)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--writer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        writer(args.writer, args.rate, args.seconds)
        return
    if args.run:
        run_mode(args.run, args.path, args.rate, args.seconds)
        return
    print(f"log pane at 80×24, writer at {args.rate:,.0f} lines/s for {args.seconds:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes:
            path = Path(tmp) / f"{mode}.log"
            seconds = min(args.seconds, 5.0) if mode == "idle" else args.seconds
            if mode == "idle":
                path.write_text("2024-01-02 03:04:05,678 INFO workers.bench: quiet\n" * 100)
            out = subprocess.run(
                [sys.executable, __file__, "--run", mode, "--path", str(path),
                 "--rate", str(args.rate), "--seconds", str(seconds)],
                check=True, capture_output=True, text=True).stdout
            report(json.loads(out.strip().splitlines()[-1]), args.rate)


if __name__ == "__main__":
    main()
