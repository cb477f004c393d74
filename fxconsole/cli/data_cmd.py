"""``fxconsole data``: import, synthesise, inspect and export market data."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fxconsole.cli.common import CliError, Context
from fxconsole.cli.download_cmd import add_download_parser
from fxconsole.config import ConfigError, with_overrides
from fxconsole.market.bars import BarsError
from fxconsole.market.sessions import SPLITS
from fxconsole.timeutil import TIMEFRAME_SECONDS

if TYPE_CHECKING:
    from fxconsole.market.pipeline import ImportSummary
    from fxconsole.market.store import MarketStore

# The names of fxconsole.market.formats.FORMATS, spelled out so that `fxconsole --help`
# and non-data commands need not import pandas and pyarrow (a test keeps them equal).
FORMAT_CHOICES = ("oanda", "csv", "histdata", "metatrader", "dukascopy")
STRADDLING = "none"  # fxconsole.market.pipeline.STRADDLING

console = Console()
IMPORT_STAGES = ("read", "validate", "store bars", "features", "store features")
SYNTH_STAGES = ("synthesise", "store bars", "features", "store features")


def add_parser(sub: Any) -> None:
    """Register the ``data`` sub-commands."""
    p = sub.add_parser("data",
                       help="market data: import, download, synth, info, export, sessions")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    imp = dsub.add_parser("import", help="import a bar file (format auto-detected)")
    imp.add_argument("path", type=Path)
    _series_args(imp)
    imp.add_argument("--format", choices=FORMAT_CHOICES, help="override the detected format")
    imp.add_argument("--drop-invalid", action="store_true",
                     help="drop invalid bars and report the count instead of failing")
    imp.add_argument("--replace", action="store_true",
                     help="replace the stored series instead of merging into it")
    imp.set_defaults(handler=_import)

    syn = dsub.add_parser("synth", help="generate the embedded default synthetic data set")
    _series_args(syn)
    syn.add_argument("--years", type=float, help="years of bars (config synth.years)")
    syn.add_argument("--seed", type=int, help="random seed (config synth.seed)")
    syn.add_argument("--signal", type=float,
                     help="planted predictability 0..4, 1 = calibrated (config synth.signal)")
    syn.set_defaults(handler=_synth)

    build = dsub.add_parser("build", help="(re)compute features and sessions if out of date")
    _series_args(build)
    build.add_argument("--force", action="store_true", help="recompute even if up to date")
    build.set_defaults(handler=_build)

    info = dsub.add_parser("info", help="what is stored: series, sessions, feature stats")
    info.set_defaults(handler=_info)

    exp = dsub.add_parser("export", help="write bars, features and outcome (CSV or Parquet)")
    _series_args(exp)
    exp.add_argument("--out", type=Path, required=True, help="FILE.csv or FILE.parquet")
    exp.set_defaults(handler=_export)

    ses = dsub.add_parser("sessions", help="write the valid session starts of a split")
    _series_args(ses)
    ses.add_argument("--split", choices=SPLITS, required=True)
    ses.add_argument("--out", type=Path, required=True, help="FILE.csv or FILE.parquet")
    ses.set_defaults(handler=_sessions)

    add_download_parser(dsub)


def _series_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--symbol", help="symbol (config data.symbol, default GBPJPY)")
    p.add_argument("--timeframe", choices=tuple(TIMEFRAME_SECONDS),
                   help="timeframe (config data.timeframe, default M1)")


def _series(ctx: Context, args: argparse.Namespace) -> tuple[str, str]:
    symbol = (args.symbol or ctx.config.data.symbol).upper()
    return symbol, args.timeframe or ctx.config.data.timeframe


@contextmanager
def _store(ctx: Context, read_only: bool = False) -> Iterator[MarketStore]:
    path = ctx.workspace.market_db
    if read_only and not path.exists():
        raise CliError(f"no market data in {ctx.workspace.root}: run `fxconsole data synth` "
                       "or `fxconsole data import FILE` first")
    if not read_only:
        ctx.workspace.ensure()
    import duckdb

    from fxconsole.market.store import MarketStore

    try:
        with MarketStore(path, read_only=read_only) as store:
            yield store
    except (BarsError, LookupError, ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    except duckdb.Error as exc:  # e.g. another process holds the store's write lock
        raise CliError(f"{path}: {exc}") from None


@contextmanager
def _progress(stages: tuple[str, ...]) -> Iterator[Callable[[str], None]]:
    bar = Progress(TextColumn("{task.description:<16}"), BarColumn(), TimeElapsedColumn(),
                   console=console, transient=True, disable=not console.is_terminal)
    with bar:
        task = bar.add_task(stages[0], total=len(stages))

        def advance(stage: str) -> None:
            done = stages.index(stage) if stage in stages else 0
            bar.update(task, description=stage, completed=done)

        yield advance
        bar.update(task, completed=len(stages))


def _import(ctx: Context, args: argparse.Namespace) -> int:
    from fxconsole.market.pipeline import import_file

    symbol, timeframe = _series(ctx, args)
    if not args.path.is_file():
        raise CliError(f"{args.path}: no such file")
    cfg = ctx.config.data
    if args.drop_invalid:
        cfg = with_overrides(ctx.config, "data", drop_invalid_rows=True).data
    started = time.perf_counter()
    with _store(ctx) as store, _progress(IMPORT_STAGES) as progress:
        summary = import_file(store, args.path, symbol, timeframe, cfg, args.format,
                              args.replace, progress)
    _print_summary(summary, time.perf_counter() - started)
    return 0


def _synth(ctx: Context, args: argparse.Namespace) -> int:
    from fxconsole.market.pipeline import synthesize

    symbol, timeframe = _series(ctx, args)
    overrides = {k: getattr(args, k) for k in ("years", "seed", "signal")
                 if getattr(args, k) is not None}
    try:
        synth_cfg = with_overrides(ctx.config, "synth", **overrides).synth
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    started = time.perf_counter()
    with _store(ctx) as store, _progress(SYNTH_STAGES) as progress:
        summary = synthesize(store, symbol, timeframe, synth_cfg, ctx.config.data, progress)
    _print_summary(summary, time.perf_counter() - started)
    return 0


def _build(ctx: Context, args: argparse.Namespace) -> int:
    from fxconsole.market.pipeline import build_features

    symbol, timeframe = _series(ctx, args)
    with _store(ctx) as store, store.transaction():
        result = build_features(store, symbol, timeframe, ctx.config.data, args.force)
    state = "recomputed" if result.recomputed else "already up to date"
    console.print(f"{symbol} {timeframe}: {result.rows:,} rows, features {state}; "
                  f"sessions {_sessions_line(result.sessions)}")
    return 0


def _when(ts: np.datetime64) -> str:
    return f"{np.datetime_as_string(ts, unit='s')}Z"


def _sessions_line(counts: dict[str, int]) -> str:
    line = " · ".join(f"{k} {counts.get(k, 0):,}" for k in SPLITS)
    straddling = counts.get(STRADDLING, 0)
    return f"{line} (+{straddling:,} straddling two splits)" if straddling else line


def _print_summary(s: ImportSummary, seconds: float) -> None:
    c = s.clean
    table = Table(title=f"{s.symbol} {s.timeframe} ← {s.source}", show_header=False)
    for label, value in (
        ("rows read", f"{c.rows_read:,}"),
        ("invalid dropped", f"{c.invalid_dropped:,}"),
        ("duplicates dropped", f"{c.duplicates_dropped:,}"),
        ("weekend rows dropped", f"{c.weekend_dropped:,}"),
        ("new rows stored", f"{s.new_rows:,}"),
        ("rows in series", f"{s.rows_stored:,}"),
        ("gaps (missing bars)", f"{s.gaps:,} ({s.missing_bars:,})"),
        ("first bar", _when(s.first_ts)),
        ("last bar", _when(s.last_ts)),
        ("sessions", _sessions_line(s.build.sessions)),
        ("took", f"{seconds:.1f} s"),
    ):
        table.add_row(label, value)
    console.print(table)


def _info(ctx: Context, args: argparse.Namespace) -> int:
    from fxconsole.market.store import feature_summary

    with _store(ctx, read_only=True) as store:
        series = store.series()
        if not series:
            console.print("the market store is empty")
            return 0
        console.print(f"market store {ctx.workspace.market_db}")
        overview = Table(box=box.SIMPLE_HEAD)
        for col in ("series", "rows", "first bar", "last bar"):
            overview.add_column(col, justify="left" if col == "series" else "right")
        sessions = Table(box=box.SIMPLE_HEAD, title="valid session starts")
        for col in ("series", *SPLITS, "straddling"):
            sessions.add_column(col, justify="left" if col == "series" else "right")
        for s in series:
            name = f"{s.symbol} {s.timeframe}"
            overview.add_row(name, f"{s.rows:,}", _when(s.first_ts), _when(s.last_ts))
            counts = store.session_counts(s.symbol, s.timeframe)
            sessions.add_row(name, *(f"{counts.get(k, 0):,}" for k in (*SPLITS, STRADDLING)))
        console.print(overview)
        console.print(sessions)
        for s in series:
            if store.feature_set(s.symbol, s.timeframe) is None:
                console.print(f"{s.symbol} {s.timeframe}: no features (run `fxconsole data build`)")
                continue
            stats = Table(title=f"{s.symbol} {s.timeframe} features", box=box.SIMPLE_HEAD)
            stats.add_column("feature", no_wrap=True)
            for col in ("defined", "mean", "std", "min", "max"):
                stats.add_column(col, justify="right", no_wrap=True)
            for name, n, mean, std, lo, hi in feature_summary(store, s.symbol, s.timeframe):
                stats.add_row(name, f"{n:,}", *(_num(v) for v in (mean, std, lo, hi)))
            console.print(stats)
    return 0


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _export(ctx: Context, args: argparse.Namespace) -> int:
    from fxconsole.market.store import export_series

    symbol, timeframe = _series(ctx, args)
    with _store(ctx, read_only=True) as store:
        n = export_series(store, symbol, timeframe, args.out)
    console.print(f"wrote {n:,} rows of {symbol} {timeframe} to {args.out}")
    return 0


def _sessions(ctx: Context, args: argparse.Namespace) -> int:
    from fxconsole.market.store import export_sessions

    symbol, timeframe = _series(ctx, args)
    with _store(ctx, read_only=True) as store:
        n = export_sessions(store, symbol, timeframe, args.split, args.out)
    console.print(f"wrote {n:,} {args.split} session starts of {symbol} {timeframe} to {args.out}")
    return 0
