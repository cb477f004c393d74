"""Many sessions stepped together: the backtest's fast path over the same step core.

All sessions of a backtest have the same length, so they advance in lockstep; one
compiled call steps every session, writes their observations and collects the trades
that closed. The trade records and the gate threshold are shared with ``TradingEnv``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from fxconsole.config import Config
from fxconsole.market.bars import F64, I64
from fxconsole.timeutil import iso_utc
from fxconsole.trading import core
from fxconsole.trading.market_data import MarketData

F32 = npt.NDArray[np.float32]
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


def new_batch(starts: I64, cfg: Config, data: MarketData) -> tuple[F64, F32]:
    """States reset at ``starts`` and their first PPO observations."""
    template = core.new_state(cfg.env, data.pip, cfg.data.session_bars,
                              gate_threshold(cfg, data))
    states = np.tile(template, (starts.shape[0], 1))
    obs = np.empty((starts.shape[0], core.PPO_SIZE), dtype=np.float32)
    for i, start in enumerate(starts):
        core.reset_state(int(start), states[i])
        core.write_ppo(data.table, states[i], obs[i])
    return states, obs


@numba.njit(cache=True)
def step_batch_ppo(actions: I64, table: F64, states: F64, obs: F32,
                   trades: F64) -> int:  # pragma: no cover - compiled
    """Step every session once with its action; write observations into ``obs``.

    Each trade that closed is copied to the next row of ``trades`` (its fields, then the
    session's position in the batch). Returns the number of such rows.
    """
    n_closed = 0
    for i in range(states.shape[0]):
        _, closed = core.apply_step(actions[i], table, states[i])
        core.write_ppo(table, states[i], obs[i])
        if closed:
            for j in range(TRADE_FIELDS):
                trades[n_closed, j] = states[i, core.T_SIDE + j]
            trades[n_closed, TRADE_FIELDS] = i
            n_closed += 1
    return n_closed
