"""Planning and resuming candle downloads (pure: no network, no clock, no files).

A download of ``[start, end)`` is cut into windows of at most ``page_size`` bar periods
(OANDA returns at most 5000 candles per request). After each window the caller stores
the window's complete candles (a *page*) and a :class:`DownloadState` whose ``cursor_ns``
is the end of the last finished window and ``last_complete_ns`` the newest complete
candle so far; an interrupted download resumes from the cursor. Pages are merged by
timestamp, so candles repeated at shared window boundaries (or by a window fetched again
after a crash between writing a page and its state) appear once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from fxconsole.market.bars import RawBars
from fxconsole.timeutil import NS_PER_SECOND, timeframe_seconds

MAX_PAGE = 5000
STATE_VERSION = 1

# (ts ns UTC, open, high, low, close, volume)
CandleRow = tuple[int, float, float, float, float, float]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_utc(text: str, *, end: bool = False) -> int:
    """An ISO date or date-time as ns UTC (naive = UTC).

    Args:
        text: ``2024-01-02``, ``2024-01-02T13:00``, ``2024-01-02 13:00:00+01:00``, …
        end: a bare date means the *end* of that day (the next midnight), so that
            ``--to 2024-01-05`` includes the 5th.

    Raises:
        ValueError: naming the value and the allowed forms.
    """
    value = text.strip()
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"date {text!r} is not an ISO date (YYYY-MM-DD) or date-time "
                         "(YYYY-MM-DDTHH:MM[:SS][+HH:MM])") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if end and _DATE.match(value):
        when += timedelta(days=1)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1000


def format_utc(ns: int) -> str:
    """ns UTC as ``2024-01-02T13:00:00Z``."""
    return f"{np.datetime_as_string(np.datetime64(int(ns), 'ns'), unit='s')}Z"


def period_ns(granularity: str) -> int:
    """The bar period of a granularity in ns (the granularities of TIMEFRAME_SECONDS)."""
    return timeframe_seconds(granularity) * NS_PER_SECOND


def plan_windows(start_ns: int, end_ns: int, granularity: str,
                 page_size: int = MAX_PAGE) -> list[tuple[int, int]]:
    """Windows ``(from, to)`` covering ``[start_ns, end_ns)``, each <= ``page_size`` periods.

    Window boundaries after the first are aligned to the bar period, so every window
    holds at most ``page_size`` candles whatever the start.

    Raises:
        ValueError: if ``page_size`` is not in 1..5000.
    """
    if not 1 <= page_size <= MAX_PAGE:
        raise ValueError(f"page size {page_size}; allowed: 1..{MAX_PAGE}")
    period = period_ns(granularity)
    span = page_size * period
    windows: list[tuple[int, int]] = []
    a = start_ns
    while a < end_ns:
        b = min(end_ns, (a // period) * period + span)
        windows.append((a, b))
        a = b
    return windows


@dataclass(frozen=True)
class DownloadState:
    """Where a download stands; saved after every page."""

    symbol: str
    granularity: str
    start_ns: int
    end_ns: int
    cursor_ns: int  # every window before this is fetched and staged
    last_complete_ns: int | None = None  # newest complete candle staged so far
    pages: int = 0  # windows fetched
    candles: int = 0  # candles staged (before de-duplication)
    version: int = STATE_VERSION

    @classmethod
    def new(cls, symbol: str, granularity: str, start_ns: int, end_ns: int) -> DownloadState:
        """A download that has fetched nothing yet."""
        return cls(symbol, granularity, start_ns, end_ns, cursor_ns=start_ns)

    @property
    def done(self) -> bool:
        """Whether every window up to ``end_ns`` is fetched."""
        return self.cursor_ns >= self.end_ns

    def advance(self, window_end: int, rows: Sequence[CandleRow]) -> DownloadState:
        """The state after fetching the window ending at ``window_end``."""
        last = max((r[0] for r in rows), default=None)
        if self.last_complete_ns is not None and (last is None or last < self.last_complete_ns):
            last = self.last_complete_ns
        return replace(self, cursor_ns=max(self.cursor_ns, window_end), last_complete_ns=last,
                       pages=self.pages + 1, candles=self.candles + len(rows))

    def to_json(self) -> bytes:
        """The state as JSON (with readable times beside the ns)."""
        doc: dict[str, Any] = asdict(self)
        doc["readable"] = {k: format_utc(v) for k, v in (
            ("start", self.start_ns), ("end", self.end_ns), ("cursor", self.cursor_ns),
            ("last_complete", self.last_complete_ns)) if v is not None}
        return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, source: str) -> DownloadState:
        """Parse :meth:`to_json` output.

        Raises:
            ValueError: naming ``source`` and the bad key.
        """
        doc = _json(data, source, dict, "a JSON object")
        if doc.get("version") != STATE_VERSION:
            raise ValueError(f"{source}: version {doc.get('version')!r}; "
                             f"allowed: {STATE_VERSION}")
        kwargs: dict[str, Any] = {}
        for key in ("symbol", "granularity"):
            if not isinstance(doc.get(key), str):
                raise ValueError(f"{source}: key {key!r} must be a string")
            kwargs[key] = doc[key]
        for key in ("start_ns", "end_ns", "cursor_ns", "pages", "candles"):
            if not isinstance(doc.get(key), int):
                raise ValueError(f"{source}: key {key!r} must be an integer")
            kwargs[key] = doc[key]
        last = doc.get("last_complete_ns")
        if last is not None and not isinstance(last, int):
            raise ValueError(f"{source}: key 'last_complete_ns' must be an integer or null")
        return cls(last_complete_ns=last, **kwargs)


def staging_paths(downloads_dir: Path, symbol: str, granularity: str) -> tuple[Path, Path]:
    """(state file ``<SYMBOL>-<GRAN>.json``, page folder ``<SYMBOL>-<GRAN>/``)."""
    stem = f"{symbol.upper()}-{granularity}"
    return downloads_dir / f"{stem}.json", downloads_dir / stem


def page_name(window_start: int) -> str:
    """The file name of the page of the window starting at ``window_start``."""
    return f"{window_start:020d}.json"


def encode_page(rows: Sequence[CandleRow]) -> bytes:
    """A page as compact JSON: ``[[ts, o, h, l, c, v], …]``."""
    return json.dumps([list(r) for r in rows], separators=(",", ":")).encode()


def decode_page(data: bytes, source: str) -> list[CandleRow]:
    """Parse :func:`encode_page` output.

    Raises:
        ValueError: naming ``source`` and the bad row.
    """
    doc = _json(data, source, list, "a JSON list of candles")
    rows: list[CandleRow] = []
    for i, r in enumerate(doc, start=1):
        if not (isinstance(r, list) and len(r) == 6 and isinstance(r[0], int)):
            raise ValueError(f"{source}: row {i} is not [ts, open, high, low, close, volume]")
        rows.append((r[0], float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5])))
    return rows


def merge_pages(pages: Iterable[Sequence[CandleRow]], start_ns: int | None = None,
                end_ns: int | None = None) -> list[CandleRow]:
    """Candles of all pages sorted by time, one per timestamp (the later page wins),
    restricted to ``[start_ns, end_ns)`` when given."""
    by_ts: dict[int, CandleRow] = {}
    for rows in pages:
        for r in rows:
            if (start_ns is None or r[0] >= start_ns) and (end_ns is None or r[0] < end_ns):
                by_ts[r[0]] = r
    return [by_ts[ts] for ts in sorted(by_ts)]


def rows_to_raw(rows: Sequence[CandleRow], source: str) -> RawBars:
    """Candles as RawBars for :func:`~fxconsole.market.validate.clean_bars` (row = 1-based)."""
    table = np.asarray([r[1:] for r in rows], dtype=np.float64).reshape(-1, 5)
    return RawBars(
        source=source,
        ts=np.asarray([r[0] for r in rows], dtype=np.int64),
        open=np.ascontiguousarray(table[:, 0]), high=np.ascontiguousarray(table[:, 1]),
        low=np.ascontiguousarray(table[:, 2]), close=np.ascontiguousarray(table[:, 3]),
        volume=np.ascontiguousarray(table[:, 4]),
        row=np.arange(1, len(rows) + 1, dtype=np.int64),
    )


def _json(data: bytes, source: str, kind: type, what: str) -> Any:
    """``data`` parsed as JSON of type ``kind``.

    Raises:
        ValueError: naming ``source``: not JSON, or not ``what``.
    """
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(doc, kind):
        raise ValueError(f"{source}: expected {what}")
    return doc
