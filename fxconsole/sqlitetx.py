"""The two SQLite idioms every writer of the console database shares: a ``BEGIN
IMMEDIATE`` transaction and strict JSON for JSON columns.

Below every package (``ops`` and ``broker`` both use it; DESIGN.md: dependencies point
one way), so it imports nothing of fxconsole.
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
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` if the block raises.

    The write lock is taken at ``BEGIN`` (waiting up to the connection's busy timeout), so
    the block never fails half-way for lack of it.

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


def dumps_json(value: Any) -> str:
    """``value`` as valid JSON: non-finite floats become null, numpy values plain lists.

    Unknown objects are written as their ``str``, so this never raises for odd values.
    """
    try:
        return json.dumps(_finite(value), allow_nan=False, default=_json_default)
    except (TypeError, ValueError):  # e.g. a dict with tuple keys
        return json.dumps(str(value))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _finite(value.tolist())
    return str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
