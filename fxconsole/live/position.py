"""A live position marked at bar closes, through the trading core's own SPEC §4 functions.

:class:`PositionTracker` holds one core state vector (:mod:`fxconsole.trading.core`) and
calls the core to open, mark and close it — the environment's arithmetic, not a copy of
it — so its position features, and :func:`ppo_observation` / :func:`muzero_observation`
of a live bar, equal the environment's of the same bar. Bars are counted from the entry:
the entry bar is index 0 and every new complete bar adds one. Pure: no clock, I/O or
broker.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from fxconsole.timeutil import iso_utc
from fxconsole.trading import core
from fxconsole.trading.batch import MuZeroBatch

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
SIDE_NAMES = {1: "long", -1: "short"}


class PositionTracker:
    """One position (or none) marked at bar closes.

    Attributes:
        pip: the symbol's pip size.
        spread_pips: the spread charged at entry (SPEC §4: 4 pips).
        entry_ts: open time (ns UTC) of the entry bar.
        last_ts: open time of the last marked bar.
        last_close: the close it was last marked at.
    """

    def __init__(self, pip: float, spread_pips: float = 4.0) -> None:
        self.pip, self.spread_pips = float(pip), float(spread_pips)
        self.state = np.zeros(core.STATE_SIZE, dtype=np.float64)
        self.state[core.P_PIP] = self.pip
        self.state[core.P_SPREAD] = self.spread_pips
        self.entry_ts = self.last_ts = 0
        self.last_close = 0.0

    @property
    def side(self) -> int:
        """−1 short, 0 flat, 1 long."""
        return int(self.state[core.S_SIDE])

    @property
    def flat(self) -> bool:
        """True without a position."""
        return self.side == 0

    @property
    def bars(self) -> int:
        """Stored bars since the entry bar (0 on the entry bar)."""
        return int(self.state[core.S_STEP]) if self.side else 0

    @property
    def entry_price(self) -> float:
        """The close of the entry (decision) bar."""
        return float(self.state[core.S_ENTRY_PRICE])

    @property
    def unrealised(self) -> float:
        """Pips net of spread at the last marked bar."""
        return float(self.state[core.S_UNREALISED])

    @property
    def peak(self) -> float:
        """The highest ``unrealised`` since entry."""
        return float(self.state[core.S_PEAK])

    @property
    def dd(self) -> float:
        """``peak − unrealised`` at the last marked bar."""
        return float(self.state[core.S_DD])

    @property
    def max_dd(self) -> float:
        """The highest ``dd`` since entry."""
        return float(self.state[core.S_MAX_DD])

    @property
    def area_dd(self) -> float:
        """The sum of ``dd`` over the marked bars since entry."""
        return float(self.state[core.S_AREA_DD])

    def open(self, side: int, price: float, ts: int) -> None:
        """Enter at the close ``price`` of the bar opening at ``ts``; that bar is marked.

        Raises:
            ValueError: if already in a position or ``side`` is not ±1.
        """
        if self.side != 0:
            raise ValueError("already in a position: close it first (no hedging)")
        if side not in (1, -1):
            raise ValueError(f"side must be 1 (long) or -1 (short), got {side!r}")
        self.state[core.S_START] = self.state[core.S_STEP] = 0.0
        core.open_at(self.state, 0, float(price), float(side))
        self.entry_ts = self.last_ts = int(ts)
        self.last_close = float(price)

    def mark(self, close: float, ts: int) -> None:
        """Mark the position at the close of the next stored bar (no-op while flat)."""
        if self.side == 0:
            return
        self.state[core.S_STEP] += 1.0
        core.mark_at(self.state, float(close))
        self.last_ts, self.last_close = int(ts), float(close)

    def close(self, exit_ts: int, exit_price: float | None = None,
              forced: bool = False) -> dict[str, Any]:
        """Close the position; return the trade as the environment's ``info["trade"]``.

        Args:
            exit_ts: open time of the bar the trade closes on.
            exit_price: the exit price if it is not the last marked close (e.g. a
                flatten at the current quote between bars); pips are computed at it.
            forced: closed because it reached the session length.

        Raises:
            ValueError: while flat.
        """
        if self.side == 0:
            raise ValueError("no position to close")
        side, bars, entry_ts = self.side, self.bars, self.entry_ts
        price = self.last_close if exit_price is None else float(exit_price)
        core.close_at(self.state, bars, price, forced)
        s = self.state
        trade = {
            "side": SIDE_NAMES[side], "entry_ts": iso_utc(entry_ts),
            "exit_ts": iso_utc(exit_ts), "entry_price": float(s[core.T_ENTRY_PRICE]),
            "exit_price": price, "pips": float(s[core.T_PIPS]),
            "max_dd": float(s[core.T_MAX_DD]), "bars_held": bars, "forced": forced,
        }
        self.reset()
        return trade

    def reset(self) -> None:
        """Flat, every field at 0."""
        self.state[core.S_START:] = 0.0
        self.entry_ts = self.last_ts = 0
        self.last_close = 0.0

    def features(self) -> F32:
        """The 6 position features (all 0 while flat), by ``core.write_position``."""
        out = np.zeros(core.N_POSITION, dtype=np.float32)
        core.write_position(self.state, out, 0)
        return out

    def legal(self) -> npt.NDArray[np.bool_]:
        """(1, 4): the actions the position allows (SPEC §4), for a Policy."""
        out = np.zeros((1, core.N_ACTIONS), dtype=np.bool_)
        core.write_legal(self.state, out[0])
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (non-finite values as None)."""
        values: dict[str, Any] = {
            "pip": self.pip, "spread_pips": self.spread_pips, "side": self.side,
            "entry_price": self.entry_price if self.side else 0.0, "entry_ts": self.entry_ts,
            "unrealised": self.unrealised, "peak": self.peak, "dd": self.dd,
            "max_dd": self.max_dd, "area_dd": self.area_dd, "bars": self.bars,
            "last_ts": self.last_ts, "last_close": self.last_close,
        }
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in values.items()}


