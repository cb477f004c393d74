"""The FX week against hand-checked New York times, including DST switch weeks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from fxconsole.market.fxcalendar import (
    hours_since_week_open,
    is_weekend,
    week_close_ns,
    week_open_ns,
)

NY = ZoneInfo("America/New_York")


def ns(dt: datetime) -> int:
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def arr(*dts: datetime) -> np.ndarray:
    return np.array([ns(d) for d in dts], dtype=np.int64)


def reference_week_open(dt: datetime) -> datetime:
    """Most recent Sunday 17:00 New York at or before dt, by walking back day by day."""
    local = dt.astimezone(NY)
    for back in range(8):
        day = (local - timedelta(days=back)).date()
        candidate = datetime(day.year, day.month, day.day, 17, tzinfo=NY)
        if candidate.weekday() == 6 and candidate <= local:
            return candidate.astimezone(UTC)
    raise AssertionError("no week open within 8 days")


@pytest.mark.parametrize(
    ("utc", "weekend"),
    [
        (datetime(2024, 1, 5, 21, 59, tzinfo=UTC), False),  # Fri 16:59 EST
        (datetime(2024, 1, 5, 22, 0, tzinfo=UTC), True),  # Fri 17:00 EST
        (datetime(2024, 1, 7, 21, 59, tzinfo=UTC), True),  # Sun 16:59 EST
        (datetime(2024, 1, 7, 22, 0, tzinfo=UTC), False),  # Sun 17:00 EST: week open
        (datetime(2024, 7, 5, 20, 59, tzinfo=UTC), False),  # Fri 16:59 EDT
        (datetime(2024, 7, 5, 21, 0, tzinfo=UTC), True),  # Fri 17:00 EDT
        (datetime(2024, 7, 7, 21, 0, tzinfo=UTC), False),  # Sun 17:00 EDT
        (datetime(2024, 3, 10, 20, 59, tzinfo=UTC), True),  # DST starts that Sunday 02:00
        (datetime(2024, 3, 10, 21, 0, tzinfo=UTC), False),  # ... so the open is 21:00 UTC
        (datetime(2024, 11, 3, 21, 0, tzinfo=UTC), True),  # DST ends that Sunday 02:00
        (datetime(2024, 11, 3, 22, 0, tzinfo=UTC), False),  # ... so the open is 22:00 UTC
        (datetime(2024, 3, 6, 12, 0, tzinfo=UTC), False),  # a Wednesday
        (datetime(2024, 3, 9, 12, 0, tzinfo=UTC), True),  # a Saturday
    ],
)
def test_is_weekend(utc: datetime, weekend: bool) -> None:
    assert bool(is_weekend(arr(utc))[0]) is weekend


def test_week_open_matches_reference_over_two_years() -> None:
    rng = np.random.default_rng(3)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    offsets = rng.integers(0, 2 * 365 * 24 * 60, size=3000)
    dts = [start + timedelta(minutes=int(m)) for m in offsets]
    got = week_open_ns(arr(*dts))
    want = arr(*(reference_week_open(d) for d in dts))
    np.testing.assert_array_equal(got, want)


def test_hours_since_week_open_is_real_elapsed_time() -> None:
    # Week of the US spring switch: opens Sunday 2024-03-10 17:00 EDT = 21:00 UTC.
    opened = datetime(2024, 3, 10, 21, 0, tzinfo=UTC)
    ts = arr(opened, opened + timedelta(hours=50, minutes=30), opened + timedelta(hours=119))
    np.testing.assert_allclose(hours_since_week_open(ts), [0.0, 50.5, 119.0])
    # The week before the switch opened at 22:00 UTC (EST); its Friday 16:59 EST is 119.98 h.
    friday = datetime(2024, 3, 8, 21, 59, tzinfo=UTC)
    assert hours_since_week_open(arr(friday))[0] == pytest.approx(119 + 59 / 60)


def test_empty_input() -> None:
    empty = np.zeros(0, dtype=np.int64)
    assert is_weekend(empty).shape == (0,)
    assert week_open_ns(empty).shape == (0,)


def test_offsets_hour_by_hour_across_switch_days() -> None:
    from fxconsole.market.fxcalendar import new_york_offset_ns

    start = datetime(2024, 3, 9, tzinfo=UTC)
    hours = [start + timedelta(hours=h) for h in range(24 * 3)]
    hours += [datetime(2024, 11, 2, tzinfo=UTC) + timedelta(hours=h) for h in range(24 * 3)]
    got = new_york_offset_ns(arr(*hours))
    want = [int(d.astimezone(NY).utcoffset().total_seconds()) * 10**9 for d in hours]
    assert got.tolist() == want
    assert len(set(want)) == 2  # both switches are inside the sample


@pytest.mark.parametrize("wednesday", [datetime(2024, 1, 10, 12), datetime(2024, 3, 13, 12),
                                       datetime(2024, 11, 6, 12), datetime(2024, 7, 3, 12)])
def test_week_close_is_friday_17_new_york(wednesday: datetime) -> None:
    ny = ZoneInfo("America/New_York")
    ts = np.array([int(wednesday.replace(tzinfo=ny).timestamp() * 1e9)], dtype=np.int64)
    close = datetime.fromtimestamp(int(week_close_ns(ts)[0]) / 1e9, tz=ny)
    assert (close.weekday(), close.hour, close.minute) == (4, 17, 0)
    assert 1 <= (close.date() - wednesday.date()).days <= 2
