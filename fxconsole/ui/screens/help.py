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

CHROME_ROWS = 4  # the dialog's border, title and hint around the scrolling body
NAVIGATION = (("↑ ↓ PgUp PgDn", "move in tables, the log and this help"),
              ("Home End", "this help: its top and its end"),
              ("f End", "log: follow new lines again (scrolling up pauses)"),
              ("enter", "choose in lists and dialogs"),
              ("ctrl+p", "command palette: every action by name"),
              ("ctrl+q", "quit at once (workers keep running)"),
              ("STALE", "status line: no heartbeat or metric for over 10 s while workers "
                        "should be running (is the supervisor alive?)"))


def help_table(keys: Sequence[tuple[str, str]]) -> Table:
    """Two columns: key, what it does."""
    table = Table(box=None, padding=(0, 1), show_header=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, description in keys:
        table.add_row(key, description)
    return table


class HelpScreen(ModalScreen[None]):
    """Lists ``keys`` (key, description) and the navigation keys; any of ? q esc closes.
    The list scrolls (↑ ↓ PgUp PgDn Home End) where the terminal is too short for it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
        Binding("pagedown,space", "scroll('page_down')", "Page down", show=False),
        Binding("pageup", "scroll('page_up')", "Page up", show=False),
        Binding("end", "scroll('scroll_end')", "End", show=False),
        Binding("home", "scroll('scroll_home')", "Home", show=False),
        Binding("down,j", "scroll('scroll_down')", "Down", show=False),
        Binding("up,k", "scroll('scroll_up')", "Up", show=False),
    ]

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
            yield Label("esc, q or ? closes · ↑ ↓ PgUp PgDn Home End scroll", classes="hint")

    def on_mount(self) -> None:
        """Fit the list to the terminal."""
        self._fit()

    def on_resize(self) -> None:
        """Fit the list to the terminal's new height."""
        self._fit()

    def _fit(self) -> None:
        """Cap the body's height so that the title and the hint always show and the
        list scrolls instead of being clipped (a short terminal such as 80×24)."""
        body = self.query_one("#help-body", VerticalScroll)
        body.styles.max_height = max(3, self.app.size.height - CHROME_ROWS)

    def action_scroll(self, how: str) -> None:
        """Scroll the list: ``page_down``, ``page_up``, ``scroll_end``, ``scroll_home``,
        ``scroll_down``, ``scroll_up``."""
        body = self.query_one("#help-body", VerticalScroll)
        getattr(body, f"action_{how}" if how.startswith("page") else how)(
            **({} if how.startswith("page") else {"animate": False}))

    def action_close(self) -> None:
        """Back to the console."""
        self.dismiss(None)
