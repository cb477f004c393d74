"""SPEC §1 validation: invalid rows, duplicates, weekend rows, gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from fxconsole.market.bars import BarsError, RawBars
from fxconsole.market.validate import clean_bars, count_gaps

MONDAY = datetime(2024, 1, 8, 12, 0, tzinfo=UTC)


def raw(rows: list[tuple[datetime, float, float, float, float]], volume: float = 1.0) -> RawBars:
    ts = np.array([int(r[0].timestamp()) * 1_000_000_000 for r in rows], dtype=np.int64)
    cols = np.array([r[1:] for r in rows], dtype=np.float64).reshape(-1, 4)
    n = len(rows)
    return RawBars("bars.csv", ts, cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3],
                   np.full(n, volume), np.arange(2, n + 2, dtype=np.int64))


def minute(i: int) -> datetime:
    return MONDAY + timedelta(minutes=i)


def test_clean_input_passes_through_sorted() -> None:
    bars, rep = clean_bars(raw([(minute(1), 1, 2, 0.5, 1.5), (minute(0), 1, 1, 1, 1)]),
                           "GBPJPY", "M1")
    assert list(bars.ts) == sorted(bars.ts)
    assert bars.close.tolist() == [1.0, 1.5]
    assert (rep.rows_read, rep.rows_kept, rep.duplicates_dropped) == (2, 2, 0)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ((np.nan, 2, 1, 1.5), "missing or not a finite"),
        ((1, np.inf, 1, 1.5), "missing or not a finite"),
        ((1, 2, 0, 1.5), "≤ 0"),
        ((1, 1.2, 0.9, 1.5), "high 1.2 < max(open, close) 1.5"),
        ((1, 2, 1.2, 1.5), "low 1.2 > min(open, close) 1.0"),
    ],
)
def test_invalid_rows_fail_with_row_numbers(bad: tuple[float, ...], reason: str) -> None:
    rows = [(minute(i), 1.0, 2.0, 0.5, 1.5) for i in range(5)]
    rows[3] = (minute(3), *bad)
    with pytest.raises(BarsError) as err:
        clean_bars(raw(rows), "GBPJPY", "M1")
    assert err.value.rows == [5]  # line 5: header is line 1, data from line 2
    assert "bars.csv: row 5" in str(err.value) and reason in str(err.value)


def test_invalid_rows_can_be_dropped_and_counted() -> None:
    rows = [(minute(i), 1.0, 2.0, 0.5, 1.5) for i in range(5)]
    rows[1] = (minute(1), 1.0, 0.1, 0.5, 1.5)
    bars, rep = clean_bars(raw(rows), "GBPJPY", "M1", drop_invalid=True)
    assert rep.invalid_dropped == 1 and len(bars) == 4


def test_invalid_weekend_rows_are_still_errors() -> None:
    saturday = datetime(2024, 1, 6, 12, 0, tzinfo=UTC)
    with pytest.raises(BarsError, match="row 2"):
        clean_bars(raw([(saturday, 1, 0.5, 0.4, 1)]), "GBPJPY", "M1")


def test_exact_duplicates_dropped_conflicts_rejected() -> None:
    rows = [(minute(0), 1, 2, 0.5, 1.5), (minute(0), 1, 2, 0.5, 1.5), (minute(1), 1, 2, 0.5, 1)]
    bars, rep = clean_bars(raw(rows), "GBPJPY", "M1")
    assert rep.duplicates_dropped == 1 and len(bars) == 2
    rows[1] = (minute(0), 1, 2, 0.5, 1.4)
    with pytest.raises(BarsError) as err:
        clean_bars(raw(rows), "GBPJPY", "M1")
    assert err.value.rows == [2, 3] and "different values" in str(err.value)


def test_weekend_rows_dropped_and_counted() -> None:
    friday_close = datetime(2024, 1, 5, 22, 0, tzinfo=UTC)  # 17:00 EST
    rows = [(friday_close - timedelta(minutes=1), 1, 2, 0.5, 1.5),
            (friday_close, 1, 2, 0.5, 1.5),
            (datetime(2024, 1, 7, 22, 0, tzinfo=UTC), 1, 2, 0.5, 1.5)]
    bars, rep = clean_bars(raw(rows), "GBPJPY", "M1")
    assert rep.weekend_dropped == 1 and len(bars) == 2


def test_unknown_timeframe() -> None:
    with pytest.raises(ValueError, match="unknown timeframe 'M2'"):
        clean_bars(raw([(minute(0), 1, 2, 0.5, 1.5)]), "GBPJPY", "M2")


def test_count_gaps_ignores_weekends() -> None:
    ts_list = [minute(0), minute(1), minute(4), minute(5), minute(7)]
    ts_list += [datetime(2024, 1, 14, 22, 0, tzinfo=UTC)]  # next week's open
    ts = np.array([int(t.timestamp()) * 10**9 for t in ts_list], dtype=np.int64)
    assert count_gaps(ts, "M1") == (2, 3)
