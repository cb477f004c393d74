"""Value targets against a plain-Python loop, the replay's trade quota, success memory
and unroll masks, acting rules, and the learner's losses falling on a fixed batch."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from fxconsole.agents.muzero.learner import Learner, scale_gradient
from fxconsole.agents.muzero.networks import WINDOW, MuZeroNet
from fxconsole.agents.muzero.replay import ReplayBuffer, value_targets
from fxconsole.agents.muzero.selfplay import NEUTRAL, Episode, choose_actions, temperature
from fxconsole.config import Config, with_overrides
from fxconsole.trading.market_data import MarketData


def reference_targets(rewards: list[float], values: list[float], n: int, g: float) -> list[float]:
    out = []
    for t in range(len(rewards)):
        z = sum(g ** i * rewards[t + i] for i in range(n) if t + i < len(rewards))
        if t + n < len(rewards):
            z += g ** n * values[t + n]
        out.append(z)
    return out


def test_value_targets_match_the_n_step_return() -> None:
    rng = np.random.default_rng(3)
    for length, n in ((12, 5), (3, 5), (7, 1)):
        r = rng.normal(size=length).astype(np.float32)
        v = rng.normal(size=length).astype(np.float32)
        np.testing.assert_allclose(value_targets(r, v, n, 0.997),
                                   reference_targets(r.tolist(), v.tolist(), n, 0.997),
                                   rtol=1e-5, atol=1e-5)


def episode(length: int, in_trade: list[int], start_row: int = 100,
            rewards: list[float] | None = None, chance: list[int] | None = None) -> Episode:
    static = np.zeros((length, 6), np.float32)
    static[in_trade, 0] = 1.0
    policy = np.full((length, 4), 0.25, np.float32)
    return Episode(
        start_row, np.arange(start_row, start_row + length, dtype=np.int64), static,
        (np.arange(length) % 4).astype(np.int8),
        np.asarray(rewards if rewards is not None else np.arange(length), np.float32),
        policy, np.zeros(length, np.float32),
        np.asarray(chance if chance is not None else np.zeros(length), np.int8))


def test_the_buffer_keeps_its_trade_quota_and_evicts_oldest_first() -> None:
    cfg = with_overrides(Config(), "muzero", replay_capacity=400, trade_quota=0.3).muzero
    buf = ReplayBuffer(cfg)
    buf.add(episode(360, list(range(0, 360, 2))))  # half in a trade
    for _ in range(3):
        buf.add(episode(360, [5]))  # nearly all flat
    assert len(buf) == 400
    assert buf.in_trade_share() >= 0.3
    plain = ReplayBuffer(with_overrides(Config(), "muzero", replay_capacity=400,
                                        trade_quota=0.0).muzero)
    for k in range(3):
        plain.add(episode(360, [], start_row=1000 * (k + 1), rewards=[0.0] * 360))
    assert len(plain) == 400 and plain.stored_episodes() == 2  # the oldest is gone


def test_success_memory_holds_the_last_big_rewards() -> None:
    cfg = with_overrides(Config(), "muzero", success_capacity=3, success_pips=5.0).muzero
    buf = ReplayBuffer(cfg)
    buf.add(episode(10, [], rewards=[0, 6, 0, 9, 5, 0, 0, 7, 8, 0]))
    assert buf.success_size == 3
    assert [t for _, t in buf._success] == [3, 7, 8]


def test_unrolled_targets_are_masked_past_the_episode_end(mz_data: MarketData) -> None:
    cfg = with_overrides(Config(), "muzero", unroll=5, success_fraction=0.0).muzero
    buf = ReplayBuffer(cfg)
    start = int(mz_data.split_starts("train")[0])
    ep = episode(8, [6, 7], start_row=start, chance=[0, 1, 2, 0, 1, -1, 2, -1])
    buf.add(ep)
    batch = buf._unroll(np.array([0]), np.array([5]), mz_data.table)
    np.testing.assert_array_equal(batch.step_mask[0], [True, True, True, False, False, False])
    np.testing.assert_array_equal(batch.actions[0], [1, 2, 3, 0, 0])
    np.testing.assert_array_equal(batch.rewards[0], [5, 6, 7, 0, 0])
    np.testing.assert_array_equal(batch.chance[0], [NEUTRAL, 2, NEUTRAL, NEUTRAL, NEUTRAL])
    np.testing.assert_array_equal(batch.chance_mask[0], [False, True, False, False, False])
    targets = value_targets(ep.rewards, ep.values, cfg.td_steps, cfg.discount)
    np.testing.assert_allclose(batch.values[0, :3], targets[5:8])
    assert batch.static[0, 0] == 0.0
    np.testing.assert_array_equal(
        batch.temporal[0], mz_data.table[start + 5 - WINDOW + 1:start + 6, :9].astype(np.float32))


def test_choose_actions_only_picks_legal_actions() -> None:
    rng = np.random.default_rng(0)
    legal = np.array([[True, True, True, False], [True, False, False, True]] * 50)
    visits = rng.integers(0, 6, size=legal.shape)
    for eps in (0.0, 0.2, 1.0):
        acts = choose_actions(visits, legal, 1.0, eps, rng)
        assert legal[np.arange(len(acts)), acts].all()
    visits = np.array([[1, 7, 2, 0], [2, 0, 0, 3]] * 50)
    greedy = choose_actions(visits, legal, 0.02, 0.0, rng)
    np.testing.assert_array_equal(greedy, [1, 3] * 50)


def test_temperature_decays_linearly_then_stays() -> None:
    cfg = Config().muzero
    assert temperature(cfg, 0) == cfg.temperature_start
    mid = temperature(cfg, cfg.temperature_episodes // 2)
    assert mid == pytest.approx((cfg.temperature_start + cfg.temperature_end) / 2)
    assert temperature(cfg, 10 * cfg.temperature_episodes) == cfg.temperature_end


def test_self_play_episodes_follow_the_rules(played: list[Episode], mz_data: MarketData
                                             ) -> None:
    for ep in played:
        assert len(ep) == 360
        in_trade = ep.in_trade
        flat_moves = ep.policy[~in_trade][:, 3]
        trade_moves = ep.policy[in_trade][:, 1:3]
        assert not flat_moves.any() and not trade_moves.any()  # visits of legal actions only
        np.testing.assert_allclose(ep.policy.sum(axis=1), 1.0, atol=1e-6)
        np.testing.assert_array_equal(ep.chance, mz_data.outcome()[ep.rows])
        np.testing.assert_array_equal(ep.rows, np.arange(ep.start, ep.start + 360))
        # mark-to-market rewards add up to the closed trades' pips
        assert float(ep.rewards.sum()) == pytest.approx(ep.pips(), abs=1e-3)


def test_scale_gradient_halves_the_gradient() -> None:
    x = torch.tensor([2.0, -1.0], requires_grad=True)
    y = scale_gradient(x, 0.5)
    assert torch.equal(y, x)
    (3 * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.5, 1.5])


def test_the_losses_fall_on_a_fixed_batch(played: list[Episode], mz_data: MarketData,
                                          small_net: MuZeroNet) -> None:
    cfg = with_overrides(Config(), "muzero", learning_rate=0.003).muzero
    buf = ReplayBuffer(cfg)
    for ep in played:
        buf.add(ep)
    batch = buf.sample(32, np.random.default_rng(5), mz_data.table)
    learner = Learner(copy.deepcopy(small_net), cfg)
    first = learner.update(batch)
    for _ in range(40):
        last = learner.update(batch)
    assert last.total < 0.8 * first.total
    for term in ("value", "reward", "afterstate_value"):
        assert last.terms[term] < first.terms[term]
    # targets at masked steps do not count
    masked = ~batch.step_mask
    changed = type(batch)(**{**batch.__dict__, "values": np.where(masked, 99.0, batch.values)
                             .astype(np.float32)})
    learner.net.eval()
    with torch.no_grad():
        a, _ = learner.losses(batch)
        b, _ = learner.losses(changed)
    assert float(a) == pytest.approx(float(b), rel=1e-6)
