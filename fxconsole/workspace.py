"""The workspace: the folder holding ``data/``, ``checkpoints/`` and the config file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fxconsole.config import CONFIG_FILE

WORKSPACE_ENV = "FXCONSOLE_WORKSPACE"


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace. Nothing is created until :meth:`ensure` is called."""

    root: Path

    @property
    def data_dir(self) -> Path:
        """Runtime data: the market store, the console database, logs."""
        return self.root / "data"

    @property
    def checkpoints_dir(self) -> Path:
        """One folder per training run."""
        return self.root / "checkpoints"

    @property
    def market_db(self) -> Path:
        """The DuckDB market store (bars, features, sessions)."""
        return self.data_dir / "market.duckdb"

    @property
    def console_db(self) -> Path:
        """The console database (workers, metrics, trades, commands, events)."""
        return self.data_dir / "console.sqlite"

    @property
    def live_lock(self) -> Path:
        """The lock that keeps one live trader per workspace (worker or ``fxconsole live``)."""
        return self.data_dir / "live.lock"

    @property
    def logs_dir(self) -> Path:
        """Worker log files."""
        return self.data_dir / "logs"

    @property
    def config_file(self) -> Path:
        """The workspace's TOML configuration (optional)."""
        return self.root / CONFIG_FILE

    def ensure(self) -> Workspace:
        """Create the runtime folders if missing; return self."""
        for path in (self.data_dir, self.checkpoints_dir, self.logs_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self


def resolve_workspace(
    arg: str | None = None, environ: Mapping[str, str] | None = None
) -> Workspace:
    """Pick the workspace: ``--workspace`` first, then ``$FXCONSOLE_WORKSPACE``, then the cwd.

    Raises:
        NotADirectoryError: if the chosen path exists and is not a folder.
    """
    env = os.environ if environ is None else environ
    chosen = arg or env.get(WORKSPACE_ENV) or os.getcwd()
    root = Path(chosen).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"workspace {root} is not a folder")
    return Workspace(root)
