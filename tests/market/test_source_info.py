"""The record of where a series' bars came from (the console's "synthetic data")."""

from __future__ import annotations

from pathlib import Path

from fxconsole.market.source_info import is_synthetic, read_sources, record_source, sources_path


def test_a_series_stays_synthetic_while_synthetic_bars_remain(tmp_path: Path) -> None:
    store = tmp_path / "market.duckdb"
    assert not is_synthetic(store, "GBPJPY", "M1") and read_sources(store) == {}
    record_source(store, "GBPJPY", "M1", "synth(seed=7, years=1, signal=1.0)", replaced=True)
    assert is_synthetic(store, "GBPJPY", "M1")
    record_source(store, "GBPJPY", "M1", "/data/real.csv", replaced=False)  # merged in
    assert is_synthetic(store, "GBPJPY", "M1")
    record_source(store, "GBPJPY", "M1", "/data/real.csv", replaced=True)
    assert not is_synthetic(store, "GBPJPY", "M1")
    assert read_sources(store)["GBPJPY/M1"]["source"] == "/data/real.csv"
    sources_path(store).write_text("{not json")
    assert read_sources(store) == {}  # unreadable: unknown, logged
