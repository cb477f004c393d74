"""The numba-driven env equals the plain-Python SPEC §4 reference on random play."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import pytest

from fxconsole.config import Config, with_overrides
from fxconsole.timeutil import iso_utc
from fxconsole.trading.env import TradingEnv
from fxconsole.trading.market_data import MarketData

# tests/ has no __init__.py: pytest (default "prepend" import mode) puts this folder on sys.path.
from reference_env import ReferenceEnv  # isort: skip

TOL = 1e-9
SESSIONS = 10
# Action mixes: mostly HOLD (long trades, deep drawdowns), uniform (many invalid actions).
MIXES = ((0.85, 0.05, 0.05, 0.05), (0.25, 0.25, 0.25, 0.25))


def make_pair(data: MarketData, observation: str, gating: bool,
              reward: str = "amddp1") -> tuple[TradingEnv, ReferenceEnv]:
    cfg = with_overrides(Config(), "env", gating=gating, reward=reward)
    env = TradingEnv(split="train", observation=observation, data=data, config=cfg)
    ref = ReferenceEnv(data.close.tolist(), data.sigma20.tolist(), data.features.tolist(),
                       data.pip, gate=env.gate_sigma_pips if gating else None, reward=reward)
    return env, ref


def check_obs(obs: Any, ref: ReferenceEnv, observation: str) -> None:
    if observation == "ppo":
        want = np.asarray(ref.ppo_observation(), dtype=np.float32)
        assert obs.dtype == np.float32 and obs.shape == (17,)
        np.testing.assert_allclose(obs, want, rtol=0, atol=TOL)
        return
    temporal, static = ref.muzero_observation()
    np.testing.assert_allclose(obs["temporal"], np.asarray(temporal, np.float32), rtol=0, atol=TOL)
    np.testing.assert_allclose(obs["static"], np.asarray(static, np.float32), rtol=0, atol=TOL)


def check_trade(got: dict[str, Any], want: dict[str, Any], data: MarketData) -> None:
    for key in ("side", "entry_index", "exit_index", "bars_held", "forced"):
        assert got[key] == want[key], key
    for key in ("entry_price", "exit_price", "pips", "max_dd"):
        assert got[key] == pytest.approx(want[key], abs=TOL), key
    assert got["entry_ts"] == iso_utc(int(data.ts[want["entry_index"]]))
    assert got["exit_ts"] == iso_utc(int(data.ts[want["exit_index"]]))


def play_session(env: TradingEnv, ref: ReferenceEnv, start: int, actions: np.ndarray,
                 observation: str) -> dict[str, int]:
    obs, info = env.reset(options={"start_index": start})
    ref.reset(start)
    check_obs(obs, ref, observation)
    trades = 0
    for k, action in enumerate(actions):
        obs, reward, terminated, truncated, info = env.step(int(action))
        want_reward, want_done, want_trade = ref.step(int(action))
        assert reward == pytest.approx(want_reward, abs=TOL), (start, k)
        assert (terminated, truncated) == (want_done, False)
        check_obs(obs, ref, observation)
        for key, value in ref.counts.items():
            assert info[key] == value, key
        assert info["position"] == (0 if ref.trade is None else ref.trade.side)
        assert ("trade" in info) == (want_trade is not None)
        if want_trade is not None:
            check_trade(info["trade"], want_trade, env.data)
            trades += 1
        if terminated:
            assert k == len(actions) - 1
    return {**ref.counts, "trades": trades}


@pytest.mark.parametrize(("observation", "reward"),
                         [("ppo", "amddp1"), ("muzero", "amddp1"), ("ppo", "mtm")])
@pytest.mark.parametrize("gating", [True, False])
def test_env_equals_reference(synth_data: MarketData, observation: str, gating: bool,
                              reward: str) -> None:
    env, ref = make_pair(synth_data, observation, gating, reward)
    rng = np.random.default_rng([observation == "ppo", gating])
    totals = {"invalid_actions": 0, "gated": 0, "entry_attempts": 0, "trades": 0}
    starts = rng.choice(env.starts, SESSIONS, replace=False)
    # Include the first and last valid start of the split.
    starts[:2] = env.starts[0], env.starts[-1]
    for i, start in enumerate(starts):
        actions = rng.choice(4, size=env.session_bars, p=MIXES[i % len(MIXES)])
        counts = play_session(env, ref, int(start), actions, observation)
        for key in totals:
            totals[key] += counts[key]
    # The random play exercised every rule.
    assert totals["trades"] > 50 and totals["invalid_actions"] > 50
    assert (totals["gated"] > 20) == gating


def test_forced_close_of_a_held_trade_matches_reference(synth_data: MarketData) -> None:
    env, ref = make_pair(synth_data, "ppo", gating=False)
    start = int(env.starts[len(env.starts) // 2])
    actions = np.zeros(env.session_bars, dtype=np.int64)
    actions[3] = 2  # SELL, held to the end
    counts = play_session(env, ref, start, actions, "ppo")
    assert counts["trades"] == 1


def test_mtm_rewards_of_a_trade_add_up_to_its_pips(synth_data: MarketData) -> None:
    """SPEC §4 mtm: no entry bonus, no idle penalty; a trade's step rewards sum to its pips
    (the forced close of a BUY at the last step included)."""
    env, _ = make_pair(synth_data, "ppo", gating=False, reward="mtm")
    rng = np.random.default_rng(11)
    checked = 0
    for start in rng.choice(env.starts, 6, replace=False):
        env.reset(options={"start_index": int(start)})
        actions = rng.choice(4, size=env.session_bars, p=MIXES[0])
        actions[-1] = 1  # an entry at the last step: opened and force-closed at once
        running = 0.0
        for action in actions:
            _, reward, _, _, info = env.step(int(action))
            if info["position"] == 0 and "trade" not in info:
                assert reward == 0.0  # flat: nothing, whatever the action
            running += float(reward)
            if "trade" in info:
                assert running == pytest.approx(info["trade"]["pips"], abs=1e-9)
                running, checked = 0.0, checked + 1
    assert checked > 20


def reference_legal(ref: ReferenceEnv) -> list[bool]:
    """Which actions the reference counts as valid now: each tried on a copy."""
    legal = []
    for action in range(4):
        trial = dataclasses.replace(ref, trade=copy.copy(ref.trade), counts=dict(ref.counts))
        trial.step(action)
        legal.append(trial.counts["invalid_actions"] == ref.counts["invalid_actions"])
    return legal


@pytest.mark.parametrize("gating", [True, False])
def test_the_mask_equals_the_reference_legality_in_every_state(
    synth_data: MarketData, gating: bool
) -> None:
    """SPEC §4: ``action_masks()`` marks exactly the actions the env would not count as
    invalid (a gated entry is legal: gating is not part of the mask)."""
    env, ref = make_pair(synth_data, "ppo", gating)
    rng = np.random.default_rng([7, gating])
    seen = set()
    for start in rng.choice(env.starts, 4, replace=False):
        env.reset(options={"start_index": int(start)})
        ref.reset(int(start))
        for action in rng.choice(4, size=env.session_bars, p=MIXES[1]):
            mask = env.action_masks()
            assert mask.dtype == np.bool_ and mask.shape == (4,)
            assert mask.tolist() == reference_legal(ref)
            seen.add(tuple(mask.tolist()))
            env.step(int(action))
            ref.step(int(action))
    assert seen == {(True, True, True, False), (True, False, False, True)}
