"""Sorting and searching the console's tables (pure: no widgets, no I/O).

A table hands over its rows as :class:`Row` (a key, the cells it draws, the raw value of
each column to sort by, and the text a search looks in); :func:`arrange` returns the rows
to show for a :class:`Sort` and a search query. Undefined values (None, NaN) sort last
whichever the direction, like an empty cell in a spreadsheet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ASCENDING_MARK = "▲"
DESCENDING_MARK = "▼"


@dataclass(frozen=True)
class Row:
    """One row of a table.

    Attributes:
        key: the row's identity (kept under the cursor across refreshes).
        cells: what the table draws, one per column.
        values: what each column sorts by (None: undefined, sorts last).
        text: more for a search to look in, besides every cell's text.
    """

    key: str
    cells: tuple[Any, ...]
    values: tuple[Any, ...]
    text: str = ""

    @property
    def haystack(self) -> str:
        """The searchable text, folded for a case-insensitive match."""
        return " ".join([*(_plain(cell) for cell in self.cells), self.text]).casefold()


@dataclass(frozen=True)
class Sort:
    """A sort order: by a column index ascending or descending; ``column`` None keeps
    the table's own order (newest first, by name…)."""

    column: int | None = None
    descending: bool = False

    def next_column(self, columns: int) -> Sort:
        """The next column, ascending (after the last: the table's own order again)."""
        if self.column is None:
            return Sort(0, False) if columns else self
        return Sort(self.column + 1, False) if self.column + 1 < columns else Sort()

    def reversed(self) -> Sort:
        """The same column the other way (on the table's own order: by its first column,
        descending)."""
        if self.column is None:
            return Sort(0, True)
        return Sort(self.column, not self.descending)

    def by(self, column: int) -> Sort:
        """A click on a column's header: that column ascending, or reversed if it was
        already the sort column."""
        return self.reversed() if column == self.column else Sort(column, False)

    def describe(self, labels: Sequence[str]) -> str:
        """``sorted by pips ▼`` (empty for the table's own order)."""
        if self.column is None or not 0 <= self.column < len(labels):
            return ""
        return f"sorted by {labels[self.column]} {self.mark}"

    @property
    def mark(self) -> str:
        """The arrow shown after the sort column's label."""
        return DESCENDING_MARK if self.descending else ASCENDING_MARK


def is_undefined(value: Any) -> bool:
    """True for None, NaN and the empty string (a cell with nothing to compare)."""
    if value is None or value == "":
        return True
    return isinstance(value, float) and math.isnan(value)


def _key(value: Any) -> Any:
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, bool):
        return int(value)
    return value


def sort_rows(rows: Sequence[Row], sort: Sort) -> list[Row]:
    """``rows`` in ``sort``'s order (stable: equal values keep the table's own order);
    rows whose value is undefined come last in either direction."""
    if sort.column is None:
        return list(rows)
    col = sort.column
    defined = [r for r in rows if col < len(r.values) and not is_undefined(r.values[col])]
    undefined = [r for r in rows if col >= len(r.values) or is_undefined(r.values[col])]
    try:
        ordered = sorted(defined, key=lambda r: _key(r.values[col]), reverse=sort.descending)
    except TypeError:  # mixed types in one column: compare as text
        ordered = sorted(defined, key=lambda r: str(_key(r.values[col])),
                         reverse=sort.descending)
    return ordered + undefined


def matches(row: Row, query: str) -> bool:
    """Whether every word of ``query`` occurs in the row's text (case-insensitive); an
    empty query matches everything."""
    haystack = row.haystack
    return all(word in haystack for word in query.casefold().split())


def filter_rows(rows: Sequence[Row], query: str) -> list[Row]:
    """The rows that :func:`matches` ``query``."""
    return [r for r in rows if matches(r, query)] if query.strip() else list(rows)


def arrange(rows: Sequence[Row], sort: Sort, query: str = "") -> list[Row]:
    """The rows to show: those matching ``query``, in ``sort``'s order."""
    return sort_rows(filter_rows(rows, query), sort)


def header_labels(labels: Sequence[str], sort: Sort) -> list[str]:
    """The column labels with the sort column's arrow (``pips ▼``)."""
    return [f"{label} {sort.mark}" if i == sort.column else label
            for i, label in enumerate(labels)]


def _plain(cell: Any) -> str:
    """A cell's text (Rich ``Text`` or anything printable)."""
    plain = getattr(cell, "plain", None)
    return plain if isinstance(plain, str) else str(cell)
