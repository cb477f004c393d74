"""``fxconsole data``: import, synthesise, inspect, check and export market data."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from rich import box
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fxconsole.cli.common import CliError, Context
from fxconsole.cli.data_lines import sessions_line
from fxconsole.cli.download_cmd import add_download_parser
from fxconsole.cli.output import make_console
from fxconsole.config import ConfigError, with_overrides
from fxconsole.market.bars import BarsError
from fxconsole.market.sessions import SPLITS
from fxconsole.timeutil import TIMEFRAME_SECONDS

if TYPE_CHECKING:
    from fxconsole.market.bars import F64, Bars
    from fxconsole.market.lookahead import LookaheadReport
    from fxconsole.market.pipeline import ImportSummary
    from fxconsole.market.store import MarketStore

# The names of fxconsole.market.formats.FORMATS, spelled out so that `fxconsole --help`
# and non-data commands need not import pandas and pyarrow (a test keeps them equal).
FORMAT_CHOICES = ("oanda", "csv", "histdata", "metatrader", "dukascopy")
STRADDLING = "none"  # fxconsole.market.pipeline.STRADDLING

console = make_console(highlight=True)
IMPORT_STAGES = ("read", "validate", "store bars", "features", "store features")
SYNTH_STAGES = ("synthesise", "store bars", "features", "store features")
# fxconsole.market.lookahead's defaults, spelled out to keep numba out of `--help`.
LOOKAHEAD_SAMPLES = 20
LOOKAHEAD_LISTED = 20  # differences listed; the rest are counted


def add_parser(sub: Any) -> None:
    """Register the ``data`` sub-commands."""
    p = sub.add_parser("data",
                       help="market data: import, download, synth, info, export, sessions, "
                            "lookahead")
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

    look = dsub.add_parser(
        "lookahead", help="check that no stored feature reads a later bar",
        description="Recompute the features on the stored bars truncated at random cut "
                    "points and compare them with the stored features: a feature that "
                    "reads a later bar changes when the future is cut off.")
    look.add_argument("--samples", type=_positive_int, default=LOOKAHEAD_SAMPLES,
                      metavar="N", help=f"cut points to check (default {LOOKAHEAD_SAMPLES})")
    _series_args(look)
    look.add_argument("--seed", type=_seed, metavar="N",
                      help="seed of the cut points (default: a random one, printed)")
    look.set_defaults(handler=_lookahead)

    add_download_parser(dsub)


def _series_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--symbol", help="symbol (config data.symbol, default GBPJPY)")
    p.add_argument("--timeframe", choices=tuple(TIMEFRAME_SECONDS),
                   help="timeframe (config data.timeframe, default M1)")


def _int_at_least(minimum: int) -> Any:
    """An argparse type: an integer ≥ ``minimum``, else an error naming the value."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_seed = _int_at_least(0)


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
                  f"sessions {sessions_line(result.sessions)}")
    return 0


def _when(ts: np.datetime64) -> str:
    return f"{np.datetime_as_string(ts, unit='s')}Z"


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
        ("sessions", sessions_line(s.build.sessions)),
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
        runs = _runs_table(ctx, store)
        if runs is not None:
            console.print(runs)
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


def _runs_table(ctx: Context, store: Any) -> Table | None:
    """The runs of the workspace, their pinned windows (SPEC §6.1) and whether the stored
    bars of those windows still match."""
    from fxconsole.agents.pinned_run import run_pins
    from fxconsole.trading.market_data import fingerprint
    from fxconsole.trading.pinning import WINDOWS

    pins = run_pins(ctx.workspace.checkpoints_dir)
    if not pins:
        return None
    table = Table(box=box.SIMPLE_HEAD, title="runs and the windows they are pinned to (from)")
    for col in ("run", "train", "validation", "test", "gate σ20", "stored bars"):
        table.add_column(col, justify="left" if col in ("run", "stored bars") else "right",
                         no_wrap=col != "stored bars")
    bars_of: dict[tuple[str, str], Any] = {}
    for run, pin in pins:
        if pin is None:
            table.add_row(run, "—", "—", "—", "—", "not pinned")
            continue
        key = (pin.symbol, pin.timeframe)
        if key not in bars_of:
            bars_of[key] = store.load_bars(*key)
        bars = bars_of[key]
        state = "missing" if bars is None else "match"
        if bars is not None:
            for name in WINDOWS:
                lo, hi = pin.window(name)
                got = fingerprint(bars.ts, [bars.open, bars.high, bars.low, bars.close], lo, hi)
                want = pin.windows[name]
                if got != (want.rows, want.sha256):
                    state = f"{name} window CHANGED"
                    break
        iso = {k: v[:10] for k, v in pin.to_dict()["iso"].items()}
        table.add_row(run, iso["t0"], iso["b1"], iso["b2"], f"{pin.gate_sigma_pips:.2f}",
                      state if len(bars_of) == 1 else f"{pin.symbol} {pin.timeframe}: {state}")
    return table


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


