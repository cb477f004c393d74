"""Market and time features (SPEC §2), the raw σ20 and the outcome label, as numba kernels.

Rows are stored bars: every window counts rows, never minutes, and runs across gaps and
weekends. A feature at row ``t`` reads rows ``<= t`` only; the outcome label (a training
target, never an input) is the one function that reads row ``t + 1``. A value is NaN until
every input it needs is defined; NaN inputs (none in validated bars) propagate the same way.

The kernels are pure: arrays in, arrays out. Rolling minima and maxima are O(n) whatever
the window (van Herk / Gil-Werman blocks, see ``_rolling_extremes``).
"""

from __future__ import annotations

import logging
import math

import numba
import numpy as np
import numpy.typing as npt

from fxconsole.market.bars import F64

logger = logging.getLogger(__name__)

I8 = npt.NDArray[np.int8]

FEATURE_SPEC_VERSION: int = 1
FEATURE_NAMES: tuple[str, ...] = (
    "position_in_range_60",
    "min_max_scaled_momentum_60",
    "min_max_scaled_rolling_range",
    "min_max_scaled_momentum_5",
    "price_change_pips",
    "dow_cos_final",
    "dow_sin_final",
    "hour_cos_final",
    "hour_sin_final",
    "volatility_20",
    "momentum_60_pips",
)
MUZERO_FEATURES: tuple[str, ...] = FEATURE_NAMES[:9]
N_FEATURES = len(FEATURE_NAMES)

DEFAULT_WINDOW = 1440
RANGE_ROWS = 60  # position_in_range_60 and r60
LONG_LAG = 60  # m60
SHORT_LAG = 5  # m5
SIGMA_CHANGES = 20  # σ20
THETA_FACTOR = 0.33
UP, NEUTRAL, DOWN, UNDEFINED = 0, 1, 2, -1
_WORK_ROWS = 10  # scratch rows of _features_kernel
CHUNK_ROWS = 32768  # rows per parallel chunk (measured: 16k–64k alike, 8k slower)


@numba.njit(cache=True, nogil=True)
def _block_suffix_extremes(
    x_max: F64, x_min: F64, w: int, suffix_max: F64, suffix_min: F64
) -> None:
    """Max of ``x_max`` and min of ``x_min`` from each row to the end of its block of ``w`` rows."""
    n = x_max.shape[0]
    for start in range(0, n, w):
        top = -np.inf
        bottom = np.inf
        for t in range(min(start + w, n) - 1, start - 1, -1):
            value = x_max[t]
            top = value if value > top else top
            value = x_min[t]
            bottom = value if value < bottom else bottom
            suffix_max[t] = top
            suffix_min[t] = bottom


@numba.njit(cache=True, nogil=True)
def _rolling_extremes(
    x_max: F64, x_min: F64, w: int, hi: F64, lo: F64, suffix_max: F64, suffix_min: F64
) -> None:
    """``hi[t] = max(x_max[t-w+1..t])``, ``lo[t] = min(x_min[t-w+1..t])``.

    NaN unless all ``w`` rows of both inputs are defined. van Herk / Gil-Werman: split the
    rows into blocks of ``w``; a window spans the suffix of one block and the prefix of the
    next, so its extreme is the extreme of the two. O(n) and branch-free: three comparisons
    per row and input whatever ``w`` is. ``suffix_max``/``suffix_min``: scratch of ``n``.
    """
    _block_suffix_extremes(x_max, x_min, w, suffix_max, suffix_min)
    n = x_max.shape[0]
    run = 0  # rows in a row, ending at t, where both inputs are defined
    for start in range(0, n, w):
        top = -np.inf
        bottom = np.inf
        for t in range(start, min(start + w, n)):
            high = x_max[t]
            low = x_min[t]
            run = 0 if math.isnan(high) or math.isnan(low) else run + 1
            top = high if high > top else top
            bottom = low if low < bottom else bottom
            if run >= w:
                first = t - w + 1
                hi[t] = max(suffix_max[first], top)
                lo[t] = min(suffix_min[first], bottom)
            else:
                hi[t] = np.nan
                lo[t] = np.nan


@numba.njit(cache=True, nogil=True)
def _min_max_scaled(x: F64, w: int, work: F64, out: F64) -> None:
    """``out = mm(x)`` over ``w`` rows, 0.5 where max == min exactly. ``work``: (4, n) scratch."""
    lo, hi = work[0], work[1]
    _rolling_extremes(x, x, w, hi, lo, work[2], work[3])
    for t in range(x.shape[0]):
        if math.isnan(lo[t]) or math.isnan(hi[t]):
            out[t] = np.nan
        elif hi[t] == lo[t]:
            out[t] = 0.5
        else:
            out[t] = (x[t] - lo[t]) / (hi[t] - lo[t])


