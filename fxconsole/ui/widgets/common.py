"""Helpers the panels share: theme-coloured text and in-place table updates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.errors import StyleSyntaxError
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import App
from textual.widgets import DataTable, Static

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


def shape_of(content: RenderableType) -> object:
    """What decides the height of ``content``: rows of tables, lines (and length, as
    long lines wrap) of texts, recursively through groups."""
    if isinstance(content, Group):
        return tuple(shape_of(part) for part in content.renderables)
    if isinstance(content, Table):
        return ("table", content.row_count, len(content.columns))
    if isinstance(content, Text):
        return ("text", content.plain.count("\n"), len(content.plain) // 16)
    return ("other", id(content))


def update_static(widget: Static, content: RenderableType) -> None:
    """``widget.update(content)``, re-laying out the screen only when the content's
    :func:`shape_of` changed: a relayout reflows every widget, a repaint only this one."""
    shape = shape_of(content)
    layout = getattr(widget, "_shape", None) != shape
    setattr(widget, "_shape", shape)  # noqa: B010 - any widget, no declared slot
    widget.update(content, layout=layout)


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
        columns = table.columns
        for key, cells in rows:
            for (column_key, column), old, new in zip(
                    columns.items(), table.get_row(key), cells, strict=False):
                if old != new:
                    # measuring widths re-lays out the screen: only when a column must grow
                    grow = cell_len(new.plain if isinstance(new, Text) else str(new)) \
                        > column.content_width
                    table.update_cell(key, column_key, new, update_width=grow)
        return
    selected = current[table.cursor_row] if 0 <= table.cursor_row < len(current) else None
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected in keys:
        table.move_cursor(row=keys.index(selected), animate=False)
