"""SPEC §3: session validity and splits against a plain-Python reference."""

from __future__ import annotations

import numpy as np
import pytest

from fxconsole.market.fxcalendar import week_open_ns
from fxconsole.market.sessions import (
    SessionRules,
    session_splits,
    split_bounds,
    valid_session_starts,
)

MIN = 60 * 1_000_000_000
START = 1_704_729_600 * 1_000_000_000  # Monday 2024-01-08 16:00 UTC


def reference_valid(ts, high, low, wo, defined, pip, period, rules) -> list[int]:
    """Straight from the SPEC text, one start at a time."""
    n, length = len(ts), rules.session_bars
    out = []
    for s in range(n - length + 1):
        e = s + length - 1
        if any(ts[k + 1] - ts[k] > rules.max_gap_periods * period for k in range(s, e)):
            continue
        if wo[s] != wo[e]:
            continue
        if s < rules.warmup_rows or not defined[s - rules.warmup_rows]:
            continue
        mean = sum((high[k] - low[k]) / pip for k in range(s, e + 1)) / length
        if mean < rules.min_range_pips:
            continue
        out.append(s)
    return out


def make_series(seed: int, n: int = 4000):
    rng = np.random.default_rng(seed)
    steps = rng.choice([1, 2, 5, 10, 11], size=n, p=[0.95, 0.03, 0.015, 0.003, 0.002])
    steps = steps.astype(np.int64)
    steps[rng.integers(0, n, 3)] = 60 * 40  # long holes, some across the weekend
    ts = START + np.cumsum(steps) * MIN
    low = 150 + rng.normal(0, 0.05, n)
    quiet = (np.arange(n) // 500) % 3 == 0  # calm stretches push the mean range below 1
    high = low + np.where(quiet, 0.002, rng.exponential(0.02, n))
    defined = np.arange(n) >= rng.integers(0, 100)
    return ts, high, low, week_open_ns(ts), defined


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rules", [SessionRules(), SessionRules(60, 3, 5, 1.5)])
def test_valid_starts_equal_reference(seed: int, rules: SessionRules) -> None:
    ts, high, low, wo, defined = make_series(seed)
    got = np.flatnonzero(valid_session_starts(ts, high, low, wo, defined, 0.01, MIN, rules))
    want = reference_valid(ts, high, low, wo, defined, 0.01, MIN, rules)
    assert got.tolist() == want
    assert 0 < len(want) < len(ts)  # the data exercises both outcomes


def test_too_short_series_has_no_sessions() -> None:
    ts, high, low, wo, defined = make_series(0, n=100)
    assert not valid_session_starts(ts, high, low, wo, defined, 0.01, MIN, SessionRules()).any()


def test_mean_range_tie_counts_as_valid() -> None:
    n = 400
    ts = START + np.arange(n, dtype=np.int64) * MIN
    low = np.full(n, 150.0)
    high = low + 0.01  # exactly 1 pip each (up to float rounding)
    valid = valid_session_starts(ts, high, low, week_open_ns(ts), np.ones(n, bool), 0.01, MIN,
                                 SessionRules(360, 10, 31, 1.0))
    ref = reference_valid(ts, high, low, week_open_ns(ts), np.ones(n, bool), 0.01, MIN,
                          SessionRules(360, 10, 31, 1.0))
    assert np.flatnonzero(valid).tolist() == ref


def test_splits_are_chronological_and_sessions_do_not_straddle() -> None:
    ts = START + np.arange(1000, dtype=np.int64) * MIN
    bounds = split_bounds(int(ts[0]), int(ts[-1]), 0.7, 0.85)
    assert bounds == (int(ts[0] + 0.7 * 999 * MIN), int(ts[0] + 0.85 * 999 * MIN))
    starts = np.arange(0, 1000 - 10, dtype=np.int64)
    label = session_splits(ts, starts, 10, bounds)
    for s, lab in zip(starts, label, strict=True):
        first, last = ts[s], ts[s + 9]
        names = [int(t >= bounds[0]) + int(t >= bounds[1]) for t in (first, last)]
        assert lab == (names[0] if names[0] == names[1] else -1)
    assert set(label.tolist()) == {-1, 0, 1, 2}
