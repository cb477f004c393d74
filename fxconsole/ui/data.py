"""One immutable snapshot of everything the console shows, read from the store.

:func:`read_snapshot` runs in the UI's reader thread on that thread's own connection: a
few autocommit SELECTs (:mod:`fxconsole.ops.queries`), the newest validation report's JSON
file, and CPU and memory of the worker processes (psutil). The screens render only what a
:class:`ConsoleSnapshot` holds, so the UI never keeps state that SQLite does not.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import psutil

from fxconsole.market.source_info import read_sources
from fxconsole.ops import queries
from fxconsole.ops.commands import Command
from fxconsole.ops.deploy_gate import checkpoint_status
from fxconsole.ops.queries import (
    EventRow,
    MetricValue,
    OrderRow,
    TradeRow,
    TuningTrialRow,
    ValidationRow,
    WorkerRow,
)
from fxconsole.ops.status import UNKNOWN, Supervision, workspace_supervision
from fxconsole.ui.alerts import active_alerts
from fxconsole.ui.lineage import Lineage, current_lineage
from fxconsole.workspace import Workspace

logger = logging.getLogger(__name__)

SERIES_KEYS = ("rollout/expectancy", "rollout/win_rate")
LIVE_PREFIX = "live/"
PROCESS_STATES = ("STARTING", "RUNNING", "STOPPING")
STALE_SECONDS = 10.0
PROBE_SECONDS = 2.0  # CPU % window of the workers table

ProcessSample = tuple[float | None, int | None]
Probe = Callable[[int], ProcessSample]
"""``pid → (CPU % of one core or None, resident bytes or None)``; (None, None) if gone."""


@dataclass(frozen=True)
class WorkerView:
    """A worker's row (state and heartbeat) with its process's CPU and memory."""

    row: WorkerRow
    cpu_percent: float | None
    rss_bytes: int | None
    node: str = "local"  # a Ray actor's node (host/IP); "local" for a local process

    @property
    def remote(self) -> bool:
        """Whether the worker runs on another node (a Ray actor)."""
        return self.node != "local"

    @property
    def name(self) -> str:
        """The worker's name (a command target)."""
        return self.row.name


@dataclass(frozen=True)
class CheckpointView:
    """One model of the run, with every tag that points at it and its validation."""

    run: str
    model_file: str
    sha256: str
    timesteps: int
    created: float
    tags: tuple[str, ...]
    train_sqn: float | None
    val_sqn: float | None
    validated: bool | None  # the validation split's verdict; None: never validated there
    status: str = "never validated"  # VALIDATED or not (ops.deploy_gate.checkpoint_status)

    @property
    def is_validated(self) -> bool:
        """Whether it is VALIDATED (SPEC §6.4: it passed its test examination), which an
        OANDA account requires (:mod:`fxconsole.ops.deploy_gate`)."""
        return self.status == "validated"

    @property
    def spec(self) -> str:
        """The command argument naming exactly this model (``RUN/models/….zip``)."""
        return f"{self.run}/{self.model_file}"

    @property
    def label(self) -> str:
        """``main @ 50,000 steps (latest, best)`` for confirmations and notifications."""
        return f"{self.run} @ {self.timesteps:,} steps ({', '.join(self.tags)})"


@dataclass(frozen=True)
class ValidationView:
    """The run's newest validation row and its full JSON report (if readable)."""

    row: ValidationRow
    report: Mapping[str, Any] | None
    report_error: str = ""


