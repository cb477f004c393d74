"""Property tests (hypothesis) of the SPEC §6 trade metrics and the Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fxconsole.evaluation.montecarlo import (
    DRAWDOWN_PERCENTILES,
    FINAL_PERCENTILES,
    equity_samples,
    monte_carlo,
)
from fxconsole.trading.metrics import RollingTrades, max_drawdown, sqn, trade_metrics

PROPERTY = settings(max_examples=200, deadline=None)  # deadline: numba's first calls
MC = settings(max_examples=100, deadline=None)

# Whole pips: sums are exact in float64, so signs and ties are decided exactly.
whole = st.integers(-300, 300).map(float)
whole_lists = st.lists(whole, max_size=60)
# Any finite pips of a realistic size (signs compared on exact integer tenths below).
tenths = st.integers(-5000, 5000)
pips_lists = st.lists(st.floats(-500.0, 500.0, allow_nan=False, allow_infinity=False),
                      max_size=60)
seeds = st.integers(0, 2**64 - 1)
MASK64 = 2**64 - 1
GOLDEN = 0x9E3779B97F4A7C15


# --- trade metrics -------------------------------------------------------------------------


@PROPERTY
@given(pips_lists)
def test_win_rate_averages_and_totals(pips: list[float]) -> None:
    m = trade_metrics(pips)
    assert m.trades == len(pips)
    if not pips:  # issue 17 #10: undefined, not 0
        assert all(math.isnan(v) for v in (m.expectancy, m.win_rate, m.profit_factor,
                                            m.avg_win, m.avg_loss, m.sqn))
        assert m.total_pips == 0.0 and m.max_drawdown_pips == 0.0
        return
    assert 0.0 <= m.win_rate <= 1.0
    wins = [p for p in pips if p > 0]
    assert m.win_rate == len(wins) / len(pips)
    assert m.total_pips == pytest.approx(math.fsum(pips), abs=1e-9)
    assert m.expectancy == pytest.approx(math.fsum(pips) / len(pips), abs=1e-9)
    assert m.avg_win > 0.0 if wins else math.isnan(m.avg_win)
    assert m.avg_loss <= 0.0 if len(wins) < len(pips) else math.isnan(m.avg_loss)
    # expectancy = win_rate · avg_win + (1 − win_rate) · avg_loss (an absent side weighs 0)
    avg_win = m.avg_win if wins else 0.0
    avg_loss = m.avg_loss if len(wins) < len(pips) else 0.0
    assert m.expectancy == pytest.approx(
        m.win_rate * avg_win + (1 - m.win_rate) * avg_loss, abs=1e-9)
    assert m.sqn == sqn(pips) if sqn(pips) != 0.0 else math.isnan(m.sqn) or m.sqn == 0.0
    assert m.max_drawdown_pips == max_drawdown(pips)


@PROPERTY
@given(st.lists(tenths, max_size=60))
def test_sqn_is_zero_or_has_the_sign_of_the_mean(units: list[int]) -> None:
    pips = [u / 10 for u in units]
    value = sqn(pips)
    if len(pips) < 2:
        assert value == 0.0
    elif len(set(units)) > 1:
        assert np.sign(value) == np.sign(sum(units))  # the exact mean's sign


@st.composite
def unequal_trades(draw: st.DrawFn) -> list[int]:
    n = draw(st.integers(2, 150))  # drawn first: N > 100 (the cap) is common
    units = draw(st.lists(tenths, min_size=n, max_size=n))
    return units if len(set(units)) > 1 else [*units[:-1], units[-1] + 1]


@PROPERTY
@given(unequal_trades())
def test_sqn_is_the_spec_formula(units: list[int]) -> None:
    # sqrt(min(N, 100)) · mean / std(ddof=1), from exact integer sums (tenths of a pip).
    n, total = len(units), sum(units)
    squares = sum((n * u - total) ** 2 for u in units)  # n² · Σ (u − mean)²
    std = math.sqrt(squares / (n * n * (n - 1))) / 10
    want = math.sqrt(min(n, 100)) * (total / n / 10) / std
    assert sqn([u / 10 for u in units]) == pytest.approx(want, rel=1e-9, abs=1e-12)


@PROPERTY
@given(whole, st.integers(2, 150))
def test_sqn_of_equal_whole_pip_trades_is_zero(p: float, n: int) -> None:
    assert sqn([p] * n) == 0.0  # std = 0 (the mean of whole pips is exact)


@PROPERTY
@example(1, 3)
@given(tenths, st.integers(2, 150))
def test_sqn_of_equal_trades_is_zero(unit: int, n: int) -> None:
    # SPEC §6: 0 when std = 0 (the float std of equal 0.1s is ~1e-17, not 0: found here)
    assert sqn([unit / 10] * n) == 0.0


@PROPERTY
@given(st.lists(tenths, min_size=2, max_size=60), st.sampled_from((0.25, 2.0, 8.0)))
def test_sqn_ignores_scale_and_order_and_flips_with_the_sign(units: list[int],
                                                           scale: float) -> None:
    pips = [u / 10 for u in units]
    value = sqn(pips)
    assert sqn([scale * p for p in pips]) == pytest.approx(value, rel=1e-9, abs=1e-12)
    assert sqn([-p for p in pips]) == pytest.approx(-value, rel=1e-12, abs=1e-12)
    assert sqn(pips[::-1]) == pytest.approx(value, rel=1e-9, abs=1e-12)


@PROPERTY
@given(whole_lists)
def test_profit_factor(pips: list[float]) -> None:
    m = trade_metrics(pips)
    if not pips:
        return
    losses = [p for p in pips if p < 0]
    if not losses:  # all wins: ∞; nothing won or lost (0-pip trades): undefined
        if any(p > 0 for p in pips):
            assert m.profit_factor == math.inf
        else:
            assert math.isnan(m.profit_factor)
        return
    gains = sum(p for p in pips if p > 0)
    assert math.isfinite(m.profit_factor) and m.profit_factor >= 0.0
    assert m.profit_factor == pytest.approx(gains / -sum(losses), rel=1e-12)
    # Above 1 exactly when the trades made money, 1 when they broke even.
    total = sum(pips)
    assert (m.profit_factor > 1.0) == (total > 0) and (m.profit_factor == 1.0) == (total == 0)


@PROPERTY
@given(pips_lists)
def test_max_drawdown_bounds(pips: list[float]) -> None:
    dd = max_drawdown(pips)
    losses = [-p for p in pips if p < 0]
    assert dd >= 0.0
    assert dd <= math.fsum(losses) + 1e-9  # only losing trades move the curve down
    assert dd >= max(losses, default=0.0) - 1e-9  # one loss is a fall on its own
    if not losses:
        assert dd == 0.0
    if pips and all(p <= 0 for p in pips):
        assert dd == pytest.approx(-math.fsum(pips), abs=1e-9)  # the curve only falls
    # The curve starts at 0: a leading gain lifts the whole curve and changes no fall,
    # a leading loss is a fall of its own.
    assert max_drawdown([1000.0, *pips]) == pytest.approx(dd, abs=1e-6)
    assert max_drawdown([-1000.0, *pips]) >= 1000.0
    assert trade_metrics(pips).max_drawdown_pips == dd


@PROPERTY
@given(st.integers(1, 20), st.lists(st.lists(whole, max_size=15), max_size=8))
def test_rolling_trades_equal_the_metrics_of_the_last_window(
        window: int, chunks: list[list[float]]) -> None:
    rolling = RollingTrades(window=window)
    seen: list[float] = []
    for chunk in chunks:
        rolling.extend(chunk)
        seen += chunk
        assert rolling.metrics() == trade_metrics(seen[-window:] if seen else [])
        assert rolling.total == len(seen)
        assert rolling.total_wins == sum(p > 0 for p in seen)
        assert rolling.metrics().trades == min(window, len(seen))


# --- Monte Carlo ---------------------------------------------------------------------------


def py_mix64(x: int) -> int:
    """SplitMix64's finaliser on Python ints (the module docstring's generator)."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def py_index(key: int, i: int, n: int) -> int:
    """Draw ``i`` of stream ``key``: Lemire's multiply-shift on the high 32 bits of
    SplitMix64 output ``i + 1``, a word under ``2**32 mod n`` re-hashed."""
    x = py_mix64((key + (i + 1) * GOLDEN) & MASK64)
    while True:
        product = (x >> 32) * n
        if product & 0xFFFFFFFF >= (2**32 - n) % n:
            return product >> 32
        x = py_mix64((x + GOLDEN) & MASK64)


