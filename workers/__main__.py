"""``python -m workers ROLE --workspace DIR --name NAME --run RUN``: one worker process."""

from __future__ import annotations

import argparse
import importlib
import sys

from fxconsole.ops.runtime import limit_threads

ROLES = ("trainer", "collector", "validator", "live")


def main(argv: list[str] | None = None) -> int:
    """Start the worker of ``ROLE`` and run its loop until it is told to stop."""
    parser = argparse.ArgumentParser(prog="python -m workers")
    parser.add_argument("role", choices=ROLES)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--name", help="worker name (default: the role)")
    parser.add_argument("--run", required=True, help="training run the worker follows")
    args = parser.parse_args(argv)
    limit_threads(1)
    from fxconsole.ops.runtime import WorkerRuntime
    from fxconsole.workspace import resolve_workspace

    module = importlib.import_module(f"workers.{args.role}")
    rt = WorkerRuntime.start(args.name or args.role, args.role,
                             resolve_workspace(args.workspace), args.run)
    try:
        module.main(rt)
    finally:
        rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
