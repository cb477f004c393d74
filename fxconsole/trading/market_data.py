"""One series' market arrays, loaded once and shared by every environment of a process.

:class:`MarketData` holds what the environment reads: timestamps, closes, raw σ20, the 11
features and the valid session starts of each split. Its arrays are read-only views into
one packed ``(n, TABLE_COLUMNS)`` table (:attr:`MarketData.table`), so the numba core gets
a single contiguous array and nothing is held twice.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fxconsole.config import DataConfig
from fxconsole.market.bars import F64, I64, Bars, pip_size
from fxconsole.market.features import N_FEATURES
from fxconsole.market.sessions import SPLITS
from fxconsole.trading.core import CLOSE_COL, SIGMA_COL, TABLE_COLUMNS

logger = logging.getLogger(__name__)

_CACHE_SIZE = 4
_cache: dict[tuple[str, str, str, int], MarketData] = {}


@dataclass(frozen=True, eq=False)
class MarketData:
    """The arrays of one (symbol, timeframe) series that the trading environment reads.

    Attributes:
        symbol: the symbol, e.g. ``"GBPJPY"``.
        timeframe: the bar timeframe, e.g. ``"M1"``.
        pip: the pip size of the symbol.
        ts: bar open times, int64 ns UTC, ``(n,)``.
        close: closes, ``(n,)``.
        sigma20: raw σ20 in pips (NaN where undefined), ``(n,)``.
        features: ``(n, 11)`` in ``FEATURE_NAMES`` order.
        sessions: valid session start rows per split (``"train"``, ``"validation"``,
            ``"test"``), ascending int64.
    """

    symbol: str
    timeframe: str
    pip: float
    ts: I64
    close: F64
    sigma20: F64
    features: F64
    sessions: dict[str, I64]
    _derived: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        n = int(np.shape(self.ts)[0])
        features = np.asarray(self.features, dtype=np.float64)
        if features.shape != (n, N_FEATURES):
            raise ValueError(f"features must have shape ({n}, {N_FEATURES}), got {features.shape}")
        table = np.empty((n, TABLE_COLUMNS), dtype=np.float64)
        table[:, :N_FEATURES] = features
        table[:, CLOSE_COL] = _column("close", self.close, n)
        table[:, SIGMA_COL] = _column("sigma20", self.sigma20, n)
        ts = np.array(self.ts, dtype=np.int64)
        sessions = {split: _starts(split, self.sessions.get(split), n) for split in SPLITS}
        self._derived["straddling"] = _starts("none", self.sessions.get("none"), n)
        unknown = sorted(set(self.sessions) - set(SPLITS) - {"none"})
        if unknown:
            raise ValueError(f"unknown split(s) {unknown}; allowed: {', '.join(SPLITS)}")
        for name, value in (("ts", ts), ("close", table[:, CLOSE_COL]),
                            ("sigma20", table[:, SIGMA_COL]),
                            ("features", table[:, :N_FEATURES])):
            value.flags.writeable = False
            object.__setattr__(self, name, value)
        object.__setattr__(self, "sessions", sessions)
        object.__setattr__(self, "pip", float(self.pip))
        self._derived["table"] = table

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @property
    def table(self) -> F64:
        """The packed ``(n, TABLE_COLUMNS)`` array of features, close and σ20.

        It is shared by every environment on this data: never write to it. (It is left
        writeable because numba dispatches read-only arrays more slowly; the public
        column views are read-only.)
        """
        table: F64 = self._derived["table"]
        return table

    @classmethod
    def from_bars(cls, bars: Bars, data_cfg: DataConfig) -> MarketData:
        """Compute features and sessions in memory (no store): for tests and benchmarks."""
        from fxconsole.market.pipeline import compute_series  # the whole pipeline: lazily

        table, sessions = compute_series(bars, data_cfg)
        data = cls(bars.symbol, bars.timeframe, bars.pip, bars.ts, bars.close, table.sigma20,
                   table.values, {s: sessions.get(s, np.zeros(0, np.int64))
                                  for s in (*SPLITS, "none")})
        data.attach_bars(bars)
        return data

    @classmethod
    def from_store(cls, db_path: Path | str, symbol: str, timeframe: str) -> MarketData:
        """Load a series from the market store (opened read-only, closed after loading).

        Raises:
            FileNotFoundError: if there is no store at ``db_path``.
            LookupError: if the store has no bars or features for the series.
        """
        path = Path(db_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"no market store at {path}; run `fxconsole data synth` (or "
                "`fxconsole data import FILE`) in this workspace first"
            )
        from fxconsole.market.store import MarketStore  # duckdb: only when reading the store

        with MarketStore(path, read_only=True) as store:
            bars = store.load_bars(symbol, timeframe)
            if bars is None:
                stored = ", ".join(f"{s.symbol} {s.timeframe}" for s in store.series()) or "none"
                raise LookupError(
                    f"{path}: no bars stored for {symbol} {timeframe} (stored: {stored}); "
                    f"run `fxconsole data synth --symbol {symbol} --timeframe {timeframe}`"
                )
            if store.feature_set(symbol, timeframe) is None:
                raise LookupError(f"{path}: no features for {symbol} {timeframe}; "
                                  "run `fxconsole data build`")
            feats = store.load_features(symbol, timeframe)
            sessions = {s: store.load_sessions(symbol, timeframe, s) for s in (*SPLITS, "none")}
        if not np.array_equal(feats.ts, bars.ts):
            raise LookupError(f"{path}: the features of {symbol} {timeframe} do not match its "
                              "bars; run `fxconsole data build --force`")
        logger.info("loaded %s %s from %s: %d rows, sessions %s", symbol, timeframe, path,
                    len(bars), {k: len(v) for k, v in sessions.items()})
        data = cls(symbol, timeframe, pip_size(symbol), bars.ts, bars.close, feats.sigma20,
                   feats.values, sessions)
        data.attach_bars(bars)
        return data

    def attach_bars(self, bars: Bars) -> None:
        """Keep the bars' open, high and low for :meth:`fingerprint` (same rows as ``ts``).

        Raises:
            ValueError: if ``bars`` are not this series' bars.
        """
        if not np.array_equal(bars.ts, self.ts):
            raise ValueError("attach_bars: the bars' timestamps differ from the series'")
        self._derived["ohlc"] = (bars.open, bars.high, bars.low)

    def outcome(self) -> npt.NDArray[np.int8]:
        """The market outcome label of each row (SPEC §2; −1 where undefined): a training
        target of MuZero's chance nodes, never an observation. Computed once."""
        if "outcome" not in self._derived:
            from fxconsole.market.features import compute_outcome

            self._derived["outcome"] = compute_outcome(self.close, self.sigma20, self.pip)
        out: npt.NDArray[np.int8] = self._derived["outcome"]
        return out

    def all_starts(self) -> I64:
        """Every valid session start, of any split or straddling two, ascending."""
        key = "all_starts"
        if key not in self._derived:
            parts = [*(self.sessions[s] for s in SPLITS), self._derived["straddling"]]
            # the parts are disjoint: a sort is enough (np.unique hashes, 15× slower)
            self._derived[key] = np.sort(np.concatenate(parts)).astype(np.int64)
        starts: I64 = self._derived[key]
        return starts

    def rows_between(self, lo_ns: int, hi_ns: int) -> tuple[int, int]:
        """The row range ``[i, j)`` of the bars with ``lo_ns ≤ ts < hi_ns``."""
        return (int(np.searchsorted(self.ts, lo_ns, "left")),
                int(np.searchsorted(self.ts, hi_ns, "left")))

    def fingerprint(self, lo_ns: int, hi_ns: int) -> tuple[int, str]:
        """Row count and sha256 of the bars with ``lo_ns ≤ ts < hi_ns`` (SPEC §6.1).

        The hash covers ts, open, high, low and close (int64 / float64 bytes, column by
        column); without attached bars (a series built from arrays) ts and close only.
        """
        key = ("fingerprint", int(lo_ns), int(hi_ns))
        if key not in self._derived:
            ohlc = self._derived.get("ohlc")
            columns = [*ohlc, self.close] if ohlc is not None else [self.close]
            self._derived[key] = fingerprint(self.ts, columns, lo_ns, hi_ns)
        result: tuple[int, str] = self._derived[key]
        return result

    def resplit(self, sessions: dict[str, I64]) -> MarketData:
        """The same series with other session starts per split (e.g. pinned bounds).

        The arrays are shared, not copied; the bars stay attached.
        """
        data = copy.copy(self)
        object.__setattr__(data, "sessions", {split: _starts(split, sessions.get(split), len(self))
                                              for split in SPLITS})
        kept = {k: v for k, v in self._derived.items()
                if k in ("table", "ohlc", "straddling", "outcome")}
        object.__setattr__(data, "_derived", kept)
        return data

    def session_counts(self) -> dict[str, int]:
        """Valid session starts per split."""
        return {split: int(starts.shape[0]) for split, starts in self.sessions.items()}

    def split_starts(self, split: str) -> I64:
        """The valid session starts of ``split``.

        Raises:
            ValueError: for an unknown split or one without sessions; the message gives
                the count of every split.
        """
        starts = self.sessions.get(split)
        if starts is None or starts.shape[0] == 0:
            problem = "unknown split" if starts is None else "no valid sessions in split"
            raise ValueError(
                f"{problem} {split!r} for {self.symbol} {self.timeframe}; sessions per split: "
                f"{self.session_counts()}"
            )
        return starts

    def covered_rows(self, split: str, session_bars: int) -> np.ndarray:
        """Mask of the distinct rows covered by the split's sessions ``[s, s + bars − 1]``."""
        starts = self.split_starts(split)
        edges = np.zeros(len(self) + 1, dtype=np.int64)
        np.add.at(edges, starts, 1)
        np.add.at(edges, np.minimum(starts + session_bars, len(self)), -1)
        return np.cumsum(edges[:-1]) > 0

    def gate_threshold(self, quantile: float = 0.5, session_bars: int = 360) -> float:
        """The ``quantile`` (linear) of σ20 over the distinct bars of the train sessions.

        Computed once per (quantile, session_bars) and cached on this object.

        Raises:
            ValueError: if the train split has no sessions.
        """
        key = ("gate", float(quantile), int(session_bars))
        if key not in self._derived:
            covered = self.covered_rows("train", session_bars)
            value = float(np.quantile(self.sigma20[covered], quantile))
            logger.info("gate threshold of %s %s: σ20 q%.2f = %.4f pips over %d train bars",
                        self.symbol, self.timeframe, quantile, value, int(covered.sum()))
            self._derived[key] = value
        result: float = self._derived[key]
        return result


