"""Record an operator's acknowledgement of an alert as an event (see
:mod:`fxconsole.ui.alerts`): it survives restarts, and every console attached sees it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from fxconsole.ops.db import transaction
from fxconsole.ops.queries import EventRow
from fxconsole.sqlitetx import dumps_json
from fxconsole.ui.alerts import ACK_KIND, ACK_SOURCE


def record_ack(conn: sqlite3.Connection, alert: EventRow, clock: Callable[[], float]) -> int:
    """Write the acknowledgement of ``alert``; return the new event's id.

    Raises:
        sqlite3.Error: if it cannot be written.
    """
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO events (ts, level, source, kind, message, data) VALUES (?,?,?,?,?,?)",
            (clock(), "info", ACK_SOURCE, ACK_KIND,
             f"acknowledged: {alert.source}: {alert.message}"[:500],
             dumps_json({"event": alert.id, "kind": alert.kind})))
    return int(cur.lastrowid or 0)
