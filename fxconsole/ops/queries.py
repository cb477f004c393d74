"""Read helpers over the console database for ``fxconsole status`` and the UI.

Every function is one or two autocommit SELECTs returning frozen dataclasses; none writes
or takes the write lock, so readers never wait for the workers (WAL). Lists are newest
first unless said otherwise.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from fxconsole.numfmt import finite_or_none
from fxconsole.ops.commands import COLUMNS as COMMAND_COLUMNS
from fxconsole.ops.commands import Command
from fxconsole.trading.metrics import trade_metrics

ACTOR_MESSAGE = "ray actor on "  # how a Ray actor's row message starts (the driver's)


@dataclass(frozen=True)
class WorkerRow:
    """A worker's state as the supervisor recorded it, with its last heartbeat."""

    name: str
    role: str
    state: str
    pid: int | None
    started: float | None
    stopped: float | None
    restarts: int
    exit_code: int | None
    heartbeat_timeout: float | None
    message: str
    updated: float
    heartbeat_ts: float | None
    heartbeat_step: int | None
    heartbeat_info: dict[str, Any] | None

    @property
    def actor(self) -> bool:
        """Whether this is a Ray actor's row (kept by the cluster driver)."""
        info = self.heartbeat_info or {}  # the driver's own has "nodes", not "node"
        return (info.get("backend") == "ray" and "node" in info) or \
            self.message.startswith(ACTOR_MESSAGE)

    @property
    def node(self) -> str:
        """Where it runs: a Ray actor's node address (``pending`` before Ray placed it and
        it answered), ``local`` for a local process."""
        if not self.actor:
            return "local"
        return str((self.heartbeat_info or {}).get("node") or "pending")


@dataclass(frozen=True)
class MetricValue:
    """One metric row (``value`` is None where a NaN was written)."""

    ts: float
    run: str
    worker: str
    key: str
    step: int
    value: float | None


@dataclass(frozen=True)
class TradeRow:
    """One closed trade (timestamps in UNIX seconds)."""

    id: int
    ts: float
    run: str
    worker: str
    source: str
    side: str
    entry_ts: float | None
    exit_ts: float | None
    entry_price: float | None
    exit_price: float | None
    pips: float | None
    max_dd: float | None
    bars_held: int | None
    forced: bool
    timesteps: int | None


@dataclass(frozen=True)
class TradeStats:
    """Expectancy and win rate (SPEC §6) of a run's last ``window`` trades (``None``:
    undefined, e.g. without trades)."""

    run: str
    trades: int
    expectancy: float | None
    win_rate: float | None
    sqn: float | None
    total_pips: float


@dataclass(frozen=True)
class CheckpointRow:
    """A checkpoint registry row (one per run and tag)."""

    id: int
    run: str
    tag: str
    model_file: str
    sha256: str
    timesteps: int
    created: float
    manifest_path: str
    metrics: dict[str, Any]


@dataclass(frozen=True)
class EventRow:
    """An event or alert."""

    id: int
    ts: float
    level: str
    source: str
    kind: str
    message: str
    data: dict[str, Any]


@dataclass(frozen=True)
class RunRow:
    """A training run."""

    name: str
    agent: str
    created: float
    config: dict[str, Any]
    state: str


def workers(conn: sqlite3.Connection) -> list[WorkerRow]:
    """Every worker by name, with its last heartbeat (None if it never beat)."""
    rows = conn.execute(
        "SELECT w.name, w.role, w.state, w.pid, w.started, w.stopped, w.restarts, w.exit_code,"
        " w.heartbeat_timeout, w.message, w.updated, h.ts, h.step, h.info"
        " FROM workers w LEFT JOIN heartbeats h ON h.worker = w.name ORDER BY w.name"
    ).fetchall()
    return [WorkerRow(*_json_at(row, 13)) for row in rows]


_METRIC = "m.ts, m.run, m.worker, m.key, m.step, m.value"
_ALL_KEYS = (
    "k(key) AS (SELECT (SELECT MIN(key) FROM metrics WHERE run = :run)"
    " UNION ALL SELECT (SELECT MIN(key) FROM metrics WHERE run = :run AND key > k.key)"
    " FROM k WHERE k.key IS NOT NULL)"
)
# Per key: the run's row with the key's newest timestamp if this run wrote it last (so a
# rollback's lower steps show at once), else the run's highest step. Both are index seeks.
_LATEST = (
    f"SELECT {_METRIC} FROM k JOIN metrics m ON m.rowid = COALESCE("
    "(SELECT n.rowid FROM metrics n INDEXED BY metrics_key_ts WHERE n.key = k.key"
    " AND n.ts >= (SELECT MAX(ts) FROM metrics WHERE key = k.key) AND n.run = :run"
    " ORDER BY n.ts DESC, n.rowid DESC LIMIT 1),"
    "(SELECT n.rowid FROM metrics n INDEXED BY metrics_run_key_step WHERE n.run = :run"
    " AND n.key = k.key ORDER BY n.step DESC, n.rowid DESC LIMIT 1))"
)


