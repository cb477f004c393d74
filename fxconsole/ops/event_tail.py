"""Following the ``events`` table by id: what is new since the last look.

The notifier, the headless supervisor's event lines and tests read events this way. Event
ids only grow (the audit trail is never pruned), so "after id N" is a complete tail.
"""

from __future__ import annotations

import json
import sqlite3

from fxconsole.ops.queries import EventRow

COLUMNS = "id, ts, level, source, kind, message, data"


def last_event_id(conn: sqlite3.Connection) -> int:
    """The newest event id (0 if there is none)."""
    row = conn.execute("SELECT max(id) FROM events").fetchone()
    return int(row[0] or 0)


def events_after(conn: sqlite3.Connection, after_id: int, limit: int = 100) -> list[EventRow]:
    """The events with an id above ``after_id``, oldest first, at most ``limit``."""
    rows = conn.execute(f"SELECT {COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?",
                        (after_id, limit)).fetchall()
    return [EventRow(id_, ts, level, source, kind, message, json.loads(data or "{}"))
            for id_, ts, level, source, kind, message, data in rows]
