"""The prices of one OANDA v20 candle (pure; shared by the file import and the broker).

Kept apart from :mod:`fxconsole.market.formats`, which loads pandas and pyarrow: the live
worker reads candles through this module without them.
"""

from __future__ import annotations

import math
from typing import Any

PRICE_KEYS = ("o", "h", "l", "c")


def number(value: Any) -> float:
    """Return ``value`` as a float, NaN if it is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def candle_prices(candle: dict[str, Any]) -> tuple[float, float, float, float]:
    """Return a candle's open, high, low, close: mid, else the bid/ask mean, else NaN."""
    mid = candle.get("mid")
    if isinstance(mid, dict):
        o, h, low, c = (number(mid.get(k)) for k in PRICE_KEYS)
        return o, h, low, c
    bid, ask = candle.get("bid"), candle.get("ask")
    if isinstance(bid, dict) and isinstance(ask, dict):
        o, h, low, c = ((number(bid.get(k)) + number(ask.get(k))) / 2 for k in PRICE_KEYS)
        return o, h, low, c
    return math.nan, math.nan, math.nan, math.nan
