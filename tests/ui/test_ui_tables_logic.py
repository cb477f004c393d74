"""Pure logic of the console's tables and live P/L: sorting, searching, trading days."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from rich.text import Text

from fxconsole.ui.pnl import equity_curve, pnl, trading_day_start, trading_week_start
from fxconsole.ui.tables import (
    Row,
    Sort,
    arrange,
    filter_rows,
    header_labels,
    matches,
    sort_rows,
)


def row(key: str, *values: object, text: str = "") -> Row:
    return Row(key, tuple(Text(str(v)) for v in values), tuple(values), text)


ROWS = [row("a", "trainer", 3.0), row("b", "Live", None), row("c", "collector", -1.5),
        row("d", "validator", math.nan), row("e", "alpha", 3.0)]


def keys(rows: list[Row]) -> list[str]:
    return [r.key for r in rows]


def test_no_sort_keeps_the_tables_own_order() -> None:
    assert keys(sort_rows(ROWS, Sort())) == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize(("descending", "expected"), [
    (False, ["c", "a", "e", "b", "d"]),  # stable for ties; undefined last
    (True, ["a", "e", "c", "b", "d"]),   # undefined last in this direction too
])
def test_numbers_sort_with_undefined_last(descending: bool, expected: list[str]) -> None:
    assert keys(sort_rows(ROWS, Sort(1, descending))) == expected


def test_text_sorts_case_insensitively() -> None:
    assert keys(sort_rows(ROWS, Sort(0))) == ["e", "c", "b", "a", "d"]


def test_mixed_types_in_a_column_do_not_raise() -> None:
    mixed = [row("x", 2), row("y", "b"), row("z", 10)]
    assert keys(sort_rows(mixed, Sort(0))) == ["z", "x", "y"]  # compared as text


def test_sort_cycles_through_columns_then_back_to_the_own_order() -> None:
    order = Sort()
    seen = []
    for _ in range(4):
        order = order.next_column(3)
        seen.append(order.column)
    assert seen == [0, 1, 2, None]
    assert Sort(1).reversed() == Sort(1, True) and Sort(1, True).reversed() == Sort(1)
    assert Sort().reversed() == Sort(0, True)
    assert Sort(2).by(2) == Sort(2, True) and Sort(2, True).by(0) == Sort(0)


def test_header_marks_the_sort_column() -> None:
    assert header_labels(["steps", "tags"], Sort(0, True)) == ["steps ▼", "tags"]
    assert header_labels(["steps", "tags"], Sort()) == ["steps", "tags"]
    assert Sort(1).describe(["steps", "tags"]) == "sorted by tags ▲"


def test_search_needs_every_word_in_any_cell_or_the_extra_text() -> None:
    assert matches(ROWS[0], "TRAIN 3.0") and not matches(ROWS[0], "train live")
    assert keys(filter_rows(ROWS, "  ")) == keys(ROWS)
    assert keys(filter_rows([row("k", "x", text="forced")], "forced")) == ["k"]
    assert keys(arrange(ROWS, Sort(1, True), "or")) == ["c", "d"]  # collector, validator


# T0 of the UI tests: Tuesday 2023-11-14 22:13:20 UTC, 17:13 in New York (EST)
T0 = 1_700_000_000.0


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(("ts", "start"), [
    (T0, utc(2023, 11, 14, 22)),                         # just after the 17:00 EST roll
    (utc(2023, 11, 14, 21, 59), utc(2023, 11, 13, 22)),  # just before it
    (utc(2023, 7, 5, 21, 30), utc(2023, 7, 5, 21)),      # summer: 17:00 EDT is 21:00 UTC
    (utc(2023, 7, 5, 20, 59), utc(2023, 7, 4, 21)),
])
def test_trading_day_rolls_at_17_new_york(ts: float, start: float) -> None:
    assert trading_day_start(ts) == start


def test_trading_week_opens_sunday_17_new_york() -> None:
    assert trading_week_start(T0) == utc(2023, 11, 12, 22)


def test_pnl_by_trading_day_and_week() -> None:
    closed = [(utc(2023, 11, 10, 12), 50.0),   # last week: not counted
              (utc(2023, 11, 13, 9), 10.0),    # Monday's trading day
              (utc(2023, 11, 14, 21), -4.0),   # Tuesday's (before the roll)
              (utc(2023, 11, 14, 22, 5), 7.5), (T0 - 1, 2.0)]  # today = Wednesday's
    p = pnl(closed, T0)
    assert (p.today.trades, p.today.pips, p.today.label) == (2, 9.5, "Wed 11-15")
    assert (p.week_trades, p.week_pips) == (4, 15.5)
    assert [(d.label, d.trades, d.pips) for d in p.days] == [
        ("Mon 11-13", 1, 10.0), ("Tue 11-14", 1, -4.0), ("Wed 11-15", 2, 9.5)]


def test_pnl_of_no_trades_is_zero_not_undefined() -> None:
    p = pnl([], T0)
    assert (p.today.trades, p.today.pips, p.week_trades, p.days) == (0, 0.0, 0, ())


def test_equity_curve_is_cumulative_and_ends_at_the_total() -> None:
    assert equity_curve([1.0, -2.0, 4.0]) == [0.0, 1.0, -1.0, 3.0]
    assert equity_curve([1.0, -2.0, 4.0], total=103.0) == [100.0, 101.0, 99.0, 103.0]
    assert equity_curve([], total=5.0) == []
