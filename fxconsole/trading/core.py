"""The trading environment's step core (SPEC §4) as numba kernels over preloaded arrays.

Pure: arrays in, arrays out; no clock, I/O or logging. One environment is one small
float64 ``state`` vector (its parameters, its position and counters, and the last closed
trade; see the ``P_``, ``S_`` and ``T_`` offsets) plus the market ``table`` it shares
with every other environment on the same series: ``(n, TABLE_COLUMNS)`` rows of the 11
features of ``FEATURE_NAMES``, then the close and the raw σ20 (pips). A step is one
compiled call that applies the action, moves the clock, marks the open trade and writes
the observation into a preallocated buffer.

Step ``k`` of a session starting at row ``s`` looks at bar ``t = s + k``: the action is
executed at ``c_t``; then, unless ``k`` is the last step, the clock moves to ``t + 1``
where an open trade is marked at ``c_{t+1}``. At the last step a position still open is
closed at ``c_t`` (forced) and the episode ends. The observation is always that of bar
``s + state[S_STEP]``: ``t + 1`` after a step, ``t`` once the episode is over.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from fxconsole.config import REWARDS, EnvConfig
from fxconsole.market.bars import F64
from fxconsole.market.features import N_FEATURES

F32 = npt.NDArray[np.float32]

HOLD, BUY, SELL, CLOSE = 0, 1, 2, 3
N_ACTIONS = 4

# Market table columns: the features in FEATURE_NAMES order, then close and σ20.
CLOSE_COL = N_FEATURES
SIGMA_COL = N_FEATURES + 1
TABLE_COLUMNS = N_FEATURES + 2

# Observation layout (SPEC §4): feature columns of the PPO market and time blocks.
PPO_MARKET_COLS = (0, 1, 2, 3, 4, 9, 10)
PPO_TIME_COLS = (5, 6, 7, 8)
N_POSITION = 6
PPO_SIZE = len(PPO_MARKET_COLS) + N_POSITION + len(PPO_TIME_COLS)  # 17
TEMPORAL_BARS = 32
TEMPORAL_FEATURES = 9

# state[...] offsets. Parameters, set once:
P_SPREAD = 0
P_OPEN_REWARD = 1
P_HOLD_FLAT = 2
P_DD_PENALTY = 3
P_GATE = 4  # entries while flat are gated if σ20_t < this (−inf: gating off)
P_PIP = 5
P_LAST_STEP = 6  # session_bars − 1
# Episode state:
S_START = 7
S_STEP = 8
S_DONE = 9  # 1.0 before the first reset and after the last step
S_SIDE = 10  # −1, 0, 1
S_ENTRY_INDEX = 11
S_ENTRY_PRICE = 12
S_UNREALISED = 13  # pips net of spread at the current bar
S_PEAK = 14
S_DD = 15
S_MAX_DD = 16
S_AREA_DD = 17
S_INVALID = 18
S_GATED = 19
S_ATTEMPTS = 20  # entry attempts while flat, gated or not
# The last closed trade:
T_SIDE = 21
T_ENTRY_INDEX = 22
T_EXIT_INDEX = 23
T_ENTRY_PRICE = 24
T_EXIT_PRICE = 25
T_PIPS = 26
T_MAX_DD = 27
T_FORCED = 28
_END_OF_EPISODE_FIELDS = 29
# More parameters (after the fields an episode reset clears):
P_REWARD = 29  # REWARD_AMDDP1 or REWARD_MTM
STATE_SIZE = 30

REWARD_AMDDP1, REWARD_MTM = REWARDS.index("amddp1"), REWARDS.index("mtm")

_FIRST_EPISODE_FIELD = S_SIDE


def new_state(env: EnvConfig, pip: float, session_bars: int, gate_sigma_pips: float) -> F64:
    """A fresh state vector for one environment (``reset_state`` must follow).

    Args:
        env: rewards and spread.
        pip: the symbol's pip size.
        session_bars: steps per episode.
        gate_sigma_pips: σ20 threshold of the entry gate; ``-inf`` disables gating.
    """
    state = np.zeros(STATE_SIZE, dtype=np.float64)
    state[P_SPREAD] = env.spread_pips
    state[P_OPEN_REWARD] = env.open_reward
    state[P_HOLD_FLAT] = env.hold_flat_reward
    state[P_DD_PENALTY] = env.drawdown_penalty
    state[P_GATE] = gate_sigma_pips
    state[P_PIP] = pip
    state[P_LAST_STEP] = session_bars - 1
    state[P_REWARD] = REWARDS.index(env.reward)
    state[S_DONE] = 1.0
    return state


@numba.njit(cache=True)
def reset_state(start: int, state: F64) -> None:  # pragma: no cover - compiled
    """Begin an episode at session start row ``start``: flat, counters at 0."""
    state[S_START] = start
    state[S_STEP] = 0.0
    state[S_DONE] = 0.0
    for i in range(_FIRST_EPISODE_FIELD, _END_OF_EPISODE_FIELDS):
        state[i] = 0.0


@numba.njit(cache=True)
def unrealised_at(state: F64, price: float) -> float:  # pragma: no cover - compiled
    """The open trade's pips net of spread if marked at ``price`` (SPEC §4)."""
    if state[S_SIDE] > 0.0:
        return (price - state[S_ENTRY_PRICE]) / state[P_PIP] - state[P_SPREAD]
    return (state[S_ENTRY_PRICE] - price) / state[P_PIP] - state[P_SPREAD]


