"""The live panel: broker and connection, deployed model, position, pips, risk switches,
and the last closed trades."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import var
from textual.widgets import DataTable, Static

from fxconsole.ui import format as fmt
from fxconsole.ui.data import ConsoleSnapshot
from fxconsole.ui.widgets.common import changed, plain, sync_rows, themed, update_static

AGE_SECONDS = 10  # redraw at least this often, for the ages shown
KNOWN = ("position", "realised_pips", "unrealised_pips", "today_pips", "trades",
         "entries_paused", "kill_switch", "deployed")


def _position(value: float | None) -> str:
    if value is None:
        return fmt.DASH
    side = "long" if value > 0 else "short" if value < 0 else "flat"
    return side if abs(value) in (0, 1) else f"{side} {abs(value):,.0f}"


class LivePanel(Vertical):
    """State of the live worker (paper or OANDA) from its metrics and heartbeat."""

    snapshot: var[ConsoleSnapshot | None] = var(None)

    def compose(self) -> ComposeResult:
        """The state grid and the last trades."""
        yield Static("No live data yet.", id="live-state")
        table: DataTable[Any] = DataTable(id="live-trades", cursor_type="none")
        for label in ("closed", "side", "entry", "exit", "pips", "bars"):
            table.add_column(label, key=label)
        yield table

    def watch_snapshot(self, snap: ConsoleSnapshot | None) -> None:
        """Redraw from the snapshot."""
        worker = None if snap is None else snap.worker(snap.worker_for_role("live"))
        if snap is None or not changed(self, (
                snap.live, worker and worker.row, snap.live_trades, snap.checkpoints,
                snap.taken // AGE_SECONDS)):
            return
        update_static(self.query_one("#live-state", Static), self._state(snap))
        sync_rows(self.query_one("#live-trades", DataTable), [
            (str(t.id), [plain(fmt.age(snap.taken - t.ts)), plain(t.side),
                         plain(fmt.num(t.entry_price, ".3f")), plain(fmt.num(t.exit_price, ".3f")),
                         plain(fmt.pips(t.pips)), plain(fmt.num(t.bars_held, "d"))])
            for t in snap.live_trades])

    def _state(self, snap: ConsoleSnapshot) -> Table:
        live = snap.live
        worker = snap.worker(snap.worker_for_role("live"))
        info = (worker.row.heartbeat_info if worker else None) or {}
        deployed = next((c for c in snap.checkpoints if "deployed" in c.tags), None)
        kill = bool(live.get("kill_switch"))
        paused = bool(live.get("entries_paused"))
        beat = None if worker is None or worker.row.heartbeat_ts is None \
            else snap.taken - worker.row.heartbeat_ts
        cells: list[tuple[str, Text | str]] = [
            ("worker", themed(self.app, worker.row.state) if worker else fmt.DASH),
            ("broker", str(info.get("broker", "paper"))),
            ("connection", str(info.get("connection", f"heartbeat {fmt.age(beat)} ago"))),
            ("deployed", f"{deployed.timesteps:,} steps ({deployed.sha256[:8]})" if deployed
             else ("yes" if live.get("deployed") else "nothing")),
            ("position", _position(live.get("position"))),
            ("trades", fmt.num(live.get("trades"), ",.0f")),
            ("realised", fmt.pips(live.get("realised_pips"))),
            ("unrealised", fmt.pips(live.get("unrealised_pips"))),
            ("today", fmt.pips(live.get("today_pips"))),
            ("entries", themed(self.app, "PAUSED", "warning", bold=True) if paused else "open"),
            ("kill switch", themed(self.app, "ENGAGED", "error", bold=True) if kill else "off"),
            ("risk", str(info.get("risk", fmt.DASH))),
        ]
        cells += [(key, fmt.num(value, ",.4g")) for key, value in live.items()
                  if key not in KNOWN]
        grid = Table.grid(padding=(0, 1))
        for _ in range(2):
            grid.add_column(style="dim", no_wrap=True, min_width=11)
            grid.add_column(min_width=12, max_width=26, no_wrap=True, overflow="ellipsis")
        for i in range(0, len(cells), 2):
            grid.add_row(*[part for cell in cells[i:i + 2] for part in cell])
        return grid