@dataclass(frozen=True)
class ConsoleSnapshot:
    """Everything the screens show, read at ``taken`` (UNIX seconds)."""

    run: str
    taken: float
    workers: tuple[WorkerView, ...]
    metrics: Mapping[str, MetricValue]
    series: Mapping[str, tuple[tuple[int, float], ...]]
    checkpoints: tuple[CheckpointView, ...]
    validation: ValidationView | None
    best_sqn: float | None
    live_trades: tuple[TradeRow, ...]
    live_state: Mapping[str, Any]
    orders: tuple[OrderRow, ...]
    events: tuple[EventRow, ...]
    commands: tuple[Command, ...]
    updated: float | None
    synthetic: bool = False  # the configured series' bars are synthetic (data synth)
    supervisor: Supervision | None = None  # None: not probed
    tuning: tuple[TuningTrialRow, ...] = ()  # the newest tuning study's last trials
    # steps training resumed from after a rollback (series hold the current lineage only)
    rollbacks: tuple[int, ...] = ()

    def value(self, key: str) -> float | None:
        """The latest value of a metric of the run (None if missing or NaN)."""
        metric = self.metrics.get(key)
        return None if metric is None else metric.value

    @property
    def live(self) -> dict[str, float | None]:
        """The ``live/*`` metrics, by key without the prefix."""
        return {k.removeprefix(LIVE_PREFIX): m.value for k, m in self.metrics.items()
                if k.startswith(LIVE_PREFIX)}

    def worker(self, name: str) -> WorkerView | None:
        """The worker with this name, if any."""
        return next((w for w in self.workers if w.name == name), None)

    def worker_for_role(self, role: str) -> str:
        """The name of the first worker with ``role`` (else the role itself)."""
        return next((w.name for w in self.workers if w.row.role == role), role)

    def stale_age(self, now: float) -> float | None:
        """Seconds since the last update if that is over :data:`STALE_SECONDS` while some
        worker is recorded as running (the supervisor stopped updating; ``inf`` if nothing
        was ever written); None while the data is fresh or nothing is meant to run."""
        if not any(w.row.state == "RUNNING" for w in self.workers):
            return None
        # a worker just started has not beaten yet: no verdict before it could have
        starts = [w.row.started for w in self.workers
                  if w.row.state in ("RUNNING", "STARTING") and w.row.started is not None]
        if starts and now - max(starts) <= STALE_SECONDS:
            return None
        age = math.inf if self.updated is None else now - self.updated
        return age if age > STALE_SECONDS else None

    @property
    def alerts(self) -> list[EventRow]:
        """The recent alerts neither acknowledged nor resolved, newest first."""
        return active_alerts(self.events, (w.row for w in self.workers), self.live)


