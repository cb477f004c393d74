"""Bar containers, timeframes and the errors raised for bad bar input.

Timestamps are int64 nanoseconds since the Unix epoch, UTC, and mark a bar's open time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

def pip_size(symbol: str) -> float:
    """Return the pip of ``symbol``: 0.01 for JPY-quoted pairs, 0.0001 otherwise."""
    return 0.01 if symbol.upper().replace("_", "").replace("/", "").endswith("JPY") else 0.0001


class BarsError(ValueError):
    """Bad bar input. The message names the file, the rows and the reason."""

    def __init__(self, source: str, reason: str, rows: list[int] | None = None) -> None:
        self.source = source
        self.reason = reason
        self.rows = rows or []
        super().__init__(self._format())

    def _format(self) -> str:
        where = self.source
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:10])
            more = f" and {len(self.rows) - 10} more" if len(self.rows) > 10 else ""
            label = "row" if len(self.rows) == 1 else "rows"
            where = f"{where}: {label} {shown}{more}"
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class RawBars:
    """Bars as read from a source, before validation.

    Attributes:
        source: where they came from (a file path), for error messages.
        ts: open times, int64 ns since the epoch, UTC.
        open, high, low, close: prices as float64 (NaN where missing or unparsable).
        volume: float64 (0 where the source has none).
        row: the 1-based line number (or record number for JSON) of each bar in the source.
    """

    source: str
    ts: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    row: I64

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> RawBars:
        """Return the bars selected by an index or boolean mask, in that order."""
        return RawBars(
            source=self.source,
            ts=self.ts[index],
            open=self.open[index],
            high=self.high[index],
            low=self.low[index],
            close=self.close[index],
            volume=self.volume[index],
            row=self.row[index],
        )


@dataclass(frozen=True)
class Bars:
    """Validated bars of one symbol and timeframe: sorted, unique ts, no weekend rows."""

    symbol: str
    timeframe: str
    ts: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @property
    def pip(self) -> float:
        """The pip size of this symbol."""
        return pip_size(self.symbol)
