"""Helpers of the console tests: a tmp workspace whose console database the tests fill.

Everything is stamped relative to the frozen time ``T0`` that the app's clock returns, so
ages on screen are stable (snapshot tests).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from fxconsole.ops.commands import Command, finish
from fxconsole.ops.db import connect, transaction
from fxconsole.ops.writer import MetricsWriter
from fxconsole.sqlitetx import dumps_json
from fxconsole.workspace import Workspace

T0 = 1_700_000_000.0
RUN = "main"


class Store:
    """A workspace and its console database, written like the supervisor and workers do."""

    def __init__(self, root: Path) -> None:
        self.ws = Workspace(root).ensure()
        self.conn: sqlite3.Connection = connect(self.ws.console_db)

    def worker(self, name: str, role: str, state: str = "RUNNING", pid: int | None = None,
               started: float | None = T0 - 3600, restarts: int = 0,
               exit_code: int | None = None, beat: float | None = T0 - 1, step: int = 0,
               info: dict[str, Any] | None = None, message: str = "") -> None:
        with transaction(self.conn):
            self.conn.execute(
                "INSERT OR REPLACE INTO workers (name, role, state, pid, started, stopped,"
                " restarts, exit_code, heartbeat_timeout, message, updated)"
                " VALUES (?, ?, ?, ?, ?, NULL, ?, ?, 60.0, ?, ?)",
                (name, role, state, pid, started, restarts, exit_code, message, T0 - 5))
            if beat is not None:
                self.conn.execute(
                    "INSERT OR REPLACE INTO heartbeats (worker, ts, pid, step, info)"
                    " VALUES (?, ?, ?, ?, ?)", (name, beat, pid or 0, step, dumps_json(info or {})))

    def metrics(self, step: int, values: dict[str, float], ts: float = T0 - 1,
                worker: str = "trainer") -> None:
        with MetricsWriter(self.conn, RUN, worker, clock=lambda: 0.0,
                           wall_clock=lambda: ts) as w:
            w.write(step, values)

    def live_state(self, values: dict[str, Any]) -> None:
        with transaction(self.conn):
            for key, value in values.items():
                self.conn.execute("INSERT OR REPLACE INTO live_state (key, value, updated)"
                                  " VALUES (?, ?, ?)", (key, dumps_json(value), T0 - 5))

    def order(self, client_id: str, purpose: str, units: int, state: str,
              fill_price: float | None, created: float, reason: str = "",
              code: str = "") -> None:
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO orders (client_id, run, worker, broker, instrument, units,"
                " purpose, created, state, fill_price, filled_units, reason, code, updated)"
                " VALUES (?, ?, 'live', 'paper', 'GBP_JPY', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (client_id, RUN, units, purpose, created, state, fill_price,
                 units if state == "FILLED" else None, reason, code, created))

    def live_trade(self, side: str, pips: float, ts: float, bars: int = 12) -> None:
        with MetricsWriter(self.conn, RUN, "live", clock=lambda: 0.0, wall_clock=lambda: ts,
                           source="live") as w:
            w.trades(100, [{"side": side, "pips": pips, "entry_price": 190.1,
                            "exit_price": 190.1 + pips / 100, "bars_held": bars}])

    def checkpoint(self, tag: str, timesteps: int, sha: str, sqn: float,
                   created: float) -> None:
        model = f"models/{timesteps:012d}-{sha[:12]}.zip"
        with transaction(self.conn):
            self.conn.execute(
                "INSERT OR REPLACE INTO checkpoints (run, tag, model_file, sha256, timesteps,"
                " created, manifest_path, metrics) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (RUN, tag, model, sha, timesteps, created,
                 str(self.ws.checkpoints_dir / RUN / f"{tag}.json"),
                 dumps_json({"rolling_sqn": sqn, "rolling_trades": 500.0})))

    def validation(self, sha: str, timesteps: int, validated: bool, sqn: float,
                   ts: float, report: dict[str, Any] | None = None) -> None:
        path = None
        if report is not None:
            folder = self.ws.root / "reports" / sha[:12]
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "report.json"
            path.write_text(json.dumps(report))
        summary = {"verdict": (report or {}).get("verdict", {"validated": validated,
                                                              "reasons": []})}
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO validations (ts, run, sha256, timesteps, split, validated, sqn,"
                " expectancy, trades, report_path, summary)"
                " VALUES (?, ?, ?, ?, 'validation', ?, ?, 1.5, 300, ?, ?)",
                (ts, RUN, sha, timesteps, int(validated), sqn, None if path is None
                 else str(path), dumps_json(summary)))

    def test_exam(self, sha: str, timesteps: int, passed: bool, ts: float = T0 - 100) -> None:
        """The checkpoint's examination on the test split: passed, it is VALIDATED."""
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO validations (ts, run, sha256, timesteps, split, validated, sqn,"
                " expectancy, trades) VALUES (?, ?, ?, ?, 'test', ?, 1.2, 1.1, 120)",
                (ts, RUN, sha, timesteps, int(passed)))

    def event(self, level: str, source: str, kind: str, message: str, ts: float) -> None:
        with transaction(self.conn):
            self.conn.execute("INSERT INTO events (ts, level, source, kind, message, data)"
                              " VALUES (?, ?, ?, ?, ?, '{}')",
                              (ts, level, source, kind, message))

    def commands(self) -> list[Command]:
        rows = self.conn.execute(
            "SELECT id, created, target, verb, args, state, result, updated, issued_by"
            " FROM commands ORDER BY id").fetchall()
        return [Command.from_row(row) for row in rows]

    def finish(self, command_id: int, ok: bool, result: str) -> None:
        finish(self.conn, command_id, ok, result, clock=lambda: T0)