class ProcessProbe:
    """CPU and memory of processes by pid; CPU % is measured over at least
    ``min_seconds`` between samples (a shorter window is noise, and every changed figure
    repaints the workers table)."""

    def __init__(self, min_seconds: float = PROBE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Start with no process known."""
        self.min_seconds, self.clock = min_seconds, clock
        self._procs: dict[int, psutil.Process] = {}
        self._last: dict[int, tuple[float, ProcessSample]] = {}

    def __call__(self, pid: int) -> ProcessSample:
        """Sample ``pid`` (or repeat its sample younger than ``min_seconds``); the first
        sample of a process has no CPU figure."""
        now = self.clock()
        last = self._last.get(pid)
        if last is not None and now - last[0] < self.min_seconds:
            return last[1]
        proc = self._procs.get(pid)
        first = proc is None
        try:
            if proc is None:
                proc = self._procs[pid] = psutil.Process(pid)
            with proc.oneshot():
                cpu, rss = proc.cpu_percent(None), int(proc.memory_info().rss)
        except psutil.Error:
            self._procs.pop(pid, None)
            self._last.pop(pid, None)
            return None, None
        sample: ProcessSample = (None if first else cpu), rss
        # the first call only starts the CPU window: sample again on the next read
        self._last[pid] = (-math.inf if first else now, sample)
        return sample

    def keep(self, pids: set[int]) -> None:
        """Forget the processes not in ``pids``."""
        for pid in set(self._procs) - pids:
            del self._procs[pid]
            self._last.pop(pid, None)


class ReportCache:
    """Parsed validation reports, re-read only when the file changes."""

    def __init__(self) -> None:
        """Start empty."""
        self._path: Path | None = None
        self._stamp = 0
        self._data: dict[str, Any] = {}

    def load(self, path: Path) -> dict[str, Any]:
        """The JSON object in ``path``.

        Raises:
            OSError: if it cannot be read.
            ValueError: if it is not a JSON object.
        """
        stamp = path.stat().st_mtime_ns
        if path != self._path or stamp != self._stamp:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"{path} does not hold a JSON object")
            self._path, self._stamp, self._data = path, stamp, data
        return self._data


def read_snapshot(
    conn: sqlite3.Connection, run: str, ws: Workspace, *,
    clock: Callable[[], float] = time.time, probe: Probe | None = None,
    reports: ReportCache | None = None, series_points: int = 200, rows: int = 50,
) -> ConsoleSnapshot:
    """Read everything the console shows for ``run``.

    Args:
        conn: a connection of the calling thread.
        run: the training run the workers follow (``Config.supervisor.run``).
        ws: the workspace (to resolve relative report paths).
        clock: UNIX time, stamped as ``taken``.
        probe: CPU and memory of a pid (None: not measured).
        reports: a cache of parsed reports (None: read the file every time).
        series_points: points of each chart series (the newest ones).
        rows: events and commands read (the newest ones).

    Returns:
        The snapshot.

    Raises:
        sqlite3.Error: if the database cannot be read.
    """
    taken = clock()
    supervisor = workspace_supervision(ws)
    workers = tuple(_worker_view(_supervised(row, supervisor), probe)
                    for row in queries.workers(conn))
    if isinstance(probe, ProcessProbe):
        probe.keep({w.row.pid for w in workers if w.row.pid is not None})
    verdicts = _verdicts(conn, run)
    lineages = {key: _lineage(conn, run, key, series_points) for key in SERIES_KEYS}
    checkpoint_rows = queries.checkpoints(conn, run)
    statuses = {sha: checkpoint_status(conn, sha) for sha in {r.sha256 for r in checkpoint_rows}}
    return ConsoleSnapshot(
        run=run, taken=taken, workers=workers,
        metrics=MappingProxyType(queries.latest_metrics(conn, run)),
        series=MappingProxyType({key: lin.points for key, lin in lineages.items()}),
        rollbacks=tuple(sorted({s for lin in lineages.values() for s in lin.rollbacks})),
        checkpoints=_checkpoints(checkpoint_rows, verdicts, statuses),
        validation=_latest_validation(conn, run, ws, reports or ReportCache()),
        best_sqn=max((sqn for _, sqn in verdicts.values() if sqn is not None), default=None),
        live_trades=tuple(queries.recent_trades(conn, run, limit=10, source="live")),
        live_state=MappingProxyType(queries.live_state(conn)),
        orders=tuple(queries.recent_orders(conn, run, limit=10)),
        events=tuple(queries.recent_events(conn, rows)),
        commands=tuple(queries.recent_commands(conn, rows)),
        updated=_newest_update(conn),
        synthetic=any(v.get("synthetic") for v in read_sources(ws.market_db).values()),
        tuning=tuple(queries.tuning_trials(conn)),
        supervisor=supervisor,
    )


def _supervised(row: WorkerRow, supervisor: Supervision) -> WorkerRow:
    """While the supervisor is down, a worker recorded as live is UNKNOWN (not RUNNING)."""
    if not supervisor.down or row.state not in (*PROCESS_STATES, "BACKOFF"):
        return row
    dead = f" {supervisor.dead_pid}" if supervisor.dead_pid else ""
    return replace(row, state=UNKNOWN,
                   message=f"supervisor{dead} is gone; last recorded {row.state}")


def _worker_view(row: WorkerRow, probe: Probe | None) -> WorkerView:
    # a Ray actor's pid lives on its node, not here: no CPU or memory figures for it
    node = row.node  # as `fxconsole status`
    row = _own_heartbeat(row)
    if probe is None or row.pid is None or row.state not in PROCESS_STATES or row.actor:
        return WorkerView(row, None, None, node)
    return WorkerView(row, *probe(row.pid), node=node)


def _own_heartbeat(row: WorkerRow) -> WorkerRow:
    """Without the heartbeat of a previous process: a worker started after its newest
    heartbeat has not beaten yet (its predecessor's age is not its own)."""
    if row.heartbeat_ts is None or row.started is None or row.heartbeat_ts >= row.started:
        return row
    return replace(row, heartbeat_ts=None, heartbeat_step=None, heartbeat_info=None)


LINEAGE_READ = 3  # points read per point shown, so a rollback's older lineage is found


def _lineage(conn: sqlite3.Connection, run: str, key: str,
             points: int) -> Lineage:
    """The newest points of a key in the order written, reduced to the current lineage
    (a rollback's abandoned timeline left out), its last ``points`` kept."""
    rows = conn.execute(
        "SELECT step, value FROM metrics WHERE run = ? AND key = ? AND value IS NOT NULL"
        " ORDER BY ts DESC, rowid DESC LIMIT ?", (run, key, points * LINEAGE_READ)).fetchall()
    lineage = current_lineage([(int(step), float(value)) for step, value in reversed(rows)])
    return replace(lineage, points=lineage.points[-points:])


def _verdicts(conn: sqlite3.Connection, run: str) -> dict[str, tuple[bool, float | None]]:
    """sha256 → (validated, SQN) of the run's newest validation-split verdict per model."""
    rows = conn.execute("SELECT sha256, validated, sqn FROM validations WHERE run = ?"
                        " AND split = 'validation' ORDER BY id", (run,)).fetchall()
    return {str(sha): (bool(ok), sqn) for sha, ok, sqn in rows}


def _checkpoints(rows: list[queries.CheckpointRow],
                 verdicts: Mapping[str, tuple[bool, float | None]],
                 statuses: Mapping[str, str]) -> tuple[CheckpointView, ...]:
    """One view per model (rows come newest first), with all its tags, its validation
    verdict and whether it is VALIDATED."""
    by_sha: dict[str, list[queries.CheckpointRow]] = {}
    for row in rows:
        by_sha.setdefault(row.sha256, []).append(row)
    views = []
    for sha, group in by_sha.items():
        first = group[0]
        validated, val_sqn = verdicts.get(sha, (None, None))
        sqn = first.metrics.get("rolling_sqn")
        views.append(CheckpointView(
            run=first.run, model_file=first.model_file, sha256=sha, timesteps=first.timesteps,
            created=max(r.created for r in group), tags=tuple(r.tag for r in group),
            train_sqn=float(sqn) if isinstance(sqn, int | float) else None,
            val_sqn=val_sqn, validated=validated,
            status=statuses.get(sha, "never validated")))
    return tuple(sorted(views, key=lambda v: (-v.timesteps, -v.created)))


def _latest_validation(conn: sqlite3.Connection, run: str, ws: Workspace,
                       reports: ReportCache) -> ValidationView | None:
    row = queries.latest_validation(conn, run)
    if row is None:
        return None
    report: dict[str, Any] | None = None
    error = ""
    if row.report_path:
        path = Path(row.report_path)
        try:
            report = reports.load(path if path.is_absolute() else ws.root / path)
        except (OSError, ValueError) as exc:
            error = f"report unreadable: {exc}"
            logger.debug("validation report %s unreadable: %s", path, exc)
    return ValidationView(row, None if report is None else MappingProxyType(report), error)


def _newest_update(conn: sqlite3.Connection) -> float | None:
    """The newest heartbeat or metric time (what a live system keeps moving)."""
    beat = conn.execute("SELECT MAX(ts) FROM heartbeats").fetchone()[0]
    metric = conn.execute("SELECT ts FROM metrics ORDER BY rowid DESC LIMIT 1").fetchone()
    stamps = [t for t in (beat, metric[0] if metric else None) if t is not None]
    return max(stamps) if stamps else None
