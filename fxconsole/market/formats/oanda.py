"""OANDA v20 candles JSON: the body of ``GET /v3/instruments/{instrument}/candles``.

Mid prices are used; a candle without ``mid`` uses the mean of ``bid`` and ``ask`` per
field. Candles with ``"complete": false`` (the bar still forming) are skipped. ``time`` is
RFC 3339 (``2016-10-17T15:16:40.000000000Z``) or UNIX (``1476717400.000000000``), as set
by the request's ``Accept-Datetime-Format``. The ``row`` of a bar is its 1-based index in
``candles``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from fxconsole.market.bars import BarsError, RawBars
from fxconsole.market.candles import candle_prices, number
from fxconsole.market.formats._table import make_bars, read_bytes
from fxconsole.market.formats.timestamps import parse_timestamps

logger = logging.getLogger(__name__)

def _load_candles(path: Path) -> list[Any]:
    """Return the ``candles`` list of an OANDA response file."""
    source = str(path)
    text = read_bytes(path).decode("utf-8", errors="replace")
    if not text.strip():
        raise BarsError(source, "the file is empty")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BarsError(source, f"not valid JSON: {exc}") from None
    candles = document.get("candles") if isinstance(document, dict) else None
    if not isinstance(candles, list):
        raise BarsError(source, "no 'candles' list (expected an OANDA v20 candles response)")
    return candles


def read_oanda(path: Path) -> RawBars:
    """Read an OANDA v20 candles JSON file.

    Args:
        path: the JSON file.

    Returns:
        The complete candles, in file order, with their record numbers as rows.

    Raises:
        BarsError: if the file is not a candles response, has no complete candle, or a
            candle's time does not parse.
    """
    source = str(path)
    candles = _load_candles(path)
    rows: list[int] = []
    times: list[str] = []
    prices: list[tuple[float, float, float, float]] = []
    volumes: list[float] = []
    for index, candle in enumerate(candles, start=1):
        if not isinstance(candle, dict) or candle.get("complete", True) is False:
            continue
        rows.append(index)
        times.append(str(candle.get("time", "")))
        prices.append(candle_prices(candle))
        volumes.append(number(candle.get("volume", 0)))
    skipped = len(candles) - len(rows)
    if skipped:
        logger.info("%s: skipped %d incomplete candle(s)", source, skipped)
    if not rows:
        raise BarsError(source, "no complete candles")
    row = np.asarray(rows, dtype=np.int64)
    ts = parse_timestamps(
        pa.array(times, pa.string()),
        source=source,
        rows=row,
        allowed=("iso", "iso_offset", "epoch"),
    )
    table = np.asarray(prices, dtype=np.float64).reshape(-1, 4)
    o, h, low, c = (np.ascontiguousarray(table[:, i]) for i in range(4))
    return make_bars(source, ts, (o, h, low, c), np.asarray(volumes, dtype=np.float64), row)
