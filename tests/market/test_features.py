"""The numba feature kernels against the plain-Python reference and SPEC §2 by hand."""

from __future__ import annotations

import math
import statistics
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pytest

from fxconsole.market.features import (
    DOWN,
    FEATURE_NAMES,
    FEATURE_SPEC_VERSION,
    MUZERO_FEATURES,
    NEUTRAL,
    UP,
    _tanh,
    compute_features,
    compute_outcome,
    compute_sigma20,
)
from fxconsole.market.fxcalendar import NEW_YORK, hours_since_week_open, is_weekend

# tests/ has no __init__.py: pytest (default "prepend" import mode) puts this folder on sys.path.
import reference_features as ref  # isort: skip

F64 = npt.NDArray[np.float64]
NS_PER_MINUTE = 60 * 1_000_000_000
EUR_PIP = 0.0001
JPY_PIP = 0.01
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}
PRICE_COLS = [i for i, name in enumerate(FEATURE_NAMES) if not name.endswith("_final")]
TIME_COLS = [i for i, name in enumerate(FEATURE_NAMES) if name.endswith("_final")]


def ny_ns(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    """A New York wall-clock time as int64 UTC nanoseconds."""
    local = datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)
    return int(local.timestamp()) * 1_000_000_000


def market_minutes(
    start_ns: int, n: int, rng: np.random.Generator | None = None, gap_rate: float = 0.0
) -> npt.NDArray[np.int64]:
    """``n`` open-market minute timestamps from ``start_ns``; ``gap_rate`` of them skipped."""
    candidates = start_ns + NS_PER_MINUTE * np.arange(2 * n + 3 * 1440, dtype=np.int64)
    keep = ~is_weekend(candidates)
    if rng is not None:
        keep &= rng.random(candidates.shape[0]) >= gap_rate
    ts = candidates[keep][:n]
    assert ts.shape[0] == n
    return ts


def random_bars(
    rng: np.random.Generator, n: int, pip: float, base: float = 1.25
) -> tuple[F64, F64, F64]:
    """Random-walk closes rounded to a tenth of a pip (ties happen), with highs and lows."""
    close = np.round(base + np.cumsum(rng.normal(0.0, 2.0, n)) * pip, 6)
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) + np.round(rng.exponential(1.0, n), 1) * pip
    low = np.minimum(open_, close) - np.round(rng.exponential(1.0, n), 1) * pip
    return close, high, low


def assert_matches(actual: npt.ArrayLike, expected: npt.ArrayLike) -> None:
    """Equal NaN positions, and equal within 1e-9 elsewhere."""
    actual_a = np.asarray(actual, dtype=np.float64)
    expected_a = np.asarray(expected, dtype=np.float64)
    assert actual_a.shape == expected_a.shape
    np.testing.assert_array_equal(np.isnan(actual_a), np.isnan(expected_a))
    np.testing.assert_allclose(actual_a, expected_a, rtol=0.0, atol=1e-9, equal_nan=True)


def check_against_reference(
    close: F64, high: F64, low: F64, hours: F64, pip: float, window: int
) -> F64:
    """Compare features, σ20 and the outcome with the reference; return the features."""
    features = compute_features(close, high, low, hours, pip, window)
    expected = ref.features(
        close.tolist(), high.tolist(), low.tolist(), hours.tolist(), pip, window
    )
    assert_matches(features, expected)
    sigma20 = compute_sigma20(close, pip)
    assert_matches(sigma20, ref.sigma20_series(close.tolist(), pip))
    outcome = compute_outcome(close, sigma20, pip)
    assert outcome.dtype == np.int8
    assert outcome.tolist() == ref.outcome_series(close.tolist(), pip)
    return features


def test_names_and_version() -> None:
    assert FEATURE_SPEC_VERSION == 1
    assert FEATURE_NAMES[:5] == (
        "position_in_range_60",
        "min_max_scaled_momentum_60",
        "min_max_scaled_rolling_range",
        "min_max_scaled_momentum_5",
        "price_change_pips",
    )
    assert FEATURE_NAMES[5:] == (
        "dow_cos_final",
        "dow_sin_final",
        "hour_cos_final",
        "hour_sin_final",
        "volatility_20",
        "momentum_60_pips",
    )
    assert FEATURE_NAMES[:9] == MUZERO_FEATURES
    assert (UP, NEUTRAL, DOWN) == (0, 1, 2)