def latest_metrics(
    conn: sqlite3.Connection, run: str | None = None, keys: list[str] | None = None
) -> dict[str, MetricValue]:
    """The latest value of each metric key of a run.

    Latest means most recently written; for a key another run wrote since, the highest
    step. A handful of index seeks per key, whatever the size of the table.

    Args:
        conn: the connection.
        run: the run; None means the run of the most recently written metric.
        keys: the keys wanted (missing ones are left out); None means all of the run's.

    Returns:
        ``{key: MetricValue}`` in key order (empty if there is nothing).
    """
    if run is None:
        row = conn.execute("SELECT run FROM metrics ORDER BY rowid DESC LIMIT 1").fetchone()
        if row is None:
            return {}
        run = str(row[0])
    params: dict[str, Any] = {"run": run}
    if keys is None:
        head = f"WITH RECURSIVE {_ALL_KEYS} "
    elif not keys:
        return {}
    else:
        params |= {f"k{i}": key for i, key in enumerate(keys)}
        head = f"WITH k(key) AS (VALUES {', '.join(f'(:k{i})' for i in range(len(keys)))}) "
    rows = conn.execute(head + _LATEST + " ORDER BY m.key", params).fetchall()
    return {row[3]: MetricValue(*row) for row in rows}


def metric_series(
    conn: sqlite3.Connection, run: str, key: str, since_step: int | None = None,
    limit: int = 2000,
) -> list[MetricValue]:
    """A key's values in step order (oldest first): the last ``limit`` after ``since_step``.

    ``since_step`` is exclusive, so a poller passes the last step it has.
    """
    rows = conn.execute(
        f"SELECT {_METRIC} FROM metrics m WHERE m.run = ? AND m.key = ? AND m.step > ?"
        " ORDER BY m.step DESC, m.rowid DESC LIMIT ?",
        (run, key, -(2**63) if since_step is None else since_step, limit),
    ).fetchall()
    return [MetricValue(*row) for row in reversed(rows)]


_TRADE = ("id, ts, run, worker, source, side, entry_ts, exit_ts, entry_price, exit_price,"
          " pips, max_dd, bars_held, forced, timesteps")


def recent_trades(
    conn: sqlite3.Connection, run: str | None = None, limit: int = 100,
    source: str | None = None,
) -> list[TradeRow]:
    """The last ``limit`` trades, of one run and/or source if given, newest first."""
    where, params = _where(run=run, source=source)
    rows = conn.execute(f"SELECT {_TRADE} FROM trades{where} ORDER BY id DESC LIMIT ?",
                        (*params, limit)).fetchall()
    return [TradeRow(*_replace_at(row, 13, bool(row[13]))) for row in rows]


def trade_stats(
    conn: sqlite3.Connection, run: str, window: int = 500, source: str | None = None
) -> TradeStats:
    """Expectancy, win rate, SQN and total pips over the run's last ``window`` trades."""
    where, params = _where(run=run, source=source)
    pips = [row[0] for row in conn.execute(
        f"SELECT pips FROM trades{where} AND pips IS NOT NULL ORDER BY id DESC LIMIT ?",
        (*params, window))]
    m = trade_metrics(pips)
    return TradeStats(run, m.trades, finite_or_none(m.expectancy), finite_or_none(m.win_rate),
                      finite_or_none(m.sqn), m.total_pips)


def checkpoints(conn: sqlite3.Connection, run: str | None = None) -> list[CheckpointRow]:
    """Registry rows (of one run if given), by run, then newest timesteps first."""
    where, params = _where(run=run)
    rows = conn.execute(
        "SELECT id, run, tag, model_file, sha256, timesteps, created, manifest_path, metrics"
        f" FROM checkpoints{where} ORDER BY run, timesteps DESC, tag", params).fetchall()
    return [CheckpointRow(*_json_at(row, 8)) for row in rows]


