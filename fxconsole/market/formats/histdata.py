"""HistData.com M1 "generic ASCII" bars: ``20230102 170000;142.123;142.130;142.100;142.120;0``.

No header, ``;`` separated: time, open, high, low, close, volume. HistData stamps its bars
in EST without daylight saving all year (UTC−5), so 5 hours are added to get UTC.
"""

from __future__ import annotations

from pathlib import Path

from fxconsole.market.bars import BarsError, RawBars
from fxconsole.market.formats._numbers import to_float64
from fxconsole.market.formats._table import make_bars, read_table
from fxconsole.market.formats.timestamps import parse_timestamps
from fxconsole.timeutil import NS_PER_SECOND

EST_OFFSET_NS = 5 * 3600 * NS_PER_SECOND


def read_histdata(path: Path) -> RawBars:
    """Read a HistData.com M1 ASCII file, converting its fixed EST times to UTC.

    Args:
        path: the file.

    Returns:
        The bars in file order; rows are line numbers.

    Raises:
        BarsError: if the file is empty, a line has too few fields or a time does not parse.
    """
    source = str(path)
    table = read_table(path, header=False, delimiter=";")
    if len(table.columns) < 5:
        raise BarsError(source, "expected 'YYYYMMDD HHMMSS;open;high;low;close;volume' lines")
    cols = table.columns
    ts = parse_timestamps(cols[0], source=source, rows=table.rows, allowed=("compact",))
    o, h, low, c = (to_float64(col) for col in cols[1:5])
    volume = to_float64(cols[5]) if len(cols) > 5 else None
    return make_bars(source, ts + EST_OFFSET_NS, (o, h, low, c), volume, table.rows)
