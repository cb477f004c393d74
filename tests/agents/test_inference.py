"""The torch-free actor equals stable-baselines3's deterministic predictions."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from fxconsole.agents.ppo.agent import PPOAgent
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


def random_legal(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 4) legal-action rows of SPEC §4: flat (HOLD, BUY, SELL) or in a trade (HOLD, CLOSE)."""
    flat = rng.random(n) < 0.5
    return np.stack([np.ones(n, bool), flat, flat, ~flat], axis=1)


def saved_zip(model: MaskablePPO) -> bytes:
    buffer = io.BytesIO()
    model.save(buffer)
    with zipfile.ZipFile(buffer, "a") as archive:
        for name, data in actor_extras(model).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_numpy_actor_with_masks_matches_maskable_ppo(env: TradingEnv) -> None:
    """MaskablePPO's policy exports like PPO's; masked logits pick what SB3's masked
    predict picks, and never an illegal action."""
    model = MaskablePPO("MlpPolicy", env, n_steps=64, batch_size=64, seed=3, device="cpu",
                        policy_kwargs={"net_arch": {"pi": [32, 32], "vf": [8]}})
    with torch.no_grad():
        model.policy.action_net.weight.mul_(100.0)
    actor = NumpyActor.from_zip(saved_zip(model))
    assert actor is not None
    rng = np.random.default_rng(4)
    obs = rng.uniform(-1, 1, size=(5000, 17)).astype(np.float32)
    legal = random_legal(len(obs), rng)
    ours = actor(obs, legal)
    theirs = np.stack([model.predict(o, deterministic=True, action_masks=m)[0]
                       for o, m in zip(obs[:500], legal[:500], strict=True)])
    logits = np.where(legal, actor.logits(obs), -np.inf)
    top2 = np.sort(logits, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 1e-4
    assert clear[:500].mean() > 0.99
    np.testing.assert_array_equal(ours[:500][clear[:500]], theirs[clear[:500]])
    assert legal[np.arange(len(obs)), ours].all()
    unmasked = actor(obs)
    assert (~legal[np.arange(len(obs)), unmasked]).any()  # the mask changed some choices


@pytest.mark.parametrize("with_actor", [True, False])
def test_a_masked_checkpoint_plays_masked_through_the_agent(
    env: TradingEnv, with_actor: bool
) -> None:
    """The agent reads ``ppo.mask_actions`` from the manifest: a MaskablePPO checkpoint
    plays only legal actions, via the exported actor or (without it) sb3-contrib."""
    model = MaskablePPO("MlpPolicy", env, n_steps=64, batch_size=64, seed=5, device="cpu",
                        policy_kwargs={"net_arch": {"pi": [16], "vf": [8]}})
    with torch.no_grad():
        model.policy.action_net.weight.mul_(100.0)
    if with_actor:
        data = saved_zip(model)
    else:
        buffer = io.BytesIO()
        model.save(buffer)
        data = buffer.getvalue()
    manifest = type("M", (), {"config": {"ppo": {"mask_actions": True}}})()
    policy = PPOAgent().load_policy(manifest, data)
    rng = np.random.default_rng(6)
    obs = rng.uniform(-1, 1, size=(400, 17)).astype(np.float32)
    legal = random_legal(len(obs), rng)
    actions = policy(obs, legal)
    assert legal[np.arange(len(obs)), actions].all()
    with torch.no_grad():
        want = np.stack([model.predict(o, deterministic=True, action_masks=m)[0]
                         for o, m in zip(obs, legal, strict=True)])
    assert (actions == want).mean() > 0.99
    unmasked = type("M", (), {"config": {"ppo": {"mask_actions": False}}})()
    plain = PPOAgent().load_policy(unmasked, saved_zip(model))
    assert (~legal[np.arange(len(obs)), plain(obs, legal)]).any()


def test_zip_without_actor() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data", "{}")
    assert NumpyActor.from_zip(buffer.getvalue()) is None
