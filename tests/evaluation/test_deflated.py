"""The deflated SQN (SPEC §6.3) against a plain-Python reference of the formula, and
hand-worked cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fxconsole.evaluation.deflated import (
    EULER_GAMMA,
    DeflatedResult,
    deflated_sqn,
    expected_max_sr,
    k_and_variance,
    probabilistic_sr,
    sharpe,
)
from fxconsole.trading.metrics import sqn

PROPERTY = settings(max_examples=200, deadline=None)

# Tenths of a pip (as the metrics' property tests): moments without cancellation trouble.
tenths = st.integers(-5000, 5000)
trade_lists = st.lists(tenths, min_size=0, max_size=80).map(lambda u: [x / 10 for x in u])
checkpoints = st.integers(1, 500)
variances = st.floats(0.0, 2.0, allow_nan=False, allow_infinity=False)


# --- the reference: the SPEC's formulas with the math module ------------------------------


def ref_phi(x: float) -> float:
    """Φ(x) from the error function."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def ref_inv_phi(p: float) -> float:
    """Φ⁻¹(p) by bisection on :func:`ref_phi` (not NormalDist)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if ref_phi(mid) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def ref_sr0(k: int, v: float) -> float:
    if k == 1 or v == 0.0:
        return 0.0
    return math.sqrt(v) * ((1 - EULER_GAMMA) * ref_inv_phi(1 - 1 / k)
                           + EULER_GAMMA * ref_inv_phi(1 - 1 / (k * math.e)))


def ref_moments(p: list[float]) -> tuple[float, float, float]:
    """SR (ddof 1), g3 and g4 (central moments with divisor N)."""
    n = len(p)
    mean = math.fsum(p) / n
    d = [x - mean for x in p]
    m2 = math.fsum(x * x for x in d) / n
    m3 = math.fsum(x**3 for x in d) / n
    m4 = math.fsum(x**4 for x in d) / n
    std = math.sqrt(math.fsum(x * x for x in d) / (n - 1))
    return mean / std, m3 / m2**1.5, m4 / m2**2


def ref_dsr(p: list[float], k: int, v: float) -> float:
    if len(p) < 2 or len(set(p)) == 1:
        return 0.0
    sr, g3, g4 = ref_moments(p)
    z = (sr - ref_sr0(k, v)) * math.sqrt(len(p) - 1) / math.sqrt(
        1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    return ref_phi(z)


# --- against the reference ------------------------------------------------------------------


@PROPERTY
@given(trade_lists, checkpoints, variances)
def test_deflated_sqn_is_the_spec_formula(p: list[float], k: int, v: float) -> None:
    res = deflated_sqn(p, k, v)
    assert (res.n, res.k, res.variance) == (len(p), k, v)
    assert res.sr0 == pytest.approx(ref_sr0(k, v), rel=1e-9, abs=1e-12)
    assert 0.0 <= res.dsr <= 1.0
    assert res.dsr == pytest.approx(ref_dsr(p, k, v), abs=1e-9)
    if len(p) >= 2 and len(set(p)) > 1:
        sr, g3, g4 = ref_moments(p)
        assert res.sr == pytest.approx(sr, rel=1e-9, abs=1e-12)
        assert res.g3 == pytest.approx(g3, rel=1e-7, abs=1e-9)
        assert res.g4 == pytest.approx(g4, rel=1e-9)
        assert res.g4 >= 1.0 + res.g3**2 - 1e-9  # Pearson: the square root is real
    else:
        assert (res.sr, res.g3, res.g4, res.dsr) == (0.0, 0.0, 0.0, 0.0)


@PROPERTY
@given(checkpoints, variances)
def test_expected_max_sr_is_the_spec_formula(k: int, v: float) -> None:
    assert expected_max_sr(k, v) == pytest.approx(ref_sr0(k, v), rel=1e-9, abs=1e-12)


@PROPERTY
@given(trade_lists)
def test_sharpe_is_sqn_without_the_count(p: list[float]) -> None:
    # Same definition of "std = 0" as sqn (equal trades give 0, not ±1e16).
    assert sharpe(p) * math.sqrt(min(len(p), 100)) == pytest.approx(sqn(p), rel=1e-12)
    assert (sharpe(p) == 0.0) == (sqn(p) == 0.0)


@PROPERTY
@given(st.lists(st.floats(-3.0, 3.0), min_size=1, max_size=40))
def test_k_and_variance(srs: list[float]) -> None:
    k, v = k_and_variance(srs)
    assert k == len(srs)
    if k == 1:
        assert v == 0.0
    else:
        mean = math.fsum(srs) / k
        ref = math.fsum((s - mean) ** 2 for s in srs) / (k - 1)
        assert v == pytest.approx(ref, rel=1e-9, abs=1e-15)


@PROPERTY
@given(trade_lists, st.floats(0.01, 2.0), checkpoints, checkpoints)
def test_more_checkpoints_deflate_more(p: list[float], v: float, k1: int, k2: int) -> None:
    lo, hi = sorted((k1, k2))
    assert expected_max_sr(lo, v) <= expected_max_sr(hi, v)
    assert deflated_sqn(p, hi, v).dsr <= deflated_sqn(p, lo, v).dsr


# --- hand-worked cases ----------------------------------------------------------------------


def test_one_checkpoint_hand_worked() -> None:
    # p = 1, 2, 3, 6: N = 4, mean 3, deviations -2, -1, 0, 3.
    #   Σd² = 14: std(ddof 1) = √(14/3), SR = 3/√(14/3) = 3√(3/14) ≈ 1.388730, SR² = 27/14.
    #   m2 = 14/4 = 3.5, m3 = (-8 - 1 + 0 + 27)/4 = 4.5, m4 = (16 + 1 + 0 + 81)/4 = 24.5:
    #   g3 = 4.5/3.5^1.5 ≈ 0.687243, g4 = 24.5/3.5² = 2 exactly.
    #   g3·SR = (4.5·3√3/√14)/(3.5·√3.5) = 27√3/49 ≈ 0.954395.
    #   1 − g3·SR + (g4 − 1)/4·SR² = 1 − 27√3/49 + 27/56 ≈ 0.527748, √ ≈ 0.726463.
    # K = 1: SR0 = 0, so DSR = Φ(SR·√3/0.726463) = Φ(3.311047) ≈ 0.999535.
    res = deflated_sqn([1.0, 2.0, 3.0, 6.0], k=1, variance=0.37)
    assert res.sr0 == 0.0
    assert res.sr == pytest.approx(3 * math.sqrt(3 / 14), rel=1e-14)
    assert res.g3 == pytest.approx(4.5 / 3.5**1.5, rel=1e-14)
    assert res.g4 == pytest.approx(2.0, rel=1e-14)
    term = 1 - 27 * math.sqrt(3) / 49 + 27 / 56
    z = res.sr * math.sqrt(3) / math.sqrt(term)
    assert z == pytest.approx(3.311047, abs=1e-6)
    assert res.dsr == pytest.approx(ref_phi(z), abs=1e-14)
    assert res.dsr == pytest.approx(0.999535, abs=1e-6)
    # = Φ(SR·√(N−1) / √(1 − g3·SR + (g4 − 1)/4·SR²)) from the result's own fields.
    assert res.dsr == pytest.approx(ref_phi(res.sr * math.sqrt(3) / math.sqrt(
        1 - res.g3 * res.sr + (res.g4 - 1) / 4 * res.sr**2)), abs=1e-14)


def test_more_checkpoints_lower_the_dsr() -> None:
    p = [1.0, 2.0, 3.0, 6.0]
    dsrs = [deflated_sqn(p, k, 0.1).dsr for k in (1, 2, 5, 10, 100)]
    assert dsrs == sorted(dsrs, reverse=True) and len(set(dsrs)) == 5
    assert dsrs[0] == pytest.approx(0.999535, abs=1e-6)
    assert dsrs[-1] == pytest.approx(ref_dsr(p, 100, 0.1), abs=1e-12)
    assert dsrs[-1] < 0.95  # 100 checkpoints: no longer credible
    # K = 2, V = 1: SR0 = γ·Φ⁻¹(1 − 1/(2e)) (Φ⁻¹(1/2) = 0) = 0.5772156649 · 0.900453.
    assert expected_max_sr(2, 1.0) == pytest.approx(0.5772156649 * 0.9004526, rel=1e-6)


@pytest.mark.parametrize("p", [[], [4.2], [2.5, 2.5, 2.5], [0.1] * 7])
def test_fewer_than_two_trades_or_no_spread_give_zero(p: list[float]) -> None:
    res = deflated_sqn(p, 3, 0.5)
    assert (res.sr, res.g3, res.g4, res.dsr) == (0.0, 0.0, 0.0, 0.0)
    assert res.sr0 == pytest.approx(ref_sr0(3, 0.5), rel=1e-9) and res.n == len(p)
    assert sharpe(p) == 0.0


def test_expected_max_sr_edges() -> None:
    assert expected_max_sr(1, 5.0) == 0.0
    assert expected_max_sr(7, 0.0) == 0.0
    assert expected_max_sr(7, math.nan) == 0.0
    big = expected_max_sr(10**18, 1.0)  # 1 − 1/K rounds to 1; −Φ⁻¹(1/K) does not
    assert math.isfinite(big) and big > expected_max_sr(10**6, 1.0)
    for k, v in ((0, 1.0), (True, 1.0), (2.5, 1.0), (3, -0.1), (3, math.inf)):
        with pytest.raises(ValueError):
            expected_max_sr(k, v)  # type: ignore[arg-type]


def test_a_vanishing_square_root() -> None:
    # 1 − g3·SR + (g4 − 1)/4·SR² = (1 − SR)² at g3 = 2, g4 = 5: 0 at SR = 1. The z-score
    # is ±∞ there, so DSR is 1 if SR beats the benchmark and 0 otherwise.
    assert probabilistic_sr(1.0, 0.5, 2.0, 5.0, 10) == 1.0
    assert probabilistic_sr(1.0, 1.5, 2.0, 5.0, 10) == 0.0
    assert probabilistic_sr(1.0, 1.0, 2.0, 5.0, 10) == 0.0  # the 0/0 tie fails the gate
    # Below 0 (impossible for real moments, g4 < 1 + g3²) is handled the same way.
    assert probabilistic_sr(1.0, 0.0, 2.0, 1.0, 10) == 1.0
    assert probabilistic_sr(0.5, 0.0, 0.0, 3.0, 1) == 0.0  # N < 2


def test_a_two_valued_list_at_the_vanishing_point() -> None:
    # One trade of c + 1 and two of c with SR·g3 = 2: the term is 0 up to rounding
    # (q = 1/3: g3 = (1 − 2q)/√(q(1 − q)), SR = (c + q)/√(q(1 − q)·N/(N − 1))).
    n, q = 3, 1 / 3
    c = 2 * q * (1 - q) * math.sqrt(n / (n - 1)) / (1 - 2 * q) - q
    p = [c + 1, c, c]
    res = deflated_sqn(p, 1, 0.0)
    assert abs(1 - res.g3 * res.sr + (res.g4 - 1) / 4 * res.sr**2) < 1e-12
    assert res.dsr == 1.0  # SR > SR0 = 0
    assert deflated_sqn(p, 50, 100.0).dsr == 0.0  # SR0 ≈ 21 > SR ≈ 1.3


def test_bad_inputs() -> None:
    with pytest.raises(ValueError):
        deflated_sqn([1.0, math.nan], 1, 0.0)
    with pytest.raises(ValueError):
        deflated_sqn([[1.0, 2.0]], 1, 0.0)  # type: ignore[list-item]
    with pytest.raises(ValueError):
        deflated_sqn([1.0, 2.0], 0, 0.0)
    with pytest.raises(ValueError):
        sharpe([math.inf, 1.0])
    with pytest.raises(ValueError):
        k_and_variance([])
    with pytest.raises(ValueError):
        k_and_variance([0.1, math.nan])


def test_k_and_variance_feed_deflated_sqn() -> None:
    runs = [[1.0, 2.0, 3.0, 6.0], [2.0, -1.0, 0.5, 1.5, 3.0], [0.5, 0.4, -0.2, 1.1]]
    srs = [sharpe(p) for p in runs]
    k, v = k_and_variance(srs)
    assert k == 3 and v == pytest.approx(float(np.var(srs, ddof=1)), rel=1e-12)
    assert k_and_variance([0.7]) == (1, 0.0)
    res = deflated_sqn(runs[0], k, v)
    assert res.dsr == pytest.approx(ref_dsr(runs[0], k, v), abs=1e-12)
    assert res.dsr < deflated_sqn(runs[0], 1, 0.0).dsr


def test_as_dict_is_json_ready() -> None:
    res = deflated_sqn([1.0, 2.0, 3.0, 6.0], 4, 0.2)
    assert isinstance(res, DeflatedResult)
    d = json.loads(json.dumps(res.as_dict()))
    assert d == {"sr": res.sr, "sr0": res.sr0, "g3": res.g3, "g4": res.g4, "n": 4, "k": 4,
                 "variance": 0.2, "dsr": res.dsr}