def recent_commands(conn: sqlite3.Connection, limit: int = 50) -> list[Command]:
    """The last ``limit`` commands, newest first (the audit trail)."""
    rows = conn.execute(f"SELECT {COMMAND_COLUMNS} FROM commands ORDER BY id DESC LIMIT ?",
                        (limit,)).fetchall()
    return [Command.from_row(row) for row in rows]


def recent_events(
    conn: sqlite3.Connection, limit: int = 100, since_ts: float | None = None
) -> list[EventRow]:
    """The last ``limit`` events (those after ``since_ts`` if given), newest first."""
    rows = conn.execute(
        "SELECT id, ts, level, source, kind, message, data FROM events WHERE ts > ?"
        " ORDER BY ts DESC, id DESC LIMIT ?",
        (float("-inf") if since_ts is None else since_ts, limit)).fetchall()
    return [EventRow(*_json_at(row, 6)) for row in rows]


def runs(conn: sqlite3.Connection) -> list[RunRow]:
    """Every run, newest first."""
    rows = conn.execute(
        "SELECT name, agent, created, config, state FROM runs ORDER BY created DESC, name"
    ).fetchall()
    return [RunRow(*_json_at(row, 3)) for row in rows]


@dataclass(frozen=True)
class OrderRow:
    """One order of the live worker's journal (times UNIX seconds)."""

    id: int
    client_id: str
    broker: str
    instrument: str
    units: int
    purpose: str
    created: float
    state: str
    decision_price: float | None
    fill_price: float | None
    filled_units: int | None
    reason: str
    code: str


