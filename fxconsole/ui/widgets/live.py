"""The live panel: broker and connection, deployed model, position and pips, risk limits
and switches, then the last decisions, the order journal and the closed trades."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import var
from textual.widgets import DataTable, Label, Static

from fxconsole.config import Config
from fxconsole.ui import format as fmt
from fxconsole.ui.data import ConsoleSnapshot
from fxconsole.ui.where import ROLL_MARK, parse_iso, roll_marks, stamp, trading_day, zone_label
from fxconsole.ui.widgets.common import changed, plain, sync_rows, themed, update_static
from fxconsole.ui.widgets.equity import LiveEquity

AGE_SECONDS = 10  # redraw at least this often, for the ages shown
KNOWN = ("position", "realised_pips", "unrealised_pips", "today_pips", "trades",
         "entries_paused", "kill_switch", "deployed", "connected", "halted", "risk_tripped",
         "fills", "rejects", "unresolved", "decisions", "latency_ms", "bar_latency_ms",
         "slippage_pips")
SHOWN_DECISIONS = 8
ORDER_STATE_MEANING = {"FILLED": "success", "REJECTED": "error", "CANCELLED": "warning",
                       "UNKNOWN": "error", "NOT_FOUND": "dim", "INTENT": "warning",
                       "SENT": "warning"}


def _position(value: float | None) -> str:
    if value is None:
        return fmt.DASH
    side = "long" if value > 0 else "short" if value < 0 else "flat"
    return side if abs(value) in (0, 1) else f"{side} {abs(value):,.0f}"


def _table(table_id: str, columns: tuple[str, ...]) -> DataTable[Any]:
    table: DataTable[Any] = DataTable(id=table_id, cursor_type="none", classes="live-table")
    for label in columns:
        table.add_column(label, key=label)
    return table


def entries_state(live: Mapping[str, float | None]) -> tuple[str, str | None]:
    """What the "entries" cell says and its meaning: never "open" while the kill switch is
    engaged (it blocks entries whatever the pause flag says)."""
    if live.get("kill_switch"):
        return "BLOCKED (kill switch)", "error"
    if live.get("entries_paused"):
        return "PAUSED", "warning"
    return "open", None


def decision_bars(decisions: list[Mapping[str, Any]], tz_name: str) -> list[str]:
    """Each decision's bar time in the zone (``11-14 22:29``), the first bar of a trading
    day (after the 17:00 New York roll) marked ◆; newest first like ``decisions``."""
    times = [parse_iso(d.get("bar_ts")) for d in decisions]
    return [fmt.DASH if at is None else stamp(at, tz_name) + (f" {ROLL_MARK}" if mark else "")
            for at, mark in zip(times, roll_marks(times), strict=True)]


def decisions_title(decisions: list[Mapping[str, Any]], tz_name: str, taken: float,
                    replay: bool) -> str:
    """``Last decisions (bar times UTC) · REPLAY 2023 · ◆ day roll 17:00 New York``: the
    zone of the bar times, whether the bars are a replay of stored ones (and of which
    year), and the mark of a trading day's first bar."""
    at = next((t for t in (parse_iso(d.get("bar_ts")) for d in decisions) if t), None)
    title = f"Last decisions (bar times {zone_label(tz_name, taken)})"
    if replay and at is not None:
        title += f" · REPLAY {at.year}"
    return title + f" · {ROLL_MARK} day roll 17:00 New York"


