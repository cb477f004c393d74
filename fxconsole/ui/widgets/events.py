"""Alerts (events) and the command audit trail.

Both tables sort by any column (``o``/``O``, or a click on a header) and search (``/``);
enter on an event or a command opens its detail view (the whole message and its data;
the whole result and the arguments)."""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Label

from fxconsole.ui import format as fmt
from fxconsole.ui.data import ConsoleSnapshot
from fxconsole.ui.screens.detail import command_screen, event_screen
from fxconsole.ui.tables import Row
from fxconsole.ui.widgets.common import plain, themed
from fxconsole.ui.widgets.sortable import SearchableTable

EVENT_COLUMNS = ("age", "level", "source", "kind", "message")
COMMAND_COLUMNS = ("id", "age", "by", "target", "verb", "args", "state", "result")
LEVEL_RANK = {"info": 0, "warning": 1, "error": 2}  # sorting by level: by severity


class EventsTable(SearchableTable):
    """Events and alerts, newest first; enter opens one."""

    COLUMNS = tuple((c, c) for c in EVENT_COLUMNS)
    snapshot: ConsoleSnapshot | None = None

    def detail(self, key: str) -> Screen[Any] | None:
        """The event's detail view."""
        event = next((e for e in self.snapshot.events if str(e.id) == key), None) \
            if self.snapshot else None
        return None if event is None else event_screen(self.app, event)


class CommandsTable(SearchableTable):
    """The newest commands and their outcomes; enter opens one."""

    COLUMNS = tuple((c, c) for c in COMMAND_COLUMNS)
    snapshot: ConsoleSnapshot | None = None

    def detail(self, key: str) -> Screen[Any] | None:
        """The command's detail view."""
        command = next((c for c in self.snapshot.commands if str(c.id) == key), None) \
            if self.snapshot else None
        return None if command is None else command_screen(self.app, command)


class EventsPanel(Vertical):
    """Recent events and alerts above the newest commands and their outcomes."""

    snapshot: var[ConsoleSnapshot | None] = var(None)

    def compose(self) -> ComposeResult:
        """Two titled tables."""
        yield Label("Alerts and events", classes="section-title")
        yield EventsTable(id="events-table")
        yield Label("Commands (audit trail)", classes="section-title")
        yield CommandsTable(id="commands-table")

    def watch_snapshot(self, snap: ConsoleSnapshot | None) -> None:
        """Show the snapshot's events and commands."""
        if snap is None:
            return
        now = snap.taken
        events = self.query_one(EventsTable)
        events.snapshot = snap
        events.show_rows([
            Row(str(e.id), (plain(fmt.age(now - e.ts)), themed(self.app, e.level),
                            plain(e.source), plain(e.kind), plain(e.message)),
                (now - e.ts, LEVEL_RANK.get(e.level, 3), e.source, e.kind, e.message))
            for e in snap.events])
        commands = self.query_one(CommandsTable)
        commands.snapshot = snap
        commands.show_rows([
            Row(str(c.id), (plain(str(c.id)), plain(fmt.age(now - c.created)),
                            plain(c.issued_by), plain(c.target), plain(c.verb),
                            plain(_args(c.args)), themed(self.app, c.state), plain(c.result)),
                (c.id, now - c.created, c.issued_by, c.target, c.verb, _args(c.args), c.state,
                 c.result))
            for c in snap.commands])


def _args(args: dict[str, Any]) -> str:
    return json.dumps(args, separators=(",", ":")) if args else ""
