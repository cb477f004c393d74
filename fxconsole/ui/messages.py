"""Every custom message of the console, in one place (toolong's ``messages.py``).

Data flows down as attributes; these flow up: the reader thread posts :class:`Snapshot`
and :class:`ReadFailed` to the app, the command writer posts :class:`CommandQueued` and
:class:`CommandRejected`, and the workers table posts :class:`WorkerSelected`. (The log
pane's own messages live with it, in ``widgets/log_pane.py``.)
"""

from __future__ import annotations

from textual.message import Message

from fxconsole.ui.control import Request
from fxconsole.ui.data import ConsoleSnapshot


class Snapshot(Message):
    """A new snapshot of the store; a newer one replaces one still queued."""

    def __init__(self, snapshot: ConsoleSnapshot) -> None:
        """Carry ``snapshot``."""
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        """Coalesce a flood: only the newest snapshot matters."""
        return isinstance(message, Snapshot)


class ReadFailed(Message):
    """The reader could not read the store (the next attempt follows on its timer)."""

    def __init__(self, error: str) -> None:
        """Carry the error text."""
        super().__init__()
        self.error = error

    def can_replace(self, message: Message) -> bool:
        """Only the newest error matters."""
        return isinstance(message, ReadFailed)


class CommandQueued(Message):
    """A command row was written (its outcome arrives later in a snapshot)."""

    def __init__(self, command_id: int, request: Request) -> None:
        """Carry the row id and what was asked."""
        super().__init__()
        self.command_id = command_id
        self.request = request


class CommandRejected(Message):
    """A command could not be written (refused by its target's verbs, or the database)."""

    def __init__(self, request: Request, error: str) -> None:
        """Carry what was asked and why it failed."""
        super().__init__()
        self.request = request
        self.error = error


class WorkerSelected(Message):
    """The cursor of the workers table moved to a worker."""

    def __init__(self, name: str) -> None:
        """Carry the worker's name."""
        super().__init__()
        self.name = name
