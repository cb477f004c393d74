"""``fxconsole start`` and ``fxconsole shutdown``: the supervisor as a daemon you can drive.

``start`` launches the same detached supervisor the console starts (``fxconsole --no-ui``
in its own session, logging to ``data/logs/supervisor.log``) and returns once every
worker is RUNNING, or exits 1 saying why not: a FATAL worker and its reason, the lock held
by another pid, a configuration error. ``shutdown`` sends the supervisor SIGTERM — it
stops every worker (SIGTERM, SIGKILL after ``stopwaitsecs``), then exits — and returns
when none of those processes remains. It also stops a supervisor the console started,
and after a supervisor was killed it stops the workers it left behind.
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from fxconsole.cli.common import CliError, Context
from fxconsole.cli.ui_cmd import start_supervisor, stop_supervisor, supervisor_pid

START_TIMEOUT = 120.0
POLL_SECONDS = 0.2


def add_parser(sub: Any) -> None:
    """Register ``start`` and ``shutdown``."""
    start = sub.add_parser("start", help="start a detached supervisor; return once every "
                           "worker is RUNNING (exit 1 saying why not)")
    start.add_argument("--timeout", type=float, default=START_TIMEOUT,
                       help=f"seconds to wait for the workers (default {START_TIMEOUT:.0f})")
    start.set_defaults(handler=start_daemon, tolerate_bad_config=True)
    stop = sub.add_parser("shutdown", help="stop every worker, then the supervisor; return "
                          "when no process remains")
    stop.add_argument("--timeout", type=float, default=None,
                      help="seconds to wait (default: twice supervisor.stopwaitsecs + 30)")
    stop.set_defaults(handler=shutdown_daemon, tolerate_bad_config=True)


def start_daemon(ctx: Context, args: argparse.Namespace) -> int:
    """``fxconsole start``."""
    from fxconsole.cli.run_cmd import ensure_market_data
    from fxconsole.ops.lock import SupervisorLock

    if getattr(args, "config_error", None):
        raise CliError(f"cannot start a supervisor with this configuration: {args.config_error}")
    pid = supervisor_pid(ctx)
    if pid is not None:
        lock = SupervisorLock.for_workspace(ctx.workspace)
        raise CliError(f"a supervisor already runs for {ctx.workspace.root}: pid {pid} holds "
                       f"{lock.path} (`fxconsole status` shows it, `fxconsole shutdown` "
                       "stops it)")
    try:
        ensure_market_data(ctx)
    except Exception as exc:  # duckdb's lock, a bad synth config …: name it
        raise CliError(f"cannot prepare the market data in {ctx.workspace.market_db}: "
                       f"{exc}") from None
    since = time.time()
    pid = start_supervisor(ctx)
    names = _expected_workers(ctx)
    print(f"supervisor pid {pid} started for {ctx.workspace.root}; waiting for "
          f"{', '.join(names)}…", flush=True)
    _wait_until_running(ctx, pid, names, since, args.timeout)
    print(f"all {len(names)} workers RUNNING (supervisor pid {pid})")
    return 0


def _expected_workers(ctx: Context) -> list[str]:
    from fxconsole.ops.pool import program_specs

    return [spec.name for spec in program_specs(ctx.config, ctx.workspace,
                                                ctx.config.supervisor.run)]


def _wait_until_running(ctx: Context, pid: int, names: list[str], since: float,
                        timeout: float) -> None:
    """Return once every worker in ``names`` is RUNNING; raise CliError on a FATAL worker,
    a supervisor that exits, or the timeout."""
    from fxconsole.ops.db import connect
    from fxconsole.ops.process import is_alive

    log = ctx.workspace.logs_dir / "supervisor.log"
    deadline = time.monotonic() + timeout
    conn = connect(ctx.workspace.console_db)
    try:
        rows: dict[str, tuple[str, str, str]] = {}
        while time.monotonic() < deadline:
            if not is_alive(pid):
                raise CliError(f"the supervisor (pid {pid}) exited; see {log}")
            rows = _rows(conn, since)
            fatal = {n: r for n, r in rows.items() if r[0] == "FATAL"}
            if fatal:
                name, (_, message, reason) = next(iter(fatal.items()))
                raise CliError(f"worker {name} is FATAL: {reason or message}. The supervisor "
                               f"(pid {pid}) keeps running the others; fix the cause, then "
                               f"`fxconsole ctl start {name}`, or `fxconsole shutdown`")
            if all(rows.get(n, ("",))[0] == "RUNNING" for n in names):
                return
            time.sleep(POLL_SECONDS)
    finally:
        conn.close()
    waiting = ", ".join(f"{n} {rows.get(n, ('not started',))[0]}" for n in names)
    raise CliError(f"not every worker is RUNNING after {timeout:g} s ({waiting}); the "
                   f"supervisor (pid {pid}) keeps trying: `fxconsole status`")


def _rows(conn: sqlite3.Connection, since: float) -> dict[str, tuple[str, str, str]]:
    """``name → (state, message, reason)`` of the rows written since ``since``."""
    return {str(n): (str(s), str(m), str(r)) for n, s, m, r in conn.execute(
        "SELECT name, state, message, reason FROM workers WHERE updated >= ?", (since,))}


def shutdown_daemon(ctx: Context, args: argparse.Namespace) -> int:
    """``fxconsole shutdown``."""
    from fxconsole.ops.lock import SupervisorLock
    from fxconsole.ops.process import is_alive

    timeout = args.timeout or 2 * ctx.config.supervisor.stopwaitsecs + 30.0
    workers = _recorded_workers(ctx)
    pid = supervisor_pid(ctx)
    lock = SupervisorLock.for_workspace(ctx.workspace)
    if pid is None:
        orphans = [(n, p) for n, p in workers if _is_our_worker(p, ctx.workspace.root)]
        if not orphans and lock.recorded_pid() is None:
            print(f"no supervisor runs for {ctx.workspace.root}; nothing to stop")
            return 0
        dead = lock.recorded_pid()
        print(f"the supervisor{f' (pid {dead})' if dead else ''} is gone; stopping the "
              f"{len(orphans)} worker(s) it left: {', '.join(n for n, _ in orphans) or 'none'}",
              flush=True)
        _stop_orphans([p for _, p in orphans], timeout)
        _forget_dead_supervisor(ctx, lock)
        print("stopped")
        return 0
    print(f"stopping every worker, then the supervisor (pid {pid})…", flush=True)
    stop_supervisor(pid, timeout)
    left = [n for n, p in workers if is_alive(p) and _is_our_worker(p, ctx.workspace.root)]
    if left:
        raise CliError(f"the supervisor stopped but these workers still run: {', '.join(left)}")
    print("stopped: no worker and no supervisor process remains")
    return 0


def _recorded_workers(ctx: Context) -> list[tuple[str, int]]:
    """``(name, pid)`` of the workers the table records with a pid."""
    from fxconsole.ops.db import connect

    if not ctx.workspace.console_db.exists():
        return []
    conn = connect(ctx.workspace.console_db)
    try:
        return [(str(n), int(p)) for n, p in conn.execute(
            "SELECT name, pid FROM workers WHERE pid IS NOT NULL ORDER BY name")]
    finally:
        conn.close()


def _is_our_worker(pid: int, root: Path) -> bool:
    """True if ``pid`` runs ``python -m workers … --workspace ROOT`` (not a reused pid)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [a.decode(errors="replace") for a in argv]
    return "workers" in words and str(root) in words