def fingerprint(ts: I64, columns: list[Any], lo_ns: int, hi_ns: int) -> tuple[int, str]:
    """Row count and sha256 of ``ts`` and ``columns`` over the rows ``lo_ns ≤ ts < hi_ns``
    (int64 / float64 bytes, column by column): :meth:`MarketData.fingerprint`'s hash,
    with columns ``[open, high, low, close]`` for stored bars."""
    i, j = int(np.searchsorted(ts, lo_ns, "left")), int(np.searchsorted(ts, hi_ns, "left"))
    digest = hashlib.sha256()
    for column in (ts, *columns):
        digest.update(np.ascontiguousarray(column[i:j]).tobytes())
    return j - i, digest.hexdigest()


def _column(name: str, values: Any, n: int) -> F64:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {array.shape}")
    return array


def _starts(split: str, values: Any, n: int) -> I64:
    starts = np.array([] if values is None else values, dtype=np.int64).reshape(-1)
    if starts.size and (starts.min() < 0 or starts.max() >= n):
        raise ValueError(f"session starts of {split!r} must lie in [0, {n})")
    if starts.size > 1 and not np.all(np.diff(starts) > 0):
        starts = np.unique(starts)
    starts.flags.writeable = False
    return starts


def load_market_data(db_path: Path | str, symbol: str, timeframe: str) -> MarketData:
    """:meth:`MarketData.from_store`, cached per process (several envs share one copy).

    The cache key includes the store file's modification time, so a rebuilt store is
    loaded again.
    """
    path = Path(db_path).expanduser().resolve()
    mtime = path.stat().st_mtime_ns if path.is_file() else -1
    key = (str(path), symbol, timeframe, mtime)
    data = _cache.get(key)
    if data is None:
        data = MarketData.from_store(path, symbol, timeframe)
        while len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = data
    return data


def clear_market_data_cache() -> None:
    """Forget every cached :class:`MarketData`."""
    _cache.clear()
