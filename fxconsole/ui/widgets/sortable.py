"""A table the operator can sort, search and open (k9s/htop style).

``o`` sorts by the next column (a click on a header sorts by that column), ``O`` reverses,
``/`` opens a search line above the table that keeps the rows containing every word
typed (esc clears it), and enter opens the row's detail view. The order and the search
are pure logic (:mod:`fxconsole.ui.tables`); this widget only draws and takes keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Input

from fxconsole.ui.tables import Row, Sort, arrange, header_labels
from fxconsole.ui.widgets.common import sync_rows

HELP_KEYS = (("o / O", "tables: sort by the next column / reverse (or click a header)"),
             ("/ esc", "tables: search the rows (esc clears); workers panel: the log"),
             ("enter", "tables: open the row's detail view (esc closes it)"))


class TableSearch(Input):
    """The search line of a :class:`SortableTable` (one line, above the table)."""

    DEFAULT_CSS = """
    TableSearch {
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }
    TableSearch:focus {
        border: none;
    }
    """

    def __init__(self, table: SortableTable) -> None:
        """A search line for ``table``."""
        super().__init__(placeholder="search rows… (enter: keep, esc: clear)",
                         id=f"{table.id}-search" if table.id else None)
        self.table = table

    def on_input_changed(self, event: Input.Changed) -> None:
        """Filter the rows as the operator types."""
        event.stop()
        self.table.search(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Keep the search and go back to the table."""
        event.stop()
        self.table.search(event.value.strip())
        self.table.focus()

    def on_key(self, event: events.Key) -> None:
        """Escape clears the search."""
        if event.key == "escape":
            event.stop()
            self.table.search("")
            self.table.focus()


class SortableTable(DataTable[Any]):
    """A row-cursor table of ``COLUMNS`` that shows :class:`~fxconsole.ui.tables.Row`\\ s.

    Subclasses give ``COLUMNS`` ((key, label) pairs) and may override :meth:`detail`
    (the screen enter opens for a row key); :class:`SearchableTable` adds ``/`` (the
    workers table leaves ``/`` to the screen: it filters the selected worker's log).
    """

    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "sort_next", "Sort", tooltip="Sort the table by the next column"),
        Binding("O", "sort_reverse", "Reverse", show=False,
                tooltip="Reverse the table's order"),
        Binding("escape", "clear_search", "Clear search", show=False),
    ]

    def __init__(self, *, id: str | None = None, zebra_stripes: bool = False) -> None:
        """A row-cursor table with the class's columns, in its own order."""
        super().__init__(id=id, cursor_type="row", zebra_stripes=zebra_stripes)
        self.order = Sort()
        self.query_text = ""
        self._rows: list[Row] = []
        self.column_spec: tuple[tuple[str, str], ...] = self.COLUMNS
        for key, label in self.COLUMNS:
            self.add_column(label, key=key)

    def set_columns(self, columns: tuple[tuple[str, str], ...]) -> None:
        """Show ``columns`` ((key, label) pairs) instead (the rows come with the next
        :meth:`show_rows`); the sort follows its column, or the table's own order."""
        if columns == self.column_spec:
            return
        sorted_by = self.column_spec[self.order.column][0] \
            if self.order.column is not None else None
        keys = [key for key, _ in columns]
        self.column_spec = columns
        self.order = Sort(keys.index(sorted_by), self.order.descending) \
            if sorted_by in keys else Sort()
        self._rows = []
        self.clear(columns=True)
        labels = header_labels([label for _, label in columns], self.order)
        for (key, _), label in zip(columns, labels, strict=True):
            self.add_column(label, key=key)

    # -- rows ------------------------------------------------------------------------

    def show_rows(self, rows: Sequence[Row]) -> None:
        """Show ``rows`` (in the table's own order) sorted and searched as asked."""
        self._rows = list(rows)
        self._redraw()

    @property
    def shown_keys(self) -> list[str]:
        """The keys of the rows shown, top to bottom."""
        return [str(key.value) for key in self.rows]

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, if any."""
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)

    def _redraw(self) -> None:
        shown = arrange(self._rows, self.order, self.query_text)
        sync_rows(self, [(r.key, r.cells) for r in shown])

    # -- sorting ---------------------------------------------------------------------

    def set_order(self, order: Sort) -> None:
        """Sort by ``order`` and mark its column's header."""
        self.order = order
        labels = header_labels([label for _, label in self.column_spec], order)
        for column, label in zip(self.columns.values(), labels, strict=False):
            column.label = Text(label)
            column.content_width = max(column.content_width, len(label))
        # DataTable has no public way to relabel a column: re-measure and repaint it
        self._require_update_dimensions = True
        self._update_count += 1
        self.refresh()
        self._redraw()

    def action_sort_next(self) -> None:
        """Sort by the next column (after the last: the table's own order)."""
        self.set_order(self.order.next_column(len(self.column_spec)))

    def action_sort_reverse(self) -> None:
        """Reverse the order."""
        self.set_order(self.order.reversed())

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """A click on a header sorts by its column (again: reversed)."""
        event.stop()
        self.set_order(self.order.by(event.column_index))

    # -- searching -------------------------------------------------------------------

    def search(self, text: str) -> None:
        """Show only the rows containing every word of ``text`` (empty: all rows)."""
        self.query_text = text
        bar = self._search_bar()
        if bar is not None and not text and not bar.has_focus:
            bar.display = False
        self._redraw()

    def action_search(self) -> None:
        """Open the search line above the table."""
        bar = self._search_bar()
        if bar is None:
            bar = TableSearch(self)
            if isinstance(self.parent, Widget):
                self.parent.mount(bar, before=self)
        bar.value = self.query_text
        bar.display = True
        bar.focus()

    def action_clear_search(self) -> None:
        """Show every row again."""
        bar = self._search_bar()
        if bar is not None:
            bar.value = ""
            bar.display = False
        self.search("")

    def _search_bar(self) -> TableSearch | None:
        if self.parent is None:
            return None
        return next((w for w in self.parent.children
                     if isinstance(w, TableSearch) and w.table is self), None)

    # -- opening ---------------------------------------------------------------------

    def detail(self, key: str) -> Screen[Any] | None:
        """The detail view of the row ``key`` (None: rows of this table do not open)."""
        return None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter (or a click on the highlighted row) opens its detail view."""
        event.stop()
        if event.row_key.value is None:
            return
        screen = self.detail(str(event.row_key.value))
        if screen is not None:
            self.app.push_screen(screen)


class SearchableTable(SortableTable):
    """A :class:`SortableTable` whose ``/`` searches its rows."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search", key_display="/",
                tooltip="Show only the rows containing a text"),
    ]
