"""Shared fixture of the trading tests: a small synthetic series."""

from __future__ import annotations

import pytest

from fxconsole.config import Config
from fxconsole.market.synth import synth_bars
from fxconsole.trading.market_data import MarketData


@pytest.fixture(scope="session")
def synth_data() -> MarketData:
    """About 37k M1 bars with sessions in every split."""
    return MarketData.from_bars(synth_bars(years=0.1, seed=21), Config().data)