def _stop_orphans(pids: list[int], timeout: float) -> None:
    """SIGTERM each worker's process group, SIGKILL what is left after ``timeout``."""
    from fxconsole.ops.process import is_alive, signal_group

    for pid in pids:
        signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(is_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    for pid in pids:
        if is_alive(pid):
            signal_group(pid, signal.SIGKILL)
    while any(is_alive(p) for p in pids) and time.monotonic() < deadline + 5.0:
        time.sleep(POLL_SECONDS)


def _forget_dead_supervisor(ctx: Context, lock: Any) -> None:
    """Record the dead supervisor's workers as STOPPED and clear its pid from the lock
    file (taking the lock for an instant), so status no longer says "supervisor down"."""
    from fxconsole.ops.db import connect, transaction
    from fxconsole.ops.lock import AlreadyRunning

    try:
        with lock:
            if ctx.workspace.console_db.exists():
                conn = connect(ctx.workspace.console_db)
                try:
                    with transaction(conn):
                        conn.execute(
                            "UPDATE workers SET state = 'STOPPED', pid = NULL, message = ?,"
                            " updated = ? WHERE state IN ('STARTING', 'RUNNING', 'BACKOFF',"
                            " 'STOPPING')", ("stopped by `fxconsole shutdown` after the "
                                             "supervisor was gone", time.time()))
                finally:
                    conn.close()
    except AlreadyRunning as exc:  # a supervisor started meanwhile: leave its state alone
        print(f"note: {exc}")