@numba.njit(cache=True, nogil=True)
def _tanh(x: float) -> float:
    """tanh from one exp: ~3× faster than libm's tanh, absolute error < 1e-15."""
    e = math.exp(-2.0 * abs(x))
    return math.copysign((1.0 - e) / (1.0 + e), x)


@numba.njit(cache=True, nogil=True)
def _momentum(close: F64, lag: int, pip: float, out: F64) -> None:
    """``out[t] = (c_t − c_{t−lag}) / pip``; NaN for ``t < lag``."""
    for t in range(close.shape[0]):
        out[t] = (close[t] - close[t - lag]) / pip if t >= lag else np.nan


@numba.njit(cache=True, nogil=True)
def _sigma20_kernel(close: F64, pip: float, changes: F64, out: F64) -> None:
    """σ20 in pips: sample std (ddof 1) of the 20 one-bar changes ending at each row.

    Computed per window (mean, then squared deviations): flat prices give exactly 0.
    ``changes``: scratch of ``n``.
    """
    _momentum(close, 1, pip, changes)
    for t in range(close.shape[0]):
        if t < SIGMA_CHANGES:
            out[t] = np.nan
            continue
        total = 0.0
        for k in range(t - SIGMA_CHANGES + 1, t + 1):
            total += changes[k]
        mean = total / SIGMA_CHANGES
        squares = 0.0
        for k in range(t - SIGMA_CHANGES + 1, t + 1):
            squares += (changes[k] - mean) ** 2
        out[t] = math.sqrt(squares / (SIGMA_CHANGES - 1))


@numba.njit(cache=True, nogil=True)
def _outcome_kernel(close: F64, sigma20: F64, pip: float, out: I8) -> None:
    """UP / NEUTRAL / DOWN from the next row's change against θ = 0.33 σ20; −1 if undefined."""
    n = close.shape[0]
    for t in range(n):
        delta = (close[t + 1] - close[t]) / pip if t + 1 < n else np.nan
        theta = THETA_FACTOR * sigma20[t]
        if math.isnan(delta) or math.isnan(theta):
            out[t] = UNDEFINED
        else:
            # Branch-free: NEUTRAL, minus one if UP, plus one if DOWN.
            out[t] = NEUTRAL - np.int8(delta > theta) + np.int8(delta < -theta)


@numba.njit(cache=True, nogil=True)
def _angle_tables(period: float, steps: int, per_unit: float) -> tuple[F64, F64]:
    """cos and sin of ``2π · (k / per_unit) / period`` for ``k = 0 … steps − 1``."""
    cos_table = np.empty(steps)
    sin_table = np.empty(steps)
    for k in range(steps):
        angle = 2.0 * math.pi * (k / per_unit) / period
        cos_table[k] = math.cos(angle)
        sin_table[k] = math.sin(angle)
    return cos_table, sin_table


@numba.njit(cache=True, nogil=True)
def _time_tables() -> F64:
    """cos/sin tables of the FX day (7 rows) and of each whole minute of the week (7200)."""
    day_cos, day_sin = _angle_tables(5.0, 7, 1.0)
    minute_cos, minute_sin = _angle_tables(120.0, 120 * 60, 60.0)
    tables = np.empty((4, 120 * 60))
    tables[0, :7] = day_cos
    tables[1, :7] = day_sin
    tables[2] = minute_cos
    tables[3] = minute_sin
    return tables


@numba.njit(cache=True, nogil=True)
def _time_row(h: float, tables: F64, out: F64, t: int) -> None:
    """Columns 5–8 of row ``t`` from ``H_t``: the FX day ``d = floor(H / 24)`` over 5 and
    ``H`` over 120.

    Bars open on whole minutes, so ``H`` is almost always ``m / 60`` for a whole minute
    ``m`` of the week: those rows read tables built with the very same expression (same
    bits), the others call cos and sin.
    """
    two_pi = 2.0 * math.pi
    d = np.floor(h / 24.0)  # a float: NaN stays NaN
    if 0.0 <= d < 7.0:
        out[t, 5] = tables[0, int(d)]
        out[t, 6] = tables[1, int(d)]
    else:
        out[t, 5] = math.cos(two_pi * d / 5.0)
        out[t, 6] = math.sin(two_pi * d / 5.0)
    minute = round(h * 60.0) if 0.0 <= h < 120.0 else -1
    if 0 <= minute < 7200 and minute / 60.0 == h:
        out[t, 7] = tables[2, minute]
        out[t, 8] = tables[3, minute]
    else:
        out[t, 7] = math.cos(two_pi * h / 120.0)
        out[t, 8] = math.sin(two_pi * h / 120.0)


