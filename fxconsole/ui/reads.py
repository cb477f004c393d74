"""Reads the console makes on demand, beside the periodic snapshot (:mod:`.data`): a
detail view's data when it opens, the trades view's page, and the live P/L when a live
trade closes.

Each function takes a connection of the calling thread (the widgets call them from a
thread worker, inside :func:`open_db`) and returns frozen data; nothing here draws.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fxconsole.ops import queries
from fxconsole.ops.commands import Command
from fxconsole.ops.db import connect
from fxconsole.ops.queries import EventRow, TradeRow, ValidationRow, WorkerRow
from fxconsole.ui.pnl import PnL, equity_curve, pnl, trading_week_start
from fxconsole.workspace import Workspace

logger = logging.getLogger(__name__)

BUSY_TIMEOUT = 2.0
TAIL_BYTES = 64 * 1024
CURVE_TRADES = 500  # the equity curve's newest live trades
# moving pointers last: a detail view prefers the manifest of an immutable tag
MOVING_TAGS = ("latest", "best", "deployed", "validating", "candidate")


@contextmanager
def open_db(ws: Workspace) -> Iterator[sqlite3.Connection]:
    """A connection to the workspace's console database for this thread, closed after.

    Raises:
        FileNotFoundError: if the database does not exist (yet).
        sqlite3.Error: if it cannot be opened.
    """
    if not ws.console_db.exists():
        raise FileNotFoundError(f"no console database at {ws.console_db}")
    with closing(connect(ws.console_db, busy_timeout=BUSY_TIMEOUT,
                         migrate_schema=False)) as conn:
        yield conn


def tail_lines(path: Path, lines: int) -> tuple[str, ...]:
    """The last ``lines`` lines of a text file (empty if it cannot be read)."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - TAIL_BYTES))
            data = f.read()
    except OSError:
        return ()
    text = data.decode("utf-8", errors="replace").splitlines()
    if len(data) == TAIL_BYTES and text:
        text = text[1:]  # the first line was cut
    return tuple(text[-lines:])


def _resolve(ws: Workspace, path: str | None) -> Path | None:
    if not path:
        return None
    p = Path(path)
    return p if p.is_absolute() else ws.root / p


def shown_path(ws: Workspace, path: Path | None) -> Path | None:
    """``path`` relative to the workspace if it lies inside it (as the views show it)."""
    if path is None:
        return None
    try:
        return path.relative_to(ws.root)
    except ValueError:
        return path


# -- a worker --------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerDetail:
    """A worker's row, what happened to it, and the tails of its log and ``.out``."""

    name: str
    row: WorkerRow | None
    events: tuple[EventRow, ...]
    commands: tuple[Command, ...]
    log_path: Path
    log_tail: tuple[str, ...]
    out_path: Path
    out_tail: tuple[str, ...]
    reason: str = ""  # why it last failed (its last error line)


def read_worker(conn: sqlite3.Connection, ws: Workspace, name: str,
                lines: int = 15) -> WorkerDetail:
    """Everything the worker detail view shows about ``name``."""
    row = next((w for w in queries.workers(conn) if w.name == name), None)
    log, out = ws.logs_dir / f"{name}.log", ws.logs_dir / f"{name}.out"
    return WorkerDetail(name, row, tuple(queries.worker_events(conn, name)),
                        tuple(queries.worker_commands(conn, name)),
                        shown_path(ws, log) or log, tail_lines(log, lines),
                        shown_path(ws, out) or out, tail_lines(out, lines),
                        queries.worker_reason(conn, name))


# -- a checkpoint ----------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointDetail:
    """A model's registry rows, its manifest, its examinations and its report files."""

    sha256: str
    tags: tuple[str, ...]
    manifest_path: Path | None
    manifest: dict[str, Any] | None
    manifest_error: str
    validations: tuple[ValidationRow, ...]
    report_path: Path | None
    chart_path: Path | None


def read_checkpoint(conn: sqlite3.Connection, ws: Workspace, sha256: str) -> CheckpointDetail:
    """Everything the checkpoint detail view shows about the model ``sha256``."""
    rows = [r for r in queries.checkpoints(conn) if r.sha256 == sha256]
    rows.sort(key=lambda r: (r.tag.split("-", 1)[0] in MOVING_TAGS, r.tag))
    manifest_path = _resolve(ws, rows[0].manifest_path) if rows else None
    manifest, error = None, ""
    if manifest_path is not None:
        try:
            data = json.loads(manifest_path.read_text(encoding="utf-8"))
            manifest = data if isinstance(data, dict) else None
            error = "" if manifest is not None else "unreadable: not a JSON object"
        except FileNotFoundError:
            error = "the file is missing"
        except (OSError, ValueError) as exc:
            error = f"unreadable: {exc}"
    validations = tuple(queries.validations_of(conn, sha256))
    report = next((_resolve(ws, v.report_path) for v in validations if v.report_path), None)
    chart = report.with_name("chart.png") if report is not None else None
    return CheckpointDetail(sha256, tuple(r.tag for r in rows), shown_path(ws, manifest_path),
                            manifest, error, validations, shown_path(ws, report),
                            shown_path(ws, chart) if chart is not None and chart.exists()
                            else None)


# -- trades ----------------------------------------------------------------------------


def read_trades(conn: sqlite3.Connection, run: str, source: str | None,
                limit: int = 500) -> tuple[TradeRow, ...]:
    """The run's newest ``limit`` trades of ``source`` (None: every source)."""
    return tuple(queries.recent_trades(conn, run, limit=limit, source=source))


@dataclass(frozen=True)
class LivePnL:
    """Live P/L by trading day and the live equity curve (cumulative pips)."""

    pnl: PnL
    curve: tuple[float, ...]
    total_trades: int
    total_pips: float


def read_live_pnl(conn: sqlite3.Connection, run: str, now: float) -> LivePnL:
    """The run's live trades closed this trading week, and its equity curve (the newest
    :data:`CURVE_TRADES` trades, ending at the run's total live pips)."""
    week = queries.trade_pips_since(conn, run, "live", trading_week_start(now) - 86_400)
    trades, total = queries.trade_total_pips(conn, run, "live")
    newest = [t.pips for t in reversed(queries.recent_trades(conn, run, limit=CURVE_TRADES,
                                                             source="live"))
              if t.pips is not None]
    return LivePnL(pnl(week, now), tuple(equity_curve(newest, total if trades else None)),
                   trades, total)
