"""The gymnasium surface: env checkers, registration, reset options, errors, the gate."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from fxconsole.config import Config, with_overrides
from fxconsole.timeutil import iso_utc
from fxconsole.trading.env import (
    ENV_ID,  # importing it registers the id
    TradingEnv,
    observation_spec,
)
from fxconsole.trading.market_data import MarketData

# tests/ has no __init__.py: pytest (default "prepend" import mode) puts this folder on sys.path.
from hand_market import config, hand_data  # isort: skip

CFG = Config()


@pytest.mark.parametrize(("observation", "reward"),
                         [("ppo", "amddp1"), ("muzero", "amddp1"), ("ppo", "mtm")])
def test_gymnasium_env_checker(synth_data: MarketData, observation: str, reward: str) -> None:
    cfg = with_overrides(CFG, "env", reward=reward)
    env = gymnasium.make(ENV_ID, data=synth_data, config=cfg, observation=observation,
                         render_mode="ansi").unwrapped  # with a spec: checks render modes too
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker's warnings are failures here
        gym_check_env(env)


@pytest.mark.parametrize(("observation", "reward"),
                         [("ppo", "amddp1"), ("muzero", "amddp1"), ("ppo", "mtm")])
def test_sb3_env_checker(synth_data: MarketData, observation: str, reward: str) -> None:
    env = TradingEnv(data=synth_data, config=with_overrides(CFG, "env", reward=reward),
                     observation=observation)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # SB3's MLP policies want 1-D boxes; MuZero's (32, 9) window has its own network.
        warnings.filterwarnings("ignore", message="Your observation temporal has an unconv")
        sb3_check_env(env, warn=True)


def test_spaces_and_observation_spec(synth_data: MarketData) -> None:
    env = TradingEnv(data=synth_data, config=CFG)
    assert env.action_space == gymnasium.spaces.Discrete(4)
    assert env.observation_space.shape == (17,)
    assert env.observation_space.dtype == np.float32
    spec = observation_spec("ppo")
    assert spec["shape"] == [17] and len(spec["fields"]) == 17
    assert spec["fields"][5:7] == ["volatility_20", "momentum_60_pips"]
    assert spec["fields"][7] == "position_side" and spec["fields"][13] == "dow_cos_final"
    muzero = TradingEnv(data=synth_data, config=CFG, observation="muzero")
    assert isinstance(muzero.observation_space, gymnasium.spaces.Dict)
    assert muzero.observation_space["temporal"].shape == (32, 9)
    assert muzero.observation_space["static"].shape == (6,)
    assert observation_spec("muzero")["temporal"]["shape"] == [32, 9]


def test_make_after_import_and_session_options(synth_data: MarketData) -> None:
    assert ENV_ID in gymnasium.registry
    env = gymnasium.make(ENV_ID, symbol="GBPJPY", timeframe="M1", split="validation",
                         data=synth_data, config=CFG)
    starts = synth_data.sessions["validation"]
    start = int(starts[len(starts) // 3])
    by_index = env.reset(options={"start_index": start})
    iso = iso_utc(int(synth_data.ts[start]))
    assert by_index[1]["session_start_index"] == start
    assert by_index[1]["session_start_ts"] == iso
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    for value in (iso, iso.replace("Z", "+00:00"), moment, moment.replace(tzinfo=None),
                  moment.astimezone(UTC).isoformat()):
        obs, info = env.reset(options={"start_ts": value})
        assert info["session_start_index"] == start
        np.testing.assert_array_equal(obs, by_index[0])
    steps, terminated = 0, False
    while not terminated:
        obs, _, terminated, _, info = env.step(0)
        steps += 1
    assert steps == CFG.data.session_bars
    want = synth_data.features[start + steps - 1, [0, 1, 2, 3, 4, 9, 10]].astype(np.float32)
    np.testing.assert_array_equal(obs[:7], want)


def test_random_reset_draws_valid_starts_reproducibly(synth_data: MarketData) -> None:
    env = TradingEnv(data=synth_data, config=CFG)
    first = [env.reset(seed=5)[1]["session_start_index"]]
    first += [env.reset()[1]["session_start_index"] for _ in range(20)]
    second = [env.reset(seed=5)[1]["session_start_index"]]
    second += [env.reset()[1]["session_start_index"] for _ in range(20)]
    assert first == second and len(set(first)) > 15
    assert set(first) <= set(synth_data.sessions["train"].tolist())


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"start_index": 5}, r"start_index 5 is not a valid session start of split 'train'"),
        ({"start_ts": "2021-01-04T09:00:30Z"}, r"not a valid session start of split 'train'"),
        ({"start_ts": "yesterday"}, r"not an ISO-8601"),
        ({"start_ts": 12}, r"ISO-8601 string or a datetime"),
        ({"start_index": "12"}, r"must be an integer"),
        ({"start": 12}, r"give exactly one of start_ts, start_index"),
        ({"start_index": 1, "start_ts": "x"}, r"exactly one"),
    ],
)
def test_bad_reset_options(synth_data: MarketData, options: dict[str, object],
                           match: str) -> None:
    env = TradingEnv(data=synth_data, config=CFG)
    with pytest.raises(ValueError, match=match):
        env.reset(options=options)


def test_validation_start_is_not_a_train_start(synth_data: MarketData) -> None:
    env = TradingEnv(data=synth_data, config=CFG, split="train")
    start = int(synth_data.sessions["test"][0])
    with pytest.raises(ValueError, match=rf"start_index {start} .* split 'train'"):
        env.reset(options={"start_index": start})


def test_split_errors_name_the_counts(synth_data: MarketData) -> None:
    counts = synth_data.session_counts()
    with pytest.raises(ValueError, match=rf"unknown split 'dev'.*'train': {counts['train']}"):
        TradingEnv(data=synth_data, config=CFG, split="dev")
    data = hand_data([150.0] * 5)
    with pytest.raises(ValueError, match=r"no valid sessions in split 'test'.*'test': 0"):
        TradingEnv(data=data, config=config(10), split="test")


def test_bad_arguments(synth_data: MarketData) -> None:
    with pytest.raises(ValueError, match=r"unknown observation 'pixels'"):
        TradingEnv(data=synth_data, config=CFG, observation="pixels")
    with pytest.raises(ValueError, match=r"symbol 'EURUSD' does not match the data's 'GBPJPY'"):
        TradingEnv("EURUSD", data=synth_data, config=CFG)
    with pytest.raises(ValueError, match=r"session start .* run past"):
        TradingEnv(data=hand_data([150.0] * 5), config=config(360))


def test_step_errors(synth_data: MarketData) -> None:
    env = TradingEnv(data=synth_data, config=CFG)
    with pytest.raises(RuntimeError, match=r"reset\(\)"):
        env.step(0)
    wrapped = gymnasium.make(ENV_ID, data=synth_data, config=CFG)
    with pytest.raises(gymnasium.error.ResetNeeded):
        wrapped.step(0)
    env.reset(seed=1)
    with pytest.raises(ValueError, match="action must be"):
        env.step(4)
    with pytest.raises(ValueError, match="action must be"):
        env.step(1.5)
    for action in (np.int32(0), np.array(0), np.array([0]), np.uint8(0)):
        _, reward, *_ = env.step(action)
        assert reward == 0.0  # HOLD while flat, under the default mtm reward


def distinct_train_rows(starts: np.ndarray, bars: int) -> np.ndarray:
    """Rows covered by [s, s + bars − 1] over all starts, by merging sorted intervals."""
    rows: list[int] = []
    covered_to = -1  # last row already listed
    for s in sorted(int(x) for x in starts):
        first = max(s, covered_to + 1)
        rows.extend(range(first, s + bars))
        covered_to = max(covered_to, s + bars - 1)
    return np.asarray(rows)


@pytest.mark.parametrize("quantile", [0.5, 0.2])
def test_gate_calibration_is_the_quantile_over_distinct_train_bars(
    synth_data: MarketData, quantile: float
) -> None:
    cfg = with_overrides(CFG, "env", gate_quantile=quantile)
    env = TradingEnv(data=synth_data, config=cfg, split="test")
    rows = distinct_train_rows(synth_data.sessions["train"], cfg.data.session_bars)
    assert len(np.unique(rows)) == len(rows)
    want = np.quantile(synth_data.sigma20[rows], quantile)
    if quantile == 0.5:
        assert want == np.median(synth_data.sigma20[rows])
    assert env.gate_sigma_pips == pytest.approx(want, rel=1e-12)
    assert synth_data.gate_threshold(quantile, cfg.data.session_bars) == env.gate_sigma_pips
    configured = TradingEnv(data=synth_data, config=with_overrides(cfg, "env", gate_sigma_pips=1.5))
    assert configured.gate_sigma_pips == 1.5


def test_gate_rate_is_computable_from_info(synth_data: MarketData) -> None:
    env = TradingEnv(data=synth_data, config=CFG)
    env.reset(seed=3)
    gated = attempts = 0
    for _ in range(4):
        env.reset()
        info: dict[str, int] = {}
        terminated = False
        while not terminated:
            _, _, terminated, _, info = env.step(1 if env.position == 0 else 3)
        gated += info["gated"]
        attempts += info["entry_attempts"]
    assert 0 < gated < attempts


def test_render_ansi(synth_data: MarketData) -> None:
    env = TradingEnv(data=synth_data, config=CFG, render_mode="ansi")
    env.reset(seed=0)
    env.step(1)
    text = env.render()
    assert text is not None and "step 1" in text
    assert TradingEnv(data=synth_data, config=CFG).render() is None


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_market_features_of_every_session_bar_lie_in_the_box(
    synth_data: MarketData, split: str
) -> None:
    env = TradingEnv(data=synth_data, config=CFG, split=split)
    rows = synth_data.covered_rows(split, CFG.data.session_bars)
    space = env.observation_space
    assert isinstance(space, gymnasium.spaces.Box)
    market = synth_data.features[rows][:, [0, 1, 2, 3, 4, 9, 10, 5, 6, 7, 8]].astype(np.float32)
    low = np.concatenate([space.low[:7], space.low[13:]])
    high = np.concatenate([space.high[:7], space.high[13:]])
    assert np.isfinite(market).all()
    assert (market >= low).all() and (market <= high).all()
