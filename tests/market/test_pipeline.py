"""The data pipeline end to end on a small store: import, merge, atomicity, rebuilds, export."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fxconsole.config import DataConfig
from fxconsole.market.bars import Bars, BarsError
from fxconsole.market.features import FEATURE_NAMES
from fxconsole.market.pipeline import compute_series, import_file
from fxconsole.market.store import MarketStore, export_series, export_sessions
from fxconsole.market.synth import synth_bars

CFG = DataConfig()


@pytest.fixture(scope="module")
def bars() -> Bars:
    return synth_bars(years=0.06, seed=11)


def write_csv(bars: Bars, path: Path, rows: slice = slice(None)) -> Path:
    ts = pd.to_datetime(bars.ts[rows], unit="ns").strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame({"timestamp": ts, "open": bars.open[rows], "high": bars.high[rows],
                  "low": bars.low[rows], "close": bars.close[rows],
                  "volume": bars.volume[rows]}).to_csv(path, index=False)
    return path


def snapshot(store: MarketStore) -> tuple[object, ...]:
    loaded = store.load_bars("GBPJPY", "M1")
    fs = store.feature_set("GBPJPY", "M1")
    return (None if loaded is None else loaded.close.tobytes(), fs,
            store.session_counts("GBPJPY", "M1"))


def test_import_stores_bars_features_and_sessions(tmp_path: Path, bars: Bars) -> None:
    csv = write_csv(bars, tmp_path / "bars.csv")
    with MarketStore(tmp_path / "m.duckdb") as store:
        summary = import_file(store, csv, "GBPJPY", "M1", CFG)
        assert summary.rows_stored == len(bars) == summary.clean.rows_read
        assert summary.build.recomputed
        stored = store.load_bars("GBPJPY", "M1")
        assert stored is not None
        np.testing.assert_array_equal(stored.ts, bars.ts)
        np.testing.assert_array_equal(stored.close, bars.close)
        table = store.load_features("GBPJPY", "M1")
        want, sessions = compute_series(bars, CFG)
        np.testing.assert_array_equal(table.values, want.values)
        np.testing.assert_array_equal(table.outcome, want.outcome)
        np.testing.assert_array_equal(table.ts, bars.ts)
        for split in ("train", "validation", "test"):
            np.testing.assert_array_equal(store.load_sessions("GBPJPY", "M1", split),
                                          sessions[split])
            assert len(sessions[split]) > 0
        assert summary.build.sessions["train"] > summary.build.sessions["validation"]


def test_reimport_merges_and_skips_recompute(tmp_path: Path, bars: Bars) -> None:
    half = len(bars) // 2
    first = write_csv(bars, tmp_path / "a.csv", slice(0, half + 100))
    second = write_csv(bars, tmp_path / "b.csv", slice(half, None))
    with MarketStore(tmp_path / "m.duckdb") as store:
        import_file(store, first, "GBPJPY", "M1", CFG)
        summary = import_file(store, second, "GBPJPY", "M1", CFG)
        assert summary.rows_stored == len(bars)
        assert summary.new_rows == len(bars) - half - 100
        again = import_file(store, second, "GBPJPY", "M1", CFG)
        assert again.new_rows == 0 and not again.build.recomputed


def test_failed_imports_leave_the_store_as_it_was(tmp_path: Path, bars: Bars) -> None:
    good = write_csv(bars, tmp_path / "good.csv")
    with MarketStore(tmp_path / "m.duckdb") as store:
        import_file(store, good, "GBPJPY", "M1", CFG)
        before = snapshot(store)

        bad = write_csv(bars, tmp_path / "bad.csv", slice(0, 500))
        lines = bad.read_text().splitlines()
        lines[10] = lines[10].rsplit(",", 5)[0] + ",1,0.5,2,1,3"  # high < max(open, close)
        bad.write_text("\n".join(lines) + "\n")
        with pytest.raises(BarsError, match="bad.csv: row 11"):
            import_file(store, bad, "GBPJPY", "M1", CFG)
        assert snapshot(store) == before

        changed = replace(bars, close=bars.close + 0.001, high=bars.high + 0.001)
        conflict = write_csv(changed, tmp_path / "conflict.csv", slice(100, 200))
        with pytest.raises(BarsError, match="different values.*--replace"):
            import_file(store, conflict, "GBPJPY", "M1", CFG)
        assert snapshot(store) == before


def test_a_crash_while_storing_features_rolls_back(
    tmp_path: Path, bars: Bars, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MarketStore(tmp_path / "m.duckdb") as store:
        import_file(store, write_csv(bars, tmp_path / "a.csv", slice(0, 5000)), "GBPJPY", "M1",
                    CFG)
        before = snapshot(store)

        def boom(*args: object) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(MarketStore, "write_features", boom)
        with pytest.raises(OSError, match="disk full"):
            import_file(store, write_csv(bars, tmp_path / "b.csv"), "GBPJPY", "M1", CFG)
        assert snapshot(store) == before


def test_replace_and_config_change_rebuild(tmp_path: Path, bars: Bars) -> None:
    csv = write_csv(bars, tmp_path / "a.csv")
    with MarketStore(tmp_path / "m.duckdb") as store:
        import_file(store, csv, "GBPJPY", "M1", CFG)
        same = import_file(store, csv, "GBPJPY", "M1", CFG, replace=True)
        assert not same.build.recomputed
        other = import_file(store, csv, "GBPJPY", "M1", replace_cfg(mm_window=500), replace=True)
        assert other.build.recomputed
        fs = store.feature_set("GBPJPY", "M1")
        assert fs is not None and fs.params["mm_window"] == 500


def replace_cfg(**kw: object) -> DataConfig:
    return replace(CFG, **kw)  # type: ignore[arg-type]


def test_export_csv_and_parquet(tmp_path: Path, bars: Bars) -> None:
    small = Bars(bars.symbol, bars.timeframe, bars.ts[:3000], bars.open[:3000],
                 bars.high[:3000], bars.low[:3000], bars.close[:3000], bars.volume[:3000])
    with MarketStore(tmp_path / "m.duckdb") as store:
        import_file(store, write_csv(small, tmp_path / "a.csv"), "GBPJPY", "M1", CFG)
        n = export_series(store, "GBPJPY", "M1", tmp_path / "out.csv")
        m = export_series(store, "GBPJPY", "M1", tmp_path / "out.parquet")
        k = export_sessions(store, "GBPJPY", "M1", "train", tmp_path / "s.csv")
        with pytest.raises(ValueError, match="unsupported suffix '.txt'"):
            export_series(store, "GBPJPY", "M1", tmp_path / "out.txt")
    assert n == m == 3000
    df = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert list(df.columns) == ["ts", "open", "high", "low", "close", "volume",
                                *FEATURE_NAMES, "outcome"]
    assert df["ts"].iloc[0] == pd.Timestamp(int(small.ts[0])).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert df["outcome"].iloc[-1] == ""  # undefined on the last row: an empty cell
    assert df[FEATURE_NAMES[1]].iloc[0] == ""  # undefined before row 1499
    assert df[FEATURE_NAMES[1]].iloc[1499] != ""
    parquet = pd.read_parquet(tmp_path / "out.parquet")
    np.testing.assert_allclose(parquet["close"].to_numpy(), small.close)
    sessions = pd.read_csv(tmp_path / "s.csv")
    assert list(sessions.columns) == ["start_ts", "start_index"] and len(sessions) == k
    assert not (tmp_path / ".out.csv.tmp").exists()
