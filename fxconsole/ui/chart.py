"""A validation report's equity chart drawn with text: the backtest's cumulative pips
over the Monte Carlo fan (p5–p95 light, p25–p75 darker, median dotted), zero marked.

Pure: lists in, lines of text out (the panel styles them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

BAND_OUTER, BAND_INNER, MEDIAN, ZERO, LINE, JOIN = "░", "▒", "·", "┈", "●", "│"
AXIS_WIDTH = 8  # the y labels' column, e.g. "+12,345 "


def _row(value: float, lo: float, hi: float, height: int) -> int:
    """Row of ``value``, 0 at the top."""
    span = (hi - lo) or 1.0
    return min(height - 1, max(0, round((hi - value) / span * (height - 1))))


def equity_chart(backtest: Sequence[float], fan: Mapping[str, Sequence[float]],
                 width: int, height: int) -> list[str]:
    """The chart as ``height`` lines of ``AXIS_WIDTH + width`` characters.

    Args:
        backtest: cumulative pips at each x point (the report's ``equity.backtest``).
        fan: ``p5``, ``p25``, ``p50``, ``p75``, ``p95`` curves at the same points.
        width: plot columns (x points are sampled to fit).
        height: plot rows (at least 3).

    Returns:
        The lines, top first; no lines if there is nothing to draw.

    Raises:
        ValueError: if a fan curve's length differs from ``backtest``'s, or the size is
            below 2 columns × 3 rows.
    """
    n = len(backtest)
    if width < 2 or height < 3:
        raise ValueError(f"chart size {width}x{height}: need at least 2 columns and 3 rows")
    curves = {k: list(fan.get(k, ())) for k in ("p5", "p25", "p50", "p75", "p95")}
    for key, curve in curves.items():
        if curve and len(curve) != n:
            raise ValueError(f"fan {key} has {len(curve)} points, the backtest {n}")
    if n == 0:
        return []
    values = [0.0, *backtest, *(v for c in curves.values() for v in c)]
    lo, hi = min(values), max(values)
    grid = [[" "] * width for _ in range(height)]
    zero = _row(0.0, lo, hi, height)
    grid[zero] = [ZERO] * width
    previous: int | None = None
    for col in range(width):
        i = round(col * (n - 1) / (width - 1)) if n > 1 else 0
        for (low, high), mark in ((("p5", "p95"), BAND_OUTER), (("p25", "p75"), BAND_INNER)):
            if curves[low] and curves[high]:
                top, bottom = _row(curves[high][i], lo, hi, height), _row(curves[low][i], lo,
                                                                             hi, height)
                for r in range(top, bottom + 1):
                    grid[r][col] = mark
        if curves["p50"]:
            grid[_row(curves["p50"][i], lo, hi, height)][col] = MEDIAN
        row = _row(backtest[i], lo, hi, height)
        if previous is not None and abs(row - previous) > 1:  # join steep moves
            for r in range(min(row, previous) + 1, max(row, previous)):
                grid[r][col] = JOIN
        grid[row][col] = LINE
        previous = row
    labels = {0: f"{hi:+,.0f}", height - 1: f"{lo:+,.0f}", zero: "0"}
    return [f"{labels.get(r, ''):>{AXIS_WIDTH - 1}} " + "".join(cells)
            for r, cells in enumerate(grid)]
