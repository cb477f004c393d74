"""``python -m workers ROLE --workspace DIR --name NAME --run RUN``: one worker process."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from pathlib import Path

ROLES = ("trainer", "collector", "validator", "tuner", "live")


def _early_stop(signum: int, frame: object) -> None:
    """SIGTERM while still importing: exit 0 at once (nothing to save yet)."""
    sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    """Start the worker of ``ROLE`` and run its loop until it is told to stop."""
    signal.signal(signal.SIGTERM, _early_stop)  # replaced by the runtime's handler
    parser = argparse.ArgumentParser(prog="python -m workers")
    parser.add_argument("role", choices=ROLES)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--name", help="worker name (default: the role)")
    parser.add_argument("--run", required=True, help="training run the worker follows")
    parser.add_argument("--config", help="config file (default: WORKSPACE/fxconsole.toml)")
    args = parser.parse_args(argv)
    from fxconsole.ops.runtime import WorkerRuntime
    from fxconsole.workspace import resolve_workspace

    module = importlib.import_module(f"workers.{args.role}")
    rt = WorkerRuntime.start(args.name or args.role, args.role,
                             resolve_workspace(args.workspace), args.run,
                             Path(args.config) if args.config else None)
    try:
        module.main(rt)
    except Exception:
        logging.getLogger(f"workers.{args.role}").exception("worker %s crashed", rt.name)
        raise
    finally:
        rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
