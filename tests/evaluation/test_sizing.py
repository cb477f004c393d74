"""Bandy's safe-f and CAR25 (SPEC §6.5): the kernel against plain loops, the bisection
against a plain one, bounds, CAR25 and reproducibility."""

from __future__ import annotations

import json
import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fxconsole.evaluation.sizing import (
    SizingResult,
    block_length,
    draw_indices,
    horizon_trades,
    linear_quantile,
    safe_f_car25,
    simulate,
    trade_returns,
)

from rng_reference import GOLDEN, MASK64, py_draw_index, py_mix64  # isort: skip

PROPERTY = settings(max_examples=60, deadline=None)  # deadline: numba's first calls

# Returns on notional: mostly small, sometimes a large loss (ruin at a large f).
small_returns = st.floats(-0.05, 0.05, allow_nan=False, allow_infinity=False)
returns_lists = st.lists(
    st.one_of(small_returns, st.floats(-0.9, -0.2)), min_size=1, max_size=12)


def py_run(returns: list[float], draws: list[int], f: float) -> tuple[float, float]:
    """One run, as the SPEC says it: compound 1 + f·r from 1; max drawdown of the peak."""
    equity, peak, worst = 1.0, 1.0, 0.0
    for i in draws:
        growth = 1.0 + f * returns[i]
        if growth <= 0.0:  # ruin: a 100 % drawdown, final equity 0
            return 1.0, 0.0
        equity *= growth
        peak = max(peak, equity)
        worst = max(worst, 1.0 - equity / peak)
    return worst, equity


def py_log_run(returns: list[float], draws: list[int], f: float) -> tuple[float, float]:
    """The same run in logs (for horizons whose equity overflows a float)."""
    log_equity, log_peak, worst = 0.0, 0.0, 0.0
    for i in draws:
        growth = 1.0 + f * returns[i]
        if growth <= 0.0:
            return 1.0, -math.inf
        log_equity += math.log(growth)
        log_peak = max(log_peak, log_equity)
        worst = max(worst, -math.expm1(log_equity - log_peak))
    return worst, log_equity


def py_draws(n: int, runs: int, horizon: int, seed: int) -> list[list[int]]:
    """The Monte Carlo's draws (SPEC §6, montecarlo's docstring) in plain Python."""
    seed_key = py_mix64(seed)
    keys = [py_mix64((seed_key + (run + 1) * GOLDEN) & MASK64) for run in range(runs)]
    return [[py_draw_index(key, i, n) for i in range(horizon)] for key in keys]


def check_against_reference(returns: list[float], runs: int, horizon: int, seed: int,
                            f: float) -> None:
    r = np.array(returns)
    indices = draw_indices(len(returns), runs, horizon, np.uint64(seed))
    drawdowns, log_finals = simulate(r, indices, f)
    for run, draws in enumerate(indices.tolist()):
        dd, final = py_run(returns, draws, f)
        assert drawdowns[run] == pytest.approx(dd, abs=1e-12)
        if final == 0.0:
            assert log_finals[run] == -math.inf
        else:
            assert log_finals[run] == pytest.approx(math.log(final), rel=1e-9, abs=1e-9)


def plain_bisection(returns: np.ndarray, runs: int, horizon: int, seed: int,
                    max_dd: float = 0.2, q: float = 0.95, f_max: float = 100.0,
                    tol: float = 1e-4) -> float:
    """SPEC §6.5's bisection with every run played in full at every f."""
    indices = draw_indices(returns.size, runs, horizon, np.uint64(seed))

    def dd_q(f: float) -> float:
        return float(np.quantile(simulate(returns, indices, f)[0], q))

    if dd_q(f_max) <= max_dd:
        return f_max
    lo, hi = 0.0, f_max
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if dd_q(mid) > max_dd:
            hi = mid
        else:
            lo = mid
    return lo


