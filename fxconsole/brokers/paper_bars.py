"""The bars the paper broker plays: stored bars of one split, then synthetic ones.

A :class:`PaperBars` is a growing, append-only series: either the stored bars up to the
end of ``live.paper_split`` (replay, starting at the split's first bar so the bars before
it serve as warm-up history) or one synthetic chunk (synth, starting after
``history_bars`` of warm-up). When play reaches the end it is extended with synthetic
chunks (:func:`fxconsole.market.synth.synth_bars`, one seed per chunk) shifted so that
each chunk opens at the previous close; the extension is deterministic, so a restarted
paper broker regenerates the same bars and continues at its saved cursor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from fxconsole.brokers.base import Bar
from fxconsole.market.bars import F64, I64, Bars
from fxconsole.market.sessions import split_bounds
from fxconsole.market.synth import synth_bars
from fxconsole.timeutil import NS_PER_SECOND, iso_utc, timeframe_seconds

logger = logging.getLogger(__name__)

CHUNK_YEARS = 0.05  # about 18k M1 bars per synthetic chunk
SPLITS = ("train", "validation", "test")


@dataclass
class PaperBars:
    """A growing bar series with the row play starts at.

    Attributes:
        key: identifies the series (a saved cursor is only reused for the same key).
        symbol: the symbol (sets the pip and the synthetic level).
        timeframe: bar timeframe.
        start: the first row played (rows before it are warm-up history).
        seed: seed of the first synthetic chunk (chunk ``k`` uses ``seed + k``).
    """

    key: str
    symbol: str
    timeframe: str
    start: int
    seed: int
    ts: I64
    open: F64
    high: F64
    low: F64
    close: F64
    chunks: int = field(default=0)

    @property
    def period_ns(self) -> int:
        """The bar period in ns."""
        return timeframe_seconds(self.timeframe) * NS_PER_SECOND

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def replay(cls, bars: Bars, split: str, train_fraction: float, validation_fraction: float,
               seed: int = 0) -> PaperBars:
        """Stored bars up to the end of ``split``; play starts at its first bar.

        Raises:
            ValueError: for an unknown split or one without bars.
        """
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
        if not len(bars):
            raise ValueError(f"no stored bars for {bars.symbol} {bars.timeframe}")
        b1, b2 = split_bounds(int(bars.ts[0]), int(bars.ts[-1]), train_fraction,
                              validation_fraction)
        lo, hi = {"train": (None, b1), "validation": (b1, b2), "test": (b2, None)}[split]
        first = 0 if lo is None else int(np.searchsorted(bars.ts, lo))
        end = len(bars) if hi is None else int(np.searchsorted(bars.ts, hi))
        if first >= end:
            raise ValueError(f"split {split!r} of {bars.symbol} {bars.timeframe} has no bars")
        key = (f"replay:{bars.symbol}:{bars.timeframe}:{split}:{int(bars.ts[first])}:"
               f"{int(bars.ts[end - 1])}:{seed}")
        return cls(key, bars.symbol, bars.timeframe, first, seed, bars.ts[:end].copy(),
                   bars.open[:end].copy(), bars.high[:end].copy(), bars.low[:end].copy(),
                   bars.close[:end].copy())

    @classmethod
    def synthetic(cls, symbol: str, timeframe: str, history_bars: int, seed: int,
                  start: str) -> PaperBars:
        """Synthetic bars from ``start``; play starts after ``history_bars`` of history."""
        bars = synth_bars(symbol, years=CHUNK_YEARS, seed=seed, start=start, timeframe=timeframe)
        out = cls(f"synth:{symbol}:{timeframe}:{seed}:{start}:{history_bars}", symbol, timeframe,
                  min(history_bars, len(bars) - 1), seed, bars.ts, bars.open, bars.high,
                  bars.low, bars.close, chunks=1)
        return out

    def ensure(self, row: int) -> None:
        """Extend with synthetic chunks until ``row`` exists."""
        while row >= len(self):
            self._extend()

    def _extend(self) -> None:
        last_ts, last_close = int(self.ts[-1]), float(self.close[-1])
        seed = self.seed + self.chunks + 1
        start = iso_utc(last_ts + self.period_ns).rstrip("Z")
        chunk = synth_bars(self.symbol, years=CHUNK_YEARS, seed=seed, start=start,
                           timeframe=self.timeframe)
        keep = chunk.ts > last_ts
        shift = last_close - float(chunk.open[keep][0])
        if float(chunk.low[keep].min()) + shift <= 0.0:
            shift = 0.0  # never a non-positive price: accept a jump instead
        self.ts = np.concatenate([self.ts, chunk.ts[keep]])
        for name in ("open", "high", "low", "close"):
            column = getattr(chunk, name)[keep] + shift
            setattr(self, name, np.concatenate([getattr(self, name), column]))
        self.chunks += 1
        logger.info("paper bars: %d synthetic bars appended from %s (seed %d)",
                    int(keep.sum()), start, seed)

    def bar(self, row: int) -> Bar:
        """The bar at ``row`` (extending the series if needed)."""
        self.ensure(row)
        return Bar(int(self.ts[row]), float(self.open[row]), float(self.high[row]),
                   float(self.low[row]), float(self.close[row]))

    def window(self, last: int, count: int) -> list[Bar]:
        """The ``count`` bars ending at row ``last`` (fewer at the beginning), oldest first."""
        self.ensure(last)
        first = max(0, last - count + 1)
        return [Bar(int(t), float(o), float(h), float(lo), float(c)) for t, o, h, lo, c in
                zip(self.ts[first:last + 1], self.open[first:last + 1],
                    self.high[first:last + 1], self.low[first:last + 1],
                    self.close[first:last + 1], strict=True)]
