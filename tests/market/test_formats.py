"""Tests for the bar file readers in fxconsole.market.formats."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fxconsole.market.bars import BarsError, RawBars
from fxconsole.market.formats import FORMATS, detect_format, read_bars


def ns(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> int:
    """Nanoseconds since the epoch of a UTC date and time."""
    moment = datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)
    whole = moment.replace(microsecond=0)
    return int(whole.timestamp()) * 1_000_000_000 + microsecond * 1000


def write(tmp_path: Path, text: str, name: str = "bars.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def candle(time: str, complete: bool = True, **prices: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"complete": complete, "volume": 12, "time": time}
    body.update(prices or {"mid": {"o": "1.1", "h": "1.3", "l": "1.0", "c": "1.2"}})
    return body


def oanda_text(*candles: dict[str, Any]) -> str:
    return json.dumps({"instrument": "EUR_USD", "granularity": "M1", "candles": list(candles)})


HISTDATA = "20230102 170000;142.123;142.130;142.100;142.120;0\n"
METATRADER = "2023.01.02,17:00,142.123,142.130,142.100,142.120,57\n"
DUKASCOPY = "02.01.2023 17:00:00.000,142.123,142.130,142.100,142.120,57.3\n"
DUKASCOPY_HEADER = "Gmt time,Open,High,Low,Close,Volume\n" + DUKASCOPY
GENERIC = "ts,open,high,low,close,volume\n2023-01-02 17:00:00,142.123,142.130,142.100,142.120,57\n"
OANDA = oanda_text(candle("2023-01-02T17:00:00.000000000Z"))


def assert_bar(bars: RawBars, i: int, ts: int, prices: tuple[float, ...], row: int) -> None:
    assert int(bars.ts[i]) == ts
    got = (bars.open[i], bars.high[i], bars.low[i], bars.close[i], bars.volume[i])
    assert got == pytest.approx(prices)
    assert int(bars.row[i]) == row


# --- detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (OANDA, "oanda"),
        (HISTDATA, "histdata"),
        (METATRADER, "metatrader"),
        (DUKASCOPY, "dukascopy"),
        (DUKASCOPY_HEADER, "dukascopy"),
        (GENERIC, "csv"),
        ("<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\n2023.01.02\t17:00\t1\t2\t1\t2\n", "csv"),
        ("Time;O;H;L;C\n2023-01-02 17:00;1;2;1;2\n", "csv"),
    ],
)
def test_detect_format(tmp_path: Path, text: str, expected: str) -> None:
    assert detect_format(write(tmp_path, text)) == expected


@pytest.mark.parametrize(
    "text",
    ["2023-01-02 17:00:00,1,2,1,2\n", '{"instrument": "EUR_USD"}\n', "hello\n"],
)
def test_detect_format_fails_with_the_allowed_formats(tmp_path: Path, text: str) -> None:
    with pytest.raises(BarsError, match="cannot detect the format; use --format one of oanda"):
        detect_format(write(tmp_path, text))


# --- each format ------------------------------------------------------------------------


def test_oanda_mid_prices_and_incomplete_candle_skipped(tmp_path: Path) -> None:
    text = oanda_text(
        candle("2016-10-17T15:16:40.000000000Z"),
        candle("2016-10-17T15:17:40.000000000Z", complete=False),
        candle("2016-10-17T15:18:40.500000000Z"),
    )
    bars = read_bars(write(tmp_path, text, "candles.json"))
    assert len(bars) == 2
    assert_bar(bars, 0, ns(2016, 10, 17, 15, 16, 40), (1.1, 1.3, 1.0, 1.2, 12), row=1)
    assert_bar(bars, 1, ns(2016, 10, 17, 15, 18, 40, 500_000), (1.1, 1.3, 1.0, 1.2, 12), row=3)


def test_oanda_long_minified_response(tmp_path: Path) -> None:
    stamps = [f"2023-01-02T{17 + m // 60:02d}:{m % 60:02d}:00.000000000Z" for m in range(300)]
    path = write(tmp_path, oanda_text(*(candle(t) for t in stamps)))
    assert path.stat().st_size > 16384 and "\n" not in path.read_text()
    assert detect_format(path) == "oanda"
    bars = read_bars(path)
    assert int(bars.ts[-1]) == ns(2023, 1, 2, 21, 59)
    assert bars.row.tolist() == list(range(1, 301))


def test_oanda_unix_time_and_bid_ask_mean(tmp_path: Path) -> None:
    bid = {"o": "1.0", "h": "1.2", "l": "0.9", "c": "1.1"}
    ask = {"o": "1.2", "h": "1.4", "l": "1.1", "c": "1.3"}
    text = oanda_text(candle("1476717400.000000000", bid=bid, ask=ask))
    bars = read_bars(write(tmp_path, text), "oanda")
    assert_bar(bars, 0, ns(2016, 10, 17, 15, 16, 40), (1.1, 1.3, 1.0, 1.2, 12), row=1)


@pytest.mark.parametrize(
    "text",
    [oanda_text(candle("x", complete=False)), '{"candles": 3}', "{not json", ""],
)
def test_oanda_without_complete_candles_is_an_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(BarsError):
        read_bars(write(tmp_path, text), "oanda")


@pytest.mark.parametrize(
    ("text", "fmt", "ts", "volume", "row"),
    [
        (HISTDATA, "histdata", ns(2023, 1, 2, 22, 0), 0.0, 1),
        (METATRADER, "metatrader", ns(2023, 1, 2, 17, 0), 57.0, 1),
        (DUKASCOPY, "dukascopy", ns(2023, 1, 2, 17, 0), 57.3, 1),
        (DUKASCOPY_HEADER, "dukascopy", ns(2023, 1, 2, 17, 0), 57.3, 2),
        (GENERIC, "csv", ns(2023, 1, 2, 17, 0), 57.0, 2),
    ],
)
def test_text_formats(
    tmp_path: Path, text: str, fmt: str, ts: int, volume: float, row: int
) -> None:
    path = write(tmp_path, text + "\n\n")  # empty trailing lines are ignored
    for bars in (read_bars(path), read_bars(path, fmt)):
        assert len(bars) == 1
        assert_bar(bars, 0, ts, (142.123, 142.130, 142.100, 142.120, volume), row)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("20230102 170000", ns(2023, 1, 2, 22, 0)),  # EST (UTC-5) in winter
        ("20230703 120000", ns(2023, 7, 3, 17, 0)),  # still UTC-5 in summer: no DST
    ],
)
def test_histdata_is_fixed_est(tmp_path: Path, stamp: str, expected: int) -> None:
    bars = read_bars(write(tmp_path, f"{stamp};1.1;1.3;1.0;1.2;0\n"), "histdata")
    assert int(bars.ts[0]) == expected


def test_multiple_rows_keep_order_and_line_numbers(tmp_path: Path) -> None:
    lines = "".join(f"2023.01.02,17:{m:02d},1.1,1.3,1.0,1.2,{m}\n" for m in range(5))
    bars = read_bars(write(tmp_path, lines))
    assert bars.ts.tolist() == [ns(2023, 1, 2, 17, m) for m in range(5)]
    assert bars.volume.tolist() == [0, 1, 2, 3, 4]
    assert bars.row.tolist() == [1, 2, 3, 4, 5]


# --- generic CSV ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2023-01-02 17:00:00", ns(2023, 1, 2, 17, 0)),
        ("2023-01-02T17:00:00Z", ns(2023, 1, 2, 17, 0)),
        ("2023-01-02 17:00", ns(2023, 1, 2, 17, 0)),
        ("2023-01-02T19:00:00+02:00", ns(2023, 1, 2, 17, 0)),
        ("2023-01-02T12:00:00.250-05:00", ns(2023, 1, 2, 17, 0, 0, 250_000)),
        ("2023-01-02 17:00:00.123456", ns(2023, 1, 2, 17, 0, 0, 123_456)),
        ("1672678800", ns(2023, 1, 2, 17, 0)),
        ("1672678800000", ns(2023, 1, 2, 17, 0)),
        ("1672678800.5", ns(2023, 1, 2, 17, 0, 0, 500_000)),
        ("2023.01.02 17:00", ns(2023, 1, 2, 17, 0)),
        ("2023.01.02 17:00:30", ns(2023, 1, 2, 17, 0, 30)),
        ("02.01.2023 17:00:00.250", ns(2023, 1, 2, 17, 0, 0, 250_000)),
        ("02.01.2023 19:00:00.000 GMT+0200", ns(2023, 1, 2, 17, 0)),
        ("20230102 170000", ns(2023, 1, 2, 17, 0)),
        ("01/02/2023 17:00", ns(2023, 1, 2, 17, 0)),
        ("2023-01-02", ns(2023, 1, 2)),
    ],
)
def test_csv_timestamp_layouts(tmp_path: Path, stamp: str, expected: int) -> None:
    text = f"time,o,h,l,c\n{stamp},1.1,1.3,1.0,1.2\n{stamp},1.1,1.3,1.0,1.2\n"
    bars = read_bars(write(tmp_path, text), "csv")
    assert bars.ts.tolist() == [expected, expected]


def test_csv_mixed_layouts_fall_back_per_group(tmp_path: Path) -> None:
    text = "ts,o,h,l,c\n2023-01-02 17:00:00,1,2,1,2\n2023.01.02 17:01,1,2,1,2\n1672678920,1,2,1,2\n"
    bars = read_bars(write(tmp_path, text), "csv")
    assert bars.ts.tolist() == [ns(2023, 1, 2, 17, m) for m in range(3)]


def test_csv_date_and_time_columns_tab_delimited(tmp_path: Path) -> None:
    text = (
        "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
        "2023.01.02\t17:00:00\t1.1\t1.3\t1.0\t1.2\t57\t0\t3\n"
    )
    bars = read_bars(write(tmp_path, text))
    assert_bar(bars, 0, ns(2023, 1, 2, 17, 0), (1.1, 1.3, 1.0, 1.2, 57), row=2)


def test_csv_semicolon_named_columns_in_any_order_without_volume(tmp_path: Path) -> None:
    text = "Close Price;Open Price;High;Low;Date_Time\n1.2;1.1;1.3;1.0;2023-01-02 17:00\n"
    bars = read_bars(write(tmp_path, text))
    assert_bar(bars, 0, ns(2023, 1, 2, 17, 0), (1.1, 1.3, 1.0, 1.2, 0.0), row=2)


def test_dukascopy_local_time_export_is_read_as_csv_with_offsets(tmp_path: Path) -> None:
    text = (
        "Local time,Open,High,Low,Close,Volume\n"
        "02.01.2023 19:00:00.000 GMT+0200,1.1,1.3,1.0,1.2,5\n"
    )
    path = write(tmp_path, text)
    assert detect_format(path) == "csv"
    assert_bar(read_bars(path), 0, ns(2023, 1, 2, 17, 0), (1.1, 1.3, 1.0, 1.2, 5), row=2)


def test_utf16_tab_export(tmp_path: Path) -> None:
    text = (
        "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\n"
        "2023.01.02\t17:00\t1.1\t1.3\t1.0\t1.2\t7\n"
    )
    path = tmp_path / "mt5.csv"
    path.write_bytes(text.encode("utf-16"))
    assert_bar(read_bars(path), 0, ns(2023, 1, 2, 17, 0), (1.1, 1.3, 1.0, 1.2, 7), row=2)


def test_csv_timestamp_defaults_to_the_first_column(tmp_path: Path) -> None:
    text = "when,open,high,low,close,tick_volume\n2023-01-02 17:00,1.1,1.3,1.0,1.2,9\n"
    bars = read_bars(write(tmp_path, text))
    assert_bar(bars, 0, ns(2023, 1, 2, 17, 0), (1.1, 1.3, 1.0, 1.2, 9), row=2)


def test_csv_missing_close_names_the_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "ts,open,high,low\n2023-01-02 17:00,1.1,1.3,1.0\n")
    with pytest.raises(BarsError) as info:
        read_bars(path, "csv")
    message = str(info.value)
    assert str(path) in message
    assert "missing column(s) close" in message
    assert "columns found: ts, open, high, low" in message
    assert "required: a timestamp column and open, high, low, close" in message


def test_bad_timestamps_name_every_row(tmp_path: Path) -> None:
    text = (
        "ts,o,h,l,c\n"
        "2023-01-02 17:00:00,1,2,1,2\n"
        "xyz,1,2,1,2\n"
        "2023-01-02 17:02:00,1,2,1,2\n"
        "2023-13-45 17:03:00,1,2,1,2\n"
    )
    with pytest.raises(BarsError) as info:
        read_bars(write(tmp_path, text), "csv")
    assert info.value.rows == [3, 5]
    assert "cannot parse timestamp 'xyz' (expected e.g. 2023-01-02 17:00:00)" in str(info.value)


def test_histdata_bad_timestamp_row(tmp_path: Path) -> None:
    text = HISTDATA + "2023-01-02 17:01;1;2;1;2;0\n"
    with pytest.raises(BarsError, match=r"row 2: cannot parse timestamp") as info:
        read_bars(write(tmp_path, text), "histdata")
    assert info.value.rows == [2]


def test_non_numeric_price_is_nan_at_its_row(tmp_path: Path) -> None:
    text = "ts,o,h,l,c,v\n2023-01-02 17:00,1,2,1,2,5\n\n2023-01-02 17:01,1,abc,1,2,6\n"
    bars = read_bars(write(tmp_path, text))
    assert bars.row.tolist() == [2, 4]  # the empty line 3 is skipped but counted
    assert bars.high[0] == 2.0
    assert math.isnan(bars.high[1])
    assert bars.volume.tolist() == [5.0, 6.0]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_blank_lines_are_skipped_but_counted(tmp_path: Path, newline: str) -> None:
    lines = ["ts,o,h,l,c", "2023-01-02 17:00,1,2,1,2", "  \t", "", "2023-01-02 17:01,1,2,1,2", " "]
    path = tmp_path / "blank.csv"
    path.write_bytes((newline.join(lines) + newline + newline).encode())
    bars = read_bars(path)
    assert bars.row.tolist() == [2, 5]
    assert bars.ts.tolist() == [ns(2023, 1, 2, 17, 0), ns(2023, 1, 2, 17, 1)]


def test_wrong_field_count_names_the_row(tmp_path: Path) -> None:
    text = METATRADER + "2023.01.02,17:01,1,2\n" + METATRADER
    with pytest.raises(BarsError) as info:
        read_bars(write(tmp_path, text), "metatrader")
    assert info.value.rows == [2]


def test_utf8_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeff" + GENERIC).replace("\n", "\r\n").encode("utf-8"))
    bars = read_bars(path)
    assert_bar(bars, 0, ns(2023, 1, 2, 17, 0), (142.123, 142.130, 142.100, 142.120, 57), row=2)


@pytest.mark.parametrize(
    ("text", "fmt", "reason"),
    [
        ("", None, "the file is empty"),
        ("\n\n", "csv", "the file is empty"),
        ("ts,open,high,low,close\n", "csv", "no data rows"),
        ("Gmt time,Open,High,Low,Close,Volume\n\n", "dukascopy", "no data rows"),
    ],
)
def test_empty_files(tmp_path: Path, text: str, fmt: str | None, reason: str) -> None:
    with pytest.raises(BarsError, match=reason):
        read_bars(write(tmp_path, text), fmt)


def test_unknown_format_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'parquet'.*oanda, csv, histdata, metatrader"):
        read_bars(write(tmp_path, GENERIC), "parquet")


def test_formats_tuple() -> None:
    assert FORMATS == ("oanda", "csv", "histdata", "metatrader", "dukascopy")


def test_arrays_are_typed(tmp_path: Path) -> None:
    bars = read_bars(write(tmp_path, GENERIC))
    assert bars.ts.dtype == np.int64 and bars.row.dtype == np.int64
    assert bars.open.dtype == np.float64 and bars.volume.dtype == np.float64
