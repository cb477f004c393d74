"""``fxconsole config``: show the effective configuration, write a commented default, or
check a file (and the ``FXCONSOLE_<SECTION>__<KEY>`` environment) without running anything."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fxconsole.cli.common import CliError, Context
from fxconsole.config import ConfigError, config_record, default_toml, load_config
from fxconsole.fsutil import atomic_write


def add_parser(sub: Any) -> None:
    """Register ``config show``, ``config init`` and ``config check``."""
    p = sub.add_parser("config", help="show or initialise the configuration")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = csub.add_parser("show", help="print the effective configuration as JSON")
    show.set_defaults(handler=_show)
    init = csub.add_parser("init", help="write WORKSPACE/fxconsole.toml with every default")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=_init)
    check = csub.add_parser("check", help="validate a config file and the FXCONSOLE_* "
                            "environment: exit 0, or 1 naming the key")
    check.add_argument("--config", dest="check_file", metavar="FILE",
                       help="the file to check (default: the one fxconsole would use)")
    check.set_defaults(handler=check_config, tolerate_bad_config=True,
                       quiet_config_error=True)


def _show(ctx: Context, args: argparse.Namespace) -> int:
    print(json.dumps(config_record(ctx.config), indent=2))  # the webhook URL's token hidden
    return 0


def check_config(ctx: Context, args: argparse.Namespace) -> int:
    """``fxconsole config check``: load the file as every command would; report the result."""
    path = Path(args.check_file) if args.check_file else ctx.config_path or \
        ctx.workspace.config_file
    if not path.exists():
        if args.check_file or args.config:
            raise CliError(f"config file {path} does not exist")
        what = f"{path} does not exist: the defaults apply"
    else:
        what = str(path)
    try:
        load_config(path)
    except ConfigError as exc:
        raise CliError(f"invalid configuration: {exc}") from None
    print(f"ok: {what} (and the FXCONSOLE_* environment) is valid")
    return 0


def _init(ctx: Context, args: argparse.Namespace) -> int:
    path = ctx.workspace.config_file
    if path.exists() and not args.force:
        raise CliError(f"{path} exists; use --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, default_toml().encode())
    print(f"wrote {path}")
    return 0