@pytest.mark.parametrize(
    ("n", "window", "pip", "gap_rate", "seed"),
    [
        (600, 50, EUR_PIP, 0.0, 1),
        (600, 50, JPY_PIP, 0.3, 2),
        (700, 2, EUR_PIP, 0.1, 3),
        (150, 200, EUR_PIP, 0.0, 4),  # W > n: every mm is undefined
        (3500, 1440, EUR_PIP, 0.05, 5),
        (3500, 1440, JPY_PIP, 0.0, 6),
    ],
)
def test_random_walk_matches_reference(
    n: int, window: int, pip: float, gap_rate: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    base = 150.0 if pip == JPY_PIP else 1.25
    close, high, low = random_bars(rng, n, pip, base)
    ts = market_minutes(ny_ns(2024, 3, 4, 3), n, rng, gap_rate)
    check_against_reference(close, high, low, hours_since_week_open(ts), pip, window)


def test_default_window_first_defined_rows() -> None:
    rng = np.random.default_rng(7)
    n = 1600
    close, high, low = random_bars(rng, n, EUR_PIP)
    hours = hours_since_week_open(market_minutes(ny_ns(2024, 6, 3, 0), n))
    features = compute_features(close, high, low, hours, EUR_PIP)
    first_defined = {
        "position_in_range_60": 59,
        "min_max_scaled_momentum_60": 1499,  # m60 from row 60, then W = 1440 of them
        "min_max_scaled_rolling_range": 1498,  # r60 from row 59
        "min_max_scaled_momentum_5": 1444,  # m5 from row 5
        "price_change_pips": 1,
        "dow_cos_final": 0,
        "dow_sin_final": 0,
        "hour_cos_final": 0,
        "hour_sin_final": 0,
        "volatility_20": 20,
        "momentum_60_pips": 60,
    }
    for name, row in first_defined.items():
        column = features[:, COL[name]]
        assert np.isnan(column[:row]).all(), name
        assert not np.isnan(column[row:]).any(), name
    assert np.isnan(features[:1499]).any(axis=1).all()
    assert not np.isnan(features[1499:]).any()


def test_flat_prices() -> None:
    n, window = 300, 50
    close = np.full(n, 1.2345)
    high, low = close + 3 * EUR_PIP, close - 2 * EUR_PIP  # a constant range
    hours = hours_since_week_open(market_minutes(ny_ns(2024, 3, 5, 9), n))
    features = check_against_reference(close, high, low, hours, EUR_PIP, window)
    assert (features[59:, COL["position_in_range_60"]] == 0.5).all()
    for name, first in [
        ("min_max_scaled_momentum_60", 60 + window - 1),
        ("min_max_scaled_rolling_range", 59 + window - 1),
        ("min_max_scaled_momentum_5", 5 + window - 1),
    ]:
        assert (features[first:, COL[name]] == 0.5).all(), name
    assert (features[1:, COL["price_change_pips"]] == 0.0).all()
    assert (features[20:, COL["volatility_20"]] == 0.0).all()
    assert (features[60:, COL["momentum_60_pips"]] == 0.0).all()
    sigma20 = compute_sigma20(close, EUR_PIP)
    assert np.isnan(sigma20[:20]).all()
    assert (sigma20[20:] == 0.0).all()  # exactly: computed per window, no rolling residue
    outcome = compute_outcome(close, sigma20, EUR_PIP)
    assert (outcome[:20] == -1).all()
    assert (outcome[20:-1] == NEUTRAL).all()
    assert outcome[-1] == -1


def test_the_half_rule_is_exact_equality() -> None:
    # Closes one ulp apart: max > min, however small the range, so no 0.5.
    low_close, high_close = 1.25, float(np.nextafter(1.25, 2.0))
    close = np.array([low_close, high_close] * 40)
    hours = np.zeros(close.shape[0])
    pir = compute_features(close, close, close, hours, EUR_PIP, window=2)[:, 0]
    np.testing.assert_array_equal(pir[59:], np.where(close[59:] == high_close, 1.0, 0.0))


def test_time_features_for_any_hours() -> None:
    rng = np.random.default_rng(31)
    n = 500
    hours = np.concatenate(
        (
            rng.uniform(0.0, 120.0, n - 8),  # not on whole minutes
            [0.0, 119.99, 120.0, 143.5, 175.0, -0.5, 1e6, np.nan],  # outside the open week
        )
    )
    close, high, low = random_bars(rng, n, EUR_PIP)
    check_against_reference(close, high, low, hours, EUR_PIP, 10)


def test_gaps_enter_only_through_hours() -> None:
    rng = np.random.default_rng(11)
    n, window = 800, 40
    close, high, low = random_bars(rng, n, EUR_PIP)
    start = ny_ns(2024, 11, 1, 9)  # Friday: the series runs over the weekend and DST's end
    dense = hours_since_week_open(market_minutes(start, n))
    gappy = hours_since_week_open(market_minutes(start, n, rng, gap_rate=0.5))
    assert not np.array_equal(dense, gappy)
    with_dense = check_against_reference(close, high, low, dense, EUR_PIP, window)
    with_gaps = check_against_reference(close, high, low, gappy, EUR_PIP, window)
    np.testing.assert_array_equal(with_dense[:, PRICE_COLS], with_gaps[:, PRICE_COLS])
    assert not np.array_equal(with_dense[:, TIME_COLS], with_gaps[:, TIME_COLS])


@pytest.mark.parametrize(
    ("when", "hours", "day"),
    [
        # US DST starts Sunday 2024-03-10 02:00: Friday before is EST, the week opens EDT.
        ((2024, 3, 8, 16, 59), 119 + 59 / 60, 4),
        ((2024, 3, 10, 17, 0), 0.0, 0),
        ((2024, 3, 11, 16, 59), 23 + 59 / 60, 0),
        ((2024, 3, 11, 17, 0), 24.0, 1),
        ((2024, 3, 13, 5, 0), 60.0, 2),
        # US DST ends Sunday 2024-11-03 02:00.
        ((2024, 11, 1, 16, 59), 119 + 59 / 60, 4),
        ((2024, 11, 3, 17, 0), 0.0, 0),
        ((2024, 11, 4, 17, 0), 24.0, 1),
        ((2024, 11, 7, 17, 30), 96.5, 4),
        # European switches (2024-03-31, 2024-10-27) fall on weekend days: no effect.
        ((2024, 3, 29, 16, 0), 119.0, 4),
        ((2024, 3, 31, 17, 0), 0.0, 0),
        ((2024, 4, 3, 5, 0), 60.0, 2),
        ((2024, 10, 27, 17, 0), 0.0, 0),
        ((2024, 10, 28, 3, 0), 10.0, 0),
    ],
)
def test_time_features_around_week_boundaries_and_dst(
    when: tuple[int, int, int, int, int], hours: float, day: int
) -> None:
    ts = np.array([ny_ns(*when)], dtype=np.int64)
    h = hours_since_week_open(ts)
    assert h[0] == pytest.approx(hours, abs=1e-12)
    one = np.array([1.25])
    row = compute_features(one, one, one, h, EUR_PIP)[0]
    assert row[COL["dow_cos_final"]] == pytest.approx(math.cos(2 * math.pi * day / 5), abs=1e-12)
    assert row[COL["dow_sin_final"]] == pytest.approx(math.sin(2 * math.pi * day / 5), abs=1e-12)
    assert row[COL["hour_cos_final"]] == pytest.approx(math.cos(math.pi * hours / 60), abs=1e-12)
    assert row[COL["hour_sin_final"]] == pytest.approx(math.sin(math.pi * hours / 60), abs=1e-12)
    if hours == 0.0:  # the first bar of a week, exactly
        assert row[COL["dow_cos_final"]] == 1.0
        assert row[COL["dow_sin_final"]] == 0.0
        assert row[COL["hour_cos_final"]] == 1.0
        assert row[COL["hour_sin_final"]] == 0.0


@pytest.mark.parametrize("friday", [(2024, 3, 8), (2024, 11, 1), (2024, 3, 29), (2024, 10, 25)])
def test_windows_run_across_the_weekend(friday: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(friday[1] * 100 + friday[2])
    n, window = 500, 50
    ts = market_minutes(ny_ns(*friday, 13), n)  # 4 hours of Friday, then Sunday 17:00 on
    hours = hours_since_week_open(ts)
    first_of_week = int(np.argmax(hours < hours[0]))
    assert first_of_week == 240
    assert hours[first_of_week] == 0.0
    close, high, low = random_bars(rng, n, EUR_PIP)
    features = check_against_reference(close, high, low, hours, EUR_PIP, window)
    # Windows count rows: Sunday's first bar compares with Friday's last close.
    change = (close[first_of_week] - close[first_of_week - 1]) / EUR_PIP
    assert features[first_of_week, COL["price_change_pips"]] == pytest.approx(
        math.tanh(change / 10), abs=1e-12
    )
    assert features[first_of_week, COL["dow_cos_final"]] == 1.0


@pytest.mark.parametrize("seed", range(12))
def test_features_never_read_later_rows(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n, window = 400, 30
    close, high, low = random_bars(rng, n, EUR_PIP)
    hours = hours_since_week_open(market_minutes(ny_ns(2024, 5, 6, 2), n, rng, 0.2))
    t = int(rng.integers(0, n - 1))
    later = np.arange(t + 1, n) if seed % 2 else rng.integers(t + 1, n, size=1)
    changed = [close.copy(), high.copy(), low.copy()]
    which = [0, 1, 2] if seed % 4 < 2 else [seed % 3]  # close, high, low: all or one
    for k in which:
        changed[k][later] = rng.uniform(0.5, 2.0, later.shape[0])

    before = compute_features(close, high, low, hours, EUR_PIP, window)
    after = compute_features(changed[0], changed[1], changed[2], hours, EUR_PIP, window)
    np.testing.assert_array_equal(before[: t + 1], after[: t + 1])
    if 0 in which:  # a new close always shows in price_change_pips: the change did land
        assert not np.array_equal(before[t + 1 :], after[t + 1 :], equal_nan=True)
    sigma_before = compute_sigma20(close, EUR_PIP)
    sigma_after = compute_sigma20(changed[0], EUR_PIP)
    np.testing.assert_array_equal(sigma_before[: t + 1], sigma_after[: t + 1])
    outcome_before = compute_outcome(close, sigma_before, EUR_PIP)
    outcome_after = compute_outcome(changed[0], sigma_after, EUR_PIP)
    np.testing.assert_array_equal(outcome_before[:t], outcome_after[:t])  # row t reads t + 1


def test_hand_computed_range_change_and_momentum() -> None:
    # Closes rise one pip a bar for 61 bars (rows 0–60), then fall back 30 pips.
    close = np.array([1.1 + k * EUR_PIP for k in range(61)] + [1.1 + 30 * EUR_PIP])
    hours = np.zeros(close.shape[0])
    features = compute_features(close, close, close, hours, EUR_PIP, window=2)
    pir = features[:, COL["position_in_range_60"]]
    change = features[:, COL["price_change_pips"]]
    mom = features[:, COL["momentum_60_pips"]]
    assert np.isnan(pir[:59]).all()
    assert pir[59] == pytest.approx(1.0, abs=1e-12)  # rows 0–59: the close is the maximum
    assert pir[61] == pytest.approx((30 - 2) / (60 - 2), abs=1e-9)  # rows 2–61
    assert np.isnan(change[0])
    assert change[1] == pytest.approx(math.tanh(1 / 10), abs=1e-9)
    assert change[61] == pytest.approx(math.tanh(-30 / 10), abs=1e-9)
    assert np.isnan(mom[:60]).all()
    assert mom[60] == pytest.approx(math.tanh(60 / 100), abs=1e-9)
    assert mom[61] == pytest.approx(math.tanh((30 - 1) / 100), abs=1e-9)
    # W = 2 over m60: rows 60 and 61 hold 60 and 29 pips, so the last is the minimum.
    assert features[61, COL["min_max_scaled_momentum_60"]] == 0.0


def test_hand_computed_outcome() -> None:
    changes = [1, -1] * 10 + [0.5, -0.2, -2]  # in pips, for rows 1–23
    close = np.array([150.0 + JPY_PIP * sum(changes[:k]) for k in range(len(changes) + 1)])
    sigma20 = compute_sigma20(close, JPY_PIP)
    assert sigma20[20] == pytest.approx(math.sqrt(20 / 19), abs=1e-9)  # ten +1s, ten −1s
    assert sigma20[21] == pytest.approx(statistics.stdev([-1, 1] * 9 + [-1, 0.5]), abs=1e-9)
    assert sigma20[22] == pytest.approx(statistics.stdev([1, -1] * 9 + [0.5, -0.2]), abs=1e-9)
    # θ ≈ 0.339, 0.322, 0.316: +0.5 is UP, −0.2 NEUTRAL, −2 DOWN; the last row is undefined.
    expected = [-1] * 20 + [UP, NEUTRAL, DOWN, -1]
    assert compute_outcome(close, sigma20, JPY_PIP).tolist() == expected


def test_undefined_inputs_propagate_like_the_reference() -> None:
    rng = np.random.default_rng(21)
    n, window = 300, 20
    close, high, low = random_bars(rng, n, EUR_PIP)
    close[150] = np.nan
    high[200] = np.nan
    hours = hours_since_week_open(market_minutes(ny_ns(2024, 7, 1, 0), n))
    hours[10] = np.nan
    features = check_against_reference(close, high, low, hours, EUR_PIP, window)
    assert np.isnan(features[150:210, COL["position_in_range_60"]]).all()
    assert not np.isnan(features[210, COL["position_in_range_60"]])


def test_empty_input() -> None:
    empty = np.zeros(0)
    assert compute_features(empty, empty, empty, empty, EUR_PIP).shape == (0, len(FEATURE_NAMES))
    sigma20 = compute_sigma20(empty, EUR_PIP)
    assert sigma20.shape == (0,)
    assert compute_outcome(empty, sigma20, EUR_PIP).shape == (0,)


def test_output_layout_and_list_input() -> None:
    close = [1.1, 1.2, 1.3]
    features = compute_features(close, close, close, [0, 1, 2], EUR_PIP, window=2)
    assert features.dtype == np.float64
    assert features.flags.c_contiguous
    assert features.shape == (3, 11)


def test_fast_tanh() -> None:
    x = np.concatenate((np.linspace(-40.0, 40.0, 20001), [1e-300, -1e-300, 0.0, 710.0, -1e308]))
    got = np.array([_tanh(v) for v in x])
    np.testing.assert_allclose(got, np.tanh(x), rtol=0.0, atol=1e-15)
    assert _tanh(math.inf) == 1.0
    assert _tanh(-math.inf) == -1.0
    assert math.isnan(_tanh(math.nan))


SERIES = np.ones(10)
OTHER = np.ones(9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"close": np.ones((5, 2))}, r"close must be 1-D, got shape \(5, 2\)"),
        ({"high": OTHER}, "high has 9 rows, expected 10"),
        ({"low": OTHER}, "low has 9 rows, expected 10"),
        ({"hours": np.ones((10, 1))}, r"hours must be 1-D, got shape \(10, 1\)"),
        ({"pip": 0.0}, "pip must be a finite number > 0, got 0.0"),
        ({"pip": -0.01}, "pip must be a finite number > 0, got -0.01"),
        ({"pip": math.nan}, "pip must be a finite number > 0, got nan"),
        ({"pip": math.inf}, "pip must be a finite number > 0, got inf"),
        ({"window": 1}, "window must be >= 2, got 1"),
        ({"window": -5}, "window must be >= 2, got -5"),
    ],
)
def test_compute_features_rejects_bad_input(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "close": SERIES,
        "high": SERIES,
        "low": SERIES,
        "hours": SERIES,
        "pip": EUR_PIP,
        "window": 5,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        compute_features(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("window", [2.5, True, "60"])
def test_window_must_be_an_integer(window: object) -> None:
    with pytest.raises(TypeError, match="window must be an integer"):
        compute_features(SERIES, SERIES, SERIES, SERIES, EUR_PIP, window)  # type: ignore[arg-type]


def test_sigma20_and_outcome_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="pip must be a finite number > 0, got 0"):
        compute_sigma20(SERIES, 0)
    with pytest.raises(ValueError, match=r"close must be 1-D, got shape \(2, 5\)"):
        compute_sigma20(np.ones((2, 5)), EUR_PIP)
    with pytest.raises(ValueError, match="sigma20 has 9 rows, expected 10"):
        compute_outcome(SERIES, OTHER, EUR_PIP)
    with pytest.raises(ValueError, match="pip must be a finite number > 0, got -1"):
        compute_outcome(SERIES, SERIES, -1)


def test_parallel_chunks_equal_one_pass_over_the_whole_series() -> None:
    """Beyond CHUNK_ROWS the kernel runs in chunks with a halo on both cores: every row
    must equal a single pass (min and max are exact, so equality is exact)."""
    from fxconsole.market import features as f

    rng = np.random.default_rng(17)
    n = 2 * f.CHUNK_ROWS + 1234
    close = 150 + np.cumsum(rng.normal(0, 0.02, n))
    high = close + rng.exponential(0.02, n)
    low = close - rng.exponential(0.02, n)
    hours = (np.arange(n) % 7200) / 60.0
    chunked = compute_features(close, high, low, hours, 0.01)
    single = np.empty((n, f.N_FEATURES))
    work = np.empty((f._WORK_ROWS, n))
    f._features_kernel(close, high, low, hours, 0.01, f.DEFAULT_WINDOW, f._time_tables(), work,
                       single)
    np.testing.assert_array_equal(chunked, single)
