"""``fxconsole run --no-ui`` (and ``fxconsole --no-ui``): the whole system, headless."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from fxconsole.cli.common import CliError, Context
from fxconsole.cli.data_lines import stage_printer, synth_summary
from fxconsole.cli.output import make_console

console = make_console()
TICK_SECONDS = 0.2


def add_parser(sub: Any) -> None:
    """Register ``run``."""
    p = sub.add_parser("run", help="run the system: the console UI, or headless with --no-ui")
    add_run_arguments(p)
    p.set_defaults(handler=run)


def run(ctx: Context, args: argparse.Namespace) -> int:
    """``fxconsole run``: the console UI (like ``fxconsole``), or headless with --no-ui."""
    if args.no_ui:
        return run_pool(ctx, args)
    from fxconsole.cli.ui_cmd import run_console

    return run_console(ctx, args)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``fxconsole run`` and ``fxconsole --no-ui``."""
    p.add_argument("--no-ui", action="store_true",
                   help="no console UI: supervise in the foreground, status lines on stdout")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="stop everything after this many seconds")
    p.add_argument("--run-name", dest="run_name", metavar="NAME",
                   help="training run the workers follow (default: config supervisor.run)")


def ensure_market_data(ctx: Context) -> None:
    """Synthesise the embedded default data set if the workspace has no market store."""
    from fxconsole.market.pipeline import synthesize
    from fxconsole.market.store import MarketStore

    cfg = ctx.config
    if ctx.workspace.market_db.exists():
        with MarketStore(ctx.workspace.market_db, read_only=True) as store:
            if store.feature_set(cfg.data.symbol, cfg.data.timeframe) is not None:
                return
    console.print(f"no market data in {ctx.workspace.root}: synthesising the default "
                  f"{cfg.synth.years:g} years of {cfg.data.symbol} {cfg.data.timeframe} "
                  "(once; about 20 s)…")
    ctx.workspace.ensure()
    started = time.monotonic()
    progress = stage_printer(lambda line: console.print(line, markup=False))
    with MarketStore(ctx.workspace.market_db) as store:
        summary = synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data,
                             progress)
    console.print(synth_summary(summary, time.monotonic() - started), markup=False)


def _prepare_market_data(ctx: Context) -> None:
    """The child process of :func:`prepare_market_data` (exits 1 naming the error)."""
    try:
        ensure_market_data(ctx)
    except Exception as exc:  # duckdb's lock, a bad synth config …: name it, no traceback
        print(f"cannot prepare the market data in {ctx.workspace.market_db}: {exc}",
              file=sys.stderr, flush=True)
        sys.exit(1)


def prepare_market_data(ctx: Context) -> None:
    """Synthesise the default data set if the workspace has none, in a child process:
    the market store's libraries (duckdb, pyarrow, pandas: ~200 MB) are never loaded in
    the console's or the supervisor's own process, which run for months.

    Raises:
        CliError: if the child failed (it printed why).
    """
    import multiprocessing

    child = multiprocessing.get_context("spawn").Process(
        target=_prepare_market_data, args=(ctx,), name="fxconsole market data")
    child.start()
    child.join()
    if child.exitcode != 0:
        raise CliError(f"cannot prepare the market data in {ctx.workspace.market_db} "
                       f"(exit {child.exitcode})")


def run_pool(ctx: Context, args: argparse.Namespace) -> int:
    """Supervise the workers in the foreground until Ctrl-C, SIGTERM or ``--duration``."""
    from fxconsole.agents.manifest import CheckpointError
    from fxconsole.cli.event_lines import EventLines
    from fxconsole.ops.lock import AlreadyRunning
    from fxconsole.ops.pool import Pool
    from fxconsole.ops.status import status_line

    prepare_market_data(ctx)  # in a child: the supervisor never loads duckdb & co
    run = args.run_name or ctx.config.supervisor.run
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        pool = Pool(ctx.config, ctx.workspace, run, config_path=ctx.config_path)
    except (AlreadyRunning, CheckpointError) as exc:
        raise CliError(str(exc)) from None
    console.print(f"supervising run {run} in {ctx.workspace.root} (Ctrl-C stops everything)")
    deadline = None if args.duration is None else time.monotonic() + args.duration
    next_status = 0.0
    try:
        events = EventLines(pool.conn)  # new warnings, errors and verdicts as lines
        pool.start()
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            pool.step()
            for line in events.poll(pool.conn):
                console.print(line, markup=False)
            if pool.stop_reason is not None:
                console.print(f"stopping: {pool.stop_reason}")
                break
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + ctx.config.supervisor.status_seconds
                console.print(status_line(pool.conn, run))
            stop.wait(TICK_SECONDS)
    finally:
        console.print("stopping every worker…")
        pool.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("all workers stopped")
    return 0 if pool.stop_reason is None else 1
