"""Bars in, features and sessions out: the data pipeline behind ``fxconsole data``.

Pure computation (:func:`compute_series`) is kept apart from the store; every store
change happens in one transaction, so a failure leaves the store as it was.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fxconsole.config import DataConfig, SynthConfig
from fxconsole.market.bars import I64, Bars, BarsError
from fxconsole.market.features import (
    FEATURE_SPEC_VERSION,
    compute_features,
    compute_outcome,
    compute_sigma20,
)
from fxconsole.market.formats import read_bars
from fxconsole.market.fxcalendar import hours_since_week_open, week_open_ns
from fxconsole.market.sessions import (
    SPLITS,
    SessionRules,
    session_splits,
    split_bounds,
    valid_session_starts,
)
from fxconsole.market.source_info import record_source
from fxconsole.market.store import FeatureSet, FeatureTable, MarketStore
from fxconsole.market.synth import synth_bars
from fxconsole.market.validate import CleanReport, clean_bars, count_gaps
from fxconsole.timeutil import timeframe_seconds

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
STRADDLING = "none"  # split label of valid sessions whose bars lie in two splits


def _no_progress(stage: str) -> None:
    logger.debug("stage: %s", stage)


@dataclass(frozen=True)
class BuildSummary:
    """Result of building features and sessions for one series."""

    symbol: str
    timeframe: str
    rows: int
    recomputed: bool
    sessions: dict[str, int]


@dataclass(frozen=True)
class ImportSummary:
    """Result of an import or a synthesis."""

    source: str
    symbol: str
    timeframe: str
    clean: CleanReport
    new_rows: int
    rows_stored: int
    gaps: int
    missing_bars: int
    first_ts: np.datetime64
    last_ts: np.datetime64
    build: BuildSummary


def bars_fingerprint(bars: Bars) -> str:
    """A sha256 over a series' identity and every value (detects any change of a bar)."""
    digest = hashlib.sha256(f"{bars.symbol}|{bars.timeframe}".encode())
    for col in (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume):
        digest.update(np.ascontiguousarray(col).tobytes())
    return digest.hexdigest()


def feature_params(cfg: DataConfig) -> dict[str, object]:
    """The config keys features and sessions depend on (a change forces a rebuild)."""
    keys = ("mm_window", "session_bars", "max_gap_periods", "warmup_rows",
            "min_session_range_pips", "train_fraction", "validation_fraction")
    return {k: v for k, v in asdict(cfg).items() if k in keys}


def compute_series(bars: Bars, cfg: DataConfig) -> tuple[FeatureTable, dict[str, I64]]:
    """Features (SPEC §2) and the session index with splits (SPEC §3) of a series."""
    ts = bars.ts
    wo = week_open_ns(ts)
    hours = hours_since_week_open(ts, wo)
    values = compute_features(bars.close, bars.high, bars.low, hours, bars.pip, cfg.mm_window)
    sigma = compute_sigma20(bars.close, bars.pip)
    outcome = compute_outcome(bars.close, sigma, bars.pip)
    rules = SessionRules(cfg.session_bars, cfg.max_gap_periods, cfg.warmup_rows,
                         cfg.min_session_range_pips)
    defined = np.asarray(~np.isnan(values).any(axis=1), dtype=np.bool_)
    period_ns = timeframe_seconds(bars.timeframe) * 1_000_000_000
    valid = valid_session_starts(ts, bars.high, bars.low, wo, defined, bars.pip, period_ns,
                                 rules)
    starts = np.flatnonzero(valid).astype(np.int64)
    sessions: dict[str, I64] = {}
    if len(ts):
        bounds = split_bounds(int(ts[0]), int(ts[-1]), cfg.train_fraction,
                              cfg.validation_fraction)
        label = session_splits(ts, starts, cfg.session_bars, bounds)
        sessions = {name: starts[label == i] for i, name in enumerate(SPLITS)}
        sessions[STRADDLING] = starts[label < 0]
    return FeatureTable(ts, values, sigma, outcome), sessions


