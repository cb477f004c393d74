"""The numba-driven env equals the plain-Python SPEC §4 reference on random play."""

from __future__ import annotations

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


def make_pair(data: MarketData, observation: str, gating: bool) -> tuple[TradingEnv, ReferenceEnv]:
    cfg = with_overrides(Config(), "env", gating=gating)
    env = TradingEnv(split="train", observation=observation, data=data, config=cfg)
    ref = ReferenceEnv(data.close.tolist(), data.sigma20.tolist(), data.features.tolist(),
                       data.pip, gate=env.gate_sigma_pips if gating else None)
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


@pytest.mark.parametrize("observation", ["ppo", "muzero"])
@pytest.mark.parametrize("gating", [True, False])
def test_env_equals_reference(synth_data: MarketData, observation: str, gating: bool) -> None:
    env, ref = make_pair(synth_data, observation, gating)
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
