"""Short write transactions on the console database, without importing ``fxconsole.ops``.

The broker package sits below ``ops`` (DESIGN.md: dependencies point one way), so it gets
a plain ``sqlite3.Connection`` (opened by ``fxconsole.ops.db.connect``: autocommit, WAL,
busy timeout) and writes with ``BEGIN IMMEDIATE`` … ``COMMIT`` of its own.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` if the block raises).

    The write lock is taken up front (waiting up to the connection's busy timeout).

    Raises:
        sqlite3.OperationalError: "database is locked" after the busy timeout.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


def to_json(value: Any) -> str:
    """``value`` as strict JSON: non-finite floats become null."""
    return json.dumps(_finite(value), allow_nan=False, default=str)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def ns_to_seconds(ns: int | None) -> float | None:
    """UNIX ns → seconds (REAL columns hold seconds, as every timestamp of the schema)."""
    return None if ns is None else ns / 1e9


def seconds_to_ns(seconds: float | None) -> int | None:
    """UNIX seconds from a REAL column → ns, exact to the microsecond."""
    return None if seconds is None else round(seconds * 1e6) * 1000
