"""Tests of the synthetic default data set (fxconsole.market.synth)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from fxconsole.market.bars import Bars
from fxconsole.market.fxcalendar import is_weekend, new_york_offset_ns, week_open_ns
from fxconsole.market.synth import _ar1, synth_bars
from fxconsole.timeutil import NS_PER_HOUR, timeframe_seconds

NS_PER_MINUTE = 60_000_000_000
SHORT = 0.25  # years: ~94k M1 bars, a fraction of a second


@pytest.fixture(scope="module")
def default_bars() -> Bars:
    """The default data set (3.5 years, ~1.31M bars, ~1 s)."""
    return synth_bars()


@pytest.fixture(scope="module")
def short_bars() -> Bars:
    return synth_bars(years=SHORT, seed=7)


def _ranges(bars: Bars) -> npt.NDArray[np.float64]:
    return (bars.high - bars.low) / bars.pip


def _assert_valid(bars: Bars) -> None:
    """SPEC §1 storage rules: sorted unique ts, no weekend rows, valid positive OHLC."""
    assert np.all(np.diff(bars.ts) > 0)
    assert not is_weekend(bars.ts).any()
    prices = np.stack([bars.open, bars.high, bars.low, bars.close])
    assert prices.dtype == np.float64
    assert np.isfinite(prices).all() and (prices > 0).all()
    assert np.all(bars.high >= np.maximum(bars.open, bars.close))
    assert np.all(bars.low <= np.minimum(bars.open, bars.close))
    assert (bars.volume >= 1).all() and np.all(bars.volume == np.round(bars.volume))


def _momentum(bars: Bars) -> tuple[npt.NDArray[np.float64], ...]:
    """For t = 60 … n−61: sign of m5, sign of m60 and the 30-bar forward move, in pips."""
    c = bars.close / bars.pip
    t = np.arange(60, c.shape[0] - 60)
    return np.sign(c[t] - c[t - 5]), np.sign(c[t] - c[t - 60]), c[t + 30] - c[t]


def _momentum_rule_pips(bars: Bars) -> float:
    """Mean gross pips of: every 30 bars, when m5 and m60 agree, trade that way for 30 bars."""
    m5, m60, forward = (x[::30] for x in _momentum(bars))
    agree = m5 == m60
    return float(np.mean(m5[agree] * forward[agree]))


def _sign_corr(bars: Bars) -> float:
    """Correlation of sign(c_t − c_{t−5}) with c_{t+30} − c_t."""
    m5, _, forward = _momentum(bars)
    return float(np.corrcoef(m5, forward)[0, 1])


def test_default_size_and_levels(default_bars: Bars) -> None:
    assert default_bars.symbol == "GBPJPY" and default_bars.timeframe == "M1"
    assert 1_300_000 <= len(default_bars) <= 1_330_000
    assert 150.0 <= default_bars.open[0] <= 160.0
    assert default_bars.low.min() > 80.0 and default_bars.high.max() < 260.0
    _assert_valid(default_bars)


def test_default_range_statistics(default_bars: Bars) -> None:
    ranges = _ranges(default_bars)
    assert ranges.mean() == pytest.approx(3.9, rel=0.15)
    assert np.percentile(ranges, 99) == pytest.approx(16.5, rel=0.20)
    # Ranges are not just |close − open|.
    assert np.mean(ranges > np.abs(default_bars.close - default_bars.open) / 0.01 + 0.5) > 0.5


def test_prices_rounded_to_oanda_precision(short_bars: Bars) -> None:
    for prices in (short_bars.open, short_bars.high, short_bars.low, short_bars.close):
        np.testing.assert_allclose(prices * 1000, np.round(prices * 1000), rtol=0, atol=1e-6)


def test_same_seed_is_bit_identical_and_seeds_differ() -> None:
    a, b = synth_bars(years=0.05, seed=3), synth_bars(years=0.05, seed=3)
    other = synth_bars(years=0.05, seed=4)
    for name in ("ts", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.close, other.close)
    assert not np.array_equal(a.ts, other.ts)  # different missing minutes


@pytest.mark.parametrize(
    "start",
    [
        "2021-03-07",  # US springs forward 03-14, UK 03-28: two weeks when they differ
        "2021-10-24",  # UK falls back 10-31, US 11-07: one week when they differ
        "2023-03-05",
        "2023-10-22",
    ],
)
def test_no_weekend_bars_across_dst_switches(start: str) -> None:
    bars = synth_bars(years=0.07, seed=1, start=start)
    _assert_valid(bars)
    opens = week_open_ns(bars.ts)
    first = np.flatnonzero(np.diff(opens, prepend=opens[0] - 1) != 0)
    assert len(first) >= 3
    # Each week begins at Sunday 17:00 New York time (bar dropped there: a minute or so later).
    assert np.all(bars.ts[first] - opens[first] <= 10 * NS_PER_MINUTE)
    local = (bars.ts[first] + new_york_offset_ns(bars.ts[first])) % (24 * NS_PER_HOUR)
    assert np.all(local >= 17 * NS_PER_HOUR)
    # The full 120-hour week is there, less a few dropped minutes.
    counts = np.diff(np.append(first, len(bars)))[:-1]
    assert np.all((counts > 7200 - 100) & (counts <= 7200))


@pytest.mark.parametrize("timeframe", ["M5", "M15", "H1", "H4", "D"])
def test_other_timeframes(timeframe: str) -> None:
    bars = synth_bars(years=0.5, seed=2, timeframe=timeframe)
    assert bars.timeframe == timeframe and len(bars) > 100
    _assert_valid(bars)
    period_ns = timeframe_seconds(timeframe) * 1_000_000_000
    assert np.all(np.diff(bars.ts) % period_ns == 0)
    # Ranges grow with the bar length (roughly with its square root).
    m1 = _ranges(synth_bars(years=0.05, seed=2)).mean()
    assert _ranges(bars).mean() > 2 * m1


def test_open_is_previous_close_within_a_session(short_bars: Bars) -> None:
    consecutive = np.diff(short_bars.ts) == NS_PER_MINUTE
    assert np.array_equal(short_bars.open[1:][consecutive], short_bars.close[:-1][consecutive])
    # After the weekend the open jumps (the weekend gap).
    weekend = np.diff(short_bars.ts) > 24 * NS_PER_HOUR
    assert np.any(short_bars.open[1:][weekend] != short_bars.close[:-1][weekend])


def test_few_missing_minutes_and_sessions_stay_valid(default_bars: Bars) -> None:
    minutes = np.diff(default_bars.ts) // NS_PER_MINUTE
    missing = minutes[(minutes > 1) & (minutes < 24 * 60)] - 1
    assert 0.0003 < missing.sum() / len(default_bars) < 0.002
    assert np.mean(missing == 1) > 0.6  # mostly single minutes
    assert np.any((missing >= 2) & (missing <= 9))  # some short runs
    assert 2 <= np.sum((missing >= 14) & (missing <= 60)) <= 15  # a couple a year
    # SPEC §3 gap rule: most 360-bar windows have no step over 10 minutes.
    bad = np.concatenate([[0], np.cumsum(minutes > 10)])
    starts = np.arange(len(default_bars) - 359)
    assert np.mean(bad[starts + 359] == bad[starts]) > 0.9


def test_london_and_new_york_hours_busier_than_asia(short_bars: Bars) -> None:
    ranges = _ranges(short_bars)
    utc_hour = (short_bars.ts // NS_PER_HOUR) % 24
    asia = ranges[(utc_hour >= 0) & (utc_hour < 6)].mean()
    london = ranges[(utc_hour >= 8) & (utc_hour < 12)].mean()
    overlap = ranges[(utc_hour >= 13) & (utc_hour < 15)].mean()
    ny_hour = ((short_bars.ts + new_york_offset_ns(short_bars.ts)) // NS_PER_HOUR) % 24
    rollover = ranges[ny_hour == 17].mean()
    assert london > 1.3 * asia
    assert overlap > london
    assert rollover < asia


def test_volatility_clusters(short_bars: Bars) -> None:
    moves = np.abs(np.diff(short_bars.close))
    moves -= moves.mean()
    assert np.corrcoef(moves[:-10], moves[10:])[0, 1] > 0.1


def test_volume_follows_volatility(short_bars: Bars) -> None:
    assert np.corrcoef(short_bars.volume, _ranges(short_bars))[0, 1] > 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_edge_without_signal(seed: int) -> None:
    bars = synth_bars(years=SHORT, seed=seed, signal=0.0)
    assert abs(_sign_corr(bars)) < 0.04
    assert abs(_momentum_rule_pips(bars)) < 2.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_signal_beats_the_spread(seed: int) -> None:
    bars = synth_bars(years=SHORT, seed=seed, signal=1.0)
    assert _sign_corr(bars) > 0.2
    assert _momentum_rule_pips(bars) > 4.0  # the spread
    half = synth_bars(years=SHORT, seed=seed, signal=0.5)
    assert 0.05 < _sign_corr(half) < _sign_corr(bars)
    # The M1 range statistics barely move.
    assert _ranges(bars).mean() == pytest.approx(_ranges(half).mean(), rel=0.05)
    assert np.array_equal(bars.ts, half.ts)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"years": 0}, "years .* got 0"),
        ({"years": -1.0}, "years .* got -1.0"),
        ({"years": float("nan")}, "years .* got nan"),
        ({"signal": -0.1}, r"signal .*\[0, 4\].* got -0.1"),
        ({"signal": 4.5}, r"signal .*\[0, 4\].* got 4.5"),
        ({"timeframe": "M2"}, "timeframe.*'M2'.*allowed: M1"),
        ({"start": "2021-13-01"}, "start .* got '2021-13-01'"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        synth_bars(**kwargs)  # type: ignore[arg-type]


def test_empty_span_gives_no_bars() -> None:
    bars = synth_bars(years=0.0001, start="2021-01-02")  # a Saturday
    assert len(bars) == 0


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.999])
def test_ar1_kernel_matches_a_plain_loop(phi: float) -> None:
    x = np.random.default_rng(0).standard_normal(50)
    expected = np.empty_like(x)
    expected[0] = x[0]
    for t in range(1, len(x)):
        expected[t] = phi * expected[t - 1] + x[t]
    np.testing.assert_allclose(_ar1(x, phi), expected, rtol=1e-12)
