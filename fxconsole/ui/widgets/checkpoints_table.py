"""The checkpoints table: one row per model of the run, with its tags and SQNs."""

from __future__ import annotations

from typing import Any

from textual.reactive import var
from textual.widgets import DataTable

from fxconsole.ui import format as fmt
from fxconsole.ui.data import CheckpointView, ConsoleSnapshot
from fxconsole.ui.widgets.common import plain, sync_rows, themed

COLUMNS = (("steps", "steps"), ("tags", "tags"), ("val", "validation"), ("train", "train SQN"),
           ("age", "age"), ("model", "model"))


def short_tags(view: CheckpointView) -> str:
    """Tags for a narrow column: ``periodic-000000050000`` → ``periodic``,
    ``manual-50000`` → ``manual``."""
    tags = [t.split("-", 1)[0] if t.startswith(("periodic-", "manual-")) else t
            for t in view.tags]
    return ", ".join(dict.fromkeys(tags))


class CheckpointsTable(DataTable[Any]):
    """The run's checkpoints, newest first."""

    snapshot: var[ConsoleSnapshot | None] = var(None)

    def __init__(self, *, id: str | None = None) -> None:
        """A row-cursor table with the checkpoint columns."""
        super().__init__(id=id, cursor_type="row")
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def highlighted(self) -> str | None:
        """The sha256 of the checkpoint under the cursor, if any."""
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)

    def watch_snapshot(self, snap: ConsoleSnapshot | None) -> None:
        """Show the snapshot's checkpoints."""
        if snap is not None:
            sync_rows(self, [(c.sha256, self._cells(c, snap.taken)) for c in snap.checkpoints])

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
