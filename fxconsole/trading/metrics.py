"""SPEC §6 trade metrics over a list of closed trades' pips (pure).

They live below the agents (which report rolling metrics while training) and the
evaluation (which reports them per backtest), so neither imports the other for them.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

SQN_CAP = 100


UNDEFINED = math.nan
"""A metric that does not exist for the trades (``NaN``; ``None`` in :meth:`as_dict`)."""


@dataclass(frozen=True)
class TradeMetrics:
    """Summary of a trade list (pips net of spread).

    A figure with no meaning for the trades is :data:`UNDEFINED` (NaN), never a made-up
    0: expectancy, win rate and profit factor without trades, SQN with fewer than two
    trades or no spread, average win (loss) without a win (loss), profit factor with
    neither gains nor losses (all wins: ∞). NaN compares false, so a check against it
    fails; :meth:`as_dict` gives ``None`` (JSON ``null``), and :mod:`fxconsole.numfmt`
    shows "—".
    """

    trades: int
    expectancy: float
    win_rate: float
    profit_factor: float
    avg_win: float
    avg_loss: float
    sqn: float
    max_drawdown_pips: float
    total_pips: float

    def as_dict(self) -> dict[str, float | int | None]:
        """Plain dict (for JSON): undefined figures are ``None``."""
        return {k: (v if k == "trades" else (float(v) if math.isfinite(v) else None))
                for k, v in asdict(self).items()}


def sqn(pips: Sequence[float] | np.ndarray) -> float:
    """``sqrt(min(N, 100)) · mean / std(ddof=1)``; 0 when N < 2 or std = 0."""
    p = np.asarray(pips, dtype=np.float64)
    if p.size < 2:
        return 0.0
    std = float(p.std(ddof=1))
    if std == 0.0 or p.min() == p.max():  # equal trades: rounding leaves std ~1e-17, not 0
        return 0.0
    return math.sqrt(min(p.size, SQN_CAP)) * float(p.mean()) / std


def max_drawdown(pips: Sequence[float] | np.ndarray) -> float:
    """Largest peak-to-trough fall of the cumulative pips curve starting at 0."""
    curve = np.concatenate(([0.0], np.cumsum(np.asarray(pips, dtype=np.float64))))
    return float((np.maximum.accumulate(curve) - curve).max())


def trade_metrics(pips: Sequence[float] | np.ndarray) -> TradeMetrics:
    """Every SPEC §6 metric of one trade list; undefined ones are :data:`UNDEFINED`."""
    p = np.asarray(pips, dtype=np.float64)
    n = int(p.size)
    if n == 0:
        return TradeMetrics(0, UNDEFINED, UNDEFINED, UNDEFINED, UNDEFINED, UNDEFINED,
                            UNDEFINED, 0.0, 0.0)
    wins, losses = p[p > 0], p[p <= 0]
    gross_loss = float(-losses.sum())
    profit_factor = (float(wins.sum()) / gross_loss if gross_loss > 0
                     else math.inf if wins.size else UNDEFINED)  # all wins: ∞; 0/0: undefined
    spread = n >= 2 and p.min() != p.max()
    return TradeMetrics(
        trades=n,
        expectancy=float(p.mean()),
        win_rate=wins.size / n,
        profit_factor=profit_factor,
        avg_win=float(wins.mean()) if wins.size else UNDEFINED,
        avg_loss=float(losses.mean()) if losses.size else UNDEFINED,
        sqn=sqn(p) if spread else UNDEFINED,
        max_drawdown_pips=max_drawdown(p),
        total_pips=float(p.sum()),
    )


class RollingTrades:
    """The last ``window`` trades' pips, plus run totals, for live training metrics."""

    def __init__(self, window: int = 500) -> None:
        self.window: deque[float] = deque(maxlen=window)
        self.total = 0
        self.total_wins = 0

    def extend(self, pips: Iterable[float]) -> None:
        """Add closed trades."""
        for p in pips:
            self.window.append(p)
            self.total += 1
            self.total_wins += p > 0

    def metrics(self) -> TradeMetrics:
        """Metrics of the rolling window."""
        return trade_metrics(list(self.window))


def rolling_record(m: TradeMetrics) -> dict[str, float | None]:
    """A checkpoint manifest's ``metrics``: the rolling training figures it was saved with
    (undefined ones ``None``, so the manifest stays strict JSON)."""
    d = m.as_dict()
    return {"rolling_sqn": d["sqn"], "rolling_trades": float(m.trades),
            "rolling_expectancy": d["expectancy"], "rolling_win_rate": d["win_rate"]}
