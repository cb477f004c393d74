"""SPEC §1 validation: raw bars from a file → clean bars plus an import report (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from fxconsole.market.bars import Bars, BarsError, RawBars
from fxconsole.market.fxcalendar import is_weekend, week_open_ns
from fxconsole.timeutil import timeframe_seconds

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class CleanReport:
    """What validation did to the rows read."""

    rows_read: int
    invalid_dropped: int
    duplicates_dropped: int
    weekend_dropped: int
    rows_kept: int


def invalid_mask(raw: RawBars) -> BoolArray:
    """Rows that break SPEC §1: a price missing, non-finite or ≤ 0, or high/low inconsistent."""
    prices = np.stack([raw.open, raw.high, raw.low, raw.close])
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(prices).all(axis=0) | (prices <= 0).any(axis=0)
        bad |= raw.high < np.maximum(raw.open, raw.close)
        bad |= raw.low > np.minimum(raw.open, raw.close)
    return np.asarray(bad, dtype=np.bool_)


def _why_invalid(raw: RawBars, i: int) -> str:
    o, h, low, c = raw.open[i], raw.high[i], raw.low[i], raw.close[i]
    values = (o, h, low, c)
    if not all(np.isfinite(v) for v in values):
        return "a price is missing or not a finite number"
    if min(values) <= 0:
        return "a price is ≤ 0"
    if h < max(o, c):
        return f"high {h} < max(open, close) {max(o, c)}"
    return f"low {low} > min(open, close) {min(o, c)}"


def clean_bars(
    raw: RawBars, symbol: str, timeframe: str, drop_invalid: bool = False
) -> tuple[Bars, CleanReport]:
    """Validate, sort, de-duplicate and drop weekend rows (SPEC §1).

    Args:
        raw: the bars as read.
        symbol: the symbol they belong to.
        timeframe: their timeframe (checked against the known ones).
        drop_invalid: drop invalid rows and count them instead of failing.

    Raises:
        BarsError: invalid rows (unless ``drop_invalid``), or two different rows with the
            same timestamp; the message names the file and the row numbers.
    """
    timeframe_seconds(timeframe)
    rows_read = len(raw)
    bad = invalid_mask(raw)
    n_bad = int(bad.sum())
    if n_bad and not drop_invalid:
        first = int(np.flatnonzero(bad)[0])
        raise BarsError(
            raw.source,
            f"{n_bad} invalid bar(s); first at row {int(raw.row[first])}: "
            f"{_why_invalid(raw, first)} (use --drop-invalid to drop and count them)",
            rows=[int(r) for r in raw.row[bad]],
        )
    kept = raw.take(~bad) if n_bad else raw
    # Volume is optional and never validated: an empty or unparsable cell counts as 0.
    kept = replace(kept, volume=np.nan_to_num(kept.volume, nan=0.0))
    kept = kept.take(np.argsort(kept.ts, kind="stable"))
    kept, n_dup = _drop_exact_duplicates(kept)
    weekend = is_weekend(kept.ts)
    n_weekend = int(weekend.sum())
    if n_weekend:
        kept = kept.take(~weekend)
    bars = Bars(symbol, timeframe, kept.ts, kept.open, kept.high, kept.low, kept.close,
                kept.volume)
    return bars, CleanReport(rows_read, n_bad, n_dup, n_weekend, len(bars))


def _drop_exact_duplicates(raw: RawBars) -> tuple[RawBars, int]:
    """Drop rows equal in every column to the previous one (input sorted by ts)."""
    if len(raw) < 2:
        return raw, 0
    same_ts = raw.ts[1:] == raw.ts[:-1]
    if not same_ts.any():
        return raw, 0
    same_all = same_ts.copy()
    for col in (raw.open, raw.high, raw.low, raw.close, raw.volume):
        same_all &= col[1:] == col[:-1]
    conflict = same_ts & ~same_all
    if conflict.any():
        i = int(np.flatnonzero(conflict)[0])
        rows = sorted({int(raw.row[i]), int(raw.row[i + 1])})
        when = np.datetime64(int(raw.ts[i]), "ns")
        raise BarsError(
            raw.source,
            f"{int(conflict.sum())} timestamp(s) appear twice with different values; "
            f"first {when}Z",
            rows=rows,
        )
    keep = np.ones(len(raw), dtype=np.bool_)
    keep[1:] = ~same_all
    return raw.take(keep), int(same_all.sum())


def count_gaps(ts: npt.NDArray[np.int64], timeframe: str) -> tuple[int, int]:
    """Count gaps inside trading weeks: steps longer than one period, not across a weekend.

    Returns:
        (number of gaps, number of missing bars in them).
    """
    if ts.size < 2:
        return 0, 0
    period = timeframe_seconds(timeframe) * 1_000_000_000
    step = np.diff(ts)
    wo = week_open_ns(ts)
    inside = (step > period) & (wo[1:] == wo[:-1])
    missing = int(((step[inside] // period) - 1).sum())
    return int(inside.sum()), missing
