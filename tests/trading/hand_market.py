"""Hand-made series with known prices, and config shortcuts, for the trading tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from fxconsole.config import Config, with_overrides
from fxconsole.market.features import N_FEATURES
from fxconsole.trading.market_data import MarketData

NS_PER_MINUTE = 60 * 1_000_000_000
T0_NS = 1_609_750_800 * 1_000_000_000  # 2021-01-04T09:00:00Z, a Monday
HAND_START = 31


def hand_data(close: Sequence[float], sigma20: npt.ArrayLike = 5.0,
              n: int | None = None, starts: Sequence[int] = (HAND_START,)) -> MarketData:
    """GBPJPY bars with the given closes from row ``HAND_START`` on (150.00 before and after).

    Features are arbitrary in-range values (row-dependent so observations differ per bar).
    """
    n = n or HAND_START + len(close) + 40
    closes = np.full(n, 150.0)
    closes[HAND_START:HAND_START + len(close)] = close
    if len(close) and HAND_START + len(close) < n:
        closes[HAND_START + len(close):] = close[-1]
    sigma = np.broadcast_to(np.asarray(sigma20, dtype=np.float64), (n,)).copy()
    rows = np.arange(n, dtype=np.float64)[:, None]
    features = 0.5 + 0.4 * np.sin(rows * 0.7 + np.arange(N_FEATURES)[None, :])
    ts = T0_NS + np.arange(n, dtype=np.int64) * NS_PER_MINUTE
    return MarketData("GBPJPY", "M1", 0.01, ts, closes, sigma, features,
                      {"train": np.asarray(starts, np.int64)})


def config(session_bars: int = 360, **env: object) -> Config:
    """The default config with a session length and env keys overridden; the reward is the
    seed's AMDDP1 (the hand-computed cases are its figures) unless ``reward`` is given."""
    cfg = with_overrides(Config(), "data", session_bars=session_bars)
    return with_overrides(cfg, "env", **{"reward": "amddp1", **env})