def trade_list(seed: int, n: int = 120, drift: float = 2.0, spread: float = 15.0
               ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(drift, spread, n), rng.uniform(1.05, 1.35, n)


# --- the draws and the kernel --------------------------------------------------------------


def test_draws_are_the_monte_carlo_generator() -> None:
    indices = draw_indices(7, 5, 13, np.uint64(2024))
    assert indices.shape == (5, 13) and indices.dtype == np.int32
    assert indices.tolist() == py_draws(7, 5, 13, 2024)
    assert draw_indices(7, 5, 13, np.uint64(2025)).tolist() != indices.tolist()


@PROPERTY
@given(returns_lists, st.integers(1, 8), st.integers(1, 40), st.integers(0, 2**64 - 1),
       st.floats(0.0, 20.0))
def test_kernel_matches_plain_loops(returns: list[float], runs: int, horizon: int,
                                    seed: int, f: float) -> None:
    check_against_reference(returns, runs, horizon, seed, f)


@pytest.mark.parametrize("f", [0.0, 0.5, 1.0, 3.0, 4.99, 5.0, 8.0])
def test_kernel_hand_cases(f: float) -> None:
    # r = -0.2 ruins at f >= 5 (1 + f·r <= 0), only if that trade is drawn.
    check_against_reference([0.05, -0.03, 0.01, -0.2], 6, 25, 11, f)


def test_kernel_hand_worked_run() -> None:
    # f = 2 on +10 %, -20 %, -5 %, +30 %: equity 1.2, 0.72, 0.648, 1.0368; the peak 1.2,
    # the trough 0.648: max drawdown 1 − 0.648/1.2 = 0.46, final 1.0368.
    r = np.array([0.10, -0.20, -0.05, 0.30])
    indices = np.array([[0, 1, 2, 3], [3, 3, 1, 1]], dtype=np.int32)
    dd, log_final = simulate(r, indices, 2.0)
    assert dd[0] == pytest.approx(0.46, abs=1e-15)
    assert math.exp(log_final[0]) == pytest.approx(1.0368, rel=1e-14)
    # 1.6, 2.56, 1.536, 0.9216: drawdown 1 − 0.9216/2.56 = 0.64.
    assert dd[1] == pytest.approx(0.64, abs=1e-15)
    # At f = 5 the -20 % trade ruins: drawdown 1, final 0.
    dd, log_final = simulate(r, indices, 5.0)
    assert dd.tolist() == [1.0, 1.0] and log_final.tolist() == [-math.inf, -math.inf]


def test_equity_beyond_a_float_is_kept_in_logs() -> None:
    # +50 % then -10 % at f = 100: x51 then ÷11: the equity passes 1e308 within ~180
    # trades; the kernel rescales it and keeps the final as a logarithm.
    r = np.array([0.5, -0.001])
    indices = draw_indices(2, 4, 3000, np.uint64(5))
    assert block_length(r, 100.0, 3000) < 3000
    dd, log_final = simulate(r, indices, 100.0)
    for run, draws in enumerate(indices.tolist()):
        ref_dd, ref_log = py_log_run(r.tolist(), draws, 100.0)
        assert math.isfinite(log_final[run]) and log_final[run] > 709.8  # > log(float max)
        assert log_final[run] == pytest.approx(ref_log, rel=1e-12)
        assert dd[run] == pytest.approx(ref_dd, abs=1e-12)


def test_a_fall_to_nothing_is_ruin() -> None:
    # 1 − 100·0.0099999 = 1e-5 a trade: below 2^-600 of the peak in ~120 trades.
    r = np.array([-0.0099999])
    dd, log_final = simulate(r, np.zeros((1, 500), dtype=np.int32), 100.0)
    assert dd[0] == 1.0 and log_final[0] == -math.inf


def test_stop_cuts_runs_short_and_which_selects_them() -> None:
    r = trade_returns(*trade_list(3, n=60), pip=0.0001)
    indices = draw_indices(60, 40, 500, np.uint64(9))
    full_dd, full_log = simulate(r, indices, 12.0)
    dd, log_final = simulate(r, indices, 12.0, stop=0.2)
    cut = full_dd > 0.2
    assert cut.any() and (~cut).any()
    np.testing.assert_array_equal(dd[~cut], full_dd[~cut])
    np.testing.assert_array_equal(log_final[~cut], full_log[~cut])
    assert (dd[cut] > 0.2).all() and (dd[cut] <= full_dd[cut]).all()
    assert np.isnan(log_final[cut]).all()
    which = np.array([5, 0, 33, 5], dtype=np.int64)
    some_dd, some_log = simulate(r, indices, 12.0, which=which)
    np.testing.assert_array_equal(some_dd, full_dd[which])
    np.testing.assert_array_equal(some_log, full_log[which])


@PROPERTY
@given(returns_lists, st.integers(0, 2**64 - 1), st.floats(0.0, 20.0),
       st.floats(0.0, 20.0))
def test_drawdown_is_monotone_in_f_on_common_draws(returns: list[float], seed: int,
                                                   f1: float, f2: float) -> None:
    lo, hi = sorted((f1, f2))
    indices = draw_indices(len(returns), 6, 30, np.uint64(seed))
    dd_lo, _ = simulate(np.array(returns), indices, lo)
    dd_hi, _ = simulate(np.array(returns), indices, hi)
    assert (dd_lo <= dd_hi + 1e-12).all()


def test_kernel_does_not_depend_on_the_thread_count() -> None:
    r = trade_returns(*trade_list(4), pip=0.0001)
    indices = draw_indices(r.size, 64, 300, np.uint64(3))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate(r, indices, 7.0), draw_indices(r.size, 64, 300, np.uint64(3))
        numba.set_num_threads(before)
        many = simulate(r, indices, 7.0), draw_indices(r.size, 64, 300, np.uint64(3))
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one[0][0], many[0][0])
    np.testing.assert_array_equal(one[0][1], many[0][1])
    np.testing.assert_array_equal(one[1], many[1])


