"""SPEC §6 backtests: session choice, and the lockstep batch equal to one env per session."""

from __future__ import annotations

import numpy as np
import pytest

from fxconsole.config import Config
from fxconsole.evaluation.backtest import (
    backtest_starts,
    flat_policy,
    random_policy,
    run_backtest,
)
from fxconsole.market.synth import synth_bars
from fxconsole.trading.env import TradingEnv
from fxconsole.trading.market_data import MarketData

CFG = Config()


@pytest.fixture(scope="module")
def data() -> MarketData:
    return MarketData.from_bars(synth_bars(years=0.1, seed=4), CFG.data)


def reference_starts(valid: list[int], length: int) -> list[int]:
    out: list[int] = []
    for s in sorted(valid):
        if not out or s >= out[-1] + length:
            out.append(s)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_backtest_sessions_do_not_overlap(seed: int) -> None:
    rng = np.random.default_rng(seed)
    valid = np.unique(rng.integers(0, 20_000, size=3_000))
    got = backtest_starts(valid, 360)
    assert got.tolist() == reference_starts(valid.tolist(), 360)
    assert (np.diff(got) >= 360).all()


def choose(obs: np.ndarray) -> np.ndarray:
    """Deterministic in the observation, so both paths choose the same actions."""
    return (np.floor(obs[:, 0] * 7 + obs[:, 4] * 3 + obs[:, 7] * 5).astype(np.int64)) % 4


class ObsPolicy:
    """:func:`choose` as a Policy (PPO observations; the legal actions are not imposed)."""

    observation_kind = "ppo"

    def __call__(self, obs: np.ndarray, legal: np.ndarray) -> np.ndarray:
        assert legal.shape == (obs.shape[0], 4)
        return choose(obs)


def play_one_by_one(data: MarketData, split: str) -> list[dict]:
    trades = []
    starts = backtest_starts(data.split_starts(split), CFG.data.session_bars)
    for start in starts:
        env = TradingEnv(split=split, data=data, config=CFG)
        obs, _ = env.reset(options={"start_index": int(start)})
        done = False
        while not done:
            obs, _, done, _, info = env.step(int(choose(obs[None, :])[0]))
            if "trade" in info:
                trades.append({**info["trade"], "session_start_index": int(start)})
    return sorted(trades, key=lambda t: (t["exit_index"], t["session_start_index"]))


@pytest.mark.parametrize("split", ["validation", "test"])
def test_batch_equals_one_env_per_session(data: MarketData, split: str) -> None:
    result = run_backtest(ObsPolicy(), data, split, CFG)
    assert result.trades == play_one_by_one(data, split)
    assert len(result.trades) > 20
    assert result.sessions == len(backtest_starts(data.split_starts(split), 360))


def test_baselines(data: MarketData) -> None:
    flat = run_backtest(flat_policy(), data, "validation", CFG)
    assert flat.trades == [] and flat.gated == 0 and flat.invalid_actions == 0
    rand = run_backtest(random_policy(1), data, "validation", CFG)
    assert len(rand.trades) > flat.sessions  # a random policy trades a lot
    assert rand.gated > 0 and rand.invalid_actions > 0
    again = run_backtest(random_policy(1), data, "validation", CFG)
    assert again.trades == rand.trades
