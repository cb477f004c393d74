"""MetaTrader 4 history export: ``2023.01.02,17:00,142.123,142.130,142.100,142.120,57``.

No header, ``,`` separated: date, time, open, high, low, close, tick volume. The file says
nothing about its time zone (MetaTrader writes the broker's server time); it is taken as
UTC. Shift the file before importing if your broker's server time is not UTC.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc

from fxconsole.market.bars import BarsError, RawBars
from fxconsole.market.formats._numbers import to_float64
from fxconsole.market.formats._table import make_bars, read_table
from fxconsole.market.formats.timestamps import parse_timestamps


def read_metatrader(path: Path) -> RawBars:
    """Read a MetaTrader history export (times taken as UTC).

    Args:
        path: the file.

    Returns:
        The bars in file order; rows are line numbers.

    Raises:
        BarsError: if the file is empty, a line has too few fields or a time does not parse.
    """
    source = str(path)
    table = read_table(path, header=False, delimiter=",")
    if len(table.columns) < 6:
        raise BarsError(source, "expected 'YYYY.MM.DD,HH:MM,open,high,low,close,volume' lines")
    cols = table.columns
    stamps = pc.binary_join_element_wise(cols[0], cols[1], " ")
    ts = parse_timestamps(stamps, source=source, rows=table.rows, allowed=("ymd_dots",))
    o, h, low, c = (to_float64(col) for col in cols[2:6])
    volume = to_float64(cols[6]) if len(cols) > 6 else None
    return make_bars(source, ts, (o, h, low, c), volume, table.rows)
