"""The selected worker's log: the :class:`LogPane` and the ``/`` filter prompt under it.

The pane (``log_pane.py``) tails the file itself (follow mode, "+N new lines", level
colours, bounded memory); this view points it at the selected worker's log and owns the
one filter prompt, k9s-style at the bottom.
"""

from __future__ import annotations

from pathlib import Path

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input

from fxconsole.ui.widgets.log_pane import LogPane

MAX_LINES = 5000


class LogView(Vertical):
    """One log pane and its filter prompt (hidden until asked for)."""

    def compose(self) -> ComposeResult:
        """The pane (titled "select a worker" until one is) and the hidden prompt."""
        yield LogPane(None, "log: select a worker", max_lines=MAX_LINES, id="log-pane")
        yield Input(placeholder="show lines containing… (enter: apply, esc: cancel)",
                    id="log-filter")

    def on_mount(self) -> None:
        """Hide the prompt."""
        self.query_one("#log-filter", Input).display = False

    @property
    def pane(self) -> LogPane:
        """The log pane."""
        return self.query_one("#log-pane", LogPane)

    def show(self, path: Path, title: str) -> None:
        """Follow ``path`` (``title`` names it in the pane's border)."""
        if self.pane.source != path:
            self.pane.set_source(path, title)

    def open_filter(self) -> None:
        """Show and focus the prompt, holding the current filter."""
        box = self.query_one("#log-filter", Input)
        box.value = self.pane.filter_text
        box.display = True
        box.focus()

    @on(LogPane.FilterRequested)
    def _requested(self, event: LogPane.FilterRequested) -> None:
        event.stop()
        self.open_filter()

    @on(Input.Submitted, "#log-filter")
    def _apply(self, event: Input.Submitted) -> None:
        event.stop()
        self.pane.set_filter(event.value.strip())
        self._close_filter()

    def on_key(self, event: events.Key) -> None:
        """Escape in the prompt closes it, keeping the filter as it was."""
        if event.key == "escape" and self.query_one("#log-filter", Input).has_focus:
            event.stop()
            self._close_filter()

    def _close_filter(self) -> None:
        self.query_one("#log-filter", Input).display = False
        self.pane.focus()