def py_monte_carlo(pips: list[float], runs: int, seed: int) -> tuple[list[float], list[float]]:
    """SPEC §6 as plain loops: each run draws N trades with replacement and walks its
    curve from 0; returns the runs' finals and max drawdowns."""
    n, seed_key = len(pips), py_mix64(seed)
    finals, drawdowns = [], []
    for run in range(runs):
        key = py_mix64((seed_key + (run + 1) * GOLDEN) & MASK64)
        equity, peak, worst = 0.0, 0.0, 0.0
        for i in range(n):
            equity += pips[py_index(key, i, n)]
            peak = max(peak, equity)
            worst = max(worst, peak - equity)
        finals.append(equity)
        drawdowns.append(worst)
    return finals, drawdowns


@MC
@given(st.lists(st.floats(-200.0, 200.0, allow_nan=False), min_size=1, max_size=30),
       st.integers(1, 40), seeds)
def test_monte_carlo_equals_a_plain_python_resampling(pips: list[float], runs: int,
                                                       seed: int) -> None:
    result = monte_carlo(np.asarray(pips), runs=runs, seed=seed)
    finals, drawdowns = py_monte_carlo(pips, runs, seed)
    np.testing.assert_array_equal(result.finals, finals)
    np.testing.assert_array_equal(result.drawdowns, drawdowns)
    want_finals = np.percentile(finals, FINAL_PERCENTILES, method="linear")
    want_dd = np.percentile(drawdowns, DRAWDOWN_PERCENTILES, method="linear")
    assert list(result.final_pips.values()) == want_finals.tolist()
    assert list(result.max_drawdown.values()) == want_dd.tolist()
    assert result.prob_below_zero == sum(f < 0 for f in finals) / runs