def build_features(
    store: MarketStore, symbol: str, timeframe: str, cfg: DataConfig, force: bool = False,
    progress: Progress = _no_progress, bars: Bars | None = None,
) -> BuildSummary:
    """Make the stored features and sessions of a series current.

    Recomputes only when the bars, the feature spec version or the relevant config
    changed (or ``force``). Call inside a transaction to make it part of an import.

    Raises:
        LookupError: if the series has no bars.
    """
    if bars is None:
        bars = store.load_bars(symbol, timeframe)
    if bars is None:
        raise LookupError(f"no bars stored for {symbol} {timeframe}")
    fingerprint = bars_fingerprint(bars)
    params = feature_params(cfg)
    current = store.feature_set(symbol, timeframe)
    if (not force and current is not None and current.bars_fingerprint == fingerprint
            and current.params == params):
        logger.info("features of %s %s are up to date", symbol, timeframe)
        return BuildSummary(symbol, timeframe, len(bars), False,
                            store.session_counts(symbol, timeframe))
    progress("features")
    table, sessions = compute_series(bars, cfg)
    progress("store features")
    fs = FeatureSet(symbol, timeframe, FEATURE_SPEC_VERSION, fingerprint, params, len(bars))
    store.write_features(fs, table, sessions)
    return BuildSummary(symbol, timeframe, len(bars), True,
                        {k: len(v) for k, v in sessions.items()})


def merge_bars(stored: Bars | None, new: Bars, source: str) -> tuple[Bars, int]:
    """Union of stored and new bars; rows equal to stored ones are dropped.

    Returns:
        (merged bars, number of new rows already stored).

    Raises:
        BarsError: if a new bar has a stored timestamp with different values.
    """
    if stored is None or len(stored) == 0:
        return new, 0
    cols = ("ts", "open", "high", "low", "close", "volume")
    both = {c: np.concatenate([getattr(stored, c), getattr(new, c)]) for c in cols}
    order = np.argsort(both["ts"], kind="stable")
    both = {c: v[order] for c, v in both.items()}
    same_ts = both["ts"][1:] == both["ts"][:-1]
    same_all = same_ts.copy()
    for c in cols[1:]:
        same_all &= both[c][1:] == both[c][:-1]
    conflict = same_ts & ~same_all
    if conflict.any():
        first = np.datetime64(int(both["ts"][1:][conflict][0]), "ns")
        raise BarsError(source, f"{int(conflict.sum())} bar(s) have a stored timestamp with "
                        f"different values, first {first}Z; use --replace to replace the "
                        "stored series")
    keep = np.ones(order.shape[0], dtype=np.bool_)
    keep[1:] = ~same_all
    merged = Bars(new.symbol, new.timeframe, *(both[c][keep] for c in cols))
    return merged, int(same_all.sum())


def store_bars(
    store: MarketStore, bars: Bars, clean: CleanReport, source: str, cfg: DataConfig,
    replace: bool = False, progress: Progress = _no_progress,
) -> ImportSummary:
    """Merge (or replace) a series' bars and rebuild its features, in one transaction."""
    with store.transaction():
        stored = None if replace else store.load_bars(bars.symbol, bars.timeframe)
        merged, already = merge_bars(stored, bars, source)
        if len(merged) == 0:
            raise BarsError(source, "no bars left to store after validation")
        progress("store bars")
        store.replace_bars(merged)
        build = build_features(store, merged.symbol, merged.timeframe, cfg, progress=progress,
                               bars=merged)
    record_source(store.path, bars.symbol, bars.timeframe, source, replace)
    gaps, missing = count_gaps(merged.ts, merged.timeframe)
    return ImportSummary(
        source, bars.symbol, bars.timeframe, clean, len(bars) - already, len(merged), gaps,
        missing, np.datetime64(int(merged.ts[0]), "ns"), np.datetime64(int(merged.ts[-1]), "ns"),
        build,
    )


def import_file(
    store: MarketStore, path: Path, symbol: str, timeframe: str, cfg: DataConfig,
    fmt: str | None = None, replace: bool = False, progress: Progress = _no_progress,
) -> ImportSummary:
    """Read, validate and store a bar file; rebuild the series' features and sessions."""
    progress("read")
    raw = read_bars(path, fmt)
    progress("validate")
    bars, clean = clean_bars(raw, symbol, timeframe, cfg.drop_invalid_rows)
    return store_bars(store, bars, clean, str(path), cfg, replace, progress)


def synthesize(
    store: MarketStore, symbol: str, timeframe: str, synth: SynthConfig, cfg: DataConfig,
    progress: Progress = _no_progress,
) -> ImportSummary:
    """Generate the synthetic default series and store it (replacing that series)."""
    progress("synthesise")
    bars = synth_bars(symbol=symbol, years=synth.years, seed=synth.seed, signal=synth.signal,
                      start=synth.start, timeframe=timeframe)
    n = len(bars)
    clean = CleanReport(n, 0, 0, 0, n)
    source = f"synth(seed={synth.seed}, years={synth.years}, signal={synth.signal})"
    return store_bars(store, bars, clean, source, cfg, replace=True, progress=progress)
