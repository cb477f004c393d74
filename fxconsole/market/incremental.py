"""Features of the newest bar, bar by bar, with the offline kernel (SPEC §2).

The live worker receives complete bars one at a time. :class:`IncrementalFeatures` keeps
the last ``history_bars`` of them in a bounded buffer and computes the features of the
newest one by running the very kernel behind
:func:`~fxconsole.market.features.compute_features` (serially, through
:class:`~fxconsole.market.features.FeatureWorkspace`) over the buffer's tail: the longest
look-back of any feature (``window + 60`` rows) is always inside that tail, so the values
equal those of one offline pass over the whole series, bit for bit. ``H_t`` is computed once per bar
when it arrives.

Pure: arrays in, arrays out; no clock or I/O.
"""

from __future__ import annotations

import logging
import math
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from fxconsole.market.bars import F64, I64
from fxconsole.market.features import (
    DEFAULT_WINDOW,
    LONG_LAG,
    RANGE_ROWS,
    SIGMA_CHANGES,
    FeatureWorkspace,
    compute_sigma20,
)
from fxconsole.market.fxcalendar import week_open_ns
from fxconsole.timeutil import NS_PER_DAY, NS_PER_HOUR

logger = logging.getLogger(__name__)

ArrayT = TypeVar("ArrayT", bound=np.ndarray)
_SAME_WEEK_NS = 6 * NS_PER_DAY
_COLUMNS = ("open", "high", "low", "close", "hours")
_OPEN, _HIGH, _LOW, _CLOSE, _HOURS = range(len(_COLUMNS))


MAX_WINDOW_ROWS = 32  # the longest window asked for: SPEC §4's MuZero window


class BarOrderError(ValueError):
    """A bar older than the newest one, or a second, different bar with the same time."""


def lookback_rows(window: int) -> int:
    """Rows the newest bar's features read (itself included) with min-max window ``window``."""
    return window + max(RANGE_ROWS, LONG_LAG)


