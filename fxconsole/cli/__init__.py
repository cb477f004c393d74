"""The ``fxconsole`` command: one entry point with sub-commands."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from fxconsole.cli import (
    config_cmd,
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
        ctx: Context = open_context(args.workspace, args.config)
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

