"""The SPEC §4 position features of a live position, tracked from bar closes.

:class:`PositionTracker` is the environment's position arithmetic without the market
table: an entry at the decision bar's close, then one :meth:`~PositionTracker.mark` per
new complete bar. Unrealised pips are ``±(c − e) / pip − spread``; ``peak``, ``dd``,
``max_dd``, ``area_dd`` and ``bars`` follow SPEC §4 exactly as
:mod:`fxconsole.trading.core` computes them, so :func:`observation` of a live bar equals
the environment's observation of the same bar. Pure: no clock, I/O or broker.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fxconsole.timeutil import iso_utc
from fxconsole.trading.core import N_POSITION, PPO_MARKET_COLS, PPO_SIZE, PPO_TIME_COLS

F32 = npt.NDArray[np.float32]
SIDE_NAMES = {1: "long", -1: "short"}


@dataclass
class PositionTracker:
    """One position (or none) marked at bar closes.

    Attributes:
        pip: the symbol's pip size.
        spread_pips: the spread charged at entry (SPEC §4: 4 pips).
        side: −1 short, 0 flat, 1 long.
        entry_price: the close of the entry (decision) bar.
        entry_ts: open time (ns UTC) of the entry bar.
        unrealised: pips net of spread at the last marked bar.
        peak: the highest ``unrealised`` since entry.
        dd: ``peak − unrealised`` at the last marked bar.
        max_dd: the highest ``dd`` since entry.
        area_dd: the sum of ``dd`` over the marked bars since entry.
        bars: stored bars since the entry bar (0 on the entry bar).
        last_ts: open time of the last marked bar.
        last_close: the close it was last marked at.
    """

    pip: float
    spread_pips: float = 4.0
    side: int = 0
    entry_price: float = 0.0
    entry_ts: int = 0
    unrealised: float = 0.0
    peak: float = 0.0
    dd: float = 0.0
    max_dd: float = 0.0
    area_dd: float = 0.0
    bars: int = 0
    last_ts: int = 0
    last_close: float = 0.0

    @property
    def flat(self) -> bool:
        """True without a position."""
        return self.side == 0

    def open(self, side: int, price: float, ts: int) -> None:
        """Enter at the close ``price`` of the bar opening at ``ts``; that bar is marked.

        Raises:
            ValueError: if already in a position or ``side`` is not ±1.
        """
        if self.side != 0:
            raise ValueError("already in a position: close it first (no hedging)")
        if side not in (1, -1):
            raise ValueError(f"side must be 1 (long) or -1 (short), got {side!r}")
        self.side, self.entry_price, self.entry_ts = side, float(price), int(ts)
        self.peak, self.max_dd, self.area_dd, self.bars = -math.inf, 0.0, 0.0, 0
        self._mark(float(price), int(ts))

    def mark(self, close: float, ts: int) -> None:
        """Mark the position at the close of the next stored bar (no-op while flat)."""
        if self.side == 0:
            return
        self.bars += 1
        self._mark(float(close), int(ts))

    def _mark(self, close: float, ts: int) -> None:
        # The same expressions, in the same order, as fxconsole.trading.core._mark.
        if self.side > 0:
            unrealised = (close - self.entry_price) / self.pip - self.spread_pips
        else:
            unrealised = (self.entry_price - close) / self.pip - self.spread_pips
        self.unrealised = unrealised
        if unrealised > self.peak:
            self.peak = unrealised
        dd = self.peak - unrealised
        self.dd = dd
        if dd > self.max_dd:
            self.max_dd = dd
        self.area_dd += dd
        self.last_ts, self.last_close = ts, close

    def close(self, exit_ts: int, exit_price: float | None = None,
              forced: bool = False) -> dict[str, Any]:
        """Close the position; return the trade as the environment's ``info["trade"]``.

        Args:
            exit_ts: open time of the bar the trade closes on.
            exit_price: the exit price if it is not the last marked close (e.g. a
                flatten at the current quote between bars); pips are recomputed at it.
            forced: closed because it reached the session length.

        Raises:
            ValueError: while flat.
        """
        if self.side == 0:
            raise ValueError("no position to close")
        pips, price = self.unrealised, self.last_close
        if exit_price is not None:
            price = float(exit_price)
            move = (price - self.entry_price) if self.side > 0 else (self.entry_price - price)
            pips = move / self.pip - self.spread_pips
        trade = {
            "side": SIDE_NAMES[self.side], "entry_ts": iso_utc(self.entry_ts),
            "exit_ts": iso_utc(exit_ts), "entry_price": self.entry_price, "exit_price": price,
            "pips": pips, "max_dd": self.max_dd, "bars_held": self.bars, "forced": forced,
        }
        self.reset()
        return trade

    def reset(self) -> None:
        """Flat, every field at 0."""
        self.side, self.entry_price, self.entry_ts, self.last_ts = 0, 0.0, 0, 0
        self.last_close = 0.0
        self.unrealised = self.peak = self.dd = self.max_dd = self.area_dd = 0.0
        self.bars = 0

    def features(self) -> F32:
        """The 6 position features (all 0 while flat), as ``core.write_position``."""
        out = np.zeros(N_POSITION, dtype=np.float32)
        if self.side == 0:
            return out
        out[0] = self.side
        out[1] = math.tanh(self.unrealised / 100.0)
        out[2] = math.tanh(float(self.bars) / 100.0)
        out[3] = math.tanh(self.dd / 100.0)
        out[4] = math.tanh(self.max_dd / 100.0)
        out[5] = math.tanh(self.area_dd / 100.0)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (non-finite values as None)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}


def observation(features_row: npt.ArrayLike, tracker: PositionTracker) -> F32:
    """The 17-value PPO observation (SPEC §4) of a bar from its 11 features and a position.

    Market ``[0, 1, 2, 3, 4, volatility_20, momentum_60_pips]``, the 6 position features,
    then time ``[5, 6, 7, 8]``.

    Raises:
        ValueError: if ``features_row`` does not hold 11 values.
    """
    row = np.asarray(features_row, dtype=np.float64).reshape(-1)
    if row.shape[0] != max(*PPO_MARKET_COLS, *PPO_TIME_COLS) + 1:
        raise ValueError(f"expected the 11 features of one bar, got {row.shape[0]} values")
    obs = np.empty(PPO_SIZE, dtype=np.float32)
    n_market = len(PPO_MARKET_COLS)
    obs[:n_market] = row[list(PPO_MARKET_COLS)]
    obs[n_market:n_market + N_POSITION] = tracker.features()
    obs[n_market + N_POSITION:] = row[list(PPO_TIME_COLS)]
    return obs
