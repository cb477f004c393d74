"""Look-ahead check of stored features (after freqtrade's ``lookahead-analysis``).

A feature at row ``t`` may read rows ``<= t`` only (SPEC §2). If it does, computing it on
the bars truncated at a cut point ``c`` (rows ``0 … c``) gives, at ``c`` and at the rows
just before it, the very values one pass over the whole series gave. A feature that peeks
at a later row (a centred rolling window, a shift by −1, a statistic of the whole series)
changes when the future is cut off, and the change names it.

:func:`check_lookahead` recomputes, for each cut, only a tail of the truncated series: the
rows checked plus the longest look-back of any feature (``window + 60`` rows, see
:func:`~fxconsole.market.incremental.lookback_rows`), so every checked row sees all the
history it reads. Min, max and the window sums are exact, so a clean feature differs by
exactly 0; :data:`DEFAULT_TOLERANCE` only absorbs round-off should a kernel ever change.

Pure: arrays in, a report out; no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fxconsole.market.bars import F64, I64, Bars
from fxconsole.market.features import FEATURE_NAMES, N_FEATURES, compute_features
from fxconsole.market.fxcalendar import hours_since_week_open, week_open_ns
from fxconsole.market.incremental import lookback_rows

logger = logging.getLogger(__name__)

DEFAULT_SAMPLES = 20
ROWS_PER_CUT = 5  # the cut row and the 4 before it
# Absolute, on features bounded by [-1, 1]: clean values differ by exactly 0 (same
# kernels, float64, exact min/max); a leak moves a value by far more than this.
DEFAULT_TOLERANCE = 1e-9

FeatureFunction = Callable[[Bars, int], F64]
"""``(bars, window) -> (len(bars), N_FEATURES)`` float64 features, FEATURE_NAMES order."""


@dataclass(frozen=True)
class Difference:
    """A stored feature value that the truncated recompute does not reproduce.

    Attributes:
        feature: the feature's name (``FEATURE_NAMES``).
        row: the stored row index.
        ts: that row's bar open time, int64 ns since the epoch, UTC.
        cut: the cut point: the recompute saw rows ``0 … cut`` only.
        stored: the stored value (NaN if undefined).
        recomputed: the value recomputed without the rows after ``cut``.
    """

    feature: str
    row: int
    ts: int
    cut: int
    stored: float
    recomputed: float


@dataclass(frozen=True)
class LookaheadReport:
    """Result of :func:`check_lookahead`.

    Attributes:
        cuts: the cut points checked, ascending.
        rows_compared: rows compared (a row checked for two cuts counts twice).
        max_abs_diff: per feature, the largest ``|stored − recomputed|`` over compared
            values both defined (0 if none).
        differences: every value outside the tolerance, by cut then row then feature.
    """

    cuts: I64
    rows_compared: int
    max_abs_diff: F64
    differences: list[Difference]

    @property
    def clean(self) -> bool:
        """True if no difference was found."""
        return not self.differences


def pipeline_features(bars: Bars, window: int) -> F64:
    """The features of ``bars`` exactly as the offline pipeline computes them.

    Same steps as :func:`fxconsole.market.pipeline.compute_series` (``H_t`` from the week
    open, then :func:`~fxconsole.market.features.compute_features`), without the sessions.

    Args:
        bars: the bars, oldest first.
        window: the min-max scaling window ``W`` in rows.

    Returns:
        float64 array ``(len(bars), N_FEATURES)``.
    """
    hours = hours_since_week_open(bars.ts, week_open_ns(bars.ts))
    return compute_features(bars.close, bars.high, bars.low, hours, bars.pip, window)


def candidate_range(n_rows: int, window: int) -> tuple[int, int]:
    """The rows a cut point is drawn from: ``[first, last]`` inclusive.

    The last row is excluded (cutting there drops nothing). With enough rows the warm-up
    rows, where every feature is undefined by definition, are skipped too.

    Raises:
        ValueError: if there are fewer than 2 rows.
    """
    if n_rows < 2:
        raise ValueError(f"need at least 2 bars to cut off a future, got {n_rows}")
    last = n_rows - 2
    first_defined = lookback_rows(window) - 1
    return (first_defined if first_defined <= last else 0), last


def pick_cuts(n_rows: int, samples: int, seed: int, window: int) -> I64:
    """Draw distinct random cut points, reproducibly.

    Args:
        n_rows: rows of the series.
        samples: cut points wanted (fewer are returned if fewer rows qualify).
        seed: seed of the generator: the same seed gives the same cuts.
        window: the min-max window (to skip the warm-up rows, see :func:`candidate_range`).

    Returns:
        int64 cut rows, ascending, distinct.

    Raises:
        ValueError: if ``samples < 1`` or there are fewer than 2 rows.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    first, last = candidate_range(n_rows, window)
    span = last - first + 1
    rng = np.random.default_rng(seed)
    chosen = rng.choice(span, size=min(samples, span), replace=False)
    return np.sort(chosen.astype(np.int64) + first)


