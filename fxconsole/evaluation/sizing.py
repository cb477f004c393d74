"""Bandy's position sizing: safe-f and CAR25 of a trade list (SPEC §6.5; pure).

A trade's return on its notional is ``r_i = p_i · pip / entry_i``. Trading a fraction
``f`` of equity (leverage, may exceed 1) compounds ``equity_k = equity_{k−1} · (1 + f·r)``
from 1 over a horizon of ``H = round(trades_per_day · 252 · Y)`` trades drawn with
replacement; ``runs`` such Monte Carlo runs give each a maximum drawdown (as a fraction of
the running peak) and a final equity. **safe-f** is the ``f`` at which the
``dd_quantile`` (95th) percentile of the drawdowns equals ``max_dd`` (20 %), found by
bisection on ``[0, f_max]`` (``[0, 100]``) to ``tol`` (1e-4); **CAR25** is the
``car_quantile`` (25th) percentile over the runs at safe-f of ``final^(1/Y) − 1``.
Percentiles are linear interpolation (as :func:`numpy.percentile`'s default).

Common random numbers: the ``runs × H`` trade indices are drawn once, and every ``f`` is
played on the same draws. Each run's max drawdown is then non-decreasing in ``f``: the
log of the product over any stretch of trades, ``Σ log(1 + f·r)``, is concave in ``f``
and 0 at ``f = 0``, so the deepest stretch at ``f`` is at least as deep at any larger
``f``. The percentile is therefore monotone too, and the bisection well defined. The
draws are those of :mod:`fxconsole.evaluation.montecarlo`'s counter-based generator
(draw ``i`` of run ``r`` is ``draw_index(run_key(mix64(seed), r), i, N)``), so a seed
gives the same result whatever the number of numba threads.

The monotonicity also makes the bisection cheap: the drawdowns at the bracket's ends
bound each run's drawdown inside it, so a step plays only the runs that can still be the
order statistics the percentile interpolates (see ``_Search``); the answer is the same as
playing every run at every step, at a fraction of the cost.

Ruin: a trade with ``1 + f·r ≤ 0`` takes the equity to 0 (a 100 % drawdown, final equity
0, CAR −1) and the run stops there. So does a fall below ``2^-600`` of the running peak
(the drawdown is then 1.0 to float64 precision anyway); this keeps the arithmetic out of
subnormal numbers. Equity above ``2^512`` is rescaled by an exact power of two, so final
equities are kept as logarithms and never overflow (a CAR too large for a float is
``inf``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from fxconsole.evaluation.montecarlo import (
    MAX_SEED,
    _checked_int,
    draw_index,
    mix64,
    run_key,
)
from fxconsole.market.bars import F64

logger = logging.getLogger(__name__)

I32 = npt.NDArray[np.int32]

TRADING_DAYS = 252
MAX_CELLS = 2**28  # runs × horizon: the index matrix's int32 cells (1 GiB)
MAX_GROWTH = 1e100  # bound on f_max · r: one trade then moves equity by < 2^400

_BIG = 2.0**512  # equity above this is rescaled by _SHRINK (exact: a power of two)
_SHRINK = 2.0**-512
_LOG_BIG = 512.0 * math.log(2.0)
_TINY = 2.0**-600  # a fall below this fraction of the peak is ruin
_BLOCK_LOG2 = 400.0  # a block of trades moves equity by at most 2**±400


@numba.njit(parallel=True, cache=True)
def draw_indices(n: int, runs: int, horizon: int, seed: np.uint64) -> I32:
    """The ``(runs, horizon)`` trade indices in ``[0, n)``: row ``r`` holds run ``r``'s draws.

    Draw ``i`` of run ``r`` is ``draw_index(run_key(mix64(seed), r), i, n)``, the
    generator of :mod:`fxconsole.evaluation.montecarlo`; ``1 <= n < 2**31``.
    """
    out = np.empty((runs, horizon), dtype=np.int32)
    seed_key = mix64(seed)
    for run in numba.prange(runs):
        key = run_key(seed_key, run)
        for i in range(horizon):
            out[run, i] = draw_index(key, i, n)
    return out


@numba.njit(parallel=True, cache=True)
def drawdown_kernel(
    returns: F64, indices: I32, which: npt.NDArray[np.int64], f: float, block: int,
    stop: float,
) -> tuple[F64, F64]:
    """Max drawdown (fraction of the peak) and log final equity of runs ``which`` at ``f``.

    Run ``r`` compounds ``1 + f · returns[indices[r, i]]`` from equity 1 (floored at 0:
    ruin). Every ``block`` trades the equity is rescaled if above ``2^512``, a run below
    ``2^-600`` of its peak is ruined, and a run whose drawdown exceeds ``stop`` is cut
    short: its drawdown is then a lower bound above ``stop`` and its log final NaN. Use
    :func:`block_length` for ``block`` (so a block cannot overflow) and ``stop = inf``
    for exact values. A ruined run has drawdown 1 and log final ``-inf``. Output ``j``
    is run ``which[j]``.
    """
    horizon = indices.shape[1]
    count = which.shape[0]
    drawdowns = np.empty(count, dtype=np.float64)
    log_finals = np.empty(count, dtype=np.float64)
    for j in numba.prange(count):
        row = indices[which[j]]
        equity, peak, worst = 1.0, 1.0, 1.0  # worst: the lowest equity / peak so far
        scale = 0
        cut = False
        for start in range(0, horizon, block):
            # Branchless inner loop: any per-trade branch costs 2-3x here.
            for i in range(start, min(horizon, start + block)):
                equity *= max(1.0 + f * returns[row[i]], 0.0)
                peak = peak if peak >= equity else equity
                ratio = equity / peak
                worst = worst if worst <= ratio else ratio
            if equity > _BIG:
                equity *= _SHRINK
                peak *= _SHRINK
                scale += 1
            elif equity < _TINY * peak:  # includes ruin (equity 0)
                equity, worst = 0.0, 0.0
                break
            if 1.0 - worst > stop:
                cut = True
                break
        drawdowns[j] = 1.0 - worst
        if cut:
            log_finals[j] = np.nan
        elif equity > 0.0:
            log_finals[j] = math.log(equity) + scale * _LOG_BIG
        else:
            log_finals[j] = -np.inf
    return drawdowns, log_finals


def block_length(returns: F64, f: float, horizon: int) -> int:
    """How many trades :func:`drawdown_kernel` may play between rescaling checks.

    The largest ``b`` (1 ≤ b ≤ horizon) such that ``b`` trades cannot move the equity by
    more than ``2^±400``: from the checked range ``[2^-600 · peak, 2^512]`` it then stays
    a normal float64.
    """
    growth = 1.0 + f * np.asarray(returns, dtype=np.float64)
    alive = growth[growth > 0.0]
    top = max(horizon, 1)
    if alive.size == 0:
        return top
    span = max(math.log(float(alive.max())), -math.log(float(alive.min())))
    if span <= 0.0:
        return top
    return int(min(top, max(1, math.floor(_BLOCK_LOG2 * math.log(2.0) / span))))


def simulate(
    returns: F64,
    indices: I32,
    f: float,
    stop: float = math.inf,
    which: npt.NDArray[np.int64] | None = None,
) -> tuple[F64, F64]:
    """The runs' max drawdowns and log final equities at fraction ``f`` (same draws for all f).

    Args:
        returns: The trades' returns on notional, ``r_i = p_i · pip / entry_i``.
        indices: The ``(runs, H)`` draws of :func:`draw_indices`.
        f: The fraction of equity traded, ≥ 0.
        stop: Cut a run short once its drawdown exceeds this (see
            :func:`drawdown_kernel`); the default gives exact values.
        which: The runs to play (all by default).

    Returns:
        ``(drawdowns, log_finals)``, one per run played: drawdowns in ``[0, 1]`` (1 = ruin)
        and ``log(final equity)`` (``-inf`` for ruin, NaN for a run cut short).
    """
    r = np.ascontiguousarray(returns, dtype=np.float64)
    chosen = (np.arange(indices.shape[0], dtype=np.int64) if which is None
              else np.ascontiguousarray(which, dtype=np.int64))
    return drawdown_kernel(r, indices, chosen, float(f), block_length(r, f, indices.shape[1]),
                           float(stop))


def linear_quantile(values: F64, q: float) -> float:
    """The ``q`` quantile by linear interpolation (:func:`numpy.quantile`'s default).

    Unlike numpy it copes with infinite values: an interpolation towards ``inf`` is
    ``inf`` (numpy gives NaN and a warning). ``values`` must be non-empty, without NaN.
    """
    s = np.sort(np.asarray(values, dtype=np.float64))
    h = q * (s.size - 1)
    lo = math.floor(h)
    hi = min(lo + 1, s.size - 1)
    a, b = float(s[lo]), float(s[hi])
    frac = h - lo
    if frac == 0.0 or a == b:
        return a
    return a + (b - a) * frac


@dataclass(frozen=True)
class SizingResult:
    """Bandy's safe-f and CAR25 of a trade list (SPEC §6.5).

    ``status`` says how safe-f was found: ``"ok"`` (bisection inside ``(0, f_max)``),
    ``"exceeds_at_smallest_f"`` (the drawdown percentile is above ``max_dd`` at every
    ``f`` tried, down to ``f_max / 2^steps`` < ``tol``: safe-f 0), ``"never_reaches"``
    (below ``max_dd`` even at ``f_max``: safe-f ``f_max``), ``"no_trades"`` or
    ``"no_horizon"`` (``H == 0``); the last two skip the simulation and report safe-f 0,
    CAR25 0 and drawdown 0. ``dd95_at_safe_f`` is the ``dd_quantile`` percentile of the
    max drawdowns at safe-f (named for the default 95th). ``evaluations`` counts kernel
    calls and ``runs_played`` the runs they played (the cost, in runs of ``H`` trades at
    most; ``runs_played / runs`` is the number of full Monte Carlo passes). The per-run
    arrays (at safe-f) take no part in equality and are not in
    :meth:`as_dict`.
    """

    safe_f: float
    car25: float
    horizon_trades: int
    runs: int
    dd95_at_safe_f: float
    seed: int
    n_trades: int
    years: float
    max_dd: float
    dd_quantile: float
    car_quantile: float
    status: str
    evaluations: int
    runs_played: int
    drawdowns: F64 = field(compare=False, repr=False)
    log_finals: F64 = field(compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the summary (without the per-run arrays)."""
        return {
            "safe_f": self.safe_f,
            "car25": self.car25,
            "horizon_trades": self.horizon_trades,
            "runs": self.runs,
            "dd95_at_safe_f": self.dd95_at_safe_f,
            "seed": self.seed,
            "n_trades": self.n_trades,
            "years": self.years,
            "max_dd": self.max_dd,
            "dd_quantile": self.dd_quantile,
            "car_quantile": self.car_quantile,
            "status": self.status,
            "evaluations": self.evaluations,
            "runs_played": self.runs_played,
        }


def horizon_trades(trades_per_day: float, years: float) -> int:
    """``H = round(trades_per_day · 252 · years)``, halves rounded up."""
    return math.floor(trades_per_day * TRADING_DAYS * years + 0.5)


def trade_returns(pips: np.ndarray, entry_prices: np.ndarray, pip: float) -> F64:
    """``r_i = p_i · pip / entry_i``, checked (1-D, same length, finite, prices > 0).

    Raises:
        ValueError: On any of those checks, or ``pip`` not finite and > 0.
    """
    p = np.ascontiguousarray(pips, dtype=np.float64)
    e = np.ascontiguousarray(entry_prices, dtype=np.float64)
    if p.ndim != 1 or e.shape != p.shape:
        raise ValueError(f"pips and entry_prices must be 1-D of one length, got "
                         f"{p.shape} and {e.shape}")
    if not np.isfinite(p).all():
        raise ValueError("pips must be finite")
    if not (np.isfinite(e).all() and (e > 0.0).all()):
        raise ValueError("entry_prices must be finite and > 0")
    if not (math.isfinite(pip) and pip > 0.0):
        raise ValueError(f"pip must be finite and > 0, got {pip!r}")
    return p * float(pip) / e


def _checked_fraction(name: str, value: float, *, closed: bool) -> float:
    v = float(value)
    ok = 0.0 <= v <= 1.0 if closed else 0.0 < v < 1.0
    if not ok:
        raise ValueError(f"{name} must be in {'[0, 1]' if closed else '(0, 1)'}, got {value!r}")
    return v


def _checked_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0.0 or (v == 0.0 and not allow_zero):
        raise ValueError(f"{name} must be finite and {'>=' if allow_zero else '>'} 0, "
                         f"got {value!r}")
    return v


class _Search:
    """The bisection's drawdown test on one set of draws.

    Each run's drawdown is non-decreasing in ``f`` (module docstring), so the drawdowns
    at the bracket's ends bound those at any ``f`` inside it: ``lower`` (at ``lo``,
    exactly 0 at ``f = 0``) and ``upper`` (at ``hi``, at most 1). The percentile
    interpolates the order statistics at positions ``lo_pos`` and ``hi_pos``; at a new
    ``f`` they lie in ``[lb, ub]``, the same order statistics of the bounds. A run whose
    bounds put it wholly below ``lb`` or above ``ub`` cannot be one of them, and only
    its side matters: it is not played again. The others are played, cut short past
    ``stop = min(max(max_dd, lb), ub)``. Values up to ``stop`` are then exact and the
    rest lower bounds, so the percentile computed is a lower bound, and exact when the
    order statistics it uses are at most ``stop``; otherwise the runs cut short are
    played again up to ``ub``, which makes it exact. The bounds narrow with the bracket,
    so ever fewer runs are played. Ties and rounding aside, the answer is that of a
    bisection playing every run in full at each ``f``.
    """

    def __init__(self, returns: F64, indices: I32, max_dd: float, quantile: float) -> None:
        self.returns, self.indices = returns, indices
        self.max_dd, self.quantile = max_dd, quantile
        runs = indices.shape[0]
        self.lo_pos = math.floor(quantile * (runs - 1))
        self.hi_pos = min(self.lo_pos + 1, runs - 1)
        self.lower = np.zeros(runs)
        self.upper = np.ones(runs)
        self.calls = 0
        self.played = 0  # runs played, summed over the calls

    def run(self, f: float, stop: float = math.inf,
            which: npt.NDArray[np.int64] | None = None) -> tuple[F64, F64]:
        """:func:`simulate`, counted."""
        self.calls += 1
        self.played += self.indices.shape[0] if which is None else int(which.size)
        return simulate(self.returns, self.indices, f, stop, which)

    def _order(self, values: F64, pos: int) -> float:
        return float(np.partition(values, pos)[pos])

    def exceeds(self, f: float) -> bool:
        """Whether the drawdown percentile at ``f`` is above ``max_dd``; then the bracket
        end ``f`` becomes (the caller moves ``hi`` to ``f`` if so, else ``lo``)."""
        lb = self._order(self.lower, self.lo_pos)
        ub = max(self._order(self.upper, self.hi_pos), lb)
        below = self.upper < lb
        above = self.lower > ub
        played = np.flatnonzero(~(below | above))
        values = np.where(below, self.upper, self.lower)  # each on its side of [lb, ub]
        stop = min(max(self.max_dd, lb), ub)
        drawdowns, _ = self.run(f, stop, played)
        values[played] = drawdowns
        exact = drawdowns <= stop
        value = linear_quantile(values, self.quantile)
        if value <= self.max_dd and self._order(values, self.hi_pos) > stop:
            again = played[~exact]
            drawdowns, _ = self.run(f, ub, again)
            values[again] = drawdowns
            exact[~exact] = drawdowns <= ub
            value = linear_quantile(values, self.quantile)
        result = value > self.max_dd
        if result:
            known = played[exact]
            self.upper[known] = values[known]
        else:
            self.lower[played] = values[played]
        return result


def safe_f_car25(
    pips: np.ndarray,
    entry_prices: np.ndarray,
    pip: float,
    trades_per_day: float,
    *,
    years: float = 2.0,
    max_dd: float = 0.20,
    dd_quantile: float = 0.95,
    car_quantile: float = 0.25,
    runs: int = 1000,
    seed: int = 0,
    f_max: float = 100.0,
    tol: float = 1e-4,
) -> SizingResult:
    """Bandy's safe-f and CAR25 of a trade list (SPEC §6.5).

    Bisection on ``[0, f_max]``: after checking that the drawdown percentile exceeds
    ``max_dd`` at ``f_max``, halve ``[lo, hi]`` (percentile ≤ ``max_dd`` at ``lo``, above
    it at ``hi``) until ``hi − lo ≤ tol``; safe-f is ``lo``, the largest ``f`` found safe
    (so its percentile is at most ``max_dd``, and within the bracket of it). 20 halvings
    at the defaults.

    Args:
        pips: The closed trades' pips (net of spread), 1-D, finite.
        entry_prices: Each trade's entry price, same shape, > 0.
        pip: The pip size of the symbol (0.0001, or 0.01 for JPY pairs).
        trades_per_day: The strategy's trade rate (≥ 0), e.g. trades over the split's days.
        years: The horizon ``Y`` in years (> 0).
        max_dd: The tolerated drawdown, a fraction in ``(0, 1)``.
        dd_quantile: The drawdown percentile held at ``max_dd``, in ``[0, 1]``.
        car_quantile: The percentile of the CAR reported, in ``[0, 1]``.
        runs: Monte Carlo runs (≥ 1).
        seed: Generator seed in ``[0, 2**64)``.
        f_max: The top of the bisection range (> 0).
        tol: The bisection's final bracket width (> 0).

    Returns:
        The result; with no trades or ``H == 0`` a result of zeros whose ``status`` says
        so. Memory: the draws take ``4 · runs · H`` bytes (16 MB at H 4032 × 1000 runs).

    Raises:
        ValueError: An input is out of range, ``runs × H`` exceeds ``MAX_CELLS``, or a
            trade's ``f_max · r`` exceeds ``MAX_GROWTH``.
    """
    returns = trade_returns(pips, entry_prices, pip)
    runs = _checked_int("runs", runs, 1, 2**31 - 1)
    seed = _checked_int("seed", seed, 0, MAX_SEED)
    years = _checked_positive("years", years)
    tpd = _checked_positive("trades_per_day", trades_per_day, allow_zero=True)
    f_max = _checked_positive("f_max", f_max)
    tol = _checked_positive("tol", tol)
    max_dd = _checked_fraction("max_dd", max_dd, closed=False)
    dd_quantile = _checked_fraction("dd_quantile", dd_quantile, closed=True)
    car_quantile = _checked_fraction("car_quantile", car_quantile, closed=True)
    if returns.size >= 2**31:
        raise ValueError(f"at most {2**31 - 1} trades, got {returns.size}")
    if returns.size and f_max * float(returns.max()) > MAX_GROWTH:
        raise ValueError(f"a trade's return {float(returns.max())!r} is too large for "
                         f"f_max {f_max!r}")
    horizon = horizon_trades(tpd, years)
    if runs * horizon > MAX_CELLS:
        raise ValueError(f"runs × horizon = {runs} × {horizon} exceeds {MAX_CELLS}")

    def result(safe_f: float, status: str, drawdowns: F64, log_finals: F64,
               evaluations: int, played: int) -> SizingResult:
        with np.errstate(over="ignore"):  # a CAR beyond a float is inf
            cars = np.expm1(log_finals / years)
        return SizingResult(
            safe_f=safe_f,
            car25=linear_quantile(cars, car_quantile),
            horizon_trades=horizon,
            runs=runs,
            dd95_at_safe_f=linear_quantile(drawdowns, dd_quantile),
            seed=seed,
            n_trades=int(returns.size),
            years=years,
            max_dd=max_dd,
            dd_quantile=dd_quantile,
            car_quantile=car_quantile,
            status=status,
            evaluations=evaluations,
            runs_played=played,
            drawdowns=drawdowns,
            log_finals=log_finals,
        )

    if returns.size == 0 or horizon == 0:
        zeros = np.zeros(runs)
        return result(0.0, "no_trades" if returns.size == 0 else "no_horizon",
                      zeros, zeros.copy(), 0, 0)

    indices = draw_indices(int(returns.size), runs, horizon, np.uint64(seed))
    search = _Search(returns, indices, max_dd, dd_quantile)
    if not search.exceeds(f_max):
        safe, status = f_max, "never_reaches"
    else:
        lo, hi = 0.0, f_max
        while hi - lo > tol:
            mid = 0.5 * (lo + hi)
            if search.exceeds(mid):
                hi = mid
            else:
                lo = mid
        safe, status = lo, ("ok" if lo > 0.0 else "exceeds_at_smallest_f")
    if safe > 0.0:
        drawdowns, log_finals = search.run(safe)
    else:
        drawdowns, log_finals = np.zeros(runs), np.zeros(runs)
    out = result(safe, status, drawdowns, log_finals, search.calls, search.played)
    logger.debug("sizing: %d trades, H %d, %d runs: safe-f %.4f (%s), CAR25 %.4f, %d calls "
                 "playing %d runs", out.n_trades, horizon, runs, out.safe_f, status, out.car25,
                 out.evaluations, out.runs_played)
    return out
