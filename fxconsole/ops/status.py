"""What ``fxconsole status`` and the headless status line show (read-only): the rows of
``ops.queries`` shaped for printing and JSON.

The ``workers`` table holds what the supervisor last wrote. When the supervisor is gone
without stopping its workers (``kill -9``), those rows still say RUNNING: :func:`supervision`
tells this "supervisor down" case (the lock file still names a pid nobody holds it
for) from a clean stop, and :func:`apply_supervision` shows
such workers as UNKNOWN, with the dead supervisor's pid noted.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from fxconsole import numfmt
from fxconsole.ops import queries
from fxconsole.ops.lock import SupervisorLock
from fxconsole.ops.validations import is_validated
from fxconsole.workspace import Workspace

STATUS_KEYS = ("train/timesteps", "train/fps", "rollout/trades", "rollout/win_rate",
               "rollout/expectancy", "rollout/sqn", "train/phase", "train/loser_weight",
               "collect/expectancy", "val/sqn", "live/realised_pips", "live/position")


LIVE_STATES = ("STARTING", "RUNNING", "BACKOFF", "STOPPING")
PROCESS_STATES = ("STARTING", "RUNNING", "STOPPING")  # a process exists: uptime, heartbeat
UNKNOWN = "UNKNOWN"
RUNNING, DOWN, NOT_RUNNING = "running", "down", "not running"


@dataclass(frozen=True)
class Supervision:
    """Whether a supervisor watches the workers.

    ``state``: ``running`` (``pid`` holds the lock), ``down`` (nobody holds it, but the
    last holder ``dead_pid`` left workers recorded as live: it was killed) or ``not
    running`` (stopped cleanly, or never started).
    """

    state: str
    pid: int | None = None
    dead_pid: int | None = None

    @property
    def down(self) -> bool:
        """True when the supervisor died without stopping its workers."""
        return self.state == DOWN

    def describe(self) -> str:
        """One phrase for a status line: ``supervisor pid 12``, ``supervisor down …``."""
        if self.state == RUNNING:
            return f"supervisor pid {self.pid}" if self.pid and self.pid > 0 else "supervisor"
        if self.state == DOWN:
            dead = f"pid {self.dead_pid}" if self.dead_pid else "its process"
            return f"supervisor down ({dead} is gone; worker states unknown)"
        return "supervisor not running"


def supervision(holder: int | None, recorded: int | None) -> Supervision:
    """Decide from the lock's holder (None: unheld) and the pid left in the lock file
    whether the supervisor runs, is down (it died holding the lock: a clean stop clears
    the pid) or is not running."""
    if holder is not None:
        return Supervision(RUNNING, pid=holder)
    if recorded is not None:
        return Supervision(DOWN, dead_pid=recorded)
    return Supervision(NOT_RUNNING)


def workspace_supervision(ws: Workspace) -> Supervision:
    """The supervision of ``ws``, from its lock file (a shared ``flock`` probe)."""
    lock = SupervisorLock.for_workspace(ws)
    return supervision(lock.holder(), lock.recorded_pid())


def apply_supervision(rows: list[dict[str, Any]], sup: Supervision) -> list[dict[str, Any]]:
    """The worker rows as ``status`` shows them: while the supervisor is down, a worker
    recorded as live is UNKNOWN (``recorded_state`` keeps what the table said)."""
    if not sup.down:
        return rows
    out = []
    for row in rows:
        if row["state"] in LIVE_STATES:
            dead = f" {sup.dead_pid}" if sup.dead_pid else ""
            row = {**row, "recorded_state": row["state"], "state": UNKNOWN,
                   "message": f"supervisor{dead} is gone; last recorded {row['state']}"}
        out.append(row)
    return out


def problems(rows: list[dict[str, Any]], sup: Supervision) -> list[str]:
    """What makes ``status --check`` fail: no or a dead supervisor, a FATAL or silent
    worker, every worker STOPPED (a healthcheck must not pass a system that does nothing)."""
    out = {RUNNING: [], DOWN: [f"{sup.describe()}: start it with `fxconsole start`"],
           NOT_RUNNING: ["no supervisor is running"]}[sup.state]
    for w in rows:
        if w["state"] == "FATAL":
            out.append(f"{w['name']} is FATAL" + (f": {w['reason']}" if w.get("reason") else ""))
        age, limit = w["heartbeat_age"], w["heartbeat_timeout"]
        if w["state"] == "RUNNING" and age is not None and limit and age > limit:
            out.append(f"{w['name']} silent for {age:.0f} s")
    if rows and all(w["state"] == "STOPPED" for w in rows):
        out.append("every worker is STOPPED")
    return out


def worker_reasons(conn: sqlite3.Connection) -> dict[str, str]:
    """``worker → the last error line of its last failed exit`` (workers.reason)."""
    return {str(n): str(r) for n, r in conn.execute("SELECT name, reason FROM workers")}


def active_run(conn: sqlite3.Connection, default: str) -> str:
    """The run the (last started) supervisor follows, else ``default``."""
    row = conn.execute("SELECT name FROM runs WHERE state = 'active' ORDER BY created DESC"
                       " LIMIT 1").fetchone()
    return str(row[0]) if row else default


def latest_metrics(conn: sqlite3.Connection, run: str) -> dict[str, float | None]:
    """The newest value of every metric key of a run (``None``: undefined, e.g. the win
    rate of no trades)."""
    return {k: m.value for k, m in queries.latest_metrics(conn, run).items()}


def process_times(state: str, started: float | None, heartbeat: float | None,
                  now: float) -> tuple[float | None, float | None]:
    """``(uptime, heartbeat age)`` of a worker as ``status`` shows them.

    Only a worker with a process (STARTING, RUNNING, STOPPING) has an uptime; a heartbeat
    older than the process's start is its predecessor's, so it has none yet.

    Args:
        state: The worker's state.
        started: When its current (or last) process started, UNIX seconds.
        heartbeat: Its newest heartbeat, UNIX seconds.
        now: The current UNIX time.

    Returns:
        Seconds up and seconds since the heartbeat, each ``None`` when not applicable.
    """
    if state not in PROCESS_STATES:
        return None, None
    uptime = None if started is None else now - started
    if heartbeat is None or (started is not None and heartbeat < started):
        return uptime, None
    return uptime, now - heartbeat


def workers(conn: sqlite3.Connection, now: float | None = None) -> list[dict[str, Any]]:
    """Every worker with its state, pid, restarts, exit code, uptime and heartbeat age
    (uptime and heartbeat only while it has a process: see :func:`process_times`)."""
    now = time.time() if now is None else now
    reasons = worker_reasons(conn)
    rows = []
    for w in queries.workers(conn):
        uptime, age = process_times(w.state, w.started, w.heartbeat_ts, now)
        rows.append({"name": w.name, "role": w.role, "state": w.state, "pid": w.pid,
                     "started": w.started, "restarts": w.restarts, "exit_code": w.exit_code,
                     "heartbeat_timeout": w.heartbeat_timeout, "heartbeat": w.heartbeat_ts,
                     "message": w.message, "reason": reasons.get(w.name, ""),
                     "heartbeat_age": age, "uptime": uptime, "node": w.node})
    return rows


def cluster(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The Ray cluster as its driver last saw it (nodes, CPUs, free CPUs), if one runs."""
    row = conn.execute("SELECT ts, info FROM heartbeats WHERE json_type(info, '$.nodes') ="
                       " 'array' ORDER BY ts DESC LIMIT 1").fetchone()
    if row is None:
        return None
    info = json.loads(row[1])
    return {"nodes": info.get("nodes", []), "cpus": info.get("cpus"),
            "free_cpus": info.get("free_cpus"), "address": info.get("address", ""),
            "seen": row[0]}