def _rows(bars: Bars, start: int, stop: int) -> Bars:
    """Rows ``start … stop − 1`` of ``bars`` (views, no copy)."""
    return Bars(bars.symbol, bars.timeframe, bars.ts[start:stop], bars.open[start:stop],
                bars.high[start:stop], bars.low[start:stop], bars.close[start:stop],
                bars.volume[start:stop])


def check_lookahead(
    bars: Bars,
    stored: F64,
    cuts: I64,
    window: int,
    rows_per_cut: int = ROWS_PER_CUT,
    tolerance: float = DEFAULT_TOLERANCE,
    compute: FeatureFunction = pipeline_features,
) -> LookaheadReport:
    """Recompute the features on bars truncated at each cut and compare with ``stored``.

    For a cut ``c`` the rows ``c − rows_per_cut + 1 … c`` are recomputed from the bars
    ``max(0, c − rows_per_cut + 1 − (lookback − 1)) … c`` (``lookback =
    lookback_rows(window)``), i.e. with every row before them any feature reads and none
    after ``c``. Values are equal if both are NaN, or both defined with
    ``|stored − recomputed| <= tolerance``.

    Args:
        bars: the stored bars of the series, oldest first.
        stored: the stored features, ``(len(bars), N_FEATURES)``, row-aligned with ``bars``,
            NaN where undefined.
        cuts: cut rows, each in ``0 … len(bars) − 1``.
        window: the min-max window ``W`` the stored features were computed with.
        rows_per_cut: rows compared per cut, ending at the cut (>= 1).
        tolerance: absolute tolerance.
        compute: the feature function under test (the pipeline's by default).

    Returns:
        The report; ``report.clean`` if no feature reads a row after its own.

    Raises:
        ValueError: on misaligned shapes, a cut out of range, ``rows_per_cut < 1`` or a
            negative tolerance.
    """
    n = len(bars)
    values = np.asarray(stored, dtype=np.float64)
    if values.shape != (n, N_FEATURES):
        raise ValueError(f"stored features have shape {values.shape}, expected ({n}, "
                         f"{N_FEATURES}) (one row per bar)")
    cut_rows = np.unique(np.asarray(cuts, dtype=np.int64))
    if cut_rows.size and (cut_rows[0] < 0 or cut_rows[-1] >= n):
        raise ValueError(f"cut points must lie in 0 … {n - 1}, got {cut_rows[0]} … "
                         f"{cut_rows[-1]}")
    if rows_per_cut < 1:
        raise ValueError(f"rows_per_cut must be >= 1, got {rows_per_cut}")
    if not tolerance >= 0.0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    history = lookback_rows(window) - 1
    max_abs = np.zeros(N_FEATURES)
    differences: list[Difference] = []
    compared = 0
    for cut in (int(c) for c in cut_rows):
        first_checked = max(0, cut - rows_per_cut + 1)
        start = max(0, first_checked - history)
        fresh = compute(_rows(bars, start, cut + 1), window)[first_checked - start:]
        old = values[first_checked:cut + 1]
        compared += old.shape[0]
        both = ~(np.isnan(fresh) | np.isnan(old))
        delta = np.where(both, np.abs(fresh - old), 0.0)
        np.maximum(max_abs, delta.max(axis=0, initial=0.0), out=max_abs)
        same = np.isclose(fresh, old, rtol=0.0, atol=tolerance, equal_nan=True)
        for i, j in zip(*np.nonzero(~same), strict=True):
            row = first_checked + int(i)
            differences.append(Difference(FEATURE_NAMES[j], row, int(bars.ts[row]), cut,
                                          float(old[i, j]), float(fresh[i, j])))
    logger.info("look-ahead check: %d cuts, %d rows, %d differences", cut_rows.size,
                compared, len(differences))
    return LookaheadReport(cut_rows, compared, max_abs, differences)
