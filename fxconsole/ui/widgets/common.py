"""Helpers the panels share: theme-coloured text and in-place table updates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.errors import StyleSyntaxError
from rich.style import Style
from rich.text import Text
from textual.app import App
from textual.widgets import DataTable

# What each state, level or outcome means, as a theme variable (never a fixed colour,
# so themes and NO_COLOR apply; the words themselves always carry the meaning).
MEANING = {
    "RUNNING": "success", "STARTING": "warning", "STOPPING": "warning", "BACKOFF": "warning",
    "EXITED": "error", "FATAL": "error", "STOPPED": "dim",
    "info": "dim", "warning": "warning", "error": "error",
    "pending": "warning", "running": "warning", "done": "success", "failed": "error",
}
BOLD = frozenset({"FATAL", "error", "failed"})


def themed(app: App[Any], text: str, meaning: str | None = None, bold: bool = False) -> Text:
    """``text`` in the current theme's colour for ``meaning`` (a variable such as
    ``error``; by default looked up in :data:`MEANING`)."""
    variable = meaning or MEANING.get(text, "")
    if variable == "dim":
        return Text(text, style=Style(dim=True, bold=bold), end="")
    colour = app.theme_variables.get(variable, "") if variable else ""
    try:
        style = Style.parse(colour) if colour else Style()
    except StyleSyntaxError:
        style = Style()
    return Text(text, style=style + Style(bold=bold or text in BOLD), end="")


def changed(widget: object, key: object) -> bool:
    """True (and remember ``key``) unless ``widget`` last drew from an equal ``key``: a
    panel redraws only when what it shows has changed, not on every read."""
    if getattr(widget, "_drawn_from", None) == key:
        return False
    setattr(widget, "_drawn_from", key)  # noqa: B010 - any widget, no declared slot
    return True


def plain(text: str) -> Text:
    """Text shown as is (a table cell string would be parsed as markup)."""
    return Text(text, end="")


def sync_rows(table: DataTable[Any], rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """Make ``table`` show ``rows`` (``(key, cells)``), keeping the cursor on its row.

    Cells are updated in place when the keys are unchanged, so a refresh with nothing new
    costs a comparison, not a redraw.
    """
    keys = [key for key, _ in rows]
    current = [row_key.value for row_key in table.rows]
    if keys == current:
        columns = list(table.columns)
        for key, cells in rows:
            for column, old, new in zip(columns, table.get_row(key), cells, strict=False):
                if old != new:
                    table.update_cell(key, column, new, update_width=True)
        return
    selected = current[table.cursor_row] if 0 <= table.cursor_row < len(current) else None
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected in keys:
        table.move_cursor(row=keys.index(selected), animate=False)