def best_validation(conn: sqlite3.Connection, run: str,
                    min_trades: int = 30) -> dict[str, Any] | None:
    """The run's validation with the highest SQN among those with ``min_trades`` trades
    (SPEC §6: what ``best.json`` points at), if any."""
    row = conn.execute(
        "SELECT sha256, timesteps, sqn, expectancy, trades, validated FROM validations"
        " WHERE run = ? AND split = 'validation' AND trades >= ? ORDER BY sqn DESC LIMIT 1",
        (run, min_trades)).fetchone()
    if row is None:
        return None
    best = dict(zip(("sha256", "timesteps", "sqn", "expectancy", "trades", "validated"), row,
                    strict=True))
    best["validated"] = is_validated(conn, str(best["sha256"]))  # after its test exam
    return best


def recent_events(conn: sqlite3.Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The newest events (alerts included), newest first."""
    return [{"ts": e.ts, "level": e.level, "source": e.source, "kind": e.kind,
             "message": e.message} for e in queries.recent_events(conn, limit)]


def recent_commands(conn: sqlite3.Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The newest commands (the audit trail), newest first."""
    return [{"id": c.id, "created": c.created, "target": c.target, "verb": c.verb,
             "args": c.args, "state": c.state, "result": c.result}
            for c in queries.recent_commands(conn, limit)]


def status_line(conn: sqlite3.Connection, run: str) -> str:
    """The headless supervisor's periodic line, every figure labelled: run, steps and
    steps/s (``paused``), the run's trades with win rate and expectancy, the best
    validation SQN, and how many workers are up."""
    m = latest_metrics(conn, run)
    best = best_validation(conn, run)
    return format_status_line(time.strftime("%H:%M:%S"), run, m,
                              None if best is None else best["sqn"], workers(conn))


def format_status_line(clock: str, run: str, m: dict[str, float | None],
                       best_sqn: float | None, ws: list[dict[str, Any]]) -> str:
    """The status line from its parts (pure).

    Args:
        clock: The time of day to start with.
        run: The run's name.
        m: Its latest metrics.
        best_sqn: The SQN of its best validation, ``None`` if none yet.
        ws: The worker rows (``name``, ``state``).

    Returns:
        E.g. ``12:00:01 main · steps 1.51M at 812/s · trades 18.3k, 52.3% won,
        +1.20 pips/trade · best validation SQN +1.23 · workers 4/4 up``.
    """
    running = sum(w["state"] == "RUNNING" for w in ws)
    others = " ".join(f"{w['name']} {w['state']}" for w in ws if w["state"] != "RUNNING")
    states = f"workers {running}/{len(ws)} up" + (f" ({others})" if others else "")
    speed = "paused" if m.get("train/paused") else f"at {_si(m.get('train/fps'))}/s"
    trades = m.get("rollout/trades")
    won = (f", {numfmt.pct(m.get('rollout/win_rate'))} won, "
           f"{numfmt.signed(m.get('rollout/expectancy'))} pips/trade") if trades else ""
    return (f"{clock} {run} · steps {_si(m.get('train/timesteps'))} {speed} · trades "
            f"{_si(trades)}{won} · best validation SQN {numfmt.signed(best_sqn)} · {states}")


def _si(value: float | None) -> str:
    """Short counts for a status line: 950, 12.3k, 4.56M; 0 when there is none yet."""
    if value is None or not numfmt.defined(value):
        return "0"
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.0f}"


def snapshot(conn: sqlite3.Connection, run: str) -> dict[str, Any]:
    """Everything ``fxconsole status --json`` prints."""
    return {"run": run, "time": time.time(), "workers": workers(conn),
            "metrics": latest_metrics(conn, run), "best_validation": best_validation(conn, run),
            "events": recent_events(conn), "commands": recent_commands(conn),
            "cluster": cluster(conn)}
