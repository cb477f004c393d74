"""``python -m workers ROLE --workspace DIR --name NAME --run RUN``: one worker process.

The exit code follows :mod:`fxconsole.ops.exitcodes`: a configuration or checkpoint error
exits 78, missing or refused credentials 77 (the supervisor makes both FATAL at once),
anything else 1. The traceback goes to stderr (the worker's ``<name>.out``, where the
supervisor reads the reason) and to the worker's log.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import traceback
from pathlib import Path

ROLES = ("trainer", "collector", "validator", "tuner", "live", "cluster")


def _early_stop(signum: int, frame: object) -> None:
    """SIGTERM while still importing: exit 0 at once (nothing to save yet)."""
    sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    """Start the worker of ``ROLE`` and run its loop until it is told to stop.

    Returns:
        0 after a clean stop, else the exit code of :func:`fxconsole.ops.exitcodes.exit_code_for`.
    """
    signal.signal(signal.SIGTERM, _early_stop)  # replaced by the runtime's handler
    parser = argparse.ArgumentParser(prog="python -m workers")
    parser.add_argument("role", choices=ROLES)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--name", help="worker name (default: the role)")
    parser.add_argument("--run", required=True, help="training run the worker follows")
    parser.add_argument("--config", help="config file (default: WORKSPACE/fxconsole.toml)")
    args = parser.parse_args(argv)
    try:
        _run(args)
    except Exception as exc:
        from fxconsole.ops.exitcodes import FATAL_EXIT_CODES, exit_code_for

        code = exit_code_for(exc)
        name = args.name or args.role
        logging.getLogger(f"workers.{args.role}").exception("worker %s crashed", name)
        traceback.print_exc()
        meaning = FATAL_EXIT_CODES.get(code)
        print(f"worker {name} exits with code {code}" + (f" ({meaning})" if meaning else ""),
              file=sys.stderr, flush=True)
        return code
    return 0


def _run(args: argparse.Namespace) -> None:
    from fxconsole.config import load_config
    from fxconsole.ops.runtime import WorkerRuntime
    from fxconsole.workspace import resolve_workspace

    workspace = resolve_workspace(args.workspace)
    config_path = Path(args.config) if args.config else None
    load_config(config_path or workspace.config_file)  # a bad config fails before the imports
    module = importlib.import_module(f"workers.{args.role}")  # SIGTERM meanwhile: exit 0
    rt = WorkerRuntime.start(args.name or args.role, args.role, workspace, args.run,
                             config_path)
    try:
        module.main(rt)
    finally:
        rt.close()


if __name__ == "__main__":
    sys.exit(main())
