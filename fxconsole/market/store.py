"""The DuckDB market store: bars, features, sessions (``data/market.duckdb``).

One writer at a time (the ``fxconsole data`` commands); workers open it read-only.
Every change of a series — its bars, features and sessions — is one transaction, so a
failed import leaves the store as it was.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa
import numpy.typing as npt

from fxconsole.market.bars import F64, I64, Bars
from fxconsole.market.features import FEATURE_NAMES, FEATURE_SPEC_VERSION
from fxconsole.market.sessions import SPLITS

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FEATURES_TABLE = f"features_v{FEATURE_SPEC_VERSION}"


@dataclass(frozen=True)
class FeatureSet:
    """What the stored features of a series were computed from."""

    symbol: str
    timeframe: str
    spec_version: int
    bars_fingerprint: str
    params: dict[str, Any]
    rows: int


@dataclass(frozen=True)
class SeriesInfo:
    """One stored (symbol, timeframe) series."""

    symbol: str
    timeframe: str
    rows: int
    first_ts: np.datetime64
    last_ts: np.datetime64


@dataclass(frozen=True)
class FeatureTable:
    """Stored features of a series, row-aligned with its bars."""

    ts: I64
    values: F64  # (n, len(FEATURE_NAMES))
    sigma20: F64
    outcome: npt.NDArray[np.int8]  # −1 where undefined


def _ddl() -> list[str]:
    feature_cols = ", ".join(f'"{name}" DOUBLE' for name in FEATURE_NAMES)
    return [
        "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        """CREATE TABLE IF NOT EXISTS bars (symbol VARCHAR NOT NULL, timeframe VARCHAR NOT NULL,
           ts TIMESTAMP NOT NULL, open DOUBLE NOT NULL, high DOUBLE NOT NULL,
           low DOUBLE NOT NULL, close DOUBLE NOT NULL, volume DOUBLE NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS feature_sets (symbol VARCHAR, timeframe VARCHAR,
           spec_version INTEGER, bars_fingerprint VARCHAR, params VARCHAR, rows BIGINT,
           computed_at TIMESTAMP DEFAULT current_timestamp,
           PRIMARY KEY (symbol, timeframe, spec_version))""",
        f"""CREATE TABLE IF NOT EXISTS {FEATURES_TABLE} (symbol VARCHAR, timeframe VARCHAR,
           idx BIGINT, ts TIMESTAMP, {feature_cols}, sigma20_pips DOUBLE, outcome TINYINT)""",
        """CREATE TABLE IF NOT EXISTS sessions (symbol VARCHAR, timeframe VARCHAR,
           spec_version INTEGER, start_index BIGINT, start_ts TIMESTAMP, split VARCHAR)""",
    ]


class MarketStore:
    """A connection to the market store. Use as a context manager."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        if read_only and not path.exists():
            raise FileNotFoundError(
                f"no market store at {path}; run `fxconsole data synth` or `fxconsole data import`"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(path), read_only=read_only)
        if not read_only:
            self._migrate()

    def __enter__(self) -> MarketStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def _migrate(self) -> None:
        for stmt in _ddl():
            self.con.execute(stmt)
        self.con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
        )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: commit on success, roll back on any exception."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    # --- bars -------------------------------------------------------------------------

    def load_bars(self, symbol: str, timeframe: str) -> Bars | None:
        """The stored bars of a series, or None if there are none."""
        got = self.con.execute(
            """SELECT epoch_ns(ts) AS ts, open, high, low, close, volume FROM bars
               WHERE symbol = ? AND timeframe = ? ORDER BY ts""",
            [symbol, timeframe],
        ).fetchnumpy()
        if len(got["ts"]) == 0:
            return None
        col = {k: np.ascontiguousarray(v) for k, v in got.items()}
        return Bars(symbol, timeframe, col["ts"].astype(np.int64), col["open"], col["high"],
                    col["low"], col["close"], col["volume"])

    def replace_bars(self, bars: Bars) -> None:
        """Replace the stored bars of ``bars``' series (call inside a transaction)."""
        self.con.execute(
            "DELETE FROM bars WHERE symbol = ? AND timeframe = ?", [bars.symbol, bars.timeframe]
        )
        import pyarrow as pa  # writes only: readers (the live worker) never load pyarrow

        table = pa.table({
            "ts": pa.array(bars.ts, type=pa.timestamp("ns")),
            "open": bars.open, "high": bars.high, "low": bars.low,
            "close": bars.close, "volume": bars.volume,
        })
        self.con.register("_new_bars", table)
        try:
            self.con.execute(
                """INSERT INTO bars SELECT ?, ?, CAST(ts AS TIMESTAMP), open, high, low, close,
                   volume FROM _new_bars""",
                [bars.symbol, bars.timeframe],
            )
        finally:
            self.con.unregister("_new_bars")

    def series(self) -> list[SeriesInfo]:
        """Every stored series with its row count and time range."""
        rows = self.con.execute(
            """SELECT symbol, timeframe, count(*), min(ts), max(ts) FROM bars
               GROUP BY symbol, timeframe ORDER BY symbol, timeframe"""
        ).fetchall()
        return [SeriesInfo(s, tf, int(n), np.datetime64(a), np.datetime64(b))
                for s, tf, n, a, b in rows]

    # --- features and sessions --------------------------------------------------------

    def feature_set(self, symbol: str, timeframe: str) -> FeatureSet | None:
        """What the current features of a series were computed from, if any."""
        row = self.con.execute(
            """SELECT bars_fingerprint, params, rows FROM feature_sets
               WHERE symbol = ? AND timeframe = ? AND spec_version = ?""",
            [symbol, timeframe, FEATURE_SPEC_VERSION],
        ).fetchone()
        if row is None:
            return None
        return FeatureSet(symbol, timeframe, FEATURE_SPEC_VERSION, row[0], json.loads(row[1]),
                          int(row[2]))

    def write_features(
        self, feature_set: FeatureSet, table: FeatureTable, sessions: dict[str, I64]
    ) -> None:
        """Replace a series' features and session index (call inside a transaction).

        Args:
            feature_set: what they were computed from.
            table: the features, row-aligned with the stored bars.
            sessions: valid session start indexes per split name (``"none"`` for starts
                whose bars straddle two splits).
        """
        key = [feature_set.symbol, feature_set.timeframe]
        self.con.execute(f"DELETE FROM {FEATURES_TABLE} WHERE symbol = ? AND timeframe = ?", key)
        self.con.execute(
            "DELETE FROM sessions WHERE symbol = ? AND timeframe = ? AND spec_version = ?",
            [*key, feature_set.spec_version],
        )
        self.con.execute(
            "DELETE FROM feature_sets WHERE symbol = ? AND timeframe = ? AND spec_version = ?",
            [*key, feature_set.spec_version],
        )
        import pyarrow as pa

        columns: dict[str, Any] = {
            "idx": np.arange(table.ts.shape[0], dtype=np.int64),
            "ts": pa.array(table.ts, type=pa.timestamp("ns")).cast(pa.timestamp("us")),
        }
        for i, name in enumerate(FEATURE_NAMES):
            columns[name] = pa.array(table.values[:, i], from_pandas=True)  # NaN → NULL
        columns["sigma20_pips"] = pa.array(table.sigma20, from_pandas=True)
        columns["outcome"] = pa.array(table.outcome, mask=table.outcome < 0)
        self._insert(FEATURES_TABLE, pa.table(columns), key)

        idx = np.concatenate([np.zeros(0, np.int64), *sessions.values()]).astype(np.int64)
        names = [k for k, v in sessions.items() for _ in range(len(v))]
        sess = pa.table({
            "spec_version": pa.array(np.full(idx.shape[0], feature_set.spec_version, np.int32)),
            "start_index": pa.array(idx),
            "start_ts": pa.array(table.ts[idx], type=pa.timestamp("ns")).cast(pa.timestamp("us")),
            "split": pa.array(names, type=pa.string()),
        })
        self._insert("sessions", sess, key)
        self.con.execute(
            "INSERT INTO feature_sets (symbol, timeframe, spec_version, bars_fingerprint, params,"
            " rows) VALUES (?, ?, ?, ?, ?, ?)",
            [*key, feature_set.spec_version, feature_set.bars_fingerprint,
             json.dumps(feature_set.params, sort_keys=True), feature_set.rows],
        )

    def _insert(self, target: str, table: pa.Table, key: list[str]) -> None:
        cols = ", ".join(f'"{c}"' for c in table.column_names)
        self.con.register("_new_rows", table)
        try:
            self.con.execute(
                f"INSERT INTO {target} (symbol, timeframe, {cols}) "
                f"SELECT ?, ?, {cols} FROM _new_rows",
                key,
            )
        finally:
            self.con.unregister("_new_rows")

    def load_features(self, symbol: str, timeframe: str) -> FeatureTable:
        """The stored features of a series (NaN where undefined).

        Raises:
            LookupError: if none are stored.
        """
        names = ", ".join(f'"{n}"' for n in FEATURE_NAMES)
        got = self.con.execute(
            f"""SELECT epoch_ns(ts) AS ts, {names}, sigma20_pips, outcome
                FROM {FEATURES_TABLE} WHERE symbol = ? AND timeframe = ? ORDER BY idx""",
            [symbol, timeframe],
        ).fetchnumpy()
        if len(got["ts"]) == 0:
            raise LookupError(f"no features stored for {symbol} {timeframe}")
        values = np.column_stack([_as_float(got[n]) for n in FEATURE_NAMES])
        outcome = np.ma.filled(np.ma.asarray(got["outcome"]).astype(np.int16), -1)
        return FeatureTable(np.asarray(got["ts"], dtype=np.int64), values,
                            _as_float(got["sigma20_pips"]), outcome.astype(np.int8))

    def load_sessions(self, symbol: str, timeframe: str, split: str) -> I64:
        """Valid session start indexes of one split (or ``"none"``: the starts whose bars
        straddle two splits), ascending.

        Raises:
            ValueError: for an unknown split name.
        """
        if split not in (*SPLITS, "none"):
            raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
        got = self.con.execute(
            """SELECT start_index FROM sessions WHERE symbol = ? AND timeframe = ?
               AND spec_version = ? AND split = ? ORDER BY start_index""",
            [symbol, timeframe, FEATURE_SPEC_VERSION, split],
        ).fetchnumpy()
        return np.asarray(got["start_index"], dtype=np.int64)

    def session_counts(self, symbol: str, timeframe: str) -> dict[str, int]:
        """Number of valid session starts per split."""
        rows = self.con.execute(
            """SELECT split, count(*) FROM sessions WHERE symbol = ? AND timeframe = ?
               AND spec_version = ? GROUP BY split""",
            [symbol, timeframe, FEATURE_SPEC_VERSION],
        ).fetchall()
        counts = dict.fromkeys(SPLITS, 0)
        counts.update({str(k): int(v) for k, v in rows})
        return counts


