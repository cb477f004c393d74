"""SPEC §6.1: a pin keeps a run's windows when older history arrives, and refuses changes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fxconsole.config import Config, with_overrides
from fxconsole.market.bars import Bars
from fxconsole.market.synth import synth_bars
from fxconsole.trading.market_data import MarketData
from fxconsole.trading.pinning import (
    Pin,
    PinError,
    make_pin,
    pin_differences,
    pinned_config,
    pinned_data,
)

CFG = Config()


def part(bars: Bars, lo: int, hi: int) -> Bars:
    cols = ("ts", "open", "high", "low", "close", "volume")
    return Bars(bars.symbol, bars.timeframe, *(getattr(bars, c)[lo:hi] for c in cols))


@pytest.fixture(scope="module")
def series() -> tuple[MarketData, MarketData, Pin]:
    """The run's data (the later 70 % of a series), the full series with the older 30 %
    imported afterwards, and the pin made on the first."""
    full = synth_bars(years=0.25, seed=21)
    cut = int(len(full) * 0.3)
    original = MarketData.from_bars(part(full, cut, len(full)), CFG.data)
    grown = MarketData.from_bars(full, CFG.data)
    return original, grown, make_pin(original, CFG)


def start_times(data: MarketData, split: str) -> set[int]:
    return {int(t) for t in data.ts[data.sessions[split]]}


def test_the_pin_round_trips_and_names_the_gate(series: tuple[MarketData, MarketData, Pin]
                                                ) -> None:
    original, _, pin = series
    assert Pin.from_dict(pin.to_dict()) == pin
    assert pin.gate_sigma_pips == pytest.approx(original.gate_threshold(0.5, 360))
    assert pin.env["gate_sigma_pips"] == pin.gate_sigma_pips
    assert pin.t0 == original.ts[0] and pin.t1 == original.ts[-1]
    assert pin.windows["train"].rows == int(np.sum(original.ts < pin.b1))


def test_older_history_moves_the_store_bounds_but_not_the_pinned_splits(
        series: tuple[MarketData, MarketData, Pin]) -> None:
    original, grown, pin = series
    replayed = pinned_data(grown, pin)
    for split in ("validation", "test"):
        assert start_times(replayed, split) == start_times(original, split), split
    # train may gain the sessions whose warm-up the older bars now provide, never older ones
    assert start_times(replayed, "train") >= start_times(original, "train")
    assert min(start_times(replayed, "train")) >= pin.t0
    # recomputed from the grown store, "validation" now starts inside the training window
    trained_on = {t for t in start_times(grown, "validation") if t < pin.b1}
    assert trained_on, "the grown store's validation split should overlap the pinned train"
    assert not {t for t in start_times(replayed, "validation") if t < pin.b1}
    last = grown.ts[replayed.sessions["validation"] + pin.session_bars - 1]
    assert np.all(last < pin.b2)


def test_the_gate_threshold_is_the_pinned_one(series: tuple[MarketData, MarketData, Pin]) -> None:
    _, grown, pin = series
    cfg = pinned_config(CFG, pin)
    assert cfg.env.gate_sigma_pips == pin.gate_sigma_pips
    assert grown.gate_threshold(0.5, 360) != pytest.approx(pin.gate_sigma_pips, abs=1e-9)


def test_changed_bars_inside_a_pinned_window_are_refused(
        series: tuple[MarketData, MarketData, Pin]) -> None:
    original, _, _ = series
    bare = dataclasses.replace(original)  # built from arrays: ts and close are hashed
    pin = make_pin(bare, CFG)
    assert pinned_data(bare, pin).session_counts() == original.session_counts()
    close = np.array(original.close)
    i = int(np.searchsorted(original.ts, pin.b1)) + 100  # a validation bar
    close[i] += 0.05
    changed = dataclasses.replace(original, close=close)
    with pytest.raises(PinError, match=r"pinned validation window .* prices differ"):
        pinned_data(changed, pin)
    fewer = MarketData(original.symbol, original.timeframe, original.pip,
                       np.delete(original.ts, 50), np.delete(original.close, 50),
                       np.delete(original.sigma20, 50), np.delete(original.features, 50, 0),
                       {})
    with pytest.raises(PinError, match=r"pinned train window .* bars when pinned"):
        pinned_data(fewer, pin)


def test_another_series_is_refused(series: tuple[MarketData, MarketData, Pin]) -> None:
    original, _, pin = series
    with pytest.raises(PinError, match="pinned to GBPJPY M1, not EURUSD M1"):
        pinned_data(dataclasses.replace(original, symbol="EURUSD"), pin)


def test_the_pinned_env_replaces_the_configured_one(
        series: tuple[MarketData, MarketData, Pin]) -> None:
    _, _, pin = series
    edited = with_overrides(CFG, "env", spread_pips=1.0, gating=False)
    edited = with_overrides(edited, "data", session_bars=240)
    played = pinned_config(edited, pin)
    assert played.env.spread_pips == 4.0 and played.env.gating is True
    assert played.data.session_bars == 360
    diffs = pin_differences(edited, pin)
    assert "env.spread_pips = 1.0 configured, 4.0 pinned" in diffs
    assert "env.gating = False configured, True pinned" in diffs
    assert "data.session_bars = 240 configured, 360 pinned" in diffs
    assert pin_differences(CFG, pin) == []  # gate_sigma_pips 0 = "calibrate": no difference


def test_a_pin_older_than_the_reward_switch_plays_the_seeds_reward(
        series: tuple[MarketData, MarketData, Pin]) -> None:
    """Runs pinned before ``env.reward`` existed trained AMDDP1, whatever the default is."""
    _, _, pin = series
    assert pin.env["reward"] == CFG.env.reward == "mtm"
    raw = pin.to_dict()
    del raw["env"]["reward"]
    old = Pin.from_dict(raw)
    assert old.env["reward"] == "amddp1"
    assert pinned_config(CFG, old).env.reward == "amddp1"
    assert "env.reward = 'mtm' configured, 'amddp1' pinned" in pin_differences(CFG, old)


def test_malformed_pins_are_refused_naming_the_source() -> None:
    with pytest.raises(PinError, match="m.json: pinned format 9"):
        Pin.from_dict({"format": 9}, "m.json")
    with pytest.raises(PinError, match="m.json: malformed pin"):
        Pin.from_dict({"format": 1, "symbol": "GBPJPY"}, "m.json")
