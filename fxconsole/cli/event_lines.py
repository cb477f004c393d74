"""The headless supervisor's event lines: each new warning or error, and every validation
verdict, as one line between the periodic status lines (``fxconsole run --no-ui``)."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime

from fxconsole.ops.event_tail import events_after, last_event_id
from fxconsole.ops.notify import notify_kind
from fxconsole.ops.queries import EventRow

logger = logging.getLogger(__name__)

SHOWN_LEVELS = ("warning", "error")


def event_line(event: EventRow) -> str | None:
    """The line for ``event``, or None if headless mode does not show it.

    Shown: warnings, errors, validation verdicts, and anything that notifies. The line is
    ``HH:MM:SS LEVEL source kind: message`` (local time), with a ``!`` before the level of
    an event that notifies (:func:`fxconsole.ops.notify.notify_kind`).
    """
    notifies = notify_kind(event) is not None
    if event.level not in SHOWN_LEVELS and event.kind != "validation" and not notifies:
        return None
    when = datetime.fromtimestamp(event.ts).strftime("%H:%M:%S")
    mark = "!" if notifies else " "
    return f"{when} {mark}{event.level.upper():<7} {event.source} {event.kind}: {event.message}"


class EventLines:
    """New events as lines, from the newest event at construction on."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        """Start after the newest event of ``conn``'s database (history is not printed)."""
        self.last = last_event_id(conn)

    def poll(self, conn: sqlite3.Connection) -> list[str]:
        """The lines of the events written since the last poll (a failing read: none)."""
        try:
            events = events_after(conn, self.last, limit=1000)
        except sqlite3.Error as exc:
            logger.warning("reading new events failed: %s", exc)
            return []
        if events:
            self.last = events[-1].id
        return [line for line in map(event_line, events) if line is not None]