def recent_orders(conn: sqlite3.Connection, run: str | None = None,
                  limit: int = 20) -> list[OrderRow]:
    """The journal's last ``limit`` orders (of one run if given), newest first."""
    where, params = _where(run=run)
    rows = conn.execute(
        "SELECT id, client_id, broker, instrument, units, purpose, created, state,"
        f" decision_price, fill_price, filled_units, reason, code FROM orders{where}"
        " ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
    return [OrderRow(*row) for row in rows]


def live_state(conn: sqlite3.Connection) -> dict[str, Any]:
    """The live worker's persistent state (switches, risk, position, last decisions…)
    by key, JSON decoded."""
    return {key: json.loads(value)
            for key, value in conn.execute("SELECT key, value FROM live_state")}


def _where(**filters: str | None) -> tuple[str, tuple[str, ...]]:
    """`` WHERE a = ? AND …`` for the filters that are not None (``WHERE 1`` if none)."""
    used = {name: value for name, value in filters.items() if value is not None}
    clause = " AND ".join(f"{name} = ?" for name in used) or "1"
    return f" WHERE {clause}", tuple(v for v in used.values() if v is not None)


def _replace_at(row: tuple[Any, ...], index: int, value: Any) -> list[Any]:
    values = list(row)
    values[index] = value
    return values


def _json_at(row: tuple[Any, ...], index: int) -> list[Any]:
    """``row`` with its JSON text column at ``index`` decoded (NULL stays None)."""
    return _replace_at(row, index, None if row[index] is None else json.loads(row[index]))


@dataclass(frozen=True)
class TuningTrialRow:
    """One trial of a tuning study as the console shows it."""

    study: str
    trial: int
    run: str
    state: str
    value: float | None
    params: dict[str, Any]
    note: str
    ts: float


def tuning_trials(conn: sqlite3.Connection, limit: int = 8) -> list[TuningTrialRow]:
    """The newest study's last ``limit`` trials, newest first (empty without a study)."""
    newest = conn.execute("SELECT study FROM tuning_trials ORDER BY ts DESC LIMIT 1").fetchone()
    if newest is None:
        return []
    rows = conn.execute(
        "SELECT study, trial, run, state, value, params, note, ts FROM tuning_trials"
        " WHERE study = ? ORDER BY trial DESC LIMIT ?", (newest[0], limit)).fetchall()
    return [TuningTrialRow(str(r[0]), int(r[1]), str(r[2]), str(r[3]),
                           None if r[4] is None else float(r[4]), _params(r[5]), str(r[6]),
                           float(r[7])) for r in rows]


def _params(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# -- the console's tables and detail views (issue 17) ----------------------------------


@dataclass(frozen=True)
class ValidationRow:
    """One examination of a checkpoint on a split (validation or test)."""

    id: int
    ts: float
    run: str
    sha256: str
    timesteps: int | None
    split: str
    validated: bool
    sqn: float | None
    expectancy: float | None
    trades: int | None
    report_path: str | None
    summary: dict[str, Any]


VALIDATION_COLUMNS = ("id, ts, run, sha256, timesteps, split, validated, sqn, expectancy,"
                      " trades, report_path, summary")


def _validation_row(row: tuple[Any, ...]) -> ValidationRow:
    return ValidationRow(*_replace_at(tuple(_json_at(row, 11)), 6, bool(row[6])))


def validations_of(conn: sqlite3.Connection, sha256: str) -> list[ValidationRow]:
    """Every examination of the model ``sha256`` (any run, any split), newest first."""
    rows = conn.execute(
        f"SELECT {VALIDATION_COLUMNS} FROM validations WHERE sha256 = ? ORDER BY id DESC",
        (sha256,)).fetchall()
    return [_validation_row(row) for row in rows]


def latest_validation(conn: sqlite3.Connection, run: str, split: str = "validation"
                      ) -> ValidationRow | None:
    """The run's newest examination on ``split``, if any."""
    row = conn.execute(
        f"SELECT {VALIDATION_COLUMNS} FROM validations WHERE run = ? AND split = ?"
        " ORDER BY id DESC LIMIT 1", (run, split)).fetchone()
    return None if row is None else _validation_row(row)


def worker_events(conn: sqlite3.Connection, worker: str, limit: int = 30) -> list[EventRow]:
    """The last ``limit`` events of a worker, newest first: those it wrote and the
    supervisor's about it (their message starts with its name)."""
    rows = conn.execute(
        "SELECT id, ts, level, source, kind, message, data FROM events WHERE source = ?"
        " OR (source = 'supervisor' AND (message LIKE ? ESCAPE '\\' OR message LIKE ?"
        " ESCAPE '\\')) ORDER BY ts DESC, id DESC LIMIT ?",
        (worker, _like_prefix(worker, " "), _like_prefix(worker, ":"), limit)).fetchall()
    return [EventRow(*_json_at(row, 6)) for row in rows]


def worker_commands(conn: sqlite3.Connection, worker: str, limit: int = 30) -> list[Command]:
    """The last ``limit`` commands to or about a worker (start, stop, restart…), newest
    first."""
    rows = conn.execute(
        f"SELECT {COMMAND_COLUMNS} FROM commands WHERE target = ?"
        " OR json_extract(args, '$.worker') = ? ORDER BY id DESC LIMIT ?",
        (worker, worker, limit)).fetchall()
    return [Command.from_row(row) for row in rows]


def trade(conn: sqlite3.Connection, trade_id: int) -> TradeRow | None:
    """The trade with this id, if it is (still) stored."""
    row = conn.execute(f"SELECT {_TRADE} FROM trades WHERE id = ?", (trade_id,)).fetchone()
    return None if row is None else TradeRow(*_replace_at(row, 13, bool(row[13])))


def trade_pips_since(conn: sqlite3.Connection, run: str, source: str,
                     since_ts: float) -> list[tuple[float, float]]:
    """``(closed at, pips)`` of the run's trades of ``source`` closed at or after
    ``since_ts`` (UNIX seconds; the close time is ``exit_ts``, else the row's ``ts``),
    oldest first."""
    rows = conn.execute(
        "SELECT COALESCE(exit_ts, ts), pips FROM trades WHERE run = ? AND source = ?"
        " AND ts >= ? AND pips IS NOT NULL ORDER BY id", (run, source, since_ts)).fetchall()
    return [(float(ts), float(pips)) for ts, pips in rows]


def trade_total_pips(conn: sqlite3.Connection, run: str, source: str) -> tuple[int, float]:
    """``(trades, pips)`` of every trade the run ever wrote for ``source`` (the running
    totals: pruned rows still count)."""
    row = conn.execute("SELECT trades, pips FROM trade_totals WHERE run = ? AND source = ?",
                       (run, source)).fetchone()
    return (0, 0.0) if row is None else (int(row[0]), float(row[1]))


def _like_prefix(text: str, then: str) -> str:
    """A LIKE pattern (escape ``\\``) for strings starting with ``text`` + ``then``."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}{then}%"


def worker_reason(conn: sqlite3.Connection, worker: str) -> str:
    """Why the worker last failed (its last error line; empty if none or unknown)."""
    try:
        row = conn.execute("SELECT reason FROM workers WHERE name = ?", (worker,)).fetchone()
    except sqlite3.OperationalError:  # a database from before the column
        return ""
    return "" if row is None or row[0] is None else str(row[0])
