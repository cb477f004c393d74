"""Property tests (hypothesis) of the SPEC §4 step core and env over random small markets.

Every example is a hand-made GBPJPY series (pip = 0.01, closes on a whole-pip random walk,
random σ20), random env parameters, a random session of 8–40 bars and a random action
sequence. The oracles are the SPEC's formulas recomputed from the closes, and the
plain-Python reference env.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fxconsole.config import Config
from fxconsole.timeutil import iso_utc
from fxconsole.trading import core
from fxconsole.trading.batch import gate_threshold, legal_actions
from fxconsole.trading.env import TradingEnv
from fxconsole.trading.market_data import MarketData

# tests/ has no __init__.py: pytest (default "prepend" import mode) puts this folder on sys.path.
from hand_market import HAND_START, config, hand_data  # isort: skip
from reference_env import ReferenceEnv  # isort: skip

HOLD, BUY, SELL, CLOSE = 0, 1, 2, 3
TOL = 1e-9
POSITION = slice(7, 13)  # the 6 position features of the PPO observation
COUNTERS = ("invalid_actions", "gated", "entry_attempts")
# Action pools: uniform (many invalid actions, short trades), mostly HOLD (long trades).
POOLS = ((HOLD, BUY, SELL, CLOSE), (HOLD,) * 6 + (BUY, SELL, CLOSE))
SIGMAS = (0.5, 1.0, 2.0, 2.5, 4.0, 5.0, 8.0)  # discrete: ties with the gate happen
PROPERTY = settings(max_examples=150, deadline=None)  # deadline: numba's first calls


@dataclass
class Case:
    """A random market, config, session and action sequence."""

    data: MarketData
    cfg: Config
    start: int
    actions: list[int]

    @property
    def bars(self) -> int:
        return self.cfg.data.session_bars

    def make_env(self, observation: str = "ppo") -> TradingEnv:
        return TradingEnv(data=self.data, config=self.cfg, observation=observation)


@st.composite
def cases(draw: st.DrawFn, min_bars: int = 8, max_bars: int = 40) -> Case:
    bars = draw(st.integers(min_bars, max_bars))
    extra = draw(st.integers(0, 4))  # more rows than one session: several starts
    length = bars + extra
    moves = draw(st.lists(st.integers(-25, 25), min_size=length, max_size=length))
    closes = (150.0 + 0.01 * np.cumsum(moves)).tolist()
    n = HAND_START + length
    sigma = np.full(n, 5.0)
    sigma[HAND_START:] = draw(st.lists(st.sampled_from(SIGMAS), min_size=length,
                                       max_size=length))
    offsets = draw(st.sets(st.integers(0, extra), min_size=1))
    starts = [HAND_START + o for o in sorted(offsets)]
    data = hand_data(closes, sigma20=sigma, n=n, starts=starts)
    env = {
        "spread_pips": draw(st.sampled_from((0.0, 1.5, 4.0, 7.25))),
        "open_reward": draw(st.sampled_from((1.0, 0.0, -0.5, 2.5))),
        "hold_flat_reward": draw(st.sampled_from((-0.05, 0.0, -1.0, 0.3))),
        "drawdown_penalty": draw(st.sampled_from((0.01, 0.0, 0.5, 1.0))),
        "gating": draw(st.booleans()),
        # 0 = calibrated on the train sessions (their σ20 median).
        "gate_sigma_pips": draw(st.sampled_from((0.0, 1.0, 2.5, 5.0))),
    }
    pool = draw(st.sampled_from(POOLS))
    actions = draw(st.lists(st.sampled_from(pool), min_size=bars, max_size=bars))
    return Case(data, config(bars, **env), draw(st.sampled_from(starts)), actions)


@dataclass
class Episode:
    """What the env returned over one played case."""

    case: Case
    rewards: list[float] = field(default_factory=list)
    obs: list[np.ndarray] = field(default_factory=list)
    infos: list[dict[str, Any]] = field(default_factory=list)
    terminated: list[bool] = field(default_factory=list)

    def trades(self) -> list[tuple[int, dict[str, Any]]]:
        """(step, trade record) of every trade closed, in order."""
        return [(k, info["trade"]) for k, info in enumerate(self.infos) if "trade" in info]


def play(case: Case) -> Episode:
    env = case.make_env()
    episode = Episode(case)
    obs, info = env.reset(options={"start_index": case.start})
    assert [info[key] for key in (*COUNTERS, "position")] == [0, 0, 0, 0]
    np.testing.assert_array_equal(obs[POSITION], np.zeros(6, np.float32))
    for action in case.actions:
        obs, reward, terminated, truncated, info = env.step(action)
        assert truncated is False
        episode.rewards.append(float(reward))
        episode.obs.append(obs)
        episode.infos.append(info)
        episode.terminated.append(bool(terminated))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(HOLD)
    return episode


def path_pips_and_max_dd(case: Case, side: int, entry: int, exit_: int) -> tuple[float, float]:
    """SPEC §4 from the closes: the pips at ``c_exit`` and the max of ``peak − unrealised``
    over the marks at bars ``entry … exit``."""
    close, pip, spread = case.data.close, case.data.pip, case.cfg.env.spread_pips
    peak, max_dd, unrealised = -math.inf, 0.0, 0.0
    for t in range(entry, exit_ + 1):
        unrealised = side * (close[t] - close[entry]) / pip - spread
        peak = max(peak, unrealised)
        max_dd = max(max_dd, peak - unrealised)
    return unrealised, max_dd


def core_state(case: Case) -> np.ndarray:
    """A never-reset state with the env's parameters and gate (−inf when gating is off)."""
    return core.new_state(case.cfg.env, case.data.pip, case.bars,
                          gate_threshold(case.cfg, case.data))