@numba.njit(cache=True, nogil=True)
def _features_kernel(
    close: F64, high: F64, low: F64, hours: F64, pip: float, window: int, tables: F64,
    work: F64, out: F64,
) -> None:
    """Write every feature of SPEC §2 into ``out`` (n, 11). ``work``: (_WORK_ROWS, n) scratch."""
    n = close.shape[0]
    extremes, m60, r60, scaled = work[0:4], work[4], work[5], work[6:10]
    _min_max_scaled(close, RANGE_ROWS, extremes, scaled[0])
    _momentum(close, LONG_LAG, pip, m60)
    _min_max_scaled(m60, window, extremes, scaled[1])
    _rolling_extremes(high, low, RANGE_ROWS, extremes[1], extremes[0], extremes[2], extremes[3])
    for t in range(n):
        r60[t] = (extremes[1, t] - extremes[0, t]) / pip
    _min_max_scaled(r60, window, extremes, scaled[2])
    m5 = r60  # r60 is no longer needed: reuse its row
    _momentum(close, SHORT_LAG, pip, m5)
    _min_max_scaled(m5, window, extremes, scaled[3])
    sigma20 = extremes[0]  # the extremes are no longer needed either
    _sigma20_kernel(close, pip, extremes[1], sigma20)
    for t in range(n):
        for j in range(4):
            out[t, j] = scaled[j, t]
        change = (close[t] - close[t - 1]) / pip if t >= 1 else np.nan
        out[t, 4] = _tanh(change / 10.0)
        _time_row(hours[t], tables, out, t)
        out[t, 9] = _tanh(sigma20[t] / 10.0)
        out[t, 10] = _tanh(m60[t] / 100.0)


@numba.njit(cache=True, parallel=True)
def _features_chunked(
    close: F64, high: F64, low: F64, hours: F64, pip: float, window: int, out: F64
) -> None:
    """Run :func:`_features_kernel` on chunks of rows in parallel.

    Each chunk is computed with ``halo`` rows of history before it — the longest look-back
    of any feature — so its rows equal those of one pass over the whole series (min and max
    are exact), while its scratch stays in cache and both cores work.
    """
    n = close.shape[0]
    halo = window + max(RANGE_ROWS, LONG_LAG)
    tables = _time_tables()
    n_chunks = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
    for c in numba.prange(n_chunks):
        start = c * CHUNK_ROWS
        end = min(start + CHUNK_ROWS, n)
        first = max(0, start - halo)
        rows = end - first
        work = np.empty((_WORK_ROWS, rows))
        chunk_out = np.empty((rows, N_FEATURES))
        _features_kernel(close[first:end], high[first:end], low[first:end], hours[first:end],
                         pip, window, tables, work, chunk_out)
        out[start:end] = chunk_out[start - first:]


def _as_series(name: str, values: npt.ArrayLike, n_rows: int | None = None) -> F64:
    """``values`` as a contiguous 1-D float64 array, of ``n_rows`` rows if given."""
    array = np.ascontiguousarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if n_rows is not None and array.shape[0] != n_rows:
        raise ValueError(f"{name} has {array.shape[0]} rows, expected {n_rows} (as close)")
    return array


def _check_pip(pip: float) -> float:
    value = float(pip)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"pip must be a finite number > 0, got {pip!r}")
    return value


def _check_window(window: int) -> int:
    if isinstance(window, bool) or not isinstance(window, int | np.integer):
        raise TypeError(f"window must be an integer, got {window!r}")
    if window < 2:
        raise ValueError(f"window must be >= 2, got {window}")
    return int(window)


