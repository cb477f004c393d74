"""When the console rings: a new event that notifies (:func:`fxconsole.ops.notify.notify_kind`)."""

from __future__ import annotations

from collections.abc import Iterable

from fxconsole.ops.notify import notify_kind
from fxconsole.ops.queries import EventRow


class BellWatch:
    """Picks, from each snapshot's recent events, the notifying ones not seen before.

    The first snapshot only sets the mark: events older than the console do not ring.
    """

    def __init__(self) -> None:
        self.seen: int | None = None

    def fresh(self, events: Iterable[EventRow]) -> list[EventRow]:
        """The notifying events newer than any seen so far, oldest first."""
        events = list(events)
        newest = max((e.id for e in events), default=0)
        if self.seen is None:
            self.seen = newest
            return []
        mark, self.seen = self.seen, max(self.seen, newest)
        return sorted((e for e in events if e.id > mark and notify_kind(e) is not None),
                      key=lambda e: e.id)