# --- rewards and trades -------------------------------------------------------------------


@PROPERTY
@given(cases())
def test_a_trades_step_rewards_add_up_to_amddp1(case: Case) -> None:
    episode = play(case)
    env = case.cfg.env
    in_trade = np.zeros(case.bars, dtype=bool)
    for _, trade in episode.trades():
        first, last = trade["entry_index"] - case.start, trade["exit_index"] - case.start
        in_trade[first:last + 1] = True
        total = sum(episode.rewards[first:last + 1])
        want = env.open_reward + trade["pips"] - env.drawdown_penalty * trade["max_dd"]
        assert total == pytest.approx(want, abs=TOL)
        # Between the entry and the close every step (hold or invalid) earns 0.
        assert episode.rewards[first + 1:last] == [0.0] * max(last - first - 1, 0)
    # Every other step is flat and not an entry: it earns the flat-hold reward.
    for k in np.flatnonzero(~in_trade):
        assert episode.rewards[k] == pytest.approx(env.hold_flat_reward, abs=TOL)


@PROPERTY
@given(cases())
def test_trade_records_follow_the_closes(case: Case) -> None:
    episode = play(case)
    data, last_step = case.data, case.bars - 1
    for k, trade in episode.trades():
        entry, exit_ = trade["entry_index"], trade["exit_index"]
        side = {"long": 1, "short": -1}[trade["side"]]
        assert exit_ == case.start + k  # closed at the bar of the step it is reported in
        assert case.start <= entry <= exit_
        assert trade["bars_held"] == exit_ - entry >= 0
        assert trade["entry_price"] == data.close[entry]
        assert trade["exit_price"] == data.close[exit_]
        assert (trade["entry_ts"], trade["exit_ts"]) == (iso_utc(int(data.ts[entry])),
                                                         iso_utc(int(data.ts[exit_])))
        pips = side * (trade["exit_price"] - trade["entry_price"]) / data.pip
        assert trade["pips"] == pytest.approx(pips - case.cfg.env.spread_pips, abs=TOL)
        want_pips, want_dd = path_pips_and_max_dd(case, side, entry, exit_)
        assert trade["pips"] == pytest.approx(want_pips, abs=TOL)
        assert trade["max_dd"] >= 0.0
        assert trade["max_dd"] == pytest.approx(want_dd, abs=TOL)
        # Forced exactly when the position outlived the last step's action.
        assert trade["forced"] is (k == last_step and case.actions[k] != CLOSE)


