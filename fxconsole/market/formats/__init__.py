"""Readers for bar files: OANDA JSON, generic CSV, HistData, MetaTrader and Dukascopy.

Each reader returns :class:`~fxconsole.market.bars.RawBars` (UTC ns timestamps, float64
prices with NaN where a value is not a number, 1-based source line numbers as rows) and
leaves validation to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from fxconsole.market.bars import RawBars
from fxconsole.market.formats.detect import FORMATS, detect_format
from fxconsole.market.formats.dukascopy import read_dukascopy
from fxconsole.market.formats.generic_csv import read_generic_csv
from fxconsole.market.formats.histdata import read_histdata
from fxconsole.market.formats.metatrader import read_metatrader
from fxconsole.market.formats.oanda import read_oanda

__all__ = ["FORMATS", "READERS", "detect_format", "read_bars"]

logger = logging.getLogger(__name__)

READERS: dict[str, Callable[[Path], RawBars]] = {
    "oanda": read_oanda,
    "csv": read_generic_csv,
    "histdata": read_histdata,
    "metatrader": read_metatrader,
    "dukascopy": read_dukascopy,
}


def read_bars(path: Path, fmt: str | None = None) -> RawBars:
    """Read a bar file.

    Args:
        path: the file.
        fmt: one of ``FORMATS``, or None to detect it from the file's start.

    Returns:
        The bars in file order, not validated.

    Raises:
        ValueError: if ``fmt`` is not one of ``FORMATS``.
        BarsError: if the format cannot be detected or the file cannot be read as it.
    """
    if fmt is not None and fmt not in READERS:
        raise ValueError(f"unknown bar file format {fmt!r}; allowed: {', '.join(FORMATS)}")
    path = Path(path)
    fmt = fmt or detect_format(path)
    bars = READERS[fmt](path)
    logger.info("read %d bars from %s (%s)", len(bars), path, fmt)
    return bars
