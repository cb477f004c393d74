"""The help screen: every key of the console, generated from the bindings themselves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

NAVIGATION = (("↑ ↓ PgUp PgDn", "move in tables and the log"),
              ("f End", "log: follow new lines again (scrolling up pauses)"),
              ("enter", "choose in lists and dialogs"),
              ("ctrl+p", "command palette: every action by name"),
              ("ctrl+q", "quit at once (workers keep running)"),
              ("STALE", "status line: no heartbeat or metric for over 10 s while workers "
                        "should be running (is the supervisor alive?)"))


def help_table(keys: Sequence[tuple[str, str]]) -> Table:
    """Two columns: key, what it does."""
    table = Table(box=None, padding=(0, 2), show_header=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, description in keys:
        table.add_row(key, description)
    return table


class HelpScreen(ModalScreen[None]):
    """Lists ``keys`` (key, description) and the navigation keys; any of ? q esc closes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, keys: Sequence[tuple[str, str]]) -> None:
        """``keys`` come from the main screen's bindings."""
        super().__init__()
        self.keys = list(keys)

    def compose(self) -> ComposeResult:
        """Title, the table in a scrollable box, and a hint."""
        with Vertical(classes="dialog help"):
            yield Label("[b]fxconsole keys[/b]", classes="question")
            with VerticalScroll(id="help-body"):
                yield Static(help_table([*self.keys, *NAVIGATION]), id="help-table")
            yield Label("esc, q or ? closes", classes="hint")

    def action_close(self) -> None:
        """Back to the console."""
        self.dismiss(None)
