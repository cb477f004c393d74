"""Complete bars from the broker into the incremental features, none missed or repeated.

:meth:`BarFeed.warm_up` fills the features with the newest ``history_bars`` bars;
:meth:`BarFeed.poll` asks for as many bars as the broker's clock says may have completed
since the newest one kept (all of the history after an outage) and returns only the new
ones (in the weekend closure, only since the week's close). If the broker cannot bridge
the gap, the features start over from what it has.
"""

from __future__ import annotations

import logging

import numpy as np

from fxconsole.brokers.base import Bar, Broker
from fxconsole.market.bars import F64
from fxconsole.market.fxcalendar import is_weekend, week_close_ns
from fxconsole.market.incremental import IncrementalFeatures
from fxconsole.timeutil import iso_utc

logger = logging.getLogger(__name__)


def trading_now(now_ns: int) -> int:
    """``now_ns``, or in the weekend closure the week's close (no bar completes after it).

    So a poll on a Saturday asks for the few bars since the week's last one, not for the
    whole history (which it would every poll until Sunday's open).
    """
    stamp = np.array([now_ns], dtype=np.int64)
    if not is_weekend(stamp)[0]:
        return now_ns
    return min(now_ns, int(week_close_ns(stamp)[0]))


class BarFeed:
    """The broker's complete bars of one instrument and timeframe, and their features."""

    def __init__(self, broker: Broker, instrument: str, granularity: str, period_ns: int,
                 features: IncrementalFeatures) -> None:
        """Feed ``features`` (its ``history_bars`` is how far back a warm-up reaches)."""
        self.broker, self.instrument, self.granularity = broker, instrument, granularity
        self.period_ns, self.features = period_ns, features
        self.warmed = False

    @property
    def history_bars(self) -> int:
        """Bars fetched to warm up."""
        return self.features.history_bars

    def warm_up(self, last_decided: int | None) -> int | None:
        """Refill the features; the newest bar is held back unless already decided.

        Returns:
            ``last_decided``, or None if the broker's newest bar is far older (a paper
            replay that started over): then play decides again from there.
        """
        bars = self.broker.candles(self.instrument, self.granularity, self.history_bars)
        if (bars and last_decided is not None
                and bars[-1].ts < last_decided - self.history_bars * self.period_ns):
            logger.warning("the broker's newest bar %s is far older than the last decided "
                           "one %s (a paper replay started over?): deciding from it",
                           iso_utc(bars[-1].ts), iso_utc(last_decided))
            last_decided = None
        undecided = bool(bars) and (last_decided is None or bars[-1].ts > last_decided)
        history = bars[:-1] if undecided else bars  # the first poll returns the newest
        self.features.reset()
        if history:
            self.add(history)
        self.warmed = True
        logger.info("warmed up with %d bars (newest %s)", len(history),
                    iso_utc(history[-1].ts) if history else "none")
        return last_decided

    def poll(self) -> list[Bar]:
        """The complete bars newer than the newest kept one, oldest first (not yet added)."""
        last = self.features.last_ts
        if last is None:
            return self.broker.candles(self.instrument, self.granularity, self.history_bars)
        behind = (trading_now(self.broker.now()) - last) // self.period_ns
        count = int(min(max(behind + 2, 3), self.history_bars))
        bars = self.broker.candles(self.instrument, self.granularity, count)
        if bars and bars[0].ts > last and count < self.history_bars:
            bars = self.broker.candles(self.instrument, self.granularity, self.history_bars)
        if bars and bars[0].ts > last:
            logger.warning("bars missing after %s: features restart from %s", iso_utc(last),
                           iso_utc(bars[0].ts))
            self.features.reset()
        return [b for b in bars if b.ts > last]

    def add(self, bars: list[Bar]) -> F64:
        """Add bars to the features; return the features of the newest."""
        return self.features.extend([b.ts for b in bars], [b.open for b in bars],
                                    [b.high for b in bars], [b.low for b in bars],
                                    [b.close for b in bars])
