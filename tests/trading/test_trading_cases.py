"""Hand-computed SPEC §4 cases on tiny series whose prices are known (pip = 0.01)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from fxconsole.trading.env import TradingEnv
from fxconsole.trading.market_data import MarketData

# tests/ has no __init__.py: pytest (default "prepend" import mode) puts this folder on sys.path.
from hand_market import HAND_START, config, hand_data  # isort: skip

HOLD, BUY, SELL, CLOSE = 0, 1, 2, 3
S = HAND_START


def make_env(data: MarketData, session_bars: int = 10, **env: Any) -> TradingEnv:
    env.setdefault("gating", False)
    return TradingEnv(data=data, config=config(session_bars, **env))


def play(env: TradingEnv, actions: list[int]) -> list[tuple[Any, float, bool, dict[str, Any]]]:
    env.reset(options={"start_index": S})
    out = []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        assert truncated is False
        out.append((obs, float(reward), terminated, info))
    return out


def position(obs: np.ndarray) -> np.ndarray:
    return obs[7:13]


def test_long_trade() -> None:
    env = make_env(hand_data([150.00, 150.10, 150.05]))
    steps = play(env, [BUY, HOLD, CLOSE])
    rewards = [r for _, r, _, _ in steps]
    # BUY +1; HOLD in a trade 0; CLOSE at 150.05: 5 − 4 = 1 pip, max_dd = 6 − 1 = 5.
    assert rewards == pytest.approx([1.0, 0.0, 1.0 - 0.01 * 5.0])
    trade = steps[2][3]["trade"]
    assert trade["side"] == "long" and trade["forced"] is False
    assert trade["entry_price"] == 150.00 and trade["exit_price"] == 150.05
    assert trade["pips"] == pytest.approx(1.0) and trade["max_dd"] == pytest.approx(5.0)
    assert trade["bars_held"] == 2
    assert (trade["entry_ts"], trade["exit_ts"]) == ("2021-01-04T09:31:00Z", "2021-01-04T09:33:00Z")
    assert [info["position"] for _, _, _, info in steps] == [1, 1, 0]
    assert "trade" not in steps[0][3] and "trade" not in steps[1][3]
    np.testing.assert_array_equal(position(steps[2][0]), np.zeros(6, np.float32))


def test_short_trade() -> None:
    env = make_env(hand_data([150.00, 149.80, 150.10]))
    steps = play(env, [SELL, HOLD, CLOSE])
    # Short at 150.00: +20 − 4 = 16 at 149.80, then −10 − 4 = −14 at 150.10; max_dd = 30.
    assert [r for _, r, _, _ in steps] == pytest.approx([1.0, 0.0, -14.0 - 0.01 * 30.0])
    trade = steps[2][3]["trade"]
    assert trade["side"] == "short"
    assert trade["pips"] == pytest.approx(-14.0) and trade["max_dd"] == pytest.approx(30.0)
    assert steps[0][3]["position"] == -1
    assert position(steps[0][0])[0] == -1.0
    assert position(steps[0][0])[1] == pytest.approx(math.tanh(16 / 100), abs=1e-7)


def test_hold_while_flat_and_invalid_actions() -> None:
    env = make_env(hand_data([150.00, 150.02, 150.04, 150.06]))
    steps = play(env, [HOLD, CLOSE, BUY, BUY, SELL, HOLD])
    rewards = [r for _, r, _, _ in steps]
    # HOLD flat −0.05; CLOSE flat invalid → −0.05; BUY +1; BUY, SELL while long invalid → 0.
    assert rewards == pytest.approx([-0.05, -0.05, 1.0, 0.0, 0.0, 0.0])
    assert [i["invalid_actions"] for _, _, _, i in steps] == [0, 1, 1, 2, 3, 3]
    assert [i["gated"] for _, _, _, i in steps] == [0] * 6
    assert [i["entry_attempts"] for _, _, _, i in steps] == [0, 0, 1, 1, 1, 1]
    assert [i["position"] for _, _, _, i in steps] == [0, 0, 1, 1, 1, 1]


def test_gating_blocks_entry_below_threshold() -> None:
    sigma = np.full(60, 3.0)
    sigma[S] = 1.0  # below the gate at the first bar only
    env = make_env(hand_data([150.0] * 5, sigma20=sigma, n=60), gating=True, gate_sigma_pips=2.0)
    assert env.gate_sigma_pips == 2.0
    steps = play(env, [BUY, SELL, HOLD])
    assert [r for _, r, _, _ in steps] == pytest.approx([-0.05, 1.0, 0.0])
    assert [i["gated"] for _, _, _, i in steps] == [1, 1, 1]
    assert [i["invalid_actions"] for _, _, _, i in steps] == [0, 0, 0]
    assert [i["entry_attempts"] for _, _, _, i in steps] == [1, 2, 2]
    assert [i["position"] for _, _, _, i in steps] == [0, -1, -1]


def test_gating_off_lets_the_same_entry_through() -> None:
    sigma = np.full(60, 3.0)
    sigma[S] = 1.0
    env = make_env(hand_data([150.0] * 5, sigma20=sigma, n=60), gating=False, gate_sigma_pips=2.0)
    assert env.gate_sigma_pips == 0.0
    steps = play(env, [BUY])
    assert steps[0][1] == 1.0 and steps[0][3]["gated"] == 0 and steps[0][3]["position"] == 1


def test_buy_at_the_last_step_is_forced_closed() -> None:
    data = hand_data([150.0] * 360, n=400)
    env = make_env(data, session_bars=360)
    steps = play(env, [HOLD] * 359 + [BUY])
    obs, reward, terminated, info = steps[-1]
    assert reward == pytest.approx(1.0 - 4.0) and terminated
    assert not any(t for _, _, t, _ in steps[:-1])
    trade = info["trade"]
    assert trade["forced"] is True and trade["bars_held"] == 0 and trade["pips"] == -4.0
    assert info["position"] == 0 and info["entry_attempts"] == 1
    # The final observation is that of bar s + 359 with flat position features.
    np.testing.assert_array_equal(position(obs), np.zeros(6, np.float32))
    np.testing.assert_allclose(obs[:5], data.features[S + 359, :5].astype(np.float32))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(HOLD)


def test_trade_held_to_the_end_is_forced_closed_with_summed_rewards() -> None:
    # Long at 150.00 (step 7); closes rise 1 pip a bar; session of 10 bars ends at bar s + 9.
    closes = [150.00] * 8 + [150.01, 150.02]
    env = make_env(hand_data(closes))
    steps = play(env, [HOLD] * 7 + [BUY, HOLD, CLOSE])
    # CLOSE at the last step is an ordinary close: 2 − 4 = −2 pips, max_dd 0.
    assert steps[-1][1] == pytest.approx(-2.0) and steps[-1][3]["trade"]["forced"] is False
    steps = play(env, [HOLD] * 7 + [BUY, HOLD, HOLD])
    assert steps[-1][1] == pytest.approx(-2.0) and steps[-1][3]["trade"]["forced"] is True
    assert steps[-1][2] is True


def test_drawdown_features_over_a_known_path() -> None:
    env = make_env(hand_data([150.00, 150.10, 150.00, 150.20, 150.05]))
    steps = play(env, [BUY, HOLD, HOLD, HOLD])
    # Unrealised at bars s+1..s+4: 6, −4, 16, 1; peak 6, 6, 16, 16.
    unrealised = [6.0, -4.0, 16.0, 1.0]
    dd = [0.0, 10.0, 0.0, 15.0]
    max_dd = [0.0, 10.0, 10.0, 15.0]
    area = [0.0, 10.0, 10.0, 25.0]
    for k, (obs, _, _, _) in enumerate(steps):
        want = [1.0, math.tanh(unrealised[k] / 100), math.tanh((k + 1) / 100),
                math.tanh(dd[k] / 100), math.tanh(max_dd[k] / 100), math.tanh(area[k] / 100)]
        np.testing.assert_allclose(position(obs), np.asarray(want, np.float32), atol=1e-7)
    _, reward, _, info = play(env, [BUY, HOLD, HOLD, HOLD, CLOSE])[-1]
    assert info["trade"]["max_dd"] == pytest.approx(15.0)
    assert reward == pytest.approx(1.0 - 0.15)


def test_reset_observation_is_the_start_bar_flat() -> None:
    data = hand_data([150.0] * 12)
    env = make_env(data)
    obs, info = env.reset(options={"start_index": S})
    cols = [0, 1, 2, 3, 4, 9, 10]
    np.testing.assert_array_equal(obs[:7], data.features[S, cols].astype(np.float32))
    np.testing.assert_array_equal(obs[7:13], np.zeros(6, np.float32))
    np.testing.assert_array_equal(obs[13:], data.features[S, 5:9].astype(np.float32))
    assert info == {"session_start_ts": "2021-01-04T09:31:00Z", "session_start_index": S,
                    "invalid_actions": 0, "gated": 0, "entry_attempts": 0, "position": 0}
    obs, *_ = env.step(HOLD)
    np.testing.assert_array_equal(obs[:7], data.features[S + 1, cols].astype(np.float32))


def test_muzero_observation_window() -> None:
    data = hand_data([150.0, 150.3, 150.3])
    env = TradingEnv(data=data, config=config(10, gating=False), observation="muzero")
    obs, _ = env.reset(options={"start_index": S})
    np.testing.assert_array_equal(obs["temporal"], data.features[0:S + 1, :9].astype(np.float32))
    obs, *_ = env.step(BUY)
    np.testing.assert_array_equal(obs["temporal"], data.features[1:S + 2, :9].astype(np.float32))
    assert obs["static"][0] == 1.0
    assert obs["static"][1] == pytest.approx(math.tanh(26 / 100), abs=1e-7)
