"""Monte Carlo of a trade list: kernel against plain loops, reproducibility, statistics."""

from __future__ import annotations

import json
import math

import numba
import numpy as np
import pytest

from fxconsole.evaluation.montecarlo import (
    MonteCarloResult,
    draw_index,
    mix64,
    monte_carlo,
    resample_kernel,
    run_key,
)
from fxconsole.trading.metrics import max_drawdown

from rng_reference import GOLDEN, MASK64, py_draw_index, py_mix64  # isort: skip


def reference(pips: np.ndarray, runs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The resamples with the pure-Python generator, metrics by the existing helpers."""
    n = pips.size
    seed_key = py_mix64(seed)
    finals, drawdowns = np.zeros(runs), np.zeros(runs)
    for run in range(runs):
        key = py_mix64((seed_key + (run + 1) * GOLDEN) & MASK64)
        drawn = pips[[py_draw_index(key, i, n) for i in range(n)]]
        equity = 0.0
        for p in drawn:
            equity += p
        finals[run], drawdowns[run] = equity, max_drawdown(drawn)
    return finals, drawdowns


@numba.njit
def index_counts(seed_key: np.uint64, runs: int, draws: int, n: int) -> np.ndarray:
    counts = np.zeros(n, dtype=np.int64)
    for run in range(runs):
        key = run_key(seed_key, run)
        for i in range(draws):
            counts[draw_index(key, i, n)] += 1
    return counts


def test_splitmix64_known_outputs() -> None:
    # SplitMix64 seeded with 1234567 (the reference C implementation's first outputs).
    expected = [6457827717110365317, 3203168211198807973, 9817491932198370423]
    for k, value in enumerate(expected, start=1):
        state = (1234567 + k * GOLDEN) & MASK64
        assert py_mix64(state) == value
        assert int(mix64(np.uint64(state))) == value


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 3 * 2**30, 2**32 - 1])
def test_generator_matches_python_twin(n: int) -> None:
    for key in (0, 1, 2**63 + 12345, MASK64):
        for i in (0, 1, 2, 99, 10**6):
            got = draw_index(np.uint64(key), i, n)
            assert got == py_draw_index(key, i, n)
            assert 0 <= got < n
        assert int(run_key(np.uint64(key), 3)) == py_mix64((key + 4 * GOLDEN) & MASK64)


@pytest.mark.parametrize(
    ("n", "runs", "seed"), [(1, 3, 0), (5, 7, 1), (60, 20, 42), (333, 9, 2**64 - 1)]
)
def test_kernel_equals_reference(n: int, runs: int, seed: int) -> None:
    pips = np.random.default_rng(seed % 1000).normal(0.3, 5.0, n).round(1)
    finals, drawdowns = resample_kernel(pips, runs, np.uint64(seed))
    ref_finals, ref_drawdowns = reference(pips, runs, seed)
    np.testing.assert_array_equal(finals, ref_finals)
    np.testing.assert_array_equal(drawdowns, ref_drawdowns)


def test_same_seed_same_result_whatever_the_threads() -> None:
    pips = np.random.default_rng(3).normal(0.0, 10.0, 500)
    before = numba.get_num_threads()
    most = min(2, numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    try:
        numba.set_num_threads(1)
        one = monte_carlo(pips, runs=301, seed=11)
        numba.set_num_threads(most)
        two = monte_carlo(pips, runs=301, seed=11)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one.finals, two.finals)
    np.testing.assert_array_equal(one.drawdowns, two.drawdowns)
    assert one == two
    other = monte_carlo(pips, runs=301, seed=12)
    assert other != one
    assert not np.array_equal(other.finals, one.finals)
    # More runs extend the same per-run streams.
    np.testing.assert_array_equal(monte_carlo(pips, runs=50, seed=11).finals, one.finals[:50])


@pytest.mark.parametrize("c", [2.5, -1.5])
def test_constant_trades(c: float) -> None:
    n = 37
    result = monte_carlo(np.full(n, c), runs=50, seed=5)
    assert np.all(result.finals == n * c)
    assert np.all(result.drawdowns == (0.0 if c > 0 else n * abs(c)))
    assert result.final_pips == {f"p{q}": n * c for q in (5, 25, 50, 75, 95)}
    assert result.prob_below_zero == (0.0 if c > 0 else 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plus_minus_one_is_a_random_walk(seed: int) -> None:
    n, runs = 100, 2000
    result = monte_carlo(np.repeat([1.0, -1.0], n // 2), runs=runs, seed=seed)
    # Sum of n independent ±1: mean 0, std √n = 10; standard errors 0.22 and 0.16.
    assert abs(result.finals.mean()) < 1.2
    assert result.finals.std() == pytest.approx(math.sqrt(n), abs=1.0)
    assert np.all((result.finals + n) % 2 == 0)
    assert np.all(result.drawdowns >= 0) and result.drawdowns.max() <= n


@pytest.mark.parametrize("n", [7, 1000])
def test_indices_are_uniform(n: int) -> None:
    counts = index_counts(mix64(np.uint64(9)), 200, 10_000, n)
    expected = counts.sum() / n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    # χ² with n − 1 degrees of freedom: mean n − 1, std √(2(n − 1)); allow 6 std.
    assert chi2 < (n - 1) + 6 * math.sqrt(2 * (n - 1))


def test_rejection_removes_the_mapping_bias() -> None:
    # With n = 3·2**30 the plain 32-bit mapping gives index j twice the odds when j % 3 == 0
    # (1/2, 1/4, 1/4); the rejection makes the three classes equally likely.
    draws = 30_000
    key = np.uint64(77)
    residues = [draw_index(key, i, 3 * 2**30) % 3 for i in range(draws)]
    np.testing.assert_allclose(np.bincount(residues, minlength=3) / draws, 1 / 3, atol=0.02)


@pytest.mark.parametrize("seed", [0, 1])
def test_prob_below_zero_matches_the_normal_approximation(seed: int) -> None:
    n, runs = 400, 2000
    pips = np.random.default_rng(seed).normal(0.5, 10.0, n)
    result = monte_carlo(pips, runs=runs, seed=seed)
    z = -pips.mean() * math.sqrt(n) / pips.std()
    expected = 0.5 * math.erfc(-z / math.sqrt(2))
    assert result.prob_below_zero == pytest.approx(expected, abs=0.035)
    # The median final is N·mean within 0.15 of the finals' std (its standard error ≈ 0.03).
    final_std = math.sqrt(n) * pips.std()
    assert result.final_pips["p50"] == pytest.approx(n * pips.mean(), abs=0.15 * final_std)


def test_result_shape_and_json() -> None:
    result = monte_carlo(np.array([5.0, -3.0, 8.0, -6.0, 1.0]), runs=200, seed=4)
    assert isinstance(result, MonteCarloResult)
    assert (result.runs, result.n_trades, result.seed) == (200, 5, 4)
    assert result.finals.shape == result.drawdowns.shape == (200,)
    finals = list(result.final_pips.values())
    assert finals == sorted(finals) and list(result.final_pips) == [
        "p5",
        "p25",
        "p50",
        "p75",
        "p95",
    ]
    assert result.final_pips["p25"] == pytest.approx(np.percentile(result.finals, 25))
    assert result.max_drawdown["p95"] == pytest.approx(np.percentile(result.drawdowns, 95))
    assert result.prob_below_zero == np.mean(result.finals < 0)
    loaded = json.loads(json.dumps(result.as_dict()))
    assert set(loaded) == {
        "runs",
        "n_trades",
        "seed",
        "final_pips",
        "max_drawdown",
        "prob_below_zero",
    }


def test_empty_trade_list_gives_zeros() -> None:
    result = monte_carlo(np.array([]), runs=10, seed=1)
    assert result.n_trades == 0 and result.prob_below_zero == 0.0
    assert set(result.final_pips.values()) == {0.0} == set(result.max_drawdown.values())
    assert np.all(result.finals == 0) and np.all(result.drawdowns == 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pips": np.ones((2, 2))}, r"1-D, got shape \(2, 2\)"),
        ({"pips": np.array([1.0, np.nan])}, "finite, got nan at index 1"),
        ({"pips": np.array([1.0, 2.0, -np.inf])}, "finite, got -inf at index 2"),
        ({"runs": 0}, "runs must be in .* got 0"),
        ({"runs": 2.5}, "runs must be an integer, got 2.5"),
        ({"runs": True}, "runs must be an integer, got True"),
        ({"seed": -1}, "seed must be in .* got -1"),
        ({"seed": 2**64}, f"seed must be in .* got {2**64}"),
    ],
)
def test_validation(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"pips": np.ones(3), "runs": 5, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        monte_carlo(**args)  # type: ignore[arg-type]
