"""``fxconsole status``, ``ctl`` and ``logs``: the shell's view of a running system.

``fxconsole ctl live deploy CHECKPOINT --force`` passes ``"force": true`` in the command's
args: the live worker then deploys to an OANDA account a checkpoint that is not
validated (see :mod:`fxconsole.ops.deploy_gate`); the command row keeps the flag, and the
worker records a warning event.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import deque
from pathlib import Path
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from fxconsole import numfmt
from fxconsole.cli.common import CliError, Context, UsageError
from fxconsole.cli.output import make_console

console = make_console()
LIFECYCLE = ("start", "stop", "restart")
CHECKPOINT_VERBS = ("rollback-to", "deploy", "validate")


def add_parser(sub: Any) -> None:
    """Register ``status``, ``ctl`` and ``logs``."""
    st = sub.add_parser("status", help="workers, latest metrics, validation, alerts")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument("--check", action="store_true",
                    help="exit 1 unless a supervisor runs, no worker is FATAL or silent and "
                         "not every worker is STOPPED (a healthcheck)")
    st.set_defaults(handler=_status, tolerate_bad_config=True)

    ctl = sub.add_parser("ctl", help="send a command and wait for its outcome",
                         description="Lifecycle: start|stop|restart WORKER|all. Trainer: "
                         "checkpoint-now, pause, resume, rollback-to CHECKPOINT. Validator: "
                         "validate CHECKPOINT. Live: deploy CHECKPOINT [--force], "
                         "pause-entries, resume-entries, kill-switch, flatten.")
    ctl.add_argument("verb")
    ctl.add_argument("target", nargs="?", help="worker name (default: the verb's worker)")
    ctl.add_argument("argument", nargs="?", help="CHECKPOINT for rollback-to/deploy/validate")
    ctl.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    ctl.add_argument("--no-wait", action="store_true", help="queue and return at once")
    ctl.add_argument("--queue", action="store_true",
                     help="queue the command even when no supervisor runs (only a worker "
                          "still running without one can take it: a supervisor that starts "
                          "fails what is pending)")
    ctl.add_argument("--force", action="store_true",
                     help="deploy: trade on an OANDA account a checkpoint that is not "
                          "validated (skips the promotion rule; audited)")
    ctl.set_defaults(handler=_ctl, tolerate_bad_config=True)

    logs = sub.add_parser("logs", help="show (and follow) a worker's log")
    logs.add_argument("worker")
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.add_argument("-f", "--follow", action="store_true")
    logs.set_defaults(handler=_logs, tolerate_bad_config=True)


def _connect(ctx: Context) -> Any:
    from fxconsole.ops.db import connect

    path = ctx.workspace.console_db
    if not path.exists():
        raise CliError(f"no console database in {ctx.workspace.root}: start the system with "
                       "`fxconsole --no-ui`")
    return connect(path)


def supervision_of(ctx: Context) -> Any:
    """The workspace's :class:`~fxconsole.ops.status.Supervision` (running, down, stopped)."""
    from fxconsole.ops.status import workspace_supervision

    return workspace_supervision(ctx.workspace)


def _status(ctx: Context, args: argparse.Namespace) -> int:
    from fxconsole.ops.status import active_run, apply_supervision, problems, snapshot

    conn = _connect(ctx)
    snap = snapshot(conn, active_run(conn, ctx.config.supervisor.run))
    sup = supervision_of(ctx)
    snap["workers"] = apply_supervision(snap["workers"], sup)
    snap["supervisor_pid"] = sup.pid
    snap["supervisor"] = {"state": sup.state, "pid": sup.pid, "dead_pid": sup.dead_pid}
    found = problems(snap["workers"], sup)
    if args.json:
        print(json.dumps({**snap, "problems": found}, indent=2, default=str))
    else:
        _print_status(snap, sup.describe(), found)
    return 1 if args.check and found else 0


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(seconds, 0.0)
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f}m"


def _print_status(snap: dict[str, Any], supervisor: str, problems: list[str]) -> None:
    console.print(f"run {snap['run']} · {supervisor}")
    table = Table(box=box.SIMPLE_HEAD)
    remote = any(w.get("node", "local") != "local" for w in snap["workers"])
    for col in ("worker", "state", "pid", "uptime", "restarts", "exit", "heartbeat"):
        table.add_column(col, justify="left" if col in ("worker", "state") else "right")
    if remote:  # Ray actors run elsewhere (issue 15)
        table.add_column("node")
    for w in snap["workers"]:
        table.add_row(w["name"], w["state"], str(w["pid"] or "—"), _age(w["uptime"]),
                      str(w["restarts"]), "—" if w["exit_code"] is None else str(w["exit_code"]),
                      _age(w["heartbeat_age"]), *((w.get("node", "local"),) if remote else ()))
    console.print(table)
    _print_cluster(snap.get("cluster"))
    for w in snap["workers"]:
        if w.get("reason") and w["state"] not in ("RUNNING", "STARTING"):
            console.print(f"{w['name']} {w['state']}: {w['reason']}", markup=False)
    if snap["metrics"]:
        console.print(_metrics_table(snap["metrics"]))
    best = snap["best_validation"]
    if best:
        console.print(f"best validation: {numfmt.count(best['timesteps'])} timesteps, SQN "
                      f"{numfmt.signed(best['sqn'])}, expectancy "
                      f"{numfmt.signed(best['expectancy'])} pips, "
                      f"{'validated' if best['validated'] else 'not validated'}")
    for e in snap["events"][:5]:
        console.print(f"{time.strftime('%H:%M:%S', time.localtime(e['ts']))} {e['level']:<7} "
                      f"{e['message']}", markup=False)
    for p in problems:
        console.print(f"[red]problem:[/] {escape(p)}")