def ppo_observation(features_row: npt.ArrayLike, tracker: PositionTracker) -> F32:
    """The 17-value PPO observation (SPEC §4) of a bar from its 11 features and a position,
    as a batch of one ``(1, 17)``.

    Raises:
        ValueError: if ``features_row`` does not hold 11 values.
    """
    row = np.ascontiguousarray(features_row, dtype=np.float64).reshape(-1)
    if row.shape[0] != core.TABLE_COLUMNS - 2:
        raise ValueError(f"expected the 11 features of one bar, got {row.shape[0]} values")
    obs = np.empty((1, core.PPO_SIZE), dtype=np.float32)
    core.write_ppo_row(row, tracker.state, obs[0])
    return obs


def muzero_observation(window: npt.ArrayLike, tracker: PositionTracker) -> MuZeroBatch:
    """The MuZero observation (SPEC §4) of a bar from the features of its last 32 bars
    (oldest first, at least the 9 market features each), as a batch of one.

    Raises:
        ValueError: if ``window`` is not 32 rows of at least 9 features.
    """
    rows = np.ascontiguousarray(window, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[0] != core.TEMPORAL_BARS \
            or rows.shape[1] < core.TEMPORAL_FEATURES:
        raise ValueError(f"expected the features of the last {core.TEMPORAL_BARS} bars, got "
                         f"shape {rows.shape}")
    obs = MuZeroBatch(
        np.empty((1, core.TEMPORAL_BARS, core.TEMPORAL_FEATURES), dtype=np.float32),
        np.empty((1, core.N_POSITION), dtype=np.float32))
    core.write_muzero_window(rows, tracker.state, obs.temporal[0], obs.static[0])
    return obs
