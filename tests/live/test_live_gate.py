"""The live entry gate: the one training used, or no trading at all."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fxconsole.config import Config, with_overrides
from fxconsole.live.gate import live_gate_sigma
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore
from fxconsole.trading.batch import gate_threshold
from fxconsole.trading.market_data import load_market_data
from fxconsole.workspace import Workspace


def test_gating_off_or_configured_needs_no_market_data(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    assert live_gate_sigma(with_overrides(Config(), "env", gating=False), ws) == -math.inf
    assert live_gate_sigma(with_overrides(Config(), "env", gate_sigma_pips=2.5), ws) == 2.5


def test_gating_on_without_a_series_to_calibrate_on_refuses_to_trade(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"entry gating is on .* env\.gate_sigma_pips"):
        live_gate_sigma(Config(), Workspace(tmp_path))


def test_gating_on_is_calibrated_like_training(tmp_path: Path) -> None:
    ws = Workspace(tmp_path).ensure()
    cfg = with_overrides(Config(), "synth", years=0.3)
    with MarketStore(ws.market_db) as store:
        synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
    data = load_market_data(ws.market_db, cfg.data.symbol, cfg.data.timeframe)
    expected = gate_threshold(cfg, data)
    assert math.isfinite(expected) and expected > 0
    assert live_gate_sigma(cfg, ws) == expected
