"""Many sessions stepped together: the backtest's fast path over the same step core.

All sessions of a backtest have the same length, so they advance in lockstep; one
compiled call steps every session, writes their observations and collects the trades
that closed. The trade records and the gate threshold are shared with ``TradingEnv``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numba
import numpy as np
import numpy.typing as npt

from fxconsole.config import Config
from fxconsole.market.bars import F64, I64
from fxconsole.timeutil import iso_utc
from fxconsole.trading import core
from fxconsole.trading.market_data import MarketData

F32 = npt.NDArray[np.float32]
B8 = npt.NDArray[np.bool_]
TRADE_FIELDS = core.T_FORCED - core.T_SIDE + 1  # side … forced
TRADE_ROW = TRADE_FIELDS + 1  # plus the session's position in the batch


def gate_threshold(cfg: Config, data: MarketData | Callable[[], MarketData]) -> float:
    """The σ20 gate in pips: configured, calibrated on the train split, or −inf if off.

    ``data`` may be a function that loads it: it is called only if calibration is needed.
    """
    if not cfg.env.gating:
        return -np.inf
    if cfg.env.gate_sigma_pips > 0.0:
        return float(cfg.env.gate_sigma_pips)
    series = data() if callable(data) else data
    return series.gate_threshold(cfg.env.gate_quantile, cfg.data.session_bars)


def trade_record(fields: F64 | list[float], ts: I64) -> dict[str, Any]:
    """The ``info["trade"]`` dict (SPEC §4) from a state's last-trade fields."""
    side, entry, exit_, entry_price, exit_price, pips, max_dd, forced = (
        fields.tolist() if isinstance(fields, np.ndarray) else fields)
    return {
        "side": "long" if side > 0 else "short",
        "entry_ts": iso_utc(ts[int(entry)]),
        "exit_ts": iso_utc(ts[int(exit_)]),
        "entry_price": entry_price,
        "exit_price": exit_price,
        "pips": pips,
        "max_dd": max_dd,
        "bars_held": int(exit_ - entry),
        "forced": forced != 0.0,
        "entry_index": int(entry),
        "exit_index": int(exit_),
    }


class MuZeroBatch(NamedTuple):
    """MuZero observations of a batch (SPEC §4): ``temporal`` (n, 32, 9), ``static`` (n, 6).

    ``rows`` (n,), where known, is the table row of each window's last bar: a policy
    whose bar encoding depends on the bars only may look it up instead of recomputing it.
    """

    temporal: F32
    static: F32
    rows: I64 | None = None


def new_batch(starts: I64, cfg: Config, data: MarketData,
              kind: str = "ppo") -> tuple[F64, F32 | MuZeroBatch]:
    """States reset at ``starts`` and their first observations of ``kind`` (ppo, muzero)."""
    template = core.new_state(cfg.env, data.pip, cfg.data.session_bars,
                              gate_threshold(cfg, data))
    n = starts.shape[0]
    states = np.tile(template, (n, 1))
    obs: F32 | MuZeroBatch
    if kind == "ppo":
        obs = np.empty((n, core.PPO_SIZE), dtype=np.float32)
    elif kind == "muzero":
        obs = MuZeroBatch(
            np.empty((n, core.TEMPORAL_BARS, core.TEMPORAL_FEATURES), dtype=np.float32),
            np.empty((n, core.N_POSITION), dtype=np.float32),
            np.empty(n, dtype=np.int64))
    else:
        raise ValueError(f"unknown observation kind {kind!r}; allowed: ppo, muzero")
    for i, start in enumerate(starts):
        core.reset_state(int(start), states[i])
    observe_batch(data.table, states, obs)
    return states, obs


def observe_batch(table: F64, states: F64, obs: F32 | MuZeroBatch) -> None:
    """Write every session's observation of its current bar into ``obs``."""
    if isinstance(obs, MuZeroBatch):
        _write_muzero_batch(table, states, obs.temporal, obs.static)
        if obs.rows is not None:
            obs.rows[:] = states[:, core.S_START] + states[:, core.S_STEP]
    else:
        _write_ppo_batch(table, states, obs)


def step_batch(actions: I64, table: F64, states: F64, obs: F32 | MuZeroBatch,
               trades: F64, rewards: F64 | None = None) -> int:
    """Step every session once with its action, then write the observations into ``obs``.

    Each trade that closed is copied to the next row of ``trades`` (its fields, then the
    session's position in the batch). Returns the number of such rows. ``rewards``, if
    given, receives each session's reward of the step (SPEC §4).
    """
    out = rewards if rewards is not None else np.empty(states.shape[0], dtype=np.float64)
    n = _step_batch(actions, table, states, trades, out)
    observe_batch(table, states, obs)
    return n


def legal_actions(states: F64) -> B8:
    """(n, 4): the actions each session's position allows (flat: HOLD, BUY, SELL; in a
    trade: HOLD, CLOSE; SPEC §4). Gating is not part of it."""
    legal = np.empty((states.shape[0], core.N_ACTIONS), dtype=np.bool_)
    core.write_legal_batch(states, legal)
    return legal


@numba.njit(cache=True)
def _write_ppo_batch(table: F64, states: F64, obs: F32) -> None:  # pragma: no cover
    for i in range(states.shape[0]):
        core.write_ppo(table, states[i], obs[i])


@numba.njit(cache=True)
def _write_muzero_batch(table: F64, states: F64, temporal: F32,
                        static: F32) -> None:  # pragma: no cover - compiled
    for i in range(states.shape[0]):
        core.write_muzero(table, states[i], temporal[i], static[i])


@numba.njit(cache=True)
def _step_batch(actions: I64, table: F64, states: F64, trades: F64,
                rewards: F64) -> int:  # pragma: no cover
    """Step every session once, no observation; closed trades as :func:`step_batch`."""
    n_closed = 0
    for i in range(states.shape[0]):
        reward, closed = core.apply_step(actions[i], table, states[i])
        rewards[i] = reward
        if closed:
            for j in range(TRADE_FIELDS):
                trades[n_closed, j] = states[i, core.T_SIDE + j]
            trades[n_closed, TRADE_FIELDS] = i
            n_closed += 1
    return n_closed
