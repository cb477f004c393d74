"""MarketData: from bars, from the store, the per-process cache, clear errors."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import numpy as np
import pytest

from fxconsole.config import DataConfig, SynthConfig
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore
from fxconsole.market.synth import synth_bars
from fxconsole.timeutil import iso_utc
from fxconsole.trading.env import (
    ENV_ID,  # importing it registers the id
    TradingEnv,
)
from fxconsole.trading.market_data import MarketData, clear_market_data_cache, load_market_data
from fxconsole.workspace import Workspace

SYNTH = SynthConfig(years=0.06, seed=4)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("ws")).ensure()
    with MarketStore(ws.market_db) as store:
        synthesize(store, "GBPJPY", "M1", SYNTH, DataConfig())
    ws.config_file.write_text("[env]\ngate_quantile = 0.25\n", encoding="utf-8")
    return ws


def test_from_store_equals_from_bars(workspace: Workspace) -> None:
    stored = MarketData.from_store(workspace.market_db, "GBPJPY", "M1")
    bars = synth_bars(years=SYNTH.years, seed=SYNTH.seed, signal=SYNTH.signal)
    fresh = MarketData.from_bars(bars, DataConfig())
    assert (stored.symbol, stored.timeframe, stored.pip) == ("GBPJPY", "M1", 0.01)
    for name in ("ts", "close", "sigma20", "features"):
        np.testing.assert_array_equal(getattr(stored, name), getattr(fresh, name), err_msg=name)
    for split in ("train", "validation", "test"):
        np.testing.assert_array_equal(stored.sessions[split], fresh.sessions[split])
        assert len(stored.sessions[split]) > 0
    assert stored.table.flags.c_contiguous and stored.table.shape == (len(stored), 13)
    assert not stored.features.flags.writeable and not stored.close.flags.writeable


def test_load_market_data_is_cached_per_process(workspace: Workspace) -> None:
    clear_market_data_cache()
    first = load_market_data(workspace.market_db, "GBPJPY", "M1")
    assert load_market_data(str(workspace.market_db), "GBPJPY", "M1") is first
    clear_market_data_cache()
    assert load_market_data(workspace.market_db, "GBPJPY", "M1") is not first


def test_env_loads_config_and_data_from_the_workspace(workspace: Workspace) -> None:
    env = gymnasium.make(ENV_ID, symbol="GBPJPY", timeframe="M1", split="train",
                         workspace=workspace.root)
    raw = env.unwrapped
    assert isinstance(raw, TradingEnv)
    assert raw.config.env.gate_quantile == 0.25
    data = load_market_data(workspace.market_db, "GBPJPY", "M1")
    assert raw.data is data
    assert raw.gate_sigma_pips == data.gate_threshold(0.25, 360)
    _, info = env.reset(seed=0)
    assert info["session_start_index"] in set(data.sessions["train"].tolist())


def test_env_reads_the_workspace_from_the_environment(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FXCONSOLE_WORKSPACE", str(workspace.root))
    env = TradingEnv(split="validation")
    assert env.data.symbol == "GBPJPY" and env.config.env.gate_quantile == 0.25


def test_missing_store_says_how_to_make_one(tmp_path: Path) -> None:
    path = tmp_path / "data" / "market.duckdb"
    with pytest.raises(FileNotFoundError, match=r"market\.duckdb.*fxconsole data synth"):
        MarketData.from_store(path, "GBPJPY", "M1")
    with pytest.raises(FileNotFoundError, match=str(path)):
        TradingEnv(workspace=tmp_path)


def test_missing_series_names_what_is_stored(workspace: Workspace) -> None:
    with pytest.raises(LookupError, match=r"no bars stored for EURUSD M1 \(stored: GBPJPY M1\)"):
        MarketData.from_store(workspace.market_db, "EURUSD", "M1")


def test_bad_arrays_are_refused() -> None:
    ts = np.arange(10, dtype=np.int64)
    close = np.ones(10)
    features = np.zeros((10, 11))
    with pytest.raises(ValueError, match=r"features must have shape \(10, 11\)"):
        MarketData("GBPJPY", "M1", 0.01, ts, close, close, features[:, :9], {})
    with pytest.raises(ValueError, match=r"close must have shape \(10,\)"):
        MarketData("GBPJPY", "M1", 0.01, ts, close[:5], close, features, {})
    with pytest.raises(ValueError, match=r"session starts of 'train' must lie in \[0, 10\)"):
        MarketData("GBPJPY", "M1", 0.01, ts, close, close, features, {"train": np.array([3, 10])})
    with pytest.raises(ValueError, match=r"unknown split\(s\) \['dev'\]"):
        MarketData("GBPJPY", "M1", 0.01, ts, close, close, features, {"dev": np.array([3])})
    starts = {"train": np.array([5, 3, 5])}
    data = MarketData("GBPJPY", "M1", 0.01, ts, close, close, features, starts)
    assert data.sessions["train"].tolist() == [3, 5]
    assert data.session_counts() == {"train": 2, "validation": 0, "test": 0}


def test_iso_utc() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(1_609_750_800 * 10**9 + 59 * 10**9) == "2021-01-04T09:00:59Z"
    assert iso_utc(np.int64(1_609_750_800_500_000_000)) == "2021-01-04T09:00:00.500000Z"
