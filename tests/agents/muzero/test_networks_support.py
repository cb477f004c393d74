"""Supports (two-hot round trip) and the networks: shapes, normalisation, and the bar
encoding of a whole session equal to each bar's own window."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fxconsole.agents.muzero.model import InferenceModel
from fxconsole.agents.muzero.networks import WINDOW, MuZeroNet
from fxconsole.agents.muzero.support import (
    ATOMS,
    expected,
    expected_torch,
    two_hot,
    two_hot_torch,
)
from fxconsole.trading.market_data import MarketData


def test_two_hot_round_trip_and_clipping() -> None:
    values = np.array([-300.0, -299.5, -3.25, 0.0, 0.4, 17.0, 299.99, 300.0])
    dist = two_hot(values)
    assert dist.shape == (values.size, ATOMS)
    np.testing.assert_allclose(dist.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(expected(dist), values, atol=1e-4)
    for row in dist:  # at most two neighbouring atoms
        nz = np.flatnonzero(row)
        assert len(nz) <= 2 and (len(nz) < 2 or nz[1] == nz[0] + 1)
    np.testing.assert_allclose(expected(two_hot(np.array([-1e6, 451.0]))), [-300.0, 300.0])
    np.testing.assert_allclose(two_hot_torch(torch.tensor(values)).numpy(), dist, atol=1e-6)


def test_expected_torch_of_a_two_hot_is_its_value() -> None:
    values = np.array([-12.5, 0.0, 3.75])
    logits = torch.log(torch.tensor(two_hot(values)).clamp_min(1e-12))
    np.testing.assert_allclose(expected_torch(logits).numpy(), values, atol=1e-3)


def test_network_shapes_and_normalised_states(small_net: MuZeroNet) -> None:
    net = MuZeroNet().eval()  # the seed's sizes
    temporal, static = torch.randn(5, WINDOW, 9), torch.rand(5, 6)
    with torch.no_grad():
        state = net.representation(temporal, static)
        logits, value = net.prediction(state)
        after = net.afterstate_dynamics(state, torch.tensor([0, 1, 2, 3, 0]))
        sigma, q = net.afterstate_prediction(after)
        nxt, reward = net.dynamics(after, torch.tensor([0, 1, 2, 1, 0]))
    assert state.shape == (5, 256) and after.shape == (5, 256) and nxt.shape == (5, 256)
    assert logits.shape == (5, 4) and sigma.shape == (5, 3)
    assert value.shape == q.shape == reward.shape == (5, ATOMS)
    for s in (state, after, nxt):
        np.testing.assert_allclose(s.min(dim=1).values.numpy(), 0.0, atol=1e-6)
        np.testing.assert_allclose(s.max(dim=1).values.numpy(), 1.0, atol=1e-5)


def test_session_encoding_equals_each_windows_encoding(small_net: MuZeroNet,
                                                       mz_data: MarketData) -> None:
    net = small_net.eval()
    table = mz_data.table
    start = int(mz_data.split_starts("train")[3])
    length = 40
    bars = torch.from_numpy(table[start - WINDOW + 1:start + length, :9].astype(np.float32))
    with torch.no_grad():
        seq = net.encode_bars(bars)[WINDOW - 1:]
        windows = torch.stack([bars[i:i + WINDOW] for i in range(length)])
        full = net.representation.bars(windows)[:, -1]
        last = net.representation.last(windows)
    np.testing.assert_allclose(seq.numpy(), full.numpy(), atol=1e-5)
    np.testing.assert_allclose(last.numpy(), full.numpy(), atol=1e-5)
    model = InferenceModel(net)
    model.encode_sessions(table, np.array([start]), length)
    rows = np.arange(start, start + length)
    cached = model.encoded(rows)
    assert cached is not None
    np.testing.assert_allclose(cached, model.encode_windows(windows.numpy()), atol=1e-5)
    assert model.encoded(np.array([start + length])) is None  # beyond the encoded session
    net.train()
    with pytest.raises(RuntimeError, match="eval mode"):
        net.encode_bars(bars)
