"""Helpers of the tests that run the whole system as real processes."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FXCONSOLE = str(Path(sys.executable).parent / "fxconsole")


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0,
             interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def query(ws: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = ws / "data" / "console.sqlite"
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # schema not created yet
        return []
    finally:
        conn.close()


def workers(ws: Path) -> dict[str, tuple[str, int, int]]:
    rows = query(ws, "SELECT name, state, pid, restarts FROM workers")
    return {n: (s, p, r) for n, s, p, r in rows}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return not (state.exists() and state.read_text().split()[2] == "Z")