def _as_float(col: Any) -> F64:
    return np.asarray(np.ma.filled(np.ma.asarray(col, dtype=np.float64), np.nan))


def _atomic_copy(con: duckdb.DuckDBPyConnection, query: str, params: list[Any],
                 out: Path) -> int:
    """COPY a query to ``out`` (CSV or Parquet by suffix) via a temp file and a rename."""
    suffix = out.suffix.lower()
    if suffix not in {".csv", ".parquet"}:
        raise ValueError(f"{out}: unsupported suffix {out.suffix!r}; allowed: .csv, .parquet")
    fmt = "FORMAT parquet" if suffix == ".parquet" else "FORMAT csv, HEADER true"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _export AS {query}", params)
        n = int(con.execute("SELECT count(*) FROM _export").fetchone()[0])  # type: ignore[index]
        quoted = tmp.as_posix().replace("'", "''")
        con.execute(f"COPY _export TO '{quoted}' ({fmt})")
        con.execute("DROP TABLE _export")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def export_series(store: MarketStore, symbol: str, timeframe: str, out: Path) -> int:
    """Write ts (ISO-8601 UTC), OHLCV, every feature and the outcome; return the row count.

    Undefined values are empty cells (NULL). Raises LookupError if nothing is stored.
    """
    if store.feature_set(symbol, timeframe) is None:
        raise LookupError(f"no features stored for {symbol} {timeframe}")
    names = ", ".join(f'f."{n}"' for n in FEATURE_NAMES)
    query = f"""SELECT strftime(b.ts, '%Y-%m-%dT%H:%M:%SZ') AS ts, b.open, b.high, b.low,
                b.close, b.volume, {names}, f.outcome
                FROM bars b JOIN {FEATURES_TABLE} f ON f.symbol = b.symbol
                AND f.timeframe = b.timeframe AND f.ts = b.ts
                WHERE b.symbol = ? AND b.timeframe = ? ORDER BY b.ts"""
    return _atomic_copy(store.con, query, [symbol, timeframe], out)


