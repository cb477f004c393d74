"""Generic delimited bar files with a header line.

The delimiter (``,``, ``;`` or tab) is sniffed from the header. Columns are found by
name, case-insensitively and ignoring ``<>``, brackets, ``_``/``-`` and spacing (so
``<OPEN>``, ``Open Price`` and ``open`` all match): a timestamp column (``ts``,
``timestamp``, ``time``, ``datetime``, ``Gmt time``, ... else the first column) or a
``date`` + ``time`` pair, open/high/low/close, and an optional volume (0 when absent).
Timestamps may use any layout of :mod:`fxconsole.market.formats.timestamps`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from fxconsole.market.bars import BarsError, RawBars
from fxconsole.market.formats._numbers import to_float64
from fxconsole.market.formats._table import TextTable, make_bars, read_table
from fxconsole.market.formats.timestamps import parse_timestamps

TS_NAMES = (
    "timestamp",
    "ts",
    "datetime",
    "date time",
    "time",
    "gmt time",
    "utc time",
    "time utc",
    "timestamp utc",
    "datetime utc",
    "local time",
    "date",
)
DATE_NAMES = ("date", "day")
TIME_NAMES = ("time", "hour")
PRICE_NAMES: dict[str, tuple[str, ...]] = {
    "open": ("open", "o", "open price", "opening price", "first"),
    "high": ("high", "h", "high price", "max"),
    "low": ("low", "l", "low price", "min"),
    "close": ("close", "c", "close price", "closing price", "last", "last price"),
}
VOLUME_NAMES = (
    "volume",
    "tick volume",
    "tickvol",
    "tick vol",
    "tickvolume",
    "vol",
    "v",
    "volumes",
    "real volume",
)
_TIME_OF_DAY = re.compile(r"^\d{1,2}:?\d{2}(?::?\d{2}(?:\.\d+)?)?$")


def normalize_name(name: str) -> str:
    """Lower-case a header field and reduce punctuation and spacing to single spaces."""
    text = re.sub(r"[<>()\[\]\"']", " ", name.strip().lower())
    return " ".join(re.sub(r"[\s_\-.]+", " ", text).split())


def _find(names: list[str], accepted: tuple[str, ...]) -> int | None:
    """Return the index of the first column whose name is in ``accepted`` (by priority)."""
    for wanted in accepted:
        if wanted in names:
            return names.index(wanted)
    return None


def _first_value(column: pa.Array) -> str:
    """Return the first non-empty value of a string column ('' if none)."""
    for value in column.slice(0, 100).to_pylist():
        if value and value.strip():
            return str(value.strip())
    return ""


def _timestamp_column(table: TextTable, names: list[str]) -> pa.Array:
    """Return the timestamp strings: a named column, a date + time pair, or column 1."""
    date_at, time_at = _find(names, DATE_NAMES), _find(names, TIME_NAMES)
    if (
        date_at is not None
        and time_at is not None
        and _TIME_OF_DAY.match(_first_value(table.columns[time_at]))
    ):
        return pc.binary_join_element_wise(table.columns[date_at], table.columns[time_at], " ")
    ts_at = _find(names, TS_NAMES)
    return table.columns[0 if ts_at is None else ts_at]


def _price_columns(source: str, table: TextTable, names: list[str]) -> list[int]:
    """Return the indices of open, high, low and close, raising if any is missing."""
    found = {field: _find(names, accepted) for field, accepted in PRICE_NAMES.items()}
    missing = [field for field, at in found.items() if at is None]
    if missing:
        raise BarsError(
            source,
            f"missing column(s) {', '.join(missing)}; columns found: "
            f"{', '.join(table.header)}; required: a timestamp column and open, high, low, "
            "close (volume optional)",
        )
    return [at for at in found.values() if at is not None]


def read_generic_csv(path: Path) -> RawBars:
    """Read a delimited bar file with a header line.

    Args:
        path: the file.

    Returns:
        The bars in file order; rows are line numbers (the header is line 1).

    Raises:
        BarsError: if the file is empty or has no data rows, a required column is
            missing, or a timestamp does not parse.
    """
    source = str(path)
    table = read_table(path, header=True)
    names = [normalize_name(h) for h in table.header]
    o, h, low, c = (to_float64(table.columns[i]) for i in _price_columns(source, table, names))
    ts = parse_timestamps(_timestamp_column(table, names), source=source, rows=table.rows)
    volume_at = _find(names, VOLUME_NAMES)
    volume = None if volume_at is None else to_float64(table.columns[volume_at])
    return make_bars(source, ts, (o, h, low, c), volume, table.rows)