@PROPERTY
@given(cases())
def test_one_position_at_most_and_flat_at_the_end(case: Case) -> None:
    episode = play(case)
    want_position = [0] * case.bars
    previous_exit = -1
    for _, trade in episode.trades():
        entry, exit_ = trade["entry_index"], trade["exit_index"]
        assert entry > previous_exit  # trades never overlap, nor share a bar
        previous_exit = exit_
        side = 1 if trade["side"] == "long" else -1
        for k in range(entry - case.start, exit_ - case.start):
            want_position[k] = side
    assert [info["position"] for info in episode.infos] == want_position
    for obs, position in zip(episode.obs, want_position, strict=True):
        assert obs[7] == position
        if position == 0:
            np.testing.assert_array_equal(obs[POSITION], np.zeros(6, np.float32))
    # Terminated exactly at step session_bars − 1; every opened position was closed.
    assert episode.terminated == [False] * (case.bars - 1) + [True]
    last = episode.infos[-1]
    assert last["position"] == 0
    assert len(episode.trades()) == last["entry_attempts"] - last["gated"]
    # The final observation is that of the last bar.
    final_bar = case.start + case.bars - 1
    np.testing.assert_array_equal(episode.obs[-1][:5],
                                  case.data.features[final_bar, :5].astype(np.float32))


@PROPERTY
@given(cases())
def test_counters_are_running_counts(case: Case) -> None:
    episode = play(case)
    before = dict.fromkeys(COUNTERS, 0)
    position = 0
    for action, info in zip(case.actions, episode.infos, strict=True):
        now = {key: info[key] for key in COUNTERS}
        step = {key: now[key] - before[key] for key in COUNTERS}
        assert all(value in (0, 1) for value in step.values()), step  # ≥ 0, one per step
        assert now["gated"] <= now["entry_attempts"]
        entry = position == 0 and action in (BUY, SELL)
        assert step["entry_attempts"] == int(entry)
        assert step["gated"] <= step["entry_attempts"]
        legal = (HOLD, BUY, SELL) if position == 0 else (HOLD, CLOSE)
        assert step["invalid_actions"] == int(action not in legal)
        before, position = now, info["position"]
    if not case.cfg.env.gating:
        assert before["gated"] == 0


# --- legal actions -------------------------------------------------------------------------


@st.composite
def legal_choices(draw: st.DrawFn) -> tuple[Case, list[int]]:
    case = draw(cases())
    return case, draw(st.lists(st.integers(0, 5), min_size=case.bars, max_size=case.bars))


@PROPERTY
@given(legal_choices())
def test_legal_actions_are_the_position_rules_and_never_invalid(
        chosen: tuple[Case, list[int]]) -> None:
    case, choices = chosen
    table, state = case.data.table, core_state(case)
    core.reset_state(case.start, state)
    legal = np.empty(core.N_ACTIONS, dtype=np.bool_)
    for choice in choices:
        core.write_legal(state, legal)
        flat = state[core.S_SIDE] == 0.0
        assert legal.tolist() == ([True, True, True, False] if flat
                                  else [True, False, False, True])
        np.testing.assert_array_equal(legal_actions(state[None, :])[0], legal)
        allowed = np.flatnonzero(legal)
        core.apply_step(int(allowed[choice % allowed.size]), table, state)
        assert state[core.S_INVALID] == 0.0
    assert state[core.S_DONE] == 1.0 and state[core.S_SIDE] == 0.0


# --- the core --------------------------------------------------------------------------------


@given(action=st.integers(0, 3), side=st.sampled_from((-1.0, 0.0, 1.0)),
       sigma=st.floats(0.0, 10.0), gate=st.sampled_from((-np.inf, 0.0, 2.5, 5.0, 10.0)))
def test_action_effect_is_the_spec_table(action: int, side: float, sigma: float,
                                         gate: float) -> None:
    effect = core.action_effect(action, side, sigma, gate)
    if side == 0.0 and action in (BUY, SELL):
        want = core.EFFECT_GATED if sigma < gate else core.EFFECT_OPEN
    elif side == 0.0:
        want = core.EFFECT_INVALID if action == CLOSE else core.EFFECT_HOLD
    else:
        want = {HOLD: core.EFFECT_HOLD, CLOSE: core.EFFECT_CLOSE}.get(action,
                                                                     core.EFFECT_INVALID)
    assert effect == want


@PROPERTY
@given(cases(), st.lists(st.integers(0, 3), max_size=40),
       st.one_of(st.integers(-(2**62), -1), st.integers(4, 2**62)))