class IncrementalFeatures:
    """A bounded buffer of complete bars and the SPEC §2 features of the newest one.

    Attributes:
        pip: pip size of the symbol.
        window: the min-max scaling window ``W`` in rows.
        history_bars: bars kept (at least ``window + 60``, the features' look-back).
    """

    def __init__(self, pip: float, window: int = DEFAULT_WINDOW, history_bars: int = 2000) -> None:
        """Start empty.

        Raises:
            ValueError: if ``pip`` is not a finite number > 0, ``window < 2`` or
                ``history_bars`` is shorter than the features' look-back.
        """
        if not (math.isfinite(pip) and pip > 0.0):
            raise ValueError(f"pip must be a finite number > 0, got {pip!r}")
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        if history_bars < lookback_rows(window):
            raise ValueError(f"history_bars = {history_bars} is shorter than the features' "
                             f"look-back of {lookback_rows(window)} rows (window + 60)")
        self.pip = float(pip)
        self.window = int(window)
        self.history_bars = int(history_bars)
        capacity = 2 * self.history_bars
        self._ts: I64 = np.zeros(capacity, dtype=np.int64)
        self._values: F64 = np.zeros((len(_COLUMNS), capacity), dtype=np.float64)
        self._start = 0  # first kept row in the arrays
        self._end = 0  # one past the newest row
        self._week_open = -_SAME_WEEK_NS  # cached week open of the newest bar
        self._kernel = FeatureWorkspace(lookback_rows(self.window) + MAX_WINDOW_ROWS - 1)

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def last_ts(self) -> int | None:
        """Open time (ns UTC) of the newest bar, or None while empty."""
        return int(self._ts[self._end - 1]) if len(self) else None

    @property
    def ts(self) -> I64:
        """Open times of the kept bars, oldest first (a read-only view)."""
        return self._view(self._ts[self._start:self._end])

    @property
    def close(self) -> F64:
        """Closes of the kept bars, oldest first (a read-only view)."""
        return self._view(self._values[_CLOSE, self._start:self._end])

    @staticmethod
    def _view(array: ArrayT) -> ArrayT:
        view = array.view()
        view.flags.writeable = False
        return view

    def reset(self) -> None:
        """Forget every bar."""
        self._start = self._end = 0

    def append(self, ts: int, open_: float, high: float, low: float, close: float) -> F64:
        """Add one complete bar; return the features of the newest bar.

        A bar equal to the newest one (same time and prices) is ignored.

        Raises:
            BarOrderError: for a bar older than the newest one, or one with the newest's
                time but other prices.
        """
        self._add(int(ts), (float(open_), float(high), float(low), float(close)))
        return self.features()

    def extend(self, ts: npt.ArrayLike, open_: npt.ArrayLike, high: npt.ArrayLike,
               low: npt.ArrayLike, close: npt.ArrayLike) -> F64:
        """Add many complete bars, oldest first; return the features of the newest bar.

        Bars already kept (same time and prices, e.g. an overlapping batch from the
        broker) are skipped.

        Raises:
            BarOrderError: for bars out of order, or a kept time with other prices.
            ValueError: if the arrays' lengths differ.
        """
        columns = [np.asarray(a, dtype=np.float64).reshape(-1) for a in (open_, high, low, close)]
        times = np.asarray(ts, dtype=np.int64).reshape(-1)
        if any(c.shape != times.shape for c in columns):
            raise ValueError("ts, open, high, low and close must have the same length")
        for i in range(times.shape[0]):
            self._add(int(times[i]), tuple(float(c[i]) for c in columns))
        return self.features()

    def _add(self, ts: int, prices: tuple[float, ...]) -> None:
        if len(self):
            newest = int(self._ts[self._end - 1])
            if ts <= newest:
                self._check_known(ts, prices, newest)
                return
        if self._end == self._ts.shape[0]:
            self._compact()
        hours = self._hours(ts)
        self._ts[self._end] = ts
        self._values[:4, self._end] = prices
        self._values[_HOURS, self._end] = hours
        self._end += 1
        if len(self) > self.history_bars:
            self._start = self._end - self.history_bars

    def _hours(self, ts: int) -> float:
        """``H_t`` as :func:`hours_since_week_open` computes it, the week open cached.

        A week open is Sunday 17:00 New York, after that weekend's clock change, so the
        next one is at least 7 days − 1 hour later: within 6 days it is the same.
        """
        opened = self._week_open
        if not opened <= ts < opened + _SAME_WEEK_NS:
            opened = self._week_open = int(week_open_ns(np.array([ts], dtype=np.int64))[0])
        return float(np.float64(ts - opened) / NS_PER_HOUR)

    def _check_known(self, ts: int, prices: tuple[float, ...], newest: int) -> None:
        kept = self._ts[self._start:self._end]
        row = int(np.searchsorted(kept, ts))
        if row < kept.shape[0] and int(kept[row]) == ts:
            stored = tuple(float(v) for v in self._values[:4, self._start + row])
            if stored == prices:
                return
            raise BarOrderError(f"bar at {ts} ns arrived again with other prices: {prices} "
                                f"(kept: {stored})")
        if ts < int(kept[0]):
            return  # older than the buffer: nothing to check it against, already dropped
        raise BarOrderError(f"bar at {ts} ns is older than the newest bar ({newest} ns)")

    def _compact(self) -> None:
        n = len(self)
        self._ts[:n] = self._ts[self._start:self._end]
        self._values[:, :n] = self._values[:, self._start:self._end]
        self._start, self._end = 0, n

    def features(self) -> F64:
        """The 11 features of the newest bar (``FEATURE_NAMES`` order; NaN until warm).

        Runs the offline kernel (the one :func:`compute_features` runs on each chunk of a
        series) serially over the last ``window + 60`` rows, into preallocated scratch.

        Raises:
            LookupError: while no bar has been added.
        """
        result: F64 = self.features_window(1)[0].copy()
        return result

    def features_window(self, rows: int) -> F64:
        """The 11 features of each of the newest ``rows`` bars, oldest first: the MuZero
        window (SPEC §4: 32 rows). Rows not yet warm (or not kept) are NaN.

        The returned array is a view into scratch space: valid until the next call.

        Raises:
            LookupError: while no bar has been added.
            ValueError: for more than :data:`MAX_WINDOW_ROWS` rows.
        """
        if not len(self):
            raise LookupError("no bars yet: append or extend first")
        if not 1 <= rows <= MAX_WINDOW_ROWS:
            raise ValueError(f"rows = {rows}: a window of 1 to {MAX_WINDOW_ROWS} rows")
        first = max(self._start, self._end - lookback_rows(self.window) - (rows - 1))
        n = self._end - first
        values = self._values
        span = slice(first, self._end)
        out = self._kernel.compute(values[_CLOSE, span], values[_HIGH, span],
                                   values[_LOW, span], values[_HOURS, span], self.pip,
                                   self.window)
        if n >= rows:
            window: F64 = out[n - rows:n]
            return window
        padded = np.full((rows, out.shape[1]), np.nan)
        padded[rows - n:] = out[:n]
        return padded

    def sigma20(self) -> float:
        """Raw σ20 of the newest bar in pips (NaN with fewer than 21 bars), as offline."""
        if not len(self):
            raise LookupError("no bars yet: append or extend first")
        first = max(self._start, self._end - (SIGMA_CHANGES + 1))
        return float(compute_sigma20(self._values[_CLOSE, first:self._end], self.pip)[-1])
