"""``fxconsole config``: show the effective configuration or write a commented default."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from fxconsole.cli.common import CliError, Context
from fxconsole.config import default_toml
from fxconsole.fsutil import atomic_write


def add_parser(sub: Any) -> None:
    """Register ``config show`` and ``config init``."""
    p = sub.add_parser("config", help="show or initialise the configuration")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = csub.add_parser("show", help="print the effective configuration as JSON")
    show.set_defaults(handler=_show)
    init = csub.add_parser("init", help="write WORKSPACE/fxconsole.toml with every default")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=_init)


def _show(ctx: Context, args: argparse.Namespace) -> int:
    print(json.dumps(asdict(ctx.config), indent=2))
    return 0


def _init(ctx: Context, args: argparse.Namespace) -> int:
    path = ctx.workspace.config_file
    if path.exists() and not args.force:
        raise CliError(f"{path} exists; use --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, default_toml().encode())
    print(f"wrote {path}")
    return 0