class LivePanel(VerticalScroll):
    """State of the live worker (paper or OANDA) from its metrics, state and journal."""

    snapshot: var[ConsoleSnapshot | None] = var(None)

    def compose(self) -> ComposeResult:
        """The state grid, then decisions, orders and trades."""
        yield Static("No live data yet.", id="live-state")
        yield LiveEquity(id="live-equity")  # P/L by trading day, equity curve
        yield Label("Last decisions", id="live-decisions-title", classes="section-title")
        yield _table("live-decisions", ("bar", "policy", "action", "price", "why"))
        yield Label("Orders (journal)", classes="section-title")
        yield _table("live-orders", ("sent", "purpose", "units", "state", "fill", "reason"))
        yield Label("Closed trades", classes="section-title")
        yield _table("live-trades", ("closed", "side", "entry", "exit", "pips", "bars"))

    def watch_snapshot(self, snap: ConsoleSnapshot | None) -> None:
        """Redraw from the snapshot."""
        worker = None if snap is None else snap.worker(snap.worker_for_role("live"))
        if snap is None or not changed(self, (
                snap.live, worker and worker.row, snap.live_trades, snap.checkpoints,
                snap.live_state, snap.orders, snap.taken // AGE_SECONDS)):
            return
        update_static(self.query_one("#live-state", Static), self._state(snap))
        config: Config = getattr(self.app, "config", None) or Config()
        tz_name = config.ui.timezone
        decisions = [d for d in list(snap.live_state.get("decisions") or [])[:SHOWN_DECISIONS]
                     if isinstance(d, Mapping)]
        replay = config.live.broker == "paper" and config.live.paper_source == "replay"
        self.query_one("#live-decisions-title", Label).update(
            decisions_title(decisions, tz_name, snap.taken, replay))
        bars = decision_bars(decisions, tz_name)
        sync_rows(self.query_one("#live-decisions", DataTable), [
            (f"{d.get('bar_ts')}-{i}", [
                plain(bars[i]), plain(str(d.get("policy", ""))),
                plain(str(d.get("action", ""))), plain(fmt.num(d.get("price"), ".3f")),
                plain(str(d.get("reason", "")) + (f" → {d['state']}" if d.get("state") else ""))])
            for i, d in enumerate(decisions)])
        sync_rows(self.query_one("#live-orders", DataTable), [
            (str(o.id), [plain(fmt.age(snap.taken - o.created)), plain(o.purpose),
                         plain(f"{o.units:+,d}"),
                         themed(self.app, o.state, ORDER_STATE_MEANING.get(o.state)),
                         plain(fmt.num(o.fill_price, ".3f")),
                         plain(" ".join(p for p in (o.reason, o.code) if p))])
            for o in snap.orders])
        sync_rows(self.query_one("#live-trades", DataTable), [
            (str(t.id), [plain(fmt.age(snap.taken - t.ts)), plain(t.side),
                         plain(fmt.num(t.entry_price, ".3f")), plain(fmt.num(t.exit_price, ".3f")),
                         plain(fmt.pips(t.pips)), plain(fmt.num(t.bars_held, "d"))])
            for t in snap.live_trades])

    def _state(self, snap: ConsoleSnapshot) -> Table:
        live, state = snap.live, snap.live_state
        worker = snap.worker(snap.worker_for_role("live"))
        broker = state.get("broker") or {}
        risk = state.get("risk") or {}
        halted = state.get("halted") or {}
        deployed = next((c for c in snap.checkpoints if "deployed" in c.tags), None)
        beat = None if worker is None or worker.row.heartbeat_ts is None \
            else snap.taken - worker.row.heartbeat_ts
        connected = live.get("connected")
        entries, meaning = entries_state(live)
        cells: list[tuple[str, Text | str]] = [
            ("worker", themed(self.app, worker.row.state) if worker else fmt.DASH),
            ("broker", " ".join(str(broker[k]) for k in ("name", "instrument") if broker.get(k))
             or fmt.DASH),
            ("connection", fmt.DASH if connected is None else "connected" if connected
             else themed(self.app, "DISCONNECTED", "error", bold=True)),
            ("heartbeat", f"{fmt.age(beat)} ago"),
            ("deployed", f"{deployed.timesteps:,} steps ({deployed.sha256[:8]})" if deployed
             else ("yes" if live.get("deployed") else "nothing")),
            ("position", _position(live.get("position"))),
            ("unrealised", fmt.pips(live.get("unrealised_pips"))),
            ("realised", fmt.pips(live.get("realised_pips"))),
            (f"today {trading_day(datetime.fromtimestamp(snap.taken, UTC)):%m-%d}",
             fmt.pips(live.get("today_pips"))),
            ("trades", fmt.num(live.get("trades"), ",.0f")),
            ("fills/rejects", f"{fmt.num(live.get('fills'), ',.0f')} / "
                              f"{fmt.num(live.get('rejects'), ',.0f')}"),
            ("unresolved", themed(self.app, f"{live['unresolved']:,.0f}", "error", bold=True)
             if live.get("unresolved") else "0"),
            ("entries", themed(self.app, entries, meaning, bold=True) if meaning else entries),
            ("kill switch", themed(self.app, "ENGAGED", "error", bold=True)
             if live.get("kill_switch") else "off"),
            ("risk", themed(self.app, f"TRIPPED {risk.get('tripped')}", "error", bold=True)
             if live.get("risk_tripped") or risk.get("tripped") else "ok"),
            ("halted", themed(self.app, str(halted.get("reason") or "yes"), "error", bold=True)
             if halted or live.get("halted") else "no"),
            ("latency", f"{fmt.num(live.get('latency_ms'), '.1f')} ms"),
            ("slippage", fmt.pips(live.get("slippage_pips"))),
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
