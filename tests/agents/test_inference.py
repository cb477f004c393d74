"""The torch-free actor equals stable-baselines3's deterministic predictions."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from fxconsole.agents.ppo.inference import ACTOR_MEMBER, NumpyActor, actor_extras
from fxconsole.config import Config
from fxconsole.market.synth import synth_bars
from fxconsole.trading.env import TradingEnv
from fxconsole.trading.market_data import MarketData


@pytest.fixture(scope="module")
def env() -> TradingEnv:
    torch.set_num_threads(1)
    data = MarketData.from_bars(synth_bars(years=0.05, seed=2), Config().data)
    return TradingEnv(data=data, config=Config())


@pytest.mark.parametrize("arch", [[16], [32, 32]])
@pytest.mark.parametrize("activation", [torch.nn.Tanh, torch.nn.ReLU])
def test_numpy_actor_matches_sb3(env: TradingEnv, arch: list[int], activation: type) -> None:
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, seed=1, device="cpu",
                policy_kwargs={"net_arch": {"pi": arch, "vf": [8]}, "activation_fn": activation})
    with torch.no_grad():  # an untrained head has near-equal logits: spread them
        model.policy.action_net.weight.mul_(100.0)
    buffer = io.BytesIO()
    model.save(buffer)
    with zipfile.ZipFile(buffer, "a") as archive:
        for name, data in actor_extras(model).items():
            archive.writestr(name, data)
        assert ACTOR_MEMBER in archive.namelist()
    actor = NumpyActor.from_zip(buffer.getvalue())
    assert actor is not None
    obs = np.random.default_rng(0).uniform(-1, 1, size=(5000, 17)).astype(np.float32)
    with torch.no_grad():  # torch's Categorical stores log-softmax of the logits
        probs = model.policy.get_distribution(torch.as_tensor(obs)).distribution.probs.numpy()
    mine = actor.logits(obs)
    mine = np.exp(mine - mine.max(axis=1, keepdims=True))
    np.testing.assert_allclose(mine / mine.sum(axis=1, keepdims=True), probs, atol=1e-5)
    ours = actor(obs)
    theirs, _ = model.predict(obs, deterministic=True)
    top2 = np.sort(actor.logits(obs), axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 1e-4  # ignore float-rounding ties
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(ours[clear], np.asarray(theirs)[clear])
    # SB3 still loads a zip that carries the extra member.
    buffer.seek(0)
    again = PPO.load(buffer, device="cpu")
    np.testing.assert_array_equal(again.predict(obs[:50], deterministic=True)[0], theirs[:50])


def test_zip_without_actor() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data", "{}")
    assert NumpyActor.from_zip(buffer.getvalue()) is None
