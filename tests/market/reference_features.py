"""Plain-Python reference for SPEC §2: readable loops, written straight from the text.

Slow on purpose (O(n · W)); the tests compare the numba kernels of
``fxconsole.market.features`` against it on a few thousand rows. Lists and ``math`` only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

NAN = math.nan


def _defined(values: Sequence[float]) -> bool:
    return not any(math.isnan(v) for v in values)


def _window(x: Sequence[float], t: int, size: int) -> list[float] | None:
    """Rows ``t-size+1 … t`` of ``x``, or None if the window starts before row 0."""
    if t - size + 1 < 0:
        return None
    return list(x[t - size + 1 : t + 1])


def min_max_scaled(x: Sequence[float], t: int, w: int) -> float:
    """``mm(x)_t``: needs all ``w`` values defined; 0.5 where max = min."""
    values = _window(x, t, w)
    if values is None or not _defined(values):
        return NAN
    lo, hi = min(values), max(values)
    if hi == lo:
        return 0.5
    return (x[t] - lo) / (hi - lo)


def position_in_range_60(close: Sequence[float], t: int) -> float:
    values = _window(close, t, 60)
    if values is None or not _defined(values):
        return NAN
    lo, hi = min(values), max(values)
    if hi == lo:
        return 0.5
    return (close[t] - lo) / (hi - lo)


def momentum(close: Sequence[float], t: int, lag: int, pip: float) -> float:
    """``(c_t − c_{t−lag}) / pip``."""
    if t - lag < 0:
        return NAN
    return (close[t] - close[t - lag]) / pip


def rolling_range_60(high: Sequence[float], low: Sequence[float], t: int, pip: float) -> float:
    """``r60_t = (max(h_{t−59..t}) − min(l_{t−59..t})) / pip``."""
    highs = _window(high, t, 60)
    lows = _window(low, t, 60)
    if highs is None or lows is None or not _defined(highs) or not _defined(lows):
        return NAN
    return (max(highs) - min(lows)) / pip


def sigma20(close: Sequence[float], t: int, pip: float) -> float:
    """Sample std (ddof 1) of the 20 one-bar changes in pips, ``k = t−19 … t``."""
    if t - 20 < 0:
        return NAN
    changes = [(close[k] - close[k - 1]) / pip for k in range(t - 19, t + 1)]
    total = 0.0
    for change in changes:
        total += change
    mean = total / 20
    squares = 0.0
    for change in changes:
        squares += (change - mean) ** 2
    return math.sqrt(squares / 19)


def outcome(close: Sequence[float], t: int, pip: float) -> int:
    """0 UP / 1 NEUTRAL / 2 DOWN; −1 on the last row or where σ20 is undefined."""
    if t + 1 >= len(close):
        return -1
    sigma = sigma20(close, t, pip)
    delta = (close[t + 1] - close[t]) / pip
    if math.isnan(sigma) or math.isnan(delta):
        return -1
    theta = 0.33 * sigma
    if delta > theta:
        return 0
    if delta < -theta:
        return 2
    return 1


def time_features(hours: float) -> list[float]:
    """dow_cos, dow_sin, hour_cos, hour_sin from ``H_t``."""
    d = math.floor(hours / 24) if not math.isnan(hours) else NAN
    return [
        math.cos(2 * math.pi * d / 5),
        math.sin(2 * math.pi * d / 5),
        math.cos(2 * math.pi * hours / 120),
        math.sin(2 * math.pi * hours / 120),
    ]


def features(
    close: Sequence[float],
    high: Sequence[float],
    low: Sequence[float],
    hours: Sequence[float],
    pip: float,
    window: int = 1440,
) -> list[list[float]]:
    """Every row's 11 features, in ``FEATURE_NAMES`` order."""
    n = len(close)
    m60 = [momentum(close, t, 60, pip) for t in range(n)]
    m5 = [momentum(close, t, 5, pip) for t in range(n)]
    r60 = [rolling_range_60(high, low, t, pip) for t in range(n)]
    rows = []
    for t in range(n):
        change = momentum(close, t, 1, pip)
        rows.append(
            [
                position_in_range_60(close, t),
                min_max_scaled(m60, t, window),
                min_max_scaled(r60, t, window),
                min_max_scaled(m5, t, window),
                math.tanh(change / 10),
                *time_features(hours[t]),
                math.tanh(sigma20(close, t, pip) / 10),
                math.tanh(m60[t] / 100),
            ]
        )
    return rows


def sigma20_series(close: Sequence[float], pip: float) -> list[float]:
    return [sigma20(close, t, pip) for t in range(len(close))]


def outcome_series(close: Sequence[float], pip: float) -> list[int]:
    return [outcome(close, t, pip) for t in range(len(close))]
