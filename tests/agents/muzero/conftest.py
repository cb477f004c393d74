"""Shared fixtures of the MuZero tests: small market data, small networks, episodes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from fxconsole.agents.muzero.model import InferenceModel
from fxconsole.agents.muzero.networks import MuZeroNet, NetworkShape
from fxconsole.agents.muzero.selfplay import Episode, SelfPlayer
from fxconsole.config import Config, with_overrides
from fxconsole.market.synth import synth_bars
from fxconsole.trading.market_data import MarketData

SMALL = NetworkShape(channels=16, static_hidden=4)


@pytest.fixture(scope="session")
def mz_data() -> MarketData:
    return MarketData.from_bars(synth_bars(years=0.1, seed=4, signal=3.0), Config().data)


@pytest.fixture(scope="session")
def mz_cfg() -> Config:
    return with_overrides(Config(), "muzero", envs=4, batch_size=16)


@pytest.fixture
def small_net() -> MuZeroNet:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return MuZeroNet(SMALL)


@pytest.fixture(scope="session")
def played(mz_data: MarketData, mz_cfg: Config) -> list[Episode]:
    """Four self-play episodes of an untrained small network."""
    torch.manual_seed(1)
    net = MuZeroNet(SMALL)
    player = SelfPlayer(InferenceModel(copy.deepcopy(net)), mz_data, mz_cfg,
                        np.random.default_rng(0))
    return player.play(0, n=4)
