"""Dukascopy historical data export: ``02.01.2023 17:00:00.000,142.123,...,57.3``.

``,`` separated: time (day first), open, high, low, close, volume, with an optional header
line ``Gmt time,Open,High,Low,Close,Volume``. Times are UTC ("Gmt time"). An export in
local time (``Local time`` header, values ending in ``GMT+0200``) is read by the generic
CSV reader, which applies the offset.
"""

from __future__ import annotations

from pathlib import Path

from fxconsole.market.bars import BarsError, RawBars
from fxconsole.market.formats._numbers import to_float64
from fxconsole.market.formats._table import make_bars, read_bytes, read_table
from fxconsole.market.formats.timestamps import parse_timestamps


def _has_header(data: bytes) -> bool:
    """Whether the first non-empty line is a header (does not start with a digit)."""
    first = data.lstrip()[:1]
    return bool(first) and not first.isdigit()


def read_dukascopy(path: Path) -> RawBars:
    """Read a Dukascopy CSV export (UTC), with or without its header line.

    Args:
        path: the file.

    Returns:
        The bars in file order; rows are line numbers (the header is line 1).

    Raises:
        BarsError: if the file is empty, a line has too few fields or a time does not parse.
    """
    source = str(path)
    data = read_bytes(path)
    table = read_table(path, header=_has_header(data), delimiter=",", data=data)
    if len(table.columns) < 5:
        raise BarsError(source, "expected 'DD.MM.YYYY HH:MM:SS.fff,open,high,low,close,volume'")
    cols = table.columns
    ts = parse_timestamps(cols[0], source=source, rows=table.rows, allowed=("dmy_dots",))
    o, h, low, c = (to_float64(col) for col in cols[1:5])
    volume = to_float64(cols[5]) if len(cols) > 5 else None
    return make_bars(source, ts, (o, h, low, c), volume, table.rows)