@numba.njit(cache=True)
def mark_at(state: F64, price: float) -> None:  # pragma: no cover - compiled
    """Mark the open trade at the close ``price``: unrealised, peak, dd, max_dd, area_dd."""
    unrealised = unrealised_at(state, price)
    state[S_UNREALISED] = unrealised
    if unrealised > state[S_PEAK]:
        state[S_PEAK] = unrealised
    dd = state[S_PEAK] - unrealised
    state[S_DD] = dd
    if dd > state[S_MAX_DD]:
        state[S_MAX_DD] = dd
    state[S_AREA_DD] += dd


@numba.njit(cache=True)
def open_at(state: F64, index: int, price: float, side: float) -> None:  # pragma: no cover
    """Open a position at the close ``price`` of bar ``index``; that bar is marked
    (unrealised = −spread)."""
    state[S_SIDE] = side
    state[S_ENTRY_INDEX] = index
    state[S_ENTRY_PRICE] = price
    state[S_PEAK] = -np.inf
    state[S_MAX_DD] = 0.0
    state[S_AREA_DD] = 0.0
    mark_at(state, price)


@numba.njit(cache=True)
def close_at(state: F64, index: int, price: float, forced: bool) -> float:  # pragma: no cover
    """Close the position at ``price`` on bar ``index``; record the trade (``T_`` fields);
    return the AMDDP1 close reward. The pips are those of a mark at ``price``."""
    pips = unrealised_at(state, price)
    max_dd = state[S_MAX_DD]
    state[T_SIDE] = state[S_SIDE]
    state[T_ENTRY_INDEX] = state[S_ENTRY_INDEX]
    state[T_EXIT_INDEX] = index
    state[T_ENTRY_PRICE] = state[S_ENTRY_PRICE]
    state[T_EXIT_PRICE] = price
    state[T_PIPS] = pips
    state[T_MAX_DD] = max_dd
    state[T_FORCED] = 1.0 if forced else 0.0
    for i in range(S_SIDE, S_AREA_DD + 1):
        state[i] = 0.0
    return pips - state[P_DD_PENALTY] * max_dd


# What an action does to a position (SPEC §4), shared by the env step and live trading.
EFFECT_HOLD, EFFECT_OPEN, EFFECT_CLOSE, EFFECT_INVALID, EFFECT_GATED = 0, 1, 2, 3, 4


