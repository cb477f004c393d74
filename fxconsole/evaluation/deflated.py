"""The deflated SQN of a checkpoint (SPEC §6.3), after Bailey and López de Prado (pure).

A run compares many checkpoints on one split and keeps the best, so the best per-trade
Sharpe ratio ``SR = mean(p) / std(p, ddof=1)`` is biased upward. The deflated SQN is the
probabilistic Sharpe ratio of ``SR`` against ``SR0``, the Sharpe ratio the best of ``K``
unskilled checkpoints would be expected to reach given the variance ``V`` of the ``K``
checkpoints' ``SR``::

    SR0 = √V · ((1 − γ)·Φ⁻¹(1 − 1/K) + γ·Φ⁻¹(1 − 1/(K·e)))       (0 when K = 1)
    DSR = Φ((SR − SR0)·√(N − 1) / √(1 − g3·SR + (g4 − 1)/4 · SR²))

with ``g3 = m3 / m2^1.5`` and ``g4 = m4 / m2²`` from the central moments (divisor ``N``;
``g4`` is the plain kurtosis, 3 for a normal sample, not the excess). DSR is a
probability: a checkpoint is credible at ``DSR ≥ 0.95`` (SPEC §6.4).

The term under the square root is never negative in exact arithmetic: Pearson's
inequality ``g4 ≥ 1 + g3²`` gives ``1 − g3·SR + (g4 − 1)/4·SR² ≥ (1 − g3·SR/2)² ≥ 0``.
It is 0 only for a two-valued sample with ``SR = 2 / g3``, and rounding can then leave
it at 0 or a hair below. There the z-score's denominator vanishes and DSR is its limit,
``Φ(±∞)``: 1 when ``SR > SR0`` and 0 otherwise (the tie, a 0/0, also counts as 0: the
gate is not passed on an undefined score).

Φ and Φ⁻¹ are :class:`statistics.NormalDist` (no scipy).
"""

from __future__ import annotations

import math
import operator
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from fxconsole.market.bars import F64

EULER_GAMMA = 0.5772156649  # γ, the Euler–Mascheroni constant, as SPEC §6.3 writes it
_NORMAL = statistics.NormalDist()


@dataclass(frozen=True)
class DeflatedResult:
    """The deflated SQN of one trade list and the numbers it was computed from.

    ``sr``, ``g3`` and ``g4`` are 0 when ``n < 2`` or every trade is equal (they are
    undefined there) and ``dsr`` is then 0 too. ``k`` and ``variance`` are the inputs
    (the number of checkpoints compared, this one included, and the variance of their
    ``SR``); ``sr0`` is :func:`expected_max_sr` of them.
    """

    sr: float
    sr0: float
    g3: float
    g4: float
    n: int
    k: int
    variance: float
    dsr: float

    def as_dict(self) -> dict[str, float | int]:
        """Plain dict (for JSON and metric sinks)."""
        return asdict(self)


def _checked_pips(pips: Sequence[float] | np.ndarray) -> F64:
    p = np.asarray(pips, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"pips must be 1-D, got shape {p.shape}")
    bad = np.flatnonzero(~np.isfinite(p))
    if bad.size:
        raise ValueError(f"pips must be finite, got {p[bad[0]]} at index {bad[0]}")
    return p


def _checked_k(k: object) -> int:
    if isinstance(k, bool):
        raise ValueError(f"k must be an integer, got {k!r}")
    try:
        number = operator.index(k)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"k must be an integer, got {k!r}") from None
    if number < 1:
        raise ValueError(f"k must be at least 1 (this checkpoint counts), got {number}")
    return number


def _is_degenerate(p: F64) -> bool:
    """True when SR is undefined: fewer than 2 trades or no spread between them.

    As :func:`fxconsole.trading.metrics.sqn`: equal trades count as ``std = 0`` even
    when rounding leaves their computed std at ~1e-17 rather than exactly 0.
    """
    return p.size < 2 or p.min() == p.max() or float(p.std(ddof=1)) == 0.0


def sharpe(pips: Sequence[float] | np.ndarray) -> float:
    """The per-trade Sharpe ratio ``mean(p) / std(p, ddof=1)`` (SPEC §6.3).

    Args:
        pips: The closed trades' pips, 1-D and finite.

    Returns:
        The ratio; 0 when there are fewer than 2 trades or they are all equal (std 0),
        exactly when :func:`fxconsole.trading.metrics.sqn` is 0 for the same reason.

    Raises:
        ValueError: ``pips`` is not 1-D or holds a non-finite value.
    """
    p = _checked_pips(pips)
    if _is_degenerate(p):
        return 0.0
    return float(p.mean()) / float(p.std(ddof=1))


