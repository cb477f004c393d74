"""Candle downloads: page planning (pure) and ``fxconsole data download`` on the fake server."""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fake_v20 import FakeV20, parse_time  # isort: skip

from fxconsole.brokers.oanda import OandaBroker
from fxconsole.cli import main
from fxconsole.market.download import (
    DownloadState,
    format_utc,
    merge_pages,
    parse_utc,
    plan_windows,
    rows_to_raw,
    staging_paths,
)
from fxconsole.market.fxcalendar import is_weekend
from fxconsole.market.store import MarketStore

NS = 1_000_000_000
MIN = 60 * NS
MONDAY = parse_utc("2024-01-08")
CONFIG = """[oanda]
connect_timeout = 1.0
read_timeout = 3.0
retries = 1
backoff_seconds = 0.01
backoff_cap_seconds = 0.02
"""


# --- pure planning --------------------------------------------------------------------

@pytest.mark.parametrize("start_offset", [0, 17 * NS, 59 * NS + 1])
@pytest.mark.parametrize("page", [1, 7, 500, 5000])
def test_windows_cover_the_range_without_gaps(start_offset: int, page: int) -> None:
    start, end = MONDAY + start_offset, MONDAY + 3 * 1440 * MIN + 5 * NS
    windows = plan_windows(start, end, "M1", page)
    assert windows[0][0] == start and windows[-1][1] == end
    assert all(a < b for a, b in windows)
    assert all(w1[1] == w2[0] for w1, w2 in pairwise(windows))
    assert all((b - a) <= page * MIN for a, b in windows)
    assert len(windows) == -(-(end - (start // MIN) * MIN) // (page * MIN))


def test_window_limits() -> None:
    with pytest.raises(ValueError, match=r"1\.\.5000"):
        plan_windows(0, MIN, "M1", 5001)
    assert plan_windows(MIN, MIN, "M1") == []
    assert plan_windows(0, 3 * 5000 * 3600 * NS, "H1") == [
        (i * 5000 * 3600 * NS, (i + 1) * 5000 * 3600 * NS) for i in range(3)]


def test_merge_dedupes_boundaries_and_keeps_the_range() -> None:
    def row(m: int) -> tuple[int, float, float, float, float, float]:
        return (MONDAY + m * MIN, 1.0, 2.0, 0.5, 1.5, float(m))

    pages = [[row(0), row(1), row(2)], [row(2), row(3)], [row(3), row(4), row(5)]]
    merged = merge_pages(pages, MONDAY + MIN, MONDAY + 5 * MIN)
    assert [r[0] for r in merged] == [MONDAY + m * MIN for m in (1, 2, 3, 4)]
    raw = rows_to_raw(merged, "test")
    assert len(raw) == 4 and list(raw.row) == [1, 2, 3, 4] and raw.volume[0] == 1.0


def test_state_round_trip_and_errors() -> None:
    state = DownloadState.new("GBPJPY", "M1", MONDAY, MONDAY + 1440 * MIN)
    state = state.advance(MONDAY + 500 * MIN, [(MONDAY + 499 * MIN, 1, 1, 1, 1, 1)])
    state = state.advance(MONDAY + 1000 * MIN, [])
    assert state.cursor_ns == MONDAY + 1000 * MIN and state.pages == 2
    assert state.last_complete_ns == MONDAY + 499 * MIN and not state.done
    data = state.to_json()
    assert DownloadState.from_json(data, "s.json") == state
    assert json.loads(data)["readable"]["cursor"] == "2024-01-08T16:40:00Z"
    doc = json.loads(data)
    doc["cursor_ns"] = "soon"
    with pytest.raises(ValueError, match="s.json: key 'cursor_ns' must be an integer"):
        DownloadState.from_json(json.dumps(doc).encode(), "s.json")
    with pytest.raises(ValueError, match="s.json: not valid JSON"):
        DownloadState.from_json(b"{", "s.json")


def test_parse_utc() -> None:
    assert parse_utc("2024-01-08") == MONDAY
    assert parse_utc("2024-01-08", end=True) == MONDAY + 1440 * MIN
    assert parse_utc("2024-01-08T01:00", end=True) == MONDAY + 60 * MIN
    assert parse_utc("2024-01-08T02:00:00+01:00") == MONDAY + 60 * MIN
    assert parse_utc("2024-01-08T00:00:00Z") == MONDAY
    assert format_utc(MONDAY) == "2024-01-08T00:00:00Z"
    with pytest.raises(ValueError, match="'08/01/2024' is not an ISO date"):
        parse_utc("08/01/2024")


# --- the CLI --------------------------------------------------------------------------

@pytest.fixture
def oanda_env(fake_v20: FakeV20, monkeypatch: pytest.MonkeyPatch) -> FakeV20:
    """The CLI's environment pointed at the fake server."""
    monkeypatch.setenv("OANDA_TOKEN", fake_v20.token)
    monkeypatch.setenv("OANDA_ACCOUNT", fake_v20.account)
    monkeypatch.setenv("OANDA_API_URL", fake_v20.api_url)
    monkeypatch.setenv("OANDA_STREAM_URL", fake_v20.stream_url)
    monkeypatch.delenv("FXCONSOLE_WORKSPACE", raising=False)
    return fake_v20


def workspace(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "fxconsole.toml").write_text(CONFIG)
    return root


def download(ws: Path, *args: str) -> int:
    return main(["--workspace", str(ws), "data", "download", "--symbol", "GBPJPY", *args])


def stored(ws: Path, timeframe: str = "M1") -> tuple[np.ndarray, ...]:
    with MarketStore(ws / "data" / "market.duckdb", read_only=True) as store:
        bars = store.load_bars("GBPJPY", timeframe)
        assert bars is not None
        assert store.feature_set("GBPJPY", timeframe) is not None  # features were rebuilt
        return bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume


def trading_minutes(start: int, end: int) -> np.ndarray:
    ts = np.arange(start, end, MIN, dtype=np.int64)
    return ts[~is_weekend(ts)]


def windows_requested(fake: FakeV20) -> list[tuple[int, int]]:
    return [(parse_time(r.query["from"]), parse_time(r.query["to"]))
            for r in fake.received("candles") if r.query.get("from")]


def _interrupt_at(call: int) -> Callable[..., object]:
    """OandaBroker.fetch_candles that raises KeyboardInterrupt (Ctrl-C) at call ``call``."""
    real = OandaBroker.fetch_candles
    calls = [0]

    def flaky(self: OandaBroker, *args: Any, **kwargs: Any) -> object:
        calls[0] += 1
        if calls[0] == call:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    return flaky


RANGE = ("--from", "2024-01-08", "--to", "2024-01-10")  # Mon..Wed: 4320 M1 candles


@pytest.mark.parametrize("interrupt", ["server-500", "ctrl-c"])
def test_interrupted_download_resumes_to_the_same_result(
        oanda_env: FakeV20, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, interrupt: str) -> None:
    fake = oanda_env
    whole = workspace(tmp_path / "whole")
    assert download(whole, *RANGE, "--page-size", "500") == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps
    assert "downloaded 4,320 GBP_JPY M1 candles in 9 request(s)" in out
    expected = stored(whole)
    assert np.array_equal(expected[0], trading_minutes(MONDAY, MONDAY + 3 * 1440 * MIN))
    assert not (whole / "data" / "downloads").exists()  # staging removed
    first_run = windows_requested(fake)

    ws = workspace(tmp_path / "resumed")
    with monkeypatch.context() as patch:
        if interrupt == "server-500":
            fake.script("candles", None, None, None, 500, 500)  # page 4 fails, retried once
        else:
            patch.setattr(OandaBroker, "fetch_candles", _interrupt_at(4))
        code = download(ws, *RANGE, "--page-size", "500")
    err = capsys.readouterr().err
    if interrupt == "server-500":
        assert code == 1 and "download stopped" in err and "HTTP 500" in err
        assert "run the same command again to resume" in err
    else:
        assert code == 130
    assert not (ws / "data" / "market.duckdb").exists()  # nothing half-written in the store
    state_file, pages_dir = staging_paths(ws / "data" / "downloads", "GBPJPY", "M1")
    state = DownloadState.from_json(state_file.read_bytes(), str(state_file))
    assert state.pages == 3 and state.cursor_ns == MONDAY + 1500 * MIN
    assert len(list(pages_dir.glob("*.json"))) == 3

    fake.clear_scripts()
    before = len(windows_requested(fake))
    assert download(ws, *RANGE, "--page-size", "500") == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps
    assert "resumed at 2024-01-09T01:00:00Z" in out and "in 6 request(s)" in out
    resumed = windows_requested(fake)[before:]
    assert resumed == first_run[3:]  # only the missing windows were fetched
    for a, b in zip(expected, stored(ws), strict=True):
        assert np.array_equal(a, b)  # no duplicates, no gaps, same bars


def test_real_page_limit(oanda_env: FakeV20, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    ws = workspace(tmp_path / "ws")
    assert download(ws, "--from", "2024-01-08", "--to", "2024-01-17") == 0
    windows = windows_requested(oanda_env)
    assert len(windows) == 3  # 14,400 minutes in pages of 5000
    assert all(b - a <= 5000 * MIN for a, b in windows)
    ts = stored(ws)[0]
    assert np.array_equal(ts, trading_minutes(MONDAY, MONDAY + 10 * 1440 * MIN))
    assert "downloaded 11,520" in " ".join(capsys.readouterr().out.split())


def test_download_merges_into_an_existing_series(oanda_env: FakeV20, tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    assert download(ws, "--from", "2024-01-09", "--to", "2024-01-09") == 0
    assert download(ws, "--from", "2024-01-08", "--to", "2024-01-10") == 0
    assert np.array_equal(stored(ws)[0], trading_minutes(MONDAY, MONDAY + 3 * 1440 * MIN))


def test_h1_granularity(oanda_env: FakeV20, tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    assert download(ws, "--from", "2023-06-01", "--to", "2023-12-31",
                    "--granularity", "H1") == 0
    assert len(stored(ws, "H1")[0]) > 3000


def test_pending_download_with_another_start_needs_restart(
        oanda_env: FakeV20, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = workspace(tmp_path / "ws")
    oanda_env.script("candles", None, 503, 503)  # one page staged, then a failure
    assert download(ws, *RANGE, "--page-size", "1000") == 1
    oanda_env.clear_scripts()
    capsys.readouterr()
    assert download(ws, "--from", "2024-01-09", "--to", "2024-01-10") == 1
    err = capsys.readouterr().err
    assert "GBPJPY-M1.json: an interrupted download of GBPJPY M1 from 2024-01-08" in err
    assert "--restart" in err
    assert download(ws, "--from", "2024-01-09", "--to", "2024-01-10", "--restart") == 0
    assert stored(ws)[0][0] == MONDAY + 1440 * MIN


@pytest.mark.parametrize(("args", "env", "message"), [
    (("--from", "yesterday"), {}, "--from/--to: date 'yesterday' is not an ISO date"),
    (("--from", "2024-01-10", "--to", "2024-01-09"), {},
     "--from 2024-01-10 is not before --to 2024-01-09"),
    (RANGE, {"OANDA_TOKEN": ""}, "OANDA_TOKEN not set"),
    (RANGE, {"OANDA_TOKEN": "wrong-token-abcdef"}, "HTTP 401"),
    (("--from", "2024-01-06", "--to", "2024-01-06"), {}, "no complete GBP_JPY M1 candles"),
    ((*RANGE, "--symbol", "GBP"), {}, "--symbol: symbol 'GBP' is not a currency pair"),
])
def test_errors_are_one_clear_line(oanda_env: FakeV20, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...],
                                   env: dict[str, str], message: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ws = workspace(tmp_path / "ws")
    usage = message.startswith("--")  # a bad option value is a usage error: exit 2
    assert download(ws, *args) == (2 if usage else 1)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert message in err and err.startswith("fxconsole: error:") and "\n" not in err
    assert "Traceback" not in err
    for secret in (oanda_env.token, oanda_env.account):
        assert secret not in captured.err + captured.out
    assert not (ws / "data" / "market.duckdb").exists()


def test_credentials_from_dotenv(oanda_env: FakeV20, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ws = workspace(tmp_path / "ws")
    (ws / ".env").write_text(f"OANDA_TOKEN={oanda_env.token}\n"
                             f"OANDA_ACCOUNT=\"{oanda_env.account}\"\n")
    monkeypatch.delenv("OANDA_TOKEN")
    monkeypatch.delenv("OANDA_ACCOUNT")
    assert download(ws, "--from", "2024-01-09", "--to", "2024-01-09") == 0