@numba.njit(cache=True)
def action_effect(action: int, side: float, sigma20: float,
                  gate: float) -> int:  # pragma: no cover - compiled
    """The effect of ``action`` on a position of ``side``: an entry while flat opens
    unless σ20 is below ``gate`` (gated); CLOSE in a trade closes; BUY/SELL in a trade and
    CLOSE while flat are invalid; everything else holds."""
    if side == 0.0:
        if BUY <= action <= SELL:
            return EFFECT_GATED if sigma20 < gate else EFFECT_OPEN
        return EFFECT_INVALID if action == CLOSE else EFFECT_HOLD
    if action == CLOSE:
        return EFFECT_CLOSE
    return EFFECT_HOLD if action == HOLD else EFFECT_INVALID


@numba.njit(cache=True)
def _act(action: int, table: F64, state: F64, t: int) -> tuple[float, bool]:  # pragma: no cover
    """Apply one action at bar ``t``; return (reward, a trade closed)."""
    flat = state[S_SIDE] == 0.0
    effect = action_effect(action, state[S_SIDE], table[t, SIGMA_COL], state[P_GATE])
    if flat and BUY <= action <= SELL:  # an entry attempt, gated or not
        state[S_ATTEMPTS] += 1.0
    if effect == EFFECT_OPEN:
        open_at(state, t, table[t, CLOSE_COL], 1.0 if action == BUY else -1.0)
        return state[P_OPEN_REWARD], False
    if effect == EFFECT_CLOSE:
        return close_at(state, t, table[t, CLOSE_COL], False), True
    if effect == EFFECT_GATED:
        state[S_GATED] += 1.0
    elif effect == EFFECT_INVALID:
        state[S_INVALID] += 1.0
    return (state[P_HOLD_FLAT] if flat else 0.0), False


@numba.njit(cache=True)
def apply_step(action: int, table: F64, state: F64) -> tuple[float, bool]:  # pragma: no cover
    """One step without an observation: act at ``c_t``, then advance or end the episode.

    Returns:
        (reward, whether a trade closed in this step).

    Raises:
        RuntimeError: if the episode is over (or was never reset).
        ValueError: if ``action`` is not 0–3.
    """
    if state[S_DONE] != 0.0:
        raise RuntimeError("the episode is over (or never began): call reset() before step()")
    if action < 0 or action >= N_ACTIONS:
        raise ValueError("action must be 0 (HOLD), 1 (BUY), 2 (SELL) or 3 (CLOSE)")
    step = int(state[S_STEP])
    t = int(state[S_START]) + step
    before = state[S_UNREALISED] if state[S_SIDE] != 0.0 else 0.0
    reward, closed = _act(action, table, state, t)
    if step >= int(state[P_LAST_STEP]):
        if state[S_SIDE] != 0.0:
            reward += close_at(state, t, table[t, CLOSE_COL], True)
            closed = True
        state[S_DONE] = 1.0
    else:
        state[S_STEP] = step + 1
        if state[S_SIDE] != 0.0:
            mark_at(state, table[t + 1, CLOSE_COL])
    if state[P_REWARD] == REWARD_MTM:
        # mark to market: the change of the trade's value over the step, so that a
        # trade's rewards add up to its pips (the close step: the last mark, so 0)
        after = state[T_PIPS] if closed else 0.0
        if state[S_SIDE] != 0.0:
            after = state[S_UNREALISED]
        reward = after - before
    return reward, closed


@numba.njit(cache=True)
def write_position(state: F64, out: F32, offset: int) -> None:  # pragma: no cover - compiled
    """The 6 position features of the current bar into ``out[offset:offset + 6]``."""
    side = state[S_SIDE]
    if side == 0.0:
        for i in range(N_POSITION):
            out[offset + i] = 0.0
        return
    bars = state[S_START] + state[S_STEP] - state[S_ENTRY_INDEX]
    out[offset] = side
    out[offset + 1] = math.tanh(state[S_UNREALISED] / 100.0)
    out[offset + 2] = math.tanh(bars / 100.0)
    out[offset + 3] = math.tanh(state[S_DD] / 100.0)
    out[offset + 4] = math.tanh(state[S_MAX_DD] / 100.0)
    out[offset + 5] = math.tanh(state[S_AREA_DD] / 100.0)


