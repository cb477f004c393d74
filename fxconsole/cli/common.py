"""What every sub-command shares: the workspace, the config and user-facing errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fxconsole.config import Config, ConfigError, load_config
from fxconsole.workspace import Workspace, resolve_workspace


class CliError(Exception):
    """An error to show the user without a traceback."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


USAGE = 2
"""Exit code of a usage error (as argparse): a bad verb, option value or argument."""


class UsageError(CliError):
    """A command line that cannot mean anything: exits 2 like argparse's own errors."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=USAGE)


@dataclass(frozen=True)
class Context:
    """The resolved workspace and configuration of one command."""

    workspace: Workspace
    config: Config
    config_path: Path | None = None


def open_context(workspace: str | None, config_path: str | None) -> Context:
    """Resolve the workspace and load the config, turning bad input into CliError."""
    try:
        ws = resolve_workspace(workspace)
        path = Path(config_path) if config_path else ws.config_file
        if config_path and not path.exists():
            raise CliError(f"config file {path} does not exist")
        return Context(ws, load_config(path), path)
    except (ConfigError, NotADirectoryError) as exc:
        raise CliError(str(exc)) from None