# --- helpers -------------------------------------------------------------------------------


@PROPERTY
@given(st.lists(st.floats(-1.0, 1e6), min_size=1, max_size=50), st.floats(0.0, 1.0))
def test_linear_quantile_is_numpys(values: list[float], q: float) -> None:
    assert linear_quantile(np.array(values), q) == pytest.approx(
        float(np.quantile(values, q)), rel=1e-12, abs=1e-12)


def test_linear_quantile_with_infinities() -> None:
    assert linear_quantile(np.array([1.0, math.inf, math.inf, math.inf]), 0.25) == math.inf
    assert linear_quantile(np.array([1.0, 2.0, math.inf, math.inf, math.inf]), 0.25) == 2.0
    assert linear_quantile(np.array([-1.0, -1.0, math.inf]), 0.5) == -1.0


def test_horizon_and_returns() -> None:
    assert horizon_trades(8.0, 2.0) == 4032
    assert horizon_trades(0.001, 2.0) == 1  # 0.504 rounds up
    assert horizon_trades(0.0009, 2.0) == 0  # 0.4536 rounds down
    assert horizon_trades(0.0, 2.0) == 0
    r = trade_returns(np.array([10.0, -25.0]), np.array([1.25, 160.0]), 0.0001)
    np.testing.assert_allclose(r, [10 * 0.0001 / 1.25, -25 * 0.0001 / 160.0], rtol=1e-15)