def equity(trades: int, expectancy: float, points: int = 40) -> dict[str, Any]:
    """A report's ``equity`` section: a wavy backtest curve inside a widening fan."""
    x = [round(i * trades / (points - 1)) for i in range(points)]
    back = [round(expectancy * t + 60.0 * math.sin(t / 25.0), 2) for t in x]
    fan = {f"p{q}": [round(expectancy * t + z * 9.0 * math.sqrt(t), 2) for t in x]
           for q, z in ((5, -1.64), (25, -0.67), (50, 0.0), (75, 0.67), (95, 1.64))}
    return {"x": x, "backtest": back, "fan": fan}


def report(sha: str, timesteps: int) -> dict[str, Any]:
    """A validation report shaped like ``evaluation.validate.report_dict``'s."""
    def result(trades: int, exp: float, win: float, sqn: float) -> dict[str, float]:
        return {"trades": trades, "expectancy": exp, "win_rate": win, "sqn": sqn,
                "profit_factor": 1.4 if exp > 0 else 0.8, "max_drawdown_pips": 420.0,
                "total_pips": exp * trades}
    return {
        "checkpoint": {"run": RUN, "tag": "candidate", "sha256": sha, "timesteps": timesteps},
        "split": "validation",
        "policy": result(312, 2.4, 0.54, 1.86),
        "baselines": {"random": result(298, -3.9, 0.41, -1.2), "flat": result(0, 0.0, 0.0, 0.0),
                      "momentum": result(240, -1.1, 0.47, -0.6)},
        "stress": {"spread ×1.5": {**result(312, 0.4, 0.5, 0.31), "spread_pips": 6.0},
                   "spread ×2": {**result(312, -1.6, 0.46, -1.24), "spread_pips": 8.0}},
        "monte_carlo": {"runs": 200, "n_trades": 312, "seed": 0,
                        "final_pips": {"p5": 60.0, "p25": 410.0, "p50": 745.0, "p75": 1080.0,
                                       "p95": 1560.0},
                        "max_drawdown": {"p50": 380.0, "p95": 720.0}, "prob_below_zero": 0.03},
        "deflated": {"sr": 0.186, "sr0": 0.041, "dsr": 0.991, "k": 6, "n": 312,
                     "variance": 0.0021, "g3": 0.1, "g4": 3.2},
        "sizing": {"safe_f": 0.84, "car25": 0.121, "horizon_trades": 4032},
        "stages": {"test": {"examined_now": True,
                            "policy": result(95, 1.7, 0.52, 1.1),
                            "deflated": {"dsr": 0.97, "k": 2},
                            "verdict": {"validated": True}}},
        "equity": equity(312, 2.4),
        "verdict": {"validated": True, "validation_passed": True, "test_passed": True,
                    "checks": [
                        {"name": "sqn > random baseline", "passed": True,
                         "text": "sqn +1.860 > random baseline -1.200: pass"},
                        {"name": "Monte Carlo p5 final pips > threshold", "passed": True,
                         "text": "Monte Carlo p5 final pips +60.000 > threshold +0.000: pass"},
                        {"name": "deflated SQN (K=6) ≥ threshold", "passed": True,
                         "text": "deflated SQN (K=6) +0.991 ≥ threshold +0.950: pass"},
                        {"name": "test deflated SQN (K=2) ≥ threshold", "passed": True,
                         "text": "test deflated SQN (K=2) +0.970 ≥ threshold +0.950: pass"}],
                    "reasons": [], "rule": {}},
    }


SHA = [f"{i:02x}" * 32 for i in (0xA1, 0xB2, 0xC3, 0xD4)]


