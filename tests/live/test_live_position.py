"""Live observations (incremental features + position tracker) equal the environment's,
for both observation kinds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fxconsole.config import Config, with_overrides
from fxconsole.live.position import PositionTracker, muzero_observation, ppo_observation
from fxconsole.market.bars import Bars
from fxconsole.market.incremental import IncrementalFeatures
from fxconsole.market.synth import synth_bars
from fxconsole.trading.core import BUY, CLOSE, HOLD, SELL
from fxconsole.trading.env import TradingEnv
from fxconsole.trading.market_data import MarketData

WINDOW = 240


@pytest.fixture(scope="module")
def market() -> tuple[Bars, MarketData, Config]:
    cfg = with_overrides(Config(), "data", mm_window=WINDOW)
    bars = synth_bars(years=0.06, seed=21)
    return bars, MarketData.from_bars(bars, cfg.data), cfg


def play_live(bars: Bars, data: MarketData, start: int, actions: list[int], gate: float,
              session_bars: int, kind: str = "ppo") -> tuple[list[Any], list[dict[str, Any]]]:
    """The environment's session, replayed the way the live trader sees it."""
    inc = IncrementalFeatures(bars.pip, WINDOW, WINDOW + 60 + 31)
    lo = start - (WINDOW + 60 + 31)
    inc.extend(bars.ts[lo:start], bars.open[lo:start], bars.high[lo:start], bars.low[lo:start],
               bars.close[lo:start])
    tracker = PositionTracker(bars.pip, 4.0)
    observations, trades = [], []
    for k, action in enumerate(actions):
        t = start + k
        ts, close = int(bars.ts[t]), float(bars.close[t])
        row = inc.append(ts, bars.open[t], bars.high[t], bars.low[t], close)
        tracker.mark(close, ts)
        if kind == "ppo":
            observations.append(ppo_observation(row, tracker)[0])
        else:
            obs = muzero_observation(inc.features_window(32), tracker)
            observations.append({"temporal": obs.temporal[0], "static": obs.static[0]})
        if tracker.flat and action in (BUY, SELL) and not data.sigma20[t] < gate:
            tracker.open(1 if action == BUY else -1, close, ts)
        elif not tracker.flat and action == CLOSE:
            trades.append(tracker.close(ts))
        if k == session_bars - 1 and not tracker.flat:
            trades.append(tracker.close(ts, forced=True))
    return observations, trades


@pytest.mark.parametrize(("seed", "kind"), [(1, "ppo"), (2, "ppo"), (3, "ppo"),
                                            (4, "muzero"), (5, "muzero")])
def test_live_observations_equal_the_env(market: tuple[Bars, MarketData, Config],
                                         seed: int, kind: str) -> None:
    bars, data, cfg = market
    env = TradingEnv(split="train", data=data, config=cfg, observation=kind)
    rng = np.random.default_rng(seed)
    start = int(env.starts[rng.integers(len(env.starts))])
    actions = [int(a) for a in rng.choice([HOLD, BUY, SELL, CLOSE], size=env.session_bars,
                                          p=[0.88, 0.04, 0.04, 0.04])]
    obs, _ = env.reset(options={"start_index": start})
    env_obs, env_trades = [obs], []
    for action in actions:
        obs, _, done, _, info = env.step(action)
        env_obs.append(obs)
        if "trade" in info:
            env_trades.append({k: v for k, v in info["trade"].items()
                               if k not in ("entry_index", "exit_index")})
    assert done
    live_obs, live_trades = play_live(bars, data, start, actions, env.gate_sigma_pips,
                                      env.session_bars, kind)
    for k, live in enumerate(live_obs):
        if kind == "ppo":
            np.testing.assert_array_equal(live, env_obs[k], err_msg=f"step {k}")
        else:
            for part in ("temporal", "static"):
                np.testing.assert_array_equal(live[part], env_obs[k][part],
                                              err_msg=f"step {k} {part}")
    assert live_trades == env_trades
    assert len(env_trades) >= 2


def test_tracker_arithmetic_by_hand() -> None:
    tr = PositionTracker(0.01, 4.0)
    tr.open(-1, 150.00, 0)
    assert (tr.unrealised, tr.peak, tr.dd, tr.bars) == (-4.0, -4.0, 0.0, 0)
    tr.mark(149.90, 60)  # short gains 10 pips
    assert tr.unrealised == pytest.approx(6.0) and tr.peak == pytest.approx(6.0)
    tr.mark(149.95, 120)
    assert tr.dd == pytest.approx(5.0) and tr.max_dd == pytest.approx(5.0)
    assert tr.area_dd == pytest.approx(5.0) and tr.bars == 2
    features = tr.features()
    assert features[0] == -1.0 and features[2] == np.float32(np.tanh(0.02))
    trade = tr.close(180, exit_price=150.10)
    assert trade["pips"] == pytest.approx(-14.0) and trade["side"] == "short"
    assert trade["bars_held"] == 2 and tr.flat and not tr.features().any()
    with pytest.raises(ValueError):
        tr.close(240)
