"""The checkpoints table: one row per model of the run, with its tags and SQNs.

Sortable by any column (``o``/``O``, or a click on a header), searchable (``/``); enter
opens the checkpoint's detail view (manifest, pinned window, examinations, files)."""

from __future__ import annotations

from typing import Any

from textual.reactive import var
from textual.screen import Screen

from fxconsole.ui import format as fmt
from fxconsole.ui.data import CheckpointView, ConsoleSnapshot
from fxconsole.ui.screens.detail import checkpoint_screen
from fxconsole.ui.tables import Row
from fxconsole.ui.widgets.common import plain, themed
from fxconsole.ui.widgets.sortable import SearchableTable

COLUMNS = (("steps", "steps"), ("tags", "tags"), ("val", "validation"), ("train", "train SQN"),
           ("age", "age"), ("model", "model"))


def short_tags(view: CheckpointView) -> str:
    """Tags for a narrow column: ``periodic-000000050000`` → ``periodic``,
    ``manual-50000`` → ``manual``."""
    tags = [t.split("-", 1)[0] if t.startswith(("periodic-", "manual-")) else t
            for t in view.tags]
    return ", ".join(dict.fromkeys(tags))


class CheckpointsTable(SearchableTable):
    """The run's checkpoints, newest first."""

    COLUMNS = COLUMNS
    snapshot: var[ConsoleSnapshot | None] = var(None)

    @property
    def highlighted(self) -> str | None:
        """The sha256 of the checkpoint under the cursor, if any."""
        return self.cursor_key

    def watch_snapshot(self, snap: ConsoleSnapshot | None) -> None:
        """Show the snapshot's checkpoints."""
        if snap is not None:
            self.show_rows([
                Row(c.sha256, tuple(self._cells(c, snap.taken)),
                    (c.timesteps, short_tags(c), c.val_sqn, c.train_sqn, snap.taken - c.created,
                     c.sha256),
                    text=f"{c.timesteps} {' '.join(c.tags)} {c.status} {c.sha256}")
                for c in snap.checkpoints])

    def detail(self, key: str) -> Screen[Any] | None:
        """The checkpoint's detail view."""
        snap = self.snapshot
        view = next((c for c in snap.checkpoints if c.sha256 == key), None) if snap else None
        return None if view is None else checkpoint_screen(self.app, view)

    def _cells(self, c: CheckpointView, now: float) -> list[Any]:
        sqn = fmt.num(c.val_sqn, "+.2f")
        if c.validated is None:
            validation = plain(fmt.DASH)
        elif c.status == "validated":
            validation = themed(self.app, f"{sqn} VALIDATED", "success")
        elif c.status == "failed its test examination":
            validation = themed(self.app, f"{sqn} exam failed", "warning")
        elif c.validated:
            validation = themed(self.app, f"{sqn} passed", "success")
        else:
            validation = themed(self.app, f"{sqn} failed", "error")
        return [plain(f"{c.timesteps:,}"), plain(short_tags(c)), validation,
                plain(fmt.num(c.train_sqn, "+.2f")), plain(fmt.age(now - c.created)),
                plain(c.sha256[:8])]
