"""SPEC §3: the session index (valid 360-bar starts) and chronological splits (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fxconsole.market.bars import F64, I64

SPLITS: tuple[str, ...] = ("train", "validation", "test")
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SessionRules:
    """The SPEC §3 validity rules (defaults from the config)."""

    session_bars: int = 360
    max_gap_periods: int = 10
    warmup_rows: int = 31
    min_range_pips: float = 1.0


def valid_session_starts(
    ts: I64,
    high: F64,
    low: F64,
    week_open: I64,
    features_defined: BoolArray,
    pip: float,
    period_ns: int,
    rules: SessionRules,
) -> BoolArray:
    """Return a mask of rows that may start a valid session.

    Args:
        ts: bar open times (int64 ns UTC), sorted.
        high, low: bar extremes.
        week_open: the week open of each bar (``fxcalendar.week_open_ns``).
        features_defined: True where every SPEC §2 feature is defined.
        pip: the symbol's pip.
        period_ns: the bar period in ns.
        rules: the validity rules.
    """
    n = ts.shape[0]
    length = rules.session_bars
    valid = np.zeros(n, dtype=np.bool_)
    last_start = n - length
    if last_start < 0:
        return valid
    starts = np.arange(last_start + 1)
    ends = starts + length - 1

    too_far = np.zeros(n, dtype=np.int64)
    too_far[:-1] = np.diff(ts) > rules.max_gap_periods * period_ns
    gaps_before = np.concatenate(([0], np.cumsum(too_far)))
    ok = gaps_before[ends] - gaps_before[starts] == 0  # steps s .. s+L-2
    ok &= week_open[starts] == week_open[ends]
    ok &= starts >= rules.warmup_rows
    warm = np.clip(starts - rules.warmup_rows, 0, None)
    ok &= features_defined[warm]
    ok &= _mean_range_ok(high, low, pip, length, rules.min_range_pips, last_start + 1)
    valid[: last_start + 1] = ok
    return valid


def _mean_range_ok(
    high: F64, low: F64, pip: float, length: int, threshold: float, n_starts: int
) -> BoolArray:
    """Mean (h − l)/pip over each window ≥ threshold; near-ties re-summed exactly."""
    rng = (high - low) / pip
    csum = np.concatenate(([0.0], np.cumsum(rng)))
    mean = (csum[length : length + n_starts] - csum[:n_starts]) / length
    ok = mean >= threshold
    for s in np.flatnonzero(np.abs(mean - threshold) < 1e-7):
        ok[s] = math.fsum(rng[s : s + length]) / length >= threshold
    return ok


def split_bounds(first_ts: int, last_ts: int, train: float, validation: float) -> tuple[int, int]:
    """The two split boundaries (ns): train is ts < b1, validation b1 ≤ ts < b2, test ≥ b2."""
    span = last_ts - first_ts
    return first_ts + int(span * train), first_ts + int(span * validation)


def session_splits(
    ts: I64, starts: I64, session_bars: int, bounds: tuple[int, int]
) -> npt.NDArray[np.int8]:
    """Split of each session start: 0 train, 1 validation, 2 test, −1 if it straddles two."""
    b1, b2 = bounds
    first = ts[starts]
    last = ts[starts + session_bars - 1]
    first_split = (first >= b1).astype(np.int8) + (first >= b2).astype(np.int8)
    last_split = (last >= b1).astype(np.int8) + (last >= b2).astype(np.int8)
    return np.where(first_split == last_split, first_split, np.int8(-1)).astype(np.int8)