@pytest.mark.parametrize("kwargs", [
    {"pips": np.zeros((2, 2)), "entry_prices": np.ones((2, 2))},
    {"entry_prices": np.ones(3)},
    {"entry_prices": np.array([1.0, 0.0, 1.0, 1.0])},
    {"pips": np.array([1.0, math.nan, 1.0, 1.0])},
    {"pip": 0.0},
    {"trades_per_day": -1.0},
    {"years": 0.0},
    {"max_dd": 1.0},
    {"dd_quantile": 1.5},
    {"car_quantile": -0.1},
    {"runs": 0},
    {"runs": 2.5},
    {"seed": -1},
    {"tol": 0.0},
    {"f_max": math.inf},
    {"trades_per_day": 1e9},  # runs × H too large for the index matrix
    {"pips": np.array([1e104, 1.0, 1.0, 1.0])},  # f_max · r beyond MAX_GROWTH
])
def test_bad_inputs_are_refused(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"pips": np.array([5.0, -3.0, 2.0, -1.0]),
                               "entry_prices": np.ones(4), "pip": 0.0001,
                               "trades_per_day": 1.0}
    args.update(kwargs)
    with pytest.raises(ValueError):
        safe_f_car25(**args)  # type: ignore[arg-type]


# --- safe-f and CAR25 ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_safe_f_holds_the_percentile_at_max_dd(seed: int) -> None:
    pips, entry = trade_list(seed)
    res = safe_f_car25(pips, entry, 0.0001, 4.0, runs=300, seed=seed)
    assert res.status == "ok" and 0.0 < res.safe_f < 100.0
    assert res.horizon_trades == 2016 and res.runs == 300
    r = trade_returns(pips, entry, 0.0001)
    indices = draw_indices(r.size, 300, 2016, np.uint64(seed))
    dd95 = float(np.quantile(simulate(r, indices, res.safe_f)[0], 0.95))
    above = float(np.quantile(simulate(r, indices, res.safe_f + 1e-4)[0], 0.95))
    assert dd95 <= 0.2 < above  # the bracket [safe_f, safe_f + tol] holds 20 %
    assert dd95 == pytest.approx(0.2, abs=1e-4)
    assert res.dd95_at_safe_f == pytest.approx(dd95, abs=1e-15)
    assert res.safe_f == plain_bisection(r, 300, 2016, seed)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32), st.integers(5, 60), st.integers(1, 120),
       st.integers(20, 400), st.floats(0.0, 4.0), st.sampled_from([0.1, 0.2, 0.35]),
       st.sampled_from([0.5, 0.9, 0.95, 1.0]))
def test_pruned_bisection_is_the_plain_one(seed: int, n: int, runs: int, horizon: int,
                                           drift: float, max_dd: float, q: float) -> None:
    pips, entry = trade_list(seed, n=n, drift=drift)
    res = safe_f_car25(pips, entry, 0.0001, horizon / 504, runs=runs, seed=seed,
                       max_dd=max_dd, dd_quantile=q)
    assert res.horizon_trades == horizon
    r = trade_returns(pips, entry, 0.0001)
    assert res.safe_f == plain_bisection(r, runs, horizon, seed, max_dd=max_dd, q=q)


def test_car25_is_the_quantile_of_the_runs_at_safe_f() -> None:
    pips, entry = trade_list(7, n=40)
    res = safe_f_car25(pips, entry, 0.0001, 0.1, runs=50, seed=7)  # H = 50
    assert res.status == "ok"
    r = trade_returns(pips, entry, 0.0001)
    cars = []
    for draws in py_draws(r.size, 50, 50, 7):
        _, final = py_run(r.tolist(), draws, res.safe_f)
        cars.append(final ** (1 / 2.0) - 1.0)
    assert res.car25 == pytest.approx(float(np.quantile(cars, 0.25)), rel=1e-10)
    assert res.car25 == pytest.approx(
        float(np.quantile(np.expm1(res.log_finals / 2.0), 0.25)), rel=1e-12)
    assert res.dd95_at_safe_f == pytest.approx(float(np.quantile(res.drawdowns, 0.95)))