def expected_max_sr(k: int, variance: float) -> float:
    """``SR0``: the expected best SR of ``k`` unskilled checkpoints (SPEC §6.3).

    ``SR0 = √V · ((1 − γ)·Φ⁻¹(1 − 1/K) + γ·Φ⁻¹(1 − 1/(K·e)))``, computed as
    ``−Φ⁻¹(1/K)`` and ``−Φ⁻¹(1/(K·e))``, the same values without the rounding of
    ``1 − 1/K`` (so any ``K`` works). It grows with ``K`` at a fixed ``V > 0``.

    Args:
        k: The number of distinct checkpoints of the run compared on this split so far,
            this one included (≥ 1).
        variance: The sample variance (ddof = 1) of their SR; ≥ 0, finite or NaN.

    Returns:
        ``SR0`` ≥ 0; exactly 0 when ``k == 1`` or ``variance`` is 0 or NaN (a NaN
        variance, e.g. from fewer than 2 SRs, is taken as no spread at all).

    Raises:
        ValueError: ``k`` is not an integer ≥ 1, or ``variance`` is negative or infinite.
    """
    k = _checked_k(k)
    v = float(variance)
    if math.isnan(v):
        return 0.0
    if v < 0.0 or math.isinf(v):
        raise ValueError(f"variance must be finite and >= 0, got {variance!r}")
    if k == 1 or v == 0.0:
        return 0.0
    z1 = -_NORMAL.inv_cdf(1.0 / k)
    z2 = -_NORMAL.inv_cdf(1.0 / (k * math.e))
    return math.sqrt(v) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def probabilistic_sr(sr: float, benchmark: float, g3: float, g4: float, n: int) -> float:
    """``Φ((SR − SR*)·√(N − 1) / √(1 − g3·SR + (g4 − 1)/4 · SR²))``.

    The probabilistic Sharpe ratio of ``sr`` against ``benchmark`` (``SR*``); the DSR is
    this with ``SR* = SR0``.

    Args:
        sr: The observed per-trade Sharpe ratio.
        benchmark: The Sharpe ratio to beat.
        g3: The sample skewness (central moments, divisor N).
        g4: The sample kurtosis (not excess).
        n: The number of trades.

    Returns:
        A probability in ``[0, 1]``; 0 when ``n < 2``. When the term under the square root
        is ≤ 0 (only reachable by rounding, see the module docstring) it is 1 if
        ``sr > benchmark`` and 0 otherwise.
    """
    if n < 2:
        return 0.0
    term = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr * sr
    if not term > 0.0:
        return 1.0 if sr > benchmark else 0.0
    z = (sr - benchmark) * math.sqrt(n - 1) / math.sqrt(term)
    return _NORMAL.cdf(z)


def deflated_sqn(pips: Sequence[float] | np.ndarray, k: int, variance: float) -> DeflatedResult:
    """The deflated SQN (DSR) of one checkpoint's trade list (SPEC §6.3).

    Args:
        pips: The checkpoint's closed trades' pips on the split, 1-D and finite.
        k: The number of distinct checkpoints of the run validated on this split so
            far, this one included (≥ 1); see :func:`k_and_variance`.
        variance: The sample variance (ddof = 1) of those checkpoints' SR (≥ 0; NaN is
            taken as 0).

    Returns:
        The DSR with ``SR``, ``SR0``, ``g3``, ``g4`` and the inputs. DSR is 0 when there
        are fewer than 2 trades or they are all equal.

    Raises:
        ValueError: ``pips`` is not 1-D or not finite, ``k`` is not an integer ≥ 1, or
            ``variance`` is negative or infinite.
    """
    p = _checked_pips(pips)
    k = _checked_k(k)
    sr0 = expected_max_sr(k, variance)
    n = int(p.size)
    if _is_degenerate(p):
        return DeflatedResult(sr=0.0, sr0=sr0, g3=0.0, g4=0.0, n=n, k=k,
                              variance=float(variance), dsr=0.0)
    d = p - p.mean()
    d2 = d * d
    m2 = float(d2.mean())
    m3 = float((d2 * d).mean())
    m4 = float((d2 * d2).mean())
    g3 = m3 / m2**1.5
    g4 = m4 / (m2 * m2)
    sr = sharpe(p)
    return DeflatedResult(sr=sr, sr0=sr0, g3=g3, g4=g4, n=n, k=k, variance=float(variance),
                          dsr=probabilistic_sr(sr, sr0, g3, g4, n))


def k_and_variance(srs: Sequence[float]) -> tuple[int, float]:
    """``K`` and ``V`` of SPEC §6.3 from the SRs of the checkpoints compared so far.

    Args:
        srs: One :func:`sharpe` per distinct checkpoint of the run validated (or, for
            the test split, examined) on the split so far, this one included; the caller
            removes repeats of a checkpoint.

    Returns:
        ``(K, V)``: ``K = len(srs)`` and ``V`` their sample variance (ddof = 1),
        0 when ``K < 2``.

    Raises:
        ValueError: ``srs`` is empty (this checkpoint must be in it) or not finite.
    """
    values = [float(s) for s in srs]
    if not values:
        raise ValueError("srs must hold at least this checkpoint's SR")
    if not all(math.isfinite(s) for s in values):
        raise ValueError(f"srs must be finite, got {values}")
    if len(values) < 2:
        return 1, 0.0
    return len(values), statistics.variance(values)
