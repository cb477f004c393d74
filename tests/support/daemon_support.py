"""Helpers of the daemon and crash-policy tests: a tiny workspace whose workers are the
stand-ins of ``fake_workers/`` (started by the real supervisor, in a fraction of a second)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fxconsole.config import Config, with_overrides
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore

from system_support import wait_for  # isort: skip

FXCONSOLE = str(Path(sys.executable).parent / "fxconsole")
FAKE_WORKERS = Path(__file__).with_name("fake_workers")
CONFIG = """
[supervisor]
startsecs = 0.5
stopwaitsecs = 2.0
collectors = 1
validator = false
live = false
crash_limit = 3
crash_window = 60.0
[synth]
years = 0.02
"""


def fake_env() -> dict[str, str]:
    """The environment that makes the pool start the fake workers."""
    path = os.pathsep.join(p for p in (str(FAKE_WORKERS), os.environ.get("PYTHONPATH")) if p)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FXCONSOLE_")}
    return {**env, "PYTHONPATH": path}


def make_workspace(root: Path, modes: dict[str, str] | None = None,
                   config: str = CONFIG) -> Path:
    """A workspace with a small market store, ``config`` and the fake workers' plan."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "fxconsole.toml").write_text(config)
    (root / "fake-workers.json").write_text(json.dumps(modes or {}))
    cfg = with_overrides(Config(), "synth", years=0.02, seed=3)
    with MarketStore(root / "data" / "market.duckdb") as store:
        synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
    return root


def fx(ws: Path, *args: str, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
    """Run ``fxconsole --workspace WS ARGS`` with the fake workers."""
    return subprocess.run([FXCONSOLE, "--workspace", str(ws), *args], capture_output=True,
                          text=True, timeout=timeout, env=fake_env())


def pids_alive(pids: list[int]) -> list[int]:
    """The pids of ``pids`` that are still running (zombies count as gone)."""
    out = []
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X"):
            out.append(pid)
    return out


def kill_everything(pids: list[int]) -> None:
    """Cleanup: SIGKILL the process groups of ``pids`` that still run."""
    for pid in pids_alive(pids):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def wait_until(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll ``check()`` every 0.1 s until it is truthy; fail naming ``what`` after ``timeout``."""
    return wait_for(what, check, timeout, interval=0.1)


def lock_pid(ws: Path) -> int | None:
    """The pid in the workspace's supervisor lock file."""
    try:
        return int((ws / "data" / "supervisor.lock").read_text().strip())
    except (OSError, ValueError):
        return None