def ordered(values: dict[str, float], qs: tuple[int, ...]) -> list[float]:
    assert list(values) == [f"p{q}" for q in qs]
    return [values[f"p{q}"] for q in qs]


@MC
@given(st.lists(st.floats(-200.0, 200.0, allow_nan=False), min_size=1, max_size=50),
       st.integers(1, 300), seeds)
def test_monte_carlo_bounds_and_order(pips: list[float], runs: int, seed: int) -> None:
    p = np.asarray(pips)
    n = p.size
    result = monte_carlo(p, runs=runs, seed=seed)
    assert (result.runs, result.n_trades, result.seed) == (runs, n, seed)
    assert result.finals.shape == result.drawdowns.shape == (runs,)
    finals = ordered(result.final_pips, FINAL_PERCENTILES)
    drawdowns = ordered(result.max_drawdown, DRAWDOWN_PERCENTILES)
    assert finals == sorted(finals) and drawdowns == sorted(drawdowns)
    assert result.finals.min() <= finals[0] and finals[-1] <= result.finals.max()
    assert drawdowns[0] >= 0.0 and np.all(result.drawdowns >= 0.0)
    assert 0.0 <= result.prob_below_zero <= 1.0
    assert result.prob_below_zero == np.count_nonzero(result.finals < 0) / runs
    # Each run is N draws from the trades: its final lies in [N·min, N·max] and its
    # drawdown is at most N falls of the worst loss.
    slack = 1e-9 * n * max(1.0, float(np.abs(p).max()))
    assert np.all(result.finals >= n * p.min() - slack)
    assert np.all(result.finals <= n * p.max() + slack)
    assert np.all(result.drawdowns <= n * max(0.0, -float(p.min())) + slack)
    if p.min() >= 0.0:
        assert np.all(result.drawdowns == 0.0)
    # The runs' curves (same draws, by equity_samples): a final and a drawdown each.
    curves = equity_samples(p, runs, np.uint64(seed), np.arange(n + 1))
    np.testing.assert_array_equal(curves[:, -1], result.finals)
    np.testing.assert_allclose(
        result.drawdowns, (np.maximum.accumulate(curves, axis=1) - curves).max(axis=1),
        rtol=0, atol=slack)


@MC
@given(st.lists(whole, min_size=1, max_size=50), st.integers(1, 200), seeds)
def test_monte_carlo_same_seed_same_result(pips: list[float], runs: int, seed: int) -> None:
    p = np.asarray(pips)
    one, two = monte_carlo(p, runs=runs, seed=seed), monte_carlo(p.copy(), runs=runs, seed=seed)
    assert one == two
    np.testing.assert_array_equal(one.finals, two.finals)
    np.testing.assert_array_equal(one.drawdowns, two.drawdowns)
    # Fewer runs are the first runs of the same streams.
    fewer = monte_carlo(p, runs=max(1, runs // 2), seed=seed)
    np.testing.assert_array_equal(fewer.finals, one.finals[:fewer.runs])
    # Another seed draws other trades (50 identical runs by chance: < 2**-50 here).
    if runs >= 50 and p.size >= 5 and np.unique(p).size > 1:
        other = monte_carlo(p, runs=runs, seed=(seed + 1) % 2**64)
        assert not np.array_equal(other.finals, one.finals)


@MC
@given(st.lists(whole, min_size=1, max_size=50), st.integers(1, 200), seeds,
       st.sampled_from((0.5, 2.0, 4.0)))
def test_monte_carlo_draws_do_not_depend_on_the_values(pips: list[float], runs: int,
                                                       seed: int, scale: float) -> None:
    # The same seed draws the same trade indices whatever the pips: scaling the pips by a
    # power of two scales every run's final and drawdown exactly.
    p = np.asarray(pips)
    base = monte_carlo(p, runs=runs, seed=seed)
    scaled = monte_carlo(scale * p, runs=runs, seed=seed)
    np.testing.assert_array_equal(scaled.finals, scale * base.finals)
    np.testing.assert_array_equal(scaled.drawdowns, scale * base.drawdowns)
    assert scaled.prob_below_zero == base.prob_below_zero


@MC
@given(st.floats(-100.0, 100.0, allow_nan=False), st.integers(1, 60), st.integers(1, 200),
       seeds)
def test_monte_carlo_of_a_constant_trade_list_is_one_run(c: float, n: int, runs: int,
                                                          seed: int) -> None:
    result = monte_carlo(np.full(n, c), runs=runs, seed=seed)
    assert np.all(result.finals == result.finals[0])
    assert np.all(result.drawdowns == result.drawdowns[0])
    assert result.finals[0] == pytest.approx(n * c, rel=1e-12, abs=1e-12)
    assert result.drawdowns[0] == pytest.approx(n * max(0.0, -c), rel=1e-12, abs=1e-12)
    assert len(set(result.final_pips.values())) == 1
    assert result.prob_below_zero == float(result.finals[0] < 0)