def test_reset_forgets_the_previous_episode_and_bad_calls_change_nothing(
        case: Case, prefix: list[int], bad_action: int) -> None:
    table = case.data.table
    fresh = core_state(case)
    with pytest.raises(RuntimeError, match="reset"):
        core.apply_step(HOLD, table, fresh)  # never reset
    used = fresh.copy()
    core.reset_state(case.start, used)
    for action in prefix[:case.bars - 1]:  # part of an episode: may end in a trade
        core.apply_step(action, table, used)
    core.reset_state(case.start, used)
    core.reset_state(case.start, fresh)
    np.testing.assert_array_equal(used, fresh)
    for action in case.actions:
        snapshot = used.copy()
        with pytest.raises(ValueError, match="action must be"):
            core.apply_step(bad_action, table, used)
        np.testing.assert_array_equal(used, snapshot)
        assert core.apply_step(action, table, used) == core.apply_step(action, table, fresh)
        np.testing.assert_array_equal(used, fresh)
    with pytest.raises(RuntimeError, match="reset"):
        core.apply_step(HOLD, table, used)


@PROPERTY
@given(cases())
def test_step_ppo_reports_the_state_it_leaves(case: Case) -> None:
    table = case.data.table
    state, plain = core_state(case), core_state(case)
    core.reset_state(case.start, state)
    core.reset_state(case.start, plain)
    obs, want_obs = np.empty(core.PPO_SIZE, np.float32), np.empty(core.PPO_SIZE, np.float32)
    for action in case.actions:
        reward, terminated, closed, position, invalid, gated, attempts = core.step_ppo(
            action, table, state, obs)
        assert (reward, closed) == core.apply_step(action, table, plain)
        np.testing.assert_array_equal(state, plain)
        assert terminated == (state[core.S_DONE] != 0.0)
        assert (position, invalid, gated, attempts) == (
            state[core.S_SIDE], state[core.S_INVALID], state[core.S_GATED],
            state[core.S_ATTEMPTS])
        core.write_ppo(table, state, want_obs)
        np.testing.assert_array_equal(obs, want_obs)
    assert terminated


# --- the plain-Python reference ----------------------------------------------------------


def reference_for(case: Case, env: TradingEnv) -> ReferenceEnv:
    e = case.cfg.env
    return ReferenceEnv(case.data.close.tolist(), case.data.sigma20.tolist(),
                        case.data.features.tolist(), case.data.pip, session_bars=case.bars,
                        spread=e.spread_pips, open_reward=e.open_reward,
                        hold_flat_reward=e.hold_flat_reward, dd_penalty=e.drawdown_penalty,
                        gate=env.gate_sigma_pips if e.gating else None)


def assert_same_obs(obs: Any, ref: ReferenceEnv, observation: str) -> None:
    if observation == "ppo":
        np.testing.assert_allclose(obs, np.asarray(ref.ppo_observation(), np.float32),
                                   rtol=0, atol=TOL)
        return
    temporal, static = ref.muzero_observation()
    np.testing.assert_allclose(obs["temporal"], np.asarray(temporal, np.float32), rtol=0, atol=TOL)
    np.testing.assert_allclose(obs["static"], np.asarray(static, np.float32), rtol=0, atol=TOL)


@PROPERTY
@given(cases(), st.sampled_from(("ppo", "muzero")))
def test_env_equals_the_reference_on_random_play(case: Case, observation: str) -> None:
    env = case.make_env(observation)
    ref = reference_for(case, env)
    obs, _ = env.reset(options={"start_index": case.start})
    ref.reset(case.start)
    assert_same_obs(obs, ref, observation)
    for action in case.actions:
        obs, reward, terminated, _, info = env.step(action)
        want_reward, want_done, want_trade = ref.step(action)
        assert reward == pytest.approx(want_reward, abs=TOL)
        assert terminated == want_done
        assert_same_obs(obs, ref, observation)
        assert {key: info[key] for key in COUNTERS} == ref.counts
        assert info["position"] == (0 if ref.trade is None else ref.trade.side)
        assert ("trade" in info) == (want_trade is not None)
        if want_trade is not None:
            got = info["trade"]
            for key in ("side", "entry_index", "exit_index", "bars_held", "forced"):
                assert got[key] == want_trade[key], key
            for key in ("entry_price", "exit_price", "pips", "max_dd"):
                assert got[key] == pytest.approx(want_trade[key], abs=TOL), key
    assert ref.done