class _Checked(NamedTuple):
    """What ``data lookahead`` compares: bars, stored features and their window."""

    bars: Bars
    values: F64
    window: int


def _load_checked(ctx: Context, symbol: str, timeframe: str) -> _Checked:
    """The bars and stored features of a series, refusing features that are out of date."""
    from fxconsole.market.pipeline import bars_fingerprint

    with _store(ctx, read_only=True) as store:
        bars = store.load_bars(symbol, timeframe)
        if bars is None:
            raise CliError(f"no bars stored for {symbol} {timeframe}: run `fxconsole data "
                           "synth` or `fxconsole data import FILE` first")
        feature_set = store.feature_set(symbol, timeframe)
        if feature_set is None:
            raise CliError(f"no features stored for {symbol} {timeframe}: run "
                           "`fxconsole data build` first")
        table = store.load_features(symbol, timeframe)
    if (feature_set.bars_fingerprint != bars_fingerprint(bars) or len(table.ts) != len(bars)
            or not np.array_equal(table.ts, bars.ts)):
        raise CliError(f"the stored features of {symbol} {timeframe} were computed from other "
                       "bars: run `fxconsole data build` first")
    window = int(feature_set.params.get("mm_window", ctx.config.data.mm_window))
    return _Checked(bars, table.values, window)


def _lookahead(ctx: Context, args: argparse.Namespace) -> int:
    import secrets

    from fxconsole.market.lookahead import (
        DEFAULT_TOLERANCE,
        ROWS_PER_CUT,
        check_lookahead,
        pick_cuts,
    )

    symbol, timeframe = _series(ctx, args)
    started = time.perf_counter()
    checked = _load_checked(ctx, symbol, timeframe)
    seed = args.seed if args.seed is not None else secrets.randbelow(1_000_000)
    try:
        cuts = pick_cuts(len(checked.bars), args.samples, seed, checked.window)
    except ValueError as exc:
        raise CliError(f"{symbol} {timeframe}: {exc}") from None
    report = check_lookahead(checked.bars, checked.values, cuts, checked.window)
    seconds = time.perf_counter() - started
    asked = f" ({args.samples} asked, too few rows)" if len(cuts) < args.samples else ""
    console.print(f"look-ahead check of {symbol} {timeframe}: {len(checked.bars):,} rows, "
                  f"W = {checked.window}, {len(cuts)} cut points{asked}, seed {seed}",
                  highlight=False)
    console.print(f"each cut and the {ROWS_PER_CUT - 1} rows before it, recomputed from bars "
                  f"0 … cut; |Δ| ≤ {DEFAULT_TOLERANCE:g}", highlight=False)
    console.print(_lookahead_summary(report))
    if report.clean:
        console.print(f"[green]{len(cuts)} cut points, {report.max_abs_diff.size} features, "
                      f"no look-ahead[/green] (took {seconds:.1f} s)", highlight=False)
        return 0
    _print_differences(report)
    names = sorted({d.feature for d in report.differences})
    console.print(f"[red]look-ahead: {len(report.differences):,} stored value(s) differ from "
                  f"the recompute without the later bars, in {', '.join(names)}[/red] "
                  f"(rerun with --seed {seed}; took {seconds:.1f} s)", highlight=False)
    return 1


def _lookahead_summary(report: LookaheadReport) -> Table:
    from fxconsole.market.features import FEATURE_NAMES

    found = {name: 0 for name in FEATURE_NAMES}
    for d in report.differences:
        found[d.feature] += 1
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("feature", no_wrap=True)
    for col in ("rows compared", "differences", "max |Δ|"):
        table.add_column(col, justify="right", no_wrap=True)
    for name, worst in zip(FEATURE_NAMES, report.max_abs_diff, strict=True):
        table.add_row(name, f"{report.rows_compared:,}", f"{found[name]:,}", f"{worst:.1e}",
                      style="red" if found[name] else None)
    return table


def _print_differences(report: LookaheadReport) -> None:
    # Lines, not a table: a row of six wide cells would be cut to fit an 80-column terminal.
    console.print("differences (stored vs recomputed from the bars up to the cut):",
                  highlight=False)
    for d in report.differences[:LOOKAHEAD_LISTED]:
        console.print(f"  {d.feature} row {d.row:,} ({_when(np.datetime64(d.ts, 'ns'))}, "
                      f"cut {d.cut:,}): stored {_value(d.stored)} vs recomputed "
                      f"{_value(d.recomputed)}", highlight=False)
    shown = min(len(report.differences), LOOKAHEAD_LISTED)
    if len(report.differences) > shown:
        console.print(f"  … and {len(report.differences) - shown:,} more", highlight=False)


def _value(value: float) -> str:
    return "NaN" if np.isnan(value) else f"{value:.12g}"
