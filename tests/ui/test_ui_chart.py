"""The text equity chart against hand-worked cases."""

from __future__ import annotations

import pytest

from fxconsole.ui.chart import AXIS_WIDTH, BAND_INNER, BAND_OUTER, LINE, MEDIAN, ZERO, equity_chart


def plot(lines: list[str]) -> list[str]:
    return [line[AXIS_WIDTH:] for line in lines]


def test_rising_line_runs_from_bottom_left_to_top_right() -> None:
    lines = equity_chart([0.0, 10.0, 20.0, 30.0], {}, width=4, height=4)
    assert len(lines) == 4
    assert all(len(line) == AXIS_WIDTH + 4 for line in lines)
    grid = plot(lines)
    # y from 0 (bottom row) to 30 (top row): one row per 10 pips
    assert [row.index(LINE) for row in grid] == [3, 2, 1, 0]
    assert grid[3][1:] == ZERO * 3  # the zero line under the rest of the bottom row
    assert lines[0].startswith("    +30 ") and lines[3].startswith("      0 ")


def test_steep_moves_are_joined() -> None:
    grid = plot(equity_chart([0.0, 40.0], {}, width=2, height=5))
    assert [row[1] for row in grid] == [LINE, "│", "│", "│", ZERO]
    assert grid[4] == LINE + ZERO


def test_fan_bands_median_and_negative_axis() -> None:
    fan = {"p5": [-20.0, -20.0], "p25": [-10.0, -10.0], "p50": [0.0, 0.0],
           "p75": [10.0, 10.0], "p95": [20.0, 20.0]}
    grid = plot(equity_chart([20.0, 20.0], fan, width=2, height=5))
    # rows: +20, +10, 0, -10, -20
    assert [row[0] for row in grid] == [LINE, BAND_INNER, MEDIAN, BAND_INNER, BAND_OUTER]
    lines = equity_chart([20.0, 20.0], fan, width=2, height=5)
    assert lines[4].startswith("    -20 ")


def test_more_points_than_columns_are_sampled_and_ends_kept() -> None:
    back = [float(i) for i in range(101)]
    grid = plot(equity_chart(back, {}, width=11, height=11))
    assert grid[10][0] == LINE and grid[0][10] == LINE


def test_empty_and_bad_input() -> None:
    assert equity_chart([], {}, width=10, height=5) == []
    with pytest.raises(ValueError, match="p50 has 1 points, the backtest 2"):
        equity_chart([1.0, 2.0], {"p50": [1.0]}, width=10, height=5)
    with pytest.raises(ValueError, match="at least 2 columns and 3 rows"):
        equity_chart([1.0], {}, width=1, height=5)
