"""Incremental features (the live path) against one offline pass over the whole series."""

from __future__ import annotations

import numpy as np
import pytest

from fxconsole.market.bars import Bars
from fxconsole.market.features import compute_features, compute_sigma20
from fxconsole.market.fxcalendar import hours_since_week_open
from fxconsole.market.incremental import BarOrderError, IncrementalFeatures, lookback_rows
from fxconsole.market.synth import synth_bars

WINDOW = 240  # a shorter W keeps the test fast; the code path is the same as W = 1440
HISTORY = 400


@pytest.fixture(scope="module")
def bars() -> Bars:
    # Starts on a Wednesday: the series crosses at least one weekend gap.
    return synth_bars(years=0.03, seed=5, start="2022-03-02")


def offline(bars: Bars, window: int) -> np.ndarray:
    hours = hours_since_week_open(bars.ts)
    return compute_features(bars.close, bars.high, bars.low, hours, bars.pip, window)


def _weekend_rows(bars: Bars) -> np.ndarray:
    """Rows that follow a gap longer than a day (the week's first bar)."""
    return np.flatnonzero(np.diff(bars.ts) > 86_400 * 10**9) + 1


@pytest.mark.parametrize("window, history", [(WINDOW, HISTORY), (1440, 2000)])
def test_bar_by_bar_equals_offline(bars: Bars, window: int, history: int) -> None:
    expected = offline(bars, window)
    inc = IncrementalFeatures(bars.pip, window, history)
    warm = lookback_rows(window) - 1
    sigma = compute_sigma20(bars.close, bars.pip)
    n = len(bars)
    for t in range(n):
        row = inc.append(int(bars.ts[t]), bars.open[t], bars.high[t], bars.low[t], bars.close[t])
        if t >= warm:
            np.testing.assert_array_equal(row, expected[t], err_msg=f"row {t}")
            assert inc.sigma20() == sigma[t]
        else:
            assert np.isnan(row).any()
    assert len(inc) == history  # bounded
    assert inc.last_ts == int(bars.ts[-1])
    gaps = _weekend_rows(bars)
    assert gaps.size and (gaps > warm).any(), "the series must cross a weekend after warm-up"
    assert n - warm > 5000


def test_batch_then_bars_equals_offline(bars: Bars) -> None:
    expected = offline(bars, WINDOW)
    inc = IncrementalFeatures(bars.pip, WINDOW, HISTORY)
    first = 1000
    head = inc.extend(bars.ts[:first], bars.open[:first], bars.high[:first], bars.low[:first],
                      bars.close[:first])
    np.testing.assert_array_equal(head, expected[first - 1])
    # An overlapping batch (as a broker returns it) adds only the new bars.
    lo, hi = first - 50, first + 500
    row = inc.extend(bars.ts[lo:hi], bars.open[lo:hi], bars.high[lo:hi], bars.low[lo:hi],
                     bars.close[lo:hi])
    np.testing.assert_array_equal(row, expected[hi - 1])
    np.testing.assert_array_equal(inc.ts, bars.ts[hi - HISTORY:hi])
    np.testing.assert_array_equal(inc.close, bars.close[hi - HISTORY:hi])


def test_duplicates_and_order() -> None:
    inc = IncrementalFeatures(0.01, 2, 62)
    minute = 60 * 10**9
    t0 = 1_700_000_000 * 10**9 // minute * minute
    inc.append(t0, 150.0, 150.2, 149.9, 150.1)
    inc.append(t0 + minute, 150.1, 150.3, 150.0, 150.2)
    inc.append(t0 + minute, 150.1, 150.3, 150.0, 150.2)  # the same bar again: ignored
    assert len(inc) == 2
    with pytest.raises(BarOrderError, match="other prices"):
        inc.append(t0 + minute, 150.1, 150.3, 150.0, 150.25)
    with pytest.raises(BarOrderError, match="older"):
        inc.append(t0 + minute // 2, 150.1, 150.3, 150.0, 150.2)
    assert len(inc) == 2


def test_arguments_checked() -> None:
    with pytest.raises(ValueError, match="look-back"):
        IncrementalFeatures(0.01, 1440, 1000)
    with pytest.raises(ValueError, match="pip"):
        IncrementalFeatures(0.0, 10, 100)
    with pytest.raises(LookupError):
        IncrementalFeatures(0.01, 10, 100).features()
