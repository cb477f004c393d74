"""The FX week: New York time with daylight saving, week opens and the weekend closure.

The week is open from Sunday 17:00 to Friday 17:00 America/New_York (SPEC §1). All
functions are vectorised over int64 nanosecond UTC timestamps and exact: New York's
UTC offset only changes on whole UTC hours, so an hourly offset table is exact.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from fxconsole.market.bars import F64, I64
from fxconsole.timeutil import NS_PER_DAY, NS_PER_HOUR, NS_PER_SECOND

NEW_YORK = ZoneInfo("America/New_York")
# 1970-01-01 was a Thursday; with Monday = 0 that is weekday 3.
_EPOCH_WEEKDAY = 3
_SUNDAY = 6
_FRIDAY = 4
_OPEN_HOUR = 17


def new_york_offset_ns(ts: I64) -> I64:
    """Return New York's UTC offset (local − UTC) in ns at each UTC timestamp."""
    if ts.size == 0:
        return np.zeros(0, dtype=np.int64)
    hours = np.floor_divide(ts, NS_PER_HOUR)
    first, last = int(hours.min()) - 1, int(hours.max()) + 1
    table = _offset_table(first, last)
    return table[hours - first]


@lru_cache(maxsize=65536)  # the live worker asks about the same few days on every bar
def _offset_at(hour: int) -> int:
    stamp = datetime.fromtimestamp(hour * 3600, tz=UTC)
    off = stamp.astimezone(NEW_YORK).utcoffset() or timedelta(0)
    return int(off.total_seconds()) * NS_PER_SECOND


def _offset_table(first_hour: int, last_hour: int) -> I64:
    """Offsets for every UTC hour in [first_hour, last_hour].

    Sampled once a day; only days whose offset differs from the next day's are filled
    hour by hour (twice a year), so a year costs ~370 zoneinfo calls, not 8,800.
    """
    n = last_hour - first_hour + 1
    days = range(first_hour, last_hour + 25, 24)
    daily = [_offset_at(h) for h in days]
    out = np.empty(n, dtype=np.int64)
    for i, h in enumerate(days[:-1]):
        lo, hi = h - first_hour, min(h - first_hour + 24, n)
        if daily[i] == daily[i + 1]:
            out[lo:hi] = daily[i]
        else:
            out[lo:hi] = [_offset_at(first_hour + k) for k in range(lo, hi)]
    return out


def _local_weekday_and_time(ts: I64) -> tuple[I64, I64, I64]:
    """New York local time: (local ns, weekday Monday=0, ns since local midnight)."""
    local = ts + new_york_offset_ns(ts)
    days = np.floor_divide(local, NS_PER_DAY)
    weekday = (days + _EPOCH_WEEKDAY) % 7
    since_midnight = local - days * NS_PER_DAY
    return local, weekday, since_midnight


def is_weekend(ts: I64) -> npt.NDArray[np.bool_]:
    """True where a bar's open time lies in [Friday 17:00, Sunday 17:00) New York time."""
    _, weekday, since_midnight = _local_weekday_and_time(ts)
    open_ns = _OPEN_HOUR * NS_PER_HOUR
    friday_late = (weekday == _FRIDAY) & (since_midnight >= open_ns)
    saturday = weekday == 5
    sunday_early = (weekday == _SUNDAY) & (since_midnight < open_ns)
    return friday_late | saturday | sunday_early


def week_open_ns(ts: I64) -> I64:
    """The most recent Sunday 17:00 New York time at or before each ``ts``, in UTC ns."""
    local, weekday, since_midnight = _local_weekday_and_time(ts)
    days_since_sunday = (weekday - _SUNDAY) % 7
    open_ns = _OPEN_HOUR * NS_PER_HOUR
    local_open = local - since_midnight - days_since_sunday * NS_PER_DAY + open_ns
    local_open = np.where(local_open > local, local_open - 7 * NS_PER_DAY, local_open)
    # The offset at the week open itself (Sunday 17:00 is after any 02:00 switch that day).
    guess = local_open - new_york_offset_ns(ts)
    return local_open - new_york_offset_ns(guess)


TRADING_WEEK_NS = 5 * NS_PER_DAY  # Sunday 17:00 to Friday 17:00 New York (no DST switch)


def week_close_ns(ts: I64) -> I64:
    """The Friday 17:00 New York closing the trading week of each ``ts``, in UTC ns
    (for a ``ts`` in the weekend closure: the close just passed)."""
    return week_open_ns(ts) + TRADING_WEEK_NS


def hours_since_week_open(ts: I64, week_open: I64 | None = None) -> F64:
    """``H_t`` of SPEC §1: real hours elapsed from the week open to ``ts``.

    Args:
        ts: UTC timestamps in ns.
        week_open: ``week_open_ns(ts)`` if already computed.
    """
    opened = week_open_ns(ts) if week_open is None else week_open
    return (ts - opened).astype(np.float64) / NS_PER_HOUR

