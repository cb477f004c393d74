"""Time units, bar timeframes and ISO-8601 formatting: the lowest module, imported by all.

Timestamps are int64 nanoseconds since the Unix epoch, UTC. Nothing here imports another
fxconsole module, so the config, the market pipeline, the trading core and the live
engine share these without importing each other.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np

NS_PER_SECOND = 1_000_000_000
NS_PER_HOUR = 3600 * NS_PER_SECOND
NS_PER_DAY = 24 * NS_PER_HOUR

TIMEFRAME_SECONDS: dict[str, int] = {
    "M1": 60,
    "M5": 300,
    "M15": 900,
    "M30": 1800,
    "H1": 3600,
    "H4": 14400,
    "D": 86400,
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HH_MM = [f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SS_Z = [f"{s:02d}Z" for s in range(60)]


def timeframe_seconds(timeframe: str) -> int:
    """Return the bar period of ``timeframe`` in seconds.

    Raises:
        ValueError: if the timeframe is unknown; the message lists the allowed ones.
    """
    try:
        return TIMEFRAME_SECONDS[timeframe]
    except KeyError:
        allowed = ", ".join(TIMEFRAME_SECONDS)
        raise ValueError(f"unknown timeframe {timeframe!r}; allowed: {allowed}") from None


def iso_utc(ns: int | np.integer[Any]) -> str:
    """An int64 ns UTC timestamp as ISO-8601 (``2021-01-04T10:15:00Z``); fast for whole seconds."""
    day, rest = divmod(int(ns), NS_PER_DAY)
    seconds, fraction = divmod(rest, NS_PER_SECOND)
    if fraction:
        moment = _EPOCH + timedelta(microseconds=int(ns) // 1000)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    minute, second = divmod(seconds, 60)
    return _day_string(day) + _HH_MM[minute] + _SS_Z[second]


@lru_cache(maxsize=8192)
def _day_string(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")


def ns_to_seconds(ns: int | None) -> float | None:
    """UNIX ns → seconds (the console database's REAL columns hold seconds)."""
    return None if ns is None else ns / 1e9


def seconds_to_ns(seconds: float | None) -> int | None:
    """UNIX seconds from a REAL column → ns, exact to the microsecond."""
    return None if seconds is None else round(seconds * 1e6) * 1000