def export_sessions(store: MarketStore, symbol: str, timeframe: str, split: str,
                    out: Path) -> int:
    """Write the valid session starts of a split (start_ts, start_index); return the count."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    if store.feature_set(symbol, timeframe) is None:
        raise LookupError(f"no sessions stored for {symbol} {timeframe}")
    query = """SELECT strftime(start_ts, '%Y-%m-%dT%H:%M:%SZ') AS start_ts, start_index
               FROM sessions WHERE symbol = ? AND timeframe = ? AND spec_version = ?
               AND split = ? ORDER BY start_index"""
    return _atomic_copy(store.con, query, [symbol, timeframe, FEATURE_SPEC_VERSION, split], out)


def feature_summary(store: MarketStore, symbol: str, timeframe: str) -> list[tuple[Any, ...]]:
    """Per feature: (name, defined rows, mean, std, min, max)."""
    parts = [
        f"""SELECT {i} AS k, '{n}', count("{n}"), avg("{n}"), stddev_samp("{n}"), min("{n}"),
            max("{n}") FROM {FEATURES_TABLE} WHERE symbol = $1 AND timeframe = $2"""
        for i, n in enumerate((*FEATURE_NAMES, "sigma20_pips", "outcome"))
    ]
    query = f"SELECT * EXCLUDE (k) FROM ({' UNION ALL '.join(parts)}) ORDER BY k"
    return store.con.execute(query, [symbol, timeframe]).fetchall()