def compute_features(
    close: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    hours: npt.ArrayLike,
    pip: float,
    window: int = DEFAULT_WINDOW,
) -> F64:
    """Compute every market and time feature of SPEC §2.

    Args:
        close: closes, one per stored row, oldest first.
        high: highs, same rows.
        low: lows, same rows.
        hours: ``H_t`` of each row (see ``fxcalendar.hours_since_week_open``).
        pip: pip size of the symbol (0.01 for JPY-quoted pairs, 0.0001 otherwise).
        window: the min-max scaling window ``W`` in rows.

    Returns:
        float64 array of shape ``(n, 11)``, C-contiguous, columns in ``FEATURE_NAMES``
        order; NaN where a feature is undefined (with ``W = 1440`` all are defined from
        row 1499 on).

    Raises:
        ValueError: if an array is not 1-D or its length differs from ``close``, if
            ``pip`` is not a finite number > 0, or if ``window < 2``.
        TypeError: if ``window`` is not an integer.
    """
    close_a = _as_series("close", close)
    n_rows = close_a.shape[0]
    high_a = _as_series("high", high, n_rows)
    low_a = _as_series("low", low, n_rows)
    hours_a = _as_series("hours", hours, n_rows)
    pip_f = _check_pip(pip)
    window_i = _check_window(window)
    logger.debug("computing %d features for %d rows (W=%d)", N_FEATURES, n_rows, window_i)
    out = np.empty((n_rows, N_FEATURES))
    _features_chunked(close_a, high_a, low_a, hours_a, pip_f, window_i, out)
    return out


class FeatureWorkspace:
    """Preallocated buffers to compute the features of series of up to ``rows`` rows
    serially, without allocating: the live worker computes its newest bar's features from
    the last few thousand bars with the very kernel :func:`compute_features` uses."""

    def __init__(self, rows: int) -> None:
        """Buffers for ``rows`` rows (``rows`` >= 1)."""
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows}")
        self.rows = int(rows)
        self.tables = _time_tables()
        self.work: F64 = np.empty((_WORK_ROWS, self.rows), dtype=np.float64)
        self.out: F64 = np.empty((self.rows, N_FEATURES), dtype=np.float64)

    def compute(self, close: F64, high: F64, low: F64, hours: F64, pip: float,
                window: int) -> F64:
        """The features of every row (a view into the workspace, valid until the next call).

        Inputs are float64 1-D arrays of equal length ``n <= rows`` (not checked: this is
        the hot path; :func:`compute_features` is the checked entry point).
        """
        n = close.shape[0]
        _features_kernel(close, high, low, hours, pip, window, self.tables, self.work[:, :n],
                         self.out[:n])
        return self.out[:n]


def compute_sigma20(close: npt.ArrayLike, pip: float) -> F64:
    """Compute the raw σ20 of each row, in pips.

    σ20_t is the sample standard deviation (ddof = 1) of the 20 one-bar changes
    ``(c_k − c_{k−1}) / pip`` for ``k = t−19 … t``, computed directly per window
    (mean first, then squared deviations), so flat prices give exactly 0.

    Args:
        close: closes, one per stored row, oldest first.
        pip: pip size of the symbol.

    Returns:
        float64 array of length ``n``; NaN for rows ``< 20``.

    Raises:
        ValueError: if ``close`` is not 1-D or ``pip`` is not a finite number > 0.
    """
    close_a = _as_series("close", close)
    pip_f = _check_pip(pip)
    changes = np.empty(close_a.shape[0])
    out = np.empty(close_a.shape[0])
    _sigma20_kernel(close_a, pip_f, changes, out)
    return out


def compute_outcome(close: npt.ArrayLike, sigma20: npt.ArrayLike, pip: float) -> I8:
    """Compute the market outcome label of each row (a training target, never an input).

    With ``Δ = (c_{t+1} − c_t) / pip`` (``t + 1`` the next stored row) and
    ``θ = 0.33 · σ20_t``: ``UP = 0`` if ``Δ > θ``, ``DOWN = 2`` if ``Δ < −θ``, else
    ``NEUTRAL = 1``.

    Args:
        close: closes, one per stored row, oldest first.
        sigma20: σ20 of the same rows, as returned by ``compute_sigma20``.
        pip: pip size of the symbol.

    Returns:
        int8 array of length ``n``; ``-1`` on the last row and wherever σ20 is undefined.

    Raises:
        ValueError: if an array is not 1-D, the lengths differ, or ``pip`` is not a
            finite number > 0.
    """
    close_a = _as_series("close", close)
    sigma_a = _as_series("sigma20", sigma20, close_a.shape[0])
    pip_f = _check_pip(pip)
    out = np.empty(close_a.shape[0], dtype=np.int8)
    _outcome_kernel(close_a, sigma_a, pip_f, out)
    return out