def test_huge_losses_give_zero() -> None:
    # Every trade loses its whole notional (-10 000 pips at 1.0: r = -1): at any f the
    # equity falls by f a trade, and even the smallest f tried (100 / 2^20 < 1e-4) loses
    # 1 − (1 − f)^H ≈ 32 % over H = 4032 trades.
    pips = np.full(20, -10000.0)
    res = safe_f_car25(pips, np.ones(20), 0.0001, 8.0)
    assert res.safe_f == 0.0 and res.status == "exceeds_at_smallest_f"
    assert res.car25 == 0.0 and res.dd95_at_safe_f == 0.0
    assert 1.0 - (1.0 - 100.0 / 2**20) ** res.horizon_trades > 0.2


def test_tiny_returns_give_f_max() -> None:
    # ±0.1 pip at 1.30: 100 · 7.7e-6 = 0.08 % a trade, 500 trades: the 95th percentile
    # drawdown stays far below 20 % at f = 100.
    pips = np.array([0.1, -0.1, 0.1, 0.05])
    res = safe_f_car25(pips, np.full(4, 1.30), 0.0001, 1.0, runs=200)  # H = 504
    assert res.safe_f == 100.0 and res.status == "never_reaches"
    assert res.dd95_at_safe_f < 0.2
    r = trade_returns(pips, np.full(4, 1.30), 0.0001)
    indices = draw_indices(4, 200, 504, np.uint64(0))
    cars = np.expm1(simulate(r, indices, 100.0)[1] / 2.0)
    assert res.car25 == pytest.approx(float(np.quantile(cars, 0.25)), rel=1e-12)


def test_only_winners_never_reach_and_may_grow_past_a_float() -> None:
    res = safe_f_car25(np.array([100.0, 200.0]), np.ones(2), 0.0001, 8.0, runs=20)
    # x2 to x3 a trade, 4032 trades: the CAR exceeds a float; the drawdown is 0.
    assert res.status == "never_reaches" and res.dd95_at_safe_f == 0.0
    assert res.car25 == math.inf
    assert np.isfinite(res.log_finals).all()


def test_no_trades_or_no_horizon() -> None:
    empty = safe_f_car25(np.array([]), np.array([]), 0.0001, 8.0)
    assert (empty.safe_f, empty.car25, empty.dd95_at_safe_f) == (0.0, 0.0, 0.0)
    assert empty.status == "no_trades" and empty.n_trades == 0 and empty.evaluations == 0
    idle = safe_f_car25(np.array([5.0, -2.0]), np.ones(2), 0.0001, 0.0)
    assert idle.status == "no_horizon" and idle.horizon_trades == 0
    assert (idle.safe_f, idle.car25, idle.dd95_at_safe_f) == (0.0, 0.0, 0.0)


def test_seeded_and_reproducible() -> None:
    pips, entry = trade_list(11)
    a = safe_f_car25(pips, entry, 0.0001, 2.0, runs=200, seed=42)
    b = safe_f_car25(pips, entry, 0.0001, 2.0, runs=200, seed=42)
    c = safe_f_car25(pips, entry, 0.0001, 2.0, runs=200, seed=43)
    assert a == b and a.as_dict() == b.as_dict()
    np.testing.assert_array_equal(a.drawdowns, b.drawdowns)
    np.testing.assert_array_equal(a.log_finals, b.log_finals)
    assert (a.safe_f, a.car25) != (c.safe_f, c.car25)


def test_as_dict_is_json_ready() -> None:
    pips, entry = trade_list(12)
    res = safe_f_car25(pips, entry, 0.0001, 2.0, runs=100, seed=1)
    assert isinstance(res, SizingResult)
    d = json.loads(json.dumps(res.as_dict()))
    assert d["safe_f"] == res.safe_f and d["car25"] == res.car25
    assert d["status"] == "ok" and d["seed"] == 1 and d["runs"] == 100
    assert d["evaluations"] >= 21 and d["runs_played"] > 0
    assert "drawdowns" not in d and "log_finals" not in d
