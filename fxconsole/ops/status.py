"""What ``fxconsole status`` and the headless status line show (read-only): the rows of
``ops.queries`` shaped for printing and JSON."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from fxconsole.ops import queries
from fxconsole.ops.validations import is_validated

STATUS_KEYS = ("train/timesteps", "train/fps", "rollout/trades", "rollout/win_rate",
               "rollout/expectancy", "rollout/sqn", "train/phase", "train/loser_weight",
               "collect/expectancy", "val/sqn", "live/realised_pips", "live/position")


def active_run(conn: sqlite3.Connection, default: str) -> str:
    """The run the (last started) supervisor follows, else ``default``."""
    row = conn.execute("SELECT name FROM runs WHERE state = 'active' ORDER BY created DESC"
                       " LIMIT 1").fetchone()
    return str(row[0]) if row else default


def latest_metrics(conn: sqlite3.Connection, run: str) -> dict[str, float]:
    """The newest value of every metric key of a run (plain floats)."""
    return {k: m.value for k, m in queries.latest_metrics(conn, run).items()
            if m.value is not None}


def workers(conn: sqlite3.Connection, now: float | None = None) -> list[dict[str, Any]]:
    """Every worker with its state, pid, restarts, exit code, uptime and heartbeat age."""
    now = time.time() if now is None else now
    return [{"name": w.name, "role": w.role, "state": w.state, "pid": w.pid,
             "started": w.started, "restarts": w.restarts, "exit_code": w.exit_code,
             "heartbeat_timeout": w.heartbeat_timeout, "heartbeat": w.heartbeat_ts,
             "message": w.message,
             "heartbeat_age": None if w.heartbeat_ts is None else now - w.heartbeat_ts,
             "uptime": None if w.started is None else now - w.started}
            for w in queries.workers(conn)]


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
    """One line (≤ 80 columns when all run): run, timesteps@steps/s, trades, win rate,
    expectancy in pips, best validation SQN, worker states."""
    m = latest_metrics(conn, run)
    best = best_validation(conn, run)
    ws = workers(conn)
    running = sum(w["state"] == "RUNNING" for w in ws)
    others = " ".join(f"{w['name']} {w['state']}" for w in ws if w["state"] != "RUNNING")
    states = f"{running}/{len(ws)} up" + (f" ({others})" if others else "")
    best_sqn = "—" if best is None else f"{best['sqn']:+.2f}"
    return (f"{time.strftime('%H:%M:%S')} {run} {_si(m.get('train/timesteps', 0))}"
            f"@{_si(m.get('train/fps', 0))}/s · {_si(m.get('rollout/trades', 0))} trades "
            f"{m.get('rollout/win_rate', 0):.0%} won {m.get('rollout/expectancy', 0):+.1f}p "
            f"· SQN {best_sqn} · {states}")


def _si(value: float) -> str:
    """Short counts for an 80-column line: 950, 12.3k, 4.56M."""
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.0f}"


def snapshot(conn: sqlite3.Connection, run: str) -> dict[str, Any]:
    """Everything ``fxconsole status --json`` prints."""
    return {"run": run, "time": time.time(), "workers": workers(conn),
            "metrics": latest_metrics(conn, run), "best_validation": best_validation(conn, run),
            "events": recent_events(conn), "commands": recent_commands(conn)}