def _print_cluster(cluster: dict[str, Any] | None) -> None:
    """The Ray cluster's nodes and free CPUs, as its driver last saw them."""
    if not cluster:
        return
    nodes = cluster.get("nodes") or []
    free, cpus = cluster.get("free_cpus") or 0.0, cluster.get("cpus") or 0.0
    console.print(f"cluster: {len(nodes)} node(s), {free:g} of {cpus:g} CPUs free",
                  markup=False)
    for n in nodes:
        console.print(f"  {n.get('ip', '?')} ({n.get('host', '?')}) "
                      f"{'alive' if n.get('alive') else 'DEAD'}: {n.get('free_cpus', 0):g} of "
                      f"{n.get('cpus', 0):g} CPUs free", markup=False)


def _metrics_table(metrics: dict[str, float | None]) -> Table:
    """The latest metrics, a row per namespace (train, rollout, …), ``name value`` cells
    that never split (a cell is one column of the grid)."""
    from fxconsole.ops.metric_groups import grouped_metrics

    groups = grouped_metrics(metrics)
    widest = max(len(items) for _, items in groups)
    per_row = max(1, min(widest, (console.width - 10) // 34))
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    for _ in range(per_row):
        grid.add_column(no_wrap=True)
        grid.add_column(justify="right", no_wrap=True)
    for group, items in groups:
        for start in range(0, len(items), per_row):
            cells: list[str] = []
            for name, text in items[start:start + per_row]:
                cells += [f" {name}", text]
            grid.add_row(group if start == 0 else "", *cells)
    return grid


def _ctl(ctx: Context, args: argparse.Namespace) -> int:
    from fxconsole.ops import commands

    verb = args.verb
    payload: dict[str, Any]
    if verb not in LIFECYCLE:
        _default_target(verb)  # an unknown verb is a usage error, database or not
    if args.force and verb != "deploy":
        raise UsageError(f"--force applies to deploy only, not {verb}")
    conn = _connect(ctx)
    if verb in LIFECYCLE:
        target, payload = commands.SUPERVISOR, {"worker": args.target or "all"}
    else:
        target = args.target or _default_target(verb)
        payload = {"checkpoint": args.argument} if verb in CHECKPOINT_VERBS else {}
        if verb in CHECKPOINT_VERBS and not args.argument and args.target and \
                _default_target(verb) != args.target:
            payload = {"checkpoint": args.target}
            target = _default_target(verb)
        if args.force:
            payload["force"] = True
    known = [str(r[0]) for r in conn.execute("SELECT name FROM workers ORDER BY name")]
    worker = payload.get("worker", target) if target == commands.SUPERVISOR else target
    if known and worker not in (*known, commands.ALL_WORKERS):
        raise UsageError(f"no worker named {worker!r}; workers: {', '.join(known)}")
    sup = supervision_of(ctx)
    if sup.pid is None and not args.queue:
        raise CliError(f"{sup.describe()}: nobody would run {verb!r}; start it with "
                       "`fxconsole start` (or pass --queue to leave the command for the "
                       "next supervisor)")
    try:
        command_id = commands.enqueue(conn, target, verb, payload, issued_by="ctl")
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.no_wait:
        console.print(f"command {command_id} queued: {verb} → {target}")
        return 0
    try:
        done = commands.wait(conn, command_id, args.timeout)
    except TimeoutError as exc:
        raise CliError(f"{exc} (is `fxconsole --no-ui` running?)") from None
    console.print(f"command {command_id} {verb} → {target}: {done.state}: {done.result}")
    return 0 if done.state == commands.DONE else 1


def _default_target(verb: str) -> str:
    from fxconsole.ops.commands import ALLOWED_VERBS

    for role, verbs in ALLOWED_VERBS.items():
        if verb in verbs:
            return role
    raise UsageError(f"unknown verb {verb!r}; known: "
                   f"{', '.join(v for verbs in ALLOWED_VERBS.values() for v in verbs)}")


def _logs(ctx: Context, args: argparse.Namespace) -> int:
    path = ctx.workspace.logs_dir / f"{args.worker}.log"
    if not path.exists():
        known = sorted(p.stem for p in ctx.workspace.logs_dir.glob("*.log"))
        raise CliError(f"no log {path}; workers with logs: {', '.join(known) or 'none'}")
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for line in deque(f, maxlen=max(args.lines, 0)):
            print(line, end="")
        if args.follow:
            _follow(f, path)
    return 0


def _follow(f: Any, path: Path) -> None:
    """Print lines as they are appended; after a rotation, drain the old file, close it
    and go on with the new one."""
    inode = path.stat().st_ino
    try:
        while True:
            line = f.readline()
            if line:
                print(line, end="", flush=True)
                continue
            time.sleep(0.25)
            if path.exists() and path.stat().st_ino != inode:
                for rest in f:
                    print(rest, end="", flush=True)
                f.close()
                f = path.open("r", encoding="utf-8", errors="replace")
                inode = path.stat().st_ino
    except KeyboardInterrupt:
        return
    finally:
        f.close()
