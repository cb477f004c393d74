"""Alerts (events) and the command audit trail."""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import var
from textual.widgets import DataTable, Label

from fxconsole.ui import format as fmt
from fxconsole.ui.data import ConsoleSnapshot
from fxconsole.ui.widgets.common import plain, sync_rows, themed

EVENT_COLUMNS = ("age", "level", "source", "kind", "message")
COMMAND_COLUMNS = ("id", "age", "by", "target", "verb", "args", "state", "result")


def _table(table_id: str, columns: tuple[str, ...]) -> DataTable[Any]:
    table: DataTable[Any] = DataTable(id=table_id, cursor_type="row")
    for column in columns:
        table.add_column(column, key=column)
    return table


class EventsPanel(Vertical):
    """Recent events and alerts above the newest commands and their outcomes."""

    snapshot: var[ConsoleSnapshot | None] = var(None)

    def compose(self) -> ComposeResult:
        """Two titled tables."""
        yield Label("Alerts and events", classes="section-title")
        yield _table("events-table", EVENT_COLUMNS)
        yield Label("Commands (audit trail)", classes="section-title")
        yield _table("commands-table", COMMAND_COLUMNS)

    def watch_snapshot(self, snap: ConsoleSnapshot | None) -> None:
        """Show the snapshot's events and commands."""
        if snap is None:
            return
        now = snap.taken
        sync_rows(self.query_one("#events-table", DataTable), [
            (str(e.id), [plain(fmt.age(now - e.ts)), themed(self.app, e.level),
                         plain(e.source), plain(e.kind), plain(e.message)])
            for e in snap.events])
        sync_rows(self.query_one("#commands-table", DataTable), [
            (str(c.id), [plain(str(c.id)), plain(fmt.age(now - c.created)), plain(c.issued_by),
                         plain(c.target), plain(c.verb),
                         plain(json.dumps(c.args, separators=(",", ":")) if c.args else ""),
                         themed(self.app, c.state), plain(c.result)])
            for c in snap.commands])