def fill(store: Store) -> None:
    """A small running system: five workers, training metrics, checkpoints, a validation,
    live trading, events, and two finished commands."""
    store.worker("collector-1", "collector", pid=4102, restarts=1, step=88)
    store.worker("live", "live", pid=4104, step=5120, info={"broker": "paper"})
    store.worker("trainer", "trainer", pid=4101, step=1_250_000)
    store.worker("validator", "validator", "FATAL", pid=None, started=None, restarts=3,
                 exit_code=1, beat=T0 - 900, message="gave up after 3 retries")
    for i in range(60):
        step = (i + 1) * 20_000
        store.metrics(step, {"rollout/expectancy": -4.0 + i * 0.11 + (i % 5) * 0.3,
                             "rollout/win_rate": 0.38 + i * 0.0028 + (i % 4) * 0.01},
                      ts=T0 - 600 + i * 10)
    store.metrics(1_200_000, {"train/timesteps": 1_250_000, "train/fps": 812.0,
                              "rollout/trades": 41_230, "rollout/avg_win": 14.2,
                              "rollout/avg_loss": -9.6, "rollout/gate_rate": 0.12,
                              "train/phase": 2, "train/loser_weight": 0.45})
    store.metrics(5120, {"live/position": 1, "live/realised_pips": 312.4, "live/trades": 57,
                         "live/entries_paused": 0, "live/kill_switch": 0, "live/deployed": 1},
                  worker="live")
    for k, (side, pips) in enumerate([("long", 14.0), ("short", -6.5), ("long", 22.1)]):
        store.live_trade(side, pips, ts=T0 - 300 + k * 60)
    store.metrics(5120, {"live/unrealised_pips": -3.2, "live/today_pips": 29.6,
                         "live/connected": 1, "live/fills": 7, "live/rejects": 1,
                         "live/unresolved": 0, "live/latency_ms": 1.8}, worker="live")
    store.live_state({
        "broker": {"name": "paper", "instrument": "GBP_JPY"},
        "risk": {"tripped": None, "day_pips": 29.6},
        "decisions": [
            {"bar_ts": "2023-11-14T22:29:00Z", "price": 187.512, "policy": "HOLD",
             "action": "HOLD", "reason": "policy", "state": ""},
            {"bar_ts": "2023-11-14T22:28:00Z", "price": 187.498, "policy": "BUY",
             "action": "BUY", "reason": "policy", "state": "FILLED"}]})
    store.order("fx-main-1", "entry", 1, "FILLED", 187.498, T0 - 60)
    store.order("fx-main-2", "entry", -1, "REJECTED", None, T0 - 30,
                reason="INSUFFICIENT_MARGIN", code="400")
    store.checkpoint("latest", 1_250_000, SHA[0], 1.52, T0 - 120)
    store.checkpoint("periodic-000001000000", 1_000_000, SHA[1], 1.31, T0 - 2400)
    store.checkpoint("best", 1_000_000, SHA[1], 1.31, T0 - 2400)
    store.checkpoint("deployed", 1_000_000, SHA[1], 1.31, T0 - 2400)
    store.checkpoint("periodic-000000750000", 750_000, SHA[2], 0.94, T0 - 4200)
    store.validation(SHA[2], 750_000, False, 0.71, T0 - 4000)
    store.validation(SHA[1], 1_000_000, True, 1.86, T0 - 2200, report(SHA[1], 1_000_000))
    store.event("info", "validator", "validation", "main @ 1,000,000: VALIDATED, SQN +1.86",
                T0 - 2200)
    store.event("warning", "supervisor", "heartbeat-gap", "validator: heartbeat stale 61 s",
                T0 - 1000)
    store.event("error", "supervisor", "worker-fatal", "validator is FATAL: gave up", T0 - 900)
    store.ws.logs_dir.mkdir(parents=True, exist_ok=True)
    for name in ("collector-1", "live", "trainer", "validator"):
        (store.ws.logs_dir / f"{name}.log").write_text("".join(
            f"2023-11-14 22:{i:02d}:00 INFO {name}: step {i} done\n" for i in range(30)))


def fake_probe(pid: int) -> tuple[float | None, int | None]:
    """Stable CPU and memory figures per pid."""
    return float(pid % 97), (pid % 7 + 1) * 150 * 2**20


async def wait_for(pilot: Pilot[Any], predicate: Callable[[], Any], timeout: float = 5.0,
                   what: str = "condition") -> Any:
    """Pause the pilot until ``predicate()`` is truthy (raising after ``timeout``)."""
    loop_time = 0.0
    while loop_time < timeout:
        value = predicate()
        if value:
            return value
        await pilot.pause(0.02)
        loop_time += 0.02
    raise AssertionError(f"timed out waiting for {what}")



def screen_text(app: Any) -> str:
    """What the terminal shows now, as plain text (the screen and any dialogs over it)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True,
                      force_terminal=True, color_system="truecolor", legacy_windows=False,
                      safe_box=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens, simplify=True))
    return console.export_text()
