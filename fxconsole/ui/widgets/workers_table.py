"""The workers table: state, node (only when a worker is remote: a Ray actor), pid, uptime,
restarts, exit code, heartbeat age, CPU, memory.

Sortable by any column (``o``/``O``, or a click on a header); enter opens the worker's
detail view. ``/`` stays the log's filter on this panel."""

from __future__ import annotations

import math
from typing import Any

from textual.reactive import var
from textual.screen import Screen
from textual.widgets import DataTable

from fxconsole.ui import format as fmt
from fxconsole.ui.data import ConsoleSnapshot, WorkerView
from fxconsole.ui.messages import WorkerSelected
from fxconsole.ui.screens.detail import worker_screen
from fxconsole.ui.tables import Row
from fxconsole.ui.widgets.common import plain, themed
from fxconsole.ui.widgets.sortable import SortableTable

COLUMNS = (("worker", "worker"), ("state", "state"), ("pid", "pid"), ("up", "up"),
           ("restarts", "rst"), ("exit", "exit"), ("beat", "beat"), ("cpu", "cpu%"),
           ("mem", "mem"), ("message", "message"))
NODE_COLUMN = ("node", "node")  # after the state, when some worker is remote
OTHER_COLUMNS = 66  # the width of every column but the message (and node), with padding
MIN_MESSAGE = 12
FRESH_BEAT = 3.0  # seconds: a younger heartbeat shows as "<3s"


class WorkersTable(SortableTable):
    """One row per worker; moving the cursor posts :class:`WorkerSelected`."""

    COLUMNS = COLUMNS
    snapshot: var[ConsoleSnapshot | None] = var(None)
    node_width = 0  # the node column's width with its padding (0: not shown)

    @property
    def selected(self) -> str | None:
        """The name of the worker under the cursor, if any."""
        return self.cursor_key

    def detail(self, key: str) -> Screen[Any] | None:
        """The worker's detail view."""
        return worker_screen(self.app, key)

    def on_resize(self) -> None:
        """Fit the messages to the new width."""
        self.watch_snapshot(self.snapshot)

    def watch_snapshot(self, snap: ConsoleSnapshot | None) -> None:
        """Show the snapshot's workers (the cursor stays on its worker)."""
        if snap is not None:
            before = self.selected
            # ages in whole seconds of one clock: the table repaints once a second at most
            now = math.floor(snap.taken)
            remote = any(w.remote for w in snap.workers)
            self.node_width = max((len(w.node) for w in snap.workers), default=0) + 2 \
                if remote else 0
            self.set_columns((*COLUMNS[:2], NODE_COLUMN, *COLUMNS[2:]) if remote
                             else COLUMNS)
            self.show_rows([Row(w.name, tuple(self._cells(w, now)), self._values(w, now))
                            for w in snap.workers])
            if self.selected != before and self.selected is not None:
                self.post_message(WorkerSelected(self.selected))

    def _cells(self, w: WorkerView, now: float) -> list[Any]:
        r = w.row
        running = r.state in ("STARTING", "RUNNING", "STOPPING")
        node = [plain(w.node)] if self.node_width else []
        return [
            plain(r.name), themed(self.app, r.state), *node, plain(fmt.num(r.pid, "d")),
            plain(fmt.age(now - r.started if running and r.started else None)),
            plain(str(r.restarts)), plain(fmt.num(r.exit_code, "d")),
            self._beat(w, now), plain(fmt.num(w.cpu_percent, ".0f")),
            plain(fmt.mem(w.rss_bytes)), plain(self._fit(r.message)),
        ]

    def _values(self, w: WorkerView, now: float) -> tuple[Any, ...]:
        """What each column sorts by."""
        r = w.row
        running = r.state in ("STARTING", "RUNNING", "STOPPING")
        node = (w.node,) if self.node_width else ()
        return (r.name, r.state, *node, r.pid, now - r.started if running and r.started else None,
                r.restarts, r.exit_code,
                None if r.heartbeat_ts is None else now - r.heartbeat_ts,
                w.cpu_percent, w.rss_bytes, r.message)

    def _fit(self, message: str) -> str:
        """The message cut to the table's spare width (the events panel has it whole)."""
        room = max(MIN_MESSAGE, self.size.width - OTHER_COLUMNS - self.node_width)
        return message if len(message) <= room else message[:room - 1] + "…"

    def _beat(self, w: WorkerView, now: float) -> Any:
        if w.row.heartbeat_ts is None:
            return plain(fmt.DASH)
        age = now - w.row.heartbeat_ts
        if age < FRESH_BEAT:  # beats come every second: "0s"/"1s" flicker says nothing
            return plain(f"<{FRESH_BEAT:.0f}s")
        late = w.row.state == "RUNNING" and w.row.heartbeat_timeout is not None \
            and age > w.row.heartbeat_timeout / 2
        return themed(self.app, fmt.age(age), "warning", bold=True) if late \
            else plain(fmt.age(age))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Tell the screen which worker is selected."""
        if event.row_key.value is not None:
            self.post_message(WorkerSelected(str(event.row_key.value)))
