"""``fxconsole`` (no sub-command) and ``fxconsole attach``: the console UI.

``fxconsole`` starts a supervisor for the workspace if none runs (detached, in its own
session, logging to ``data/logs/supervisor.log``), then attaches the UI. ``attach`` only
attaches. Quitting the UI asks whether to stop the workers or leave them running.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

from fxconsole.cli.common import CliError, Context

START_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0


def add_parser(sub: Any) -> None:
    """Register ``attach``."""
    p = sub.add_parser("attach", help="attach the console UI to a running supervisor")
    p.add_argument("--no-mouse", action="store_true", help="keyboard only")
    p.set_defaults(handler=attach)


def supervisor_pid(ctx: Context) -> int | None:
    """The pid holding the workspace's supervisor lock, if any."""
    from fxconsole.ops.lock import SupervisorLock

    pid = SupervisorLock.for_workspace(ctx.workspace).holder()
    return pid if pid and pid > 0 else None


def start_supervisor(ctx: Context) -> int:
    """Start ``fxconsole --no-ui`` detached for this workspace; return its pid."""
    ctx.workspace.ensure()
    log = (ctx.workspace.logs_dir / "supervisor.log").open("ab")
    command = [sys.executable, "-m", "fxconsole", "--workspace", str(ctx.workspace.root)]
    if ctx.config_path is not None and ctx.config_path != ctx.workspace.config_file:
        command += ["--config", str(ctx.config_path.resolve())]
    command.append("--no-ui")
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True, cwd=ctx.workspace.root)
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if supervisor_pid(ctx) == proc.pid:
            return proc.pid
        if proc.poll() is not None:
            raise CliError(f"the supervisor exited with {proc.returncode}; see "
                           f"{ctx.workspace.logs_dir / 'supervisor.log'}")
        time.sleep(0.1)
    raise CliError(f"the supervisor did not start within {START_TIMEOUT:.0f} s; see "
                   f"{ctx.workspace.logs_dir / 'supervisor.log'}")


def stop_supervisor(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the supervisor (it stops every worker, then exits) and wait for it to go."""
    from fxconsole.ops.process import is_alive

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # a supervisor this process started is its child: reap it, or it lingers as a
        # zombie that signal 0 still finds (one started by another process is not ours)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not is_alive(pid):
            return
        time.sleep(0.2)
    raise CliError(f"the supervisor (pid {pid}) is still running after {timeout:.0f} s")


def run_console(ctx: Context, args: argparse.Namespace) -> int:
    """Start a supervisor if needed, then attach."""
    if supervisor_pid(ctx) is None:
        from fxconsole.cli.run_cmd import prepare_market_data

        prepare_market_data(ctx)
        print(f"starting a supervisor for {ctx.workspace.root}…", flush=True)
        start_supervisor(ctx)
    return attach(ctx, args)


def attach(ctx: Context, args: argparse.Namespace) -> int:
    """Run the console UI against the workspace's supervisor."""
    from fxconsole.ui.app import FxConsoleApp

    pid = supervisor_pid(ctx)
    if pid is None:
        raise CliError(f"no supervisor runs for {ctx.workspace.root}: start one with "
                       "`fxconsole` or `fxconsole --no-ui`")
    choice = FxConsoleApp(ctx.workspace, ctx.config,
                          mouse=not getattr(args, "no_mouse", False)).run()
    if choice == "stop":
        print("stopping the supervisor and every worker…", flush=True)
        stop_supervisor(pid)
        print("stopped")
    elif choice == "leave":
        print(f"workers left running (supervisor pid {pid}); `fxconsole attach` reattaches")
    return 0
