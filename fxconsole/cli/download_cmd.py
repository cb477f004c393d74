"""``fxconsole data download``: page OANDA candles into the market store, resumably.

Each window of at most 5000 candles is staged as a page file under
``data/downloads/<SYMBOL>-<GRAN>/`` and the state (``data/downloads/<SYMBOL>-<GRAN>.json``:
the cursor and the last complete candle) is saved after it, both atomically. An
interrupted download (Ctrl-C, network, 5xx after retries) resumes at the cursor when run
again with the same ``--from``. At the end the staged candles go through the same
validated path as ``data import`` (clean_bars + store_bars: one transaction that also
rebuilds features and sessions); the staging files are removed after a successful import.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fxconsole.cli.common import CliError, Context, UsageError
from fxconsole.timeutil import NS_PER_SECOND, TIMEFRAME_SECONDS

if TYPE_CHECKING:
    from fxconsole.brokers.oanda import OandaBroker
    from fxconsole.market.download import CandleRow, DownloadState

CLOCK_MARGIN_NS = 10 * NS_PER_SECOND  # never ask for candles this close to now


def add_download_parser(dsub: Any) -> None:
    """Register ``data download``."""
    p = dsub.add_parser("download", help="download OANDA candles (resumable) and import them")
    p.add_argument("--symbol", help="symbol (config data.symbol, default GBPJPY)")
    p.add_argument("--from", dest="from_", required=True, metavar="DATE",
                   help="first candle: YYYY-MM-DD or an ISO date-time (UTC unless an offset)")
    p.add_argument("--to", metavar="DATE",
                   help="end: a date includes that whole day; a date-time is exclusive "
                        "(default: now)")
    p.add_argument("--granularity", choices=tuple(TIMEFRAME_SECONDS),
                   help="candle granularity = stored timeframe (config data.timeframe)")
    p.add_argument("--restart", action="store_true",
                   help="discard an interrupted download of this series and start over")
    p.add_argument("--replace", action="store_true",
                   help="replace the stored series instead of merging into it")
    p.add_argument("--page-size", type=int, default=5000, help=argparse.SUPPRESS)
    p.set_defaults(handler=download)


def _range(args: argparse.Namespace, granularity: str) -> tuple[int, int]:
    from fxconsole.market.download import format_utc, parse_utc, period_ns

    try:
        start = parse_utc(args.from_)
        end = parse_utc(args.to, end=True) if args.to else None
    except ValueError as exc:
        raise UsageError(f"--from/--to: {exc}") from None
    period = period_ns(granularity)
    latest = (time.time_ns() - CLOCK_MARGIN_NS) // period * period
    end = latest if end is None else min(end, latest)
    if start >= end:
        raise UsageError(f"--from {args.from_} is not before --to {args.to or 'now'} "
                       f"({format_utc(end)}, the last complete {granularity} candle at most)")
    return start, end


def _load_state(state_file: Path, pages_dir: Path, symbol: str, granularity: str,
                start: int, end: int, restart: bool) -> DownloadState:
    from fxconsole.market.download import DownloadState, format_utc

    if restart:
        state_file.unlink(missing_ok=True)
        shutil.rmtree(pages_dir, ignore_errors=True)
    if not state_file.exists():
        return DownloadState.new(symbol, granularity, start, end)
    try:
        state = DownloadState.from_json(state_file.read_bytes(), str(state_file))
    except (OSError, ValueError) as exc:
        raise CliError(f"{exc}; add --restart to discard it") from None
    if (state.symbol, state.granularity, state.start_ns) != (symbol, granularity, start):
        raise CliError(f"{state_file}: an interrupted download of {state.symbol} "
                       f"{state.granularity} from {format_utc(state.start_ns)} is pending; "
                       "rerun with that --from to resume it, or add --restart to discard it")
    return replace(state, end_ns=end)


@contextmanager
def _bar(total: int, done: int) -> Iterator[Any]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from fxconsole.cli.data_cmd import console

    bar = Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
                   disable=not console.is_terminal)
    with bar:
        task = bar.add_task("download", total=total, completed=done)
        yield lambda: bar.advance(task)


def _fetch(broker: OandaBroker, state: DownloadState, pages_dir: Path,
           state_file: Path, page_size: int) -> tuple[DownloadState, int]:
    """Fetch the remaining windows; stage each page and the state atomically."""
    from fxconsole.brokers.base import BrokerError
    from fxconsole.fsutil import atomic_write
    from fxconsole.market.download import encode_page, page_name, plan_windows

    windows = plan_windows(state.cursor_ns, state.end_ns, state.granularity, page_size)
    pages_dir.mkdir(parents=True, exist_ok=True)
    requests = 0
    with _bar(state.pages + len(windows), state.pages) as advance:
        for a, b in windows:
            try:
                bars, _ = broker.fetch_candles(state.symbol, state.granularity, a, end_ns=b)
            except BrokerError as exc:
                raise CliError(
                    f"download stopped: {exc}; {state.pages} page(s) staged in {pages_dir}, "
                    "run the same command again to resume") from None
            requests += 1
            rows: list[CandleRow] = [(x.ts, x.open, x.high, x.low, x.close, float(x.volume))
                                     for x in bars if x.ts < b]
            if rows:
                atomic_write(pages_dir / page_name(a), encode_page(rows))
            state = state.advance(b, rows)
            atomic_write(state_file, state.to_json())
            advance()
    return state, requests


def _staged_rows(pages_dir: Path, state: DownloadState) -> list[CandleRow]:
    from fxconsole.market.download import decode_page, merge_pages

    pages = []
    for path in sorted(pages_dir.glob("*.json")) if pages_dir.is_dir() else []:
        try:
            pages.append(decode_page(path.read_bytes(), str(path)))
        except (OSError, ValueError) as exc:
            raise CliError(f"{exc}; add --restart to download again") from None
    return merge_pages(pages, state.start_ns, state.end_ns)


def _broker(ctx: Context) -> OandaBroker:
    from fxconsole.brokers.base import BrokerError
    from fxconsole.brokers.credentials import CredentialsError, load_credentials
    from fxconsole.brokers.oanda import OandaBroker

    try:
        creds = load_credentials(ctx.workspace.root)
        return OandaBroker(ctx.config.oanda, creds, stream=False)
    except (CredentialsError, BrokerError) as exc:
        raise CliError(str(exc)) from None


def download(ctx: Context, args: argparse.Namespace) -> int:
    """Download candles from OANDA into the market store (resuming an interrupted run)."""
    from fxconsole.brokers.base import instrument_name
    from fxconsole.cli.data_cmd import _print_summary, _progress, _store, console
    from fxconsole.market.download import format_utc, rows_to_raw, staging_paths
    from fxconsole.market.pipeline import store_bars
    from fxconsole.market.validate import clean_bars

    symbol = (args.symbol or ctx.config.data.symbol).upper()
    granularity = args.granularity or ctx.config.data.timeframe
    try:
        instrument = instrument_name(symbol)
    except ValueError as exc:
        raise UsageError(f"--symbol: {exc}") from None
    symbol = instrument.replace("_", "")
    if not 1 <= args.page_size <= 5000:
        raise UsageError(f"--page-size {args.page_size}; allowed: 1..5000")
    start, end = _range(args, granularity)
    broker = _broker(ctx)
    started = time.perf_counter()
    ctx.workspace.ensure()
    state_file, pages_dir = staging_paths(ctx.workspace.data_dir / "downloads", symbol,
                                          granularity)
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state = _load_state(state_file, pages_dir, symbol, granularity, start, end, args.restart)
    resumed_from = state.cursor_ns if state.pages else None
    try:
        state, requests = _fetch(broker, state, pages_dir, state_file, args.page_size)
    finally:
        broker.close()
    rows = _staged_rows(pages_dir, state)
    if not rows:
        raise CliError(f"OANDA has no complete {instrument} {granularity} candles from "
                       f"{format_utc(start)} to {format_utc(end)}")
    source = f"OANDA {instrument} {granularity} {format_utc(start)}..{format_utc(end)}"
    cfg = ctx.config.data
    with _store(ctx) as store, _progress(("validate", "store bars", "features",
                                          "store features")) as progress:
        progress("validate")
        bars, clean = clean_bars(rows_to_raw(rows, source), symbol, granularity,
                                 cfg.drop_invalid_rows)
        summary = store_bars(store, bars, clean, source, cfg, args.replace, progress)
    state_file.unlink(missing_ok=True)
    shutil.rmtree(pages_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        state_file.parent.rmdir()  # only if empty
    _print_summary(summary, time.perf_counter() - started)
    resumed = f", resumed at {format_utc(resumed_from)}" if resumed_from is not None else ""
    console.print(f"downloaded {len(rows):,} {instrument} {granularity} candles in "
                  f"{requests:,} request(s){resumed}")
    return 0
