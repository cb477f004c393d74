"""The ``fxconsole`` command: one entry point with sub-commands."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from fxconsole.cli import (
    config_cmd,
    daemon_cmd,
    data_cmd,
    live_cmd,
    ops_cmd,
    run_cmd,
    train_cmd,
    tune_cmd,
    ui_cmd,
    validate_cmd,
)
from fxconsole.cli.common import CliError, Context, open_context

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="fxconsole",
        description="Operations console for reinforcement-learning forex trading.",
    )
    parser.add_argument("--workspace", metavar="DIR",
                        help="workspace folder (default: $FXCONSOLE_WORKSPACE or the cwd)")
    parser.add_argument("--config", metavar="FILE",
                        help="config file (default: WORKSPACE/fxconsole.toml)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    run_cmd.add_run_arguments(parser)
    parser.add_argument("--no-mouse", action="store_true", help="console UI: keyboard only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    data_cmd.add_parser(sub)
    run_cmd.add_parser(sub)
    ui_cmd.add_parser(sub)
    ops_cmd.add_parser(sub)
    daemon_cmd.add_parser(sub)
    train_cmd.add_parser(sub)
    tune_cmd.add_parser(sub)
    validate_cmd.add_parser(sub)
    live_cmd.add_parser(sub)
    config_cmd.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "handler", None):
        # `fxconsole --no-ui`: the whole system headless; `fxconsole`: the console UI.
        args.handler = run_cmd.run_pool if args.no_ui else ui_cmd.run_console
    try:
        ctx: Context = _context(args)
        return int(args.handler(ctx, args) or 0)
    except CliError as exc:
        print(f"fxconsole: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("fxconsole: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `fxconsole config show | head`
        sys.stderr.close()
        return 0


def _context(args: argparse.Namespace) -> Context:
    """The command's context. Commands that must work with a broken config file (status,
    ctl, logs, start, shutdown, config check) get the defaults instead, with a warning and
    the error in ``args.config_error``: they need only the workspace's paths."""
    args.config_error = None
    try:
        return open_context(args.workspace, args.config)
    except CliError as exc:
        if not getattr(args, "tolerate_bad_config", False):
            raise
        from fxconsole.config import Config
        from fxconsole.workspace import resolve_workspace

        try:
            ws = resolve_workspace(args.workspace)
        except NotADirectoryError as bad:
            raise CliError(str(bad)) from None
        args.config_error = str(exc)
        if not getattr(args, "quiet_config_error", False):
            print(f"fxconsole: warning: {exc}; this command goes on with the default "
                  "configuration (it needs only the workspace's paths)", file=sys.stderr)
        path = Path(args.config) if args.config else ws.config_file
        return Context(ws, Config(), path)