@numba.njit(cache=True)
def write_legal(state: F64, out: npt.NDArray[np.bool_]) -> None:  # pragma: no cover
    """The legal actions of the position (SPEC §4) into ``out[0:4]``: flat: HOLD, BUY,
    SELL; in a trade: HOLD, CLOSE."""
    flat = state[S_SIDE] == 0.0
    out[HOLD] = True
    out[BUY] = flat
    out[SELL] = flat
    out[CLOSE] = not flat


@numba.njit(cache=True)
def write_legal_batch(states: F64, out: npt.NDArray[np.bool_]) -> None:  # pragma: no cover
    """:func:`write_legal` for every row of ``states``."""
    for i in range(states.shape[0]):
        write_legal(states[i], out[i])


@numba.njit(cache=True)
def write_ppo_row(row: F64, state: F64, obs: F32) -> None:  # pragma: no cover - compiled
    """The 17-value PPO observation from one bar's 11 features and the position."""
    i = 0
    for col in PPO_MARKET_COLS:
        obs[i] = row[col]
        i += 1
    write_position(state, obs, i)
    i += N_POSITION
    for col in PPO_TIME_COLS:
        obs[i] = row[col]
        i += 1


@numba.njit(cache=True)
def write_ppo(table: F64, state: F64, obs: F32) -> None:  # pragma: no cover - compiled
    """The 17-value PPO observation of the current bar into ``obs``."""
    write_ppo_row(table[int(state[S_START] + state[S_STEP])], state, obs)


@numba.njit(cache=True)
def write_muzero_window(window: F64, state: F64, temporal: F32,
                        static: F32) -> None:  # pragma: no cover - compiled
    """The MuZero observation from the features of the last 32 bars (oldest first)."""
    for i in range(TEMPORAL_BARS):
        for j in range(TEMPORAL_FEATURES):
            temporal[i, j] = window[i, j]
    write_position(state, static, 0)


@numba.njit(cache=True)
def write_muzero(table: F64, state: F64, temporal: F32, static: F32) -> None:  # pragma: no cover
    """The MuZero observation: features 0–8 of bars ``t−31 … t`` and the position."""
    t = int(state[S_START] + state[S_STEP])
    write_muzero_window(table[t - TEMPORAL_BARS + 1:t + 1], state, temporal, static)


@numba.njit(cache=True)
def step_ppo(
    action: int, table: F64, state: F64, obs: F32
) -> tuple[float, bool, bool, int, int, int, int]:  # pragma: no cover - compiled
    """Step and write the PPO observation.

    Returns:
        (reward, terminated, trade closed, position, invalid actions, gated, entry attempts),
        the last three being running counts of the episode.
    """
    reward, closed = apply_step(action, table, state)
    write_ppo(table, state, obs)
    return (reward, state[S_DONE] != 0.0, closed, int(state[S_SIDE]), int(state[S_INVALID]),
            int(state[S_GATED]), int(state[S_ATTEMPTS]))


@numba.njit(cache=True)
def step_muzero(
    action: int, table: F64, state: F64, temporal: F32, static: F32
) -> tuple[float, bool, bool, int, int, int, int]:  # pragma: no cover - compiled
    """Step and write the MuZero observation; returns as :func:`step_ppo`."""
    reward, closed = apply_step(action, table, state)
    write_muzero(table, state, temporal, static)
    return (reward, state[S_DONE] != 0.0, closed, int(state[S_SIDE]), int(state[S_INVALID]),
            int(state[S_GATED]), int(state[S_ATTEMPTS]))
