"""A running supervisor keeps the configuration it started with.

:func:`render_config` writes a :class:`~fxconsole.config.Config` as TOML (every key, its
effective value): the pool saves it as ``data/running-config.toml`` and starts every
worker — also one restarted hours later — with it, so an edit of ``fxconsole.toml`` (or a
broken one) reaches no process until the supervisor restarts. :class:`ConfigWatch` notices
such an edit and says whether the file still loads, for the supervisor to record as an
event.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fxconsole.config import Config, ConfigError, load_config, toml_value
from fxconsole.fsutil import atomic_write

RUNNING_CONFIG = "running-config.toml"


def render_config(cfg: Config) -> str:
    """``cfg`` as a TOML document that :func:`~fxconsole.config.load_config` reads back equal
    (but for ``notify.webhook_url``, left empty: it may hold a token, and only the
    supervisor, which keeps its own copy, posts to it)."""
    lines = ["# The configuration this supervisor started with (written at its start; the",
             "# workers read it). Edit fxconsole.toml instead, then restart the supervisor.", ""]
    plain = asdict(cfg)
    plain["notify"]["webhook_url"] = ""  # a secret the workers never use: the supervisor's only
    for section, values in plain.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def write_running_config(cfg: Config, data_dir: Path) -> Path:
    """Save ``cfg`` atomically as ``data_dir/running-config.toml``; return the path."""
    path = data_dir / RUNNING_CONFIG
    atomic_write(path, render_config(cfg).encode())
    return path


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class ConfigWatch:
    """Tells, once per change, that a config file changed and whether it still loads."""

    def __init__(self, path: Path,
                 loader: Callable[[Path], Any] = load_config) -> None:
        """Watch ``path`` from its present state on (``loader`` raises ConfigError if bad)."""
        self.path = path
        self._loader = loader
        self._stamp = _stamp(path)

    def poll(self) -> tuple[str, str] | None:
        """None if the file did not change since the last call, else ``(level, message)``:
        ``("warning", …)`` with the error if it no longer loads, ``("info", …)`` if it does."""
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            self._loader(self.path)
        except ConfigError as exc:
            return ("warning", f"{self.path} changed and no longer loads: {exc}. The running "
                    "supervisor and its workers keep the configuration they started with; "
                    "fix the file (`fxconsole config check`) before restarting")
        return ("info", f"{self.path} changed; the change takes effect when the supervisor "
                "restarts (workers keep the configuration it started with)")
