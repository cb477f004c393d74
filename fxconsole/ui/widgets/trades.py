"""The trades view: the run's newest trades of training, the collectors, live and
backtests, with entry and exit times, side, duration and pips.

``f`` shows one source after another (all → training → collector → live → backtest);
the table sorts (``o``/``O``, a header click) and searches (``/``) like the others, and
enter opens a trade. The page is read in a thread worker while the view is shown: when
it opens, when the source changes, and every :data:`REFRESH_SECONDS` after.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Label

from fxconsole import numfmt
from fxconsole.ops.queries import TradeRow
from fxconsole.ops.schema import SchemaError
from fxconsole.ui import reads
from fxconsole.ui.data import ConsoleSnapshot
from fxconsole.ui.screens.detail import trade_screen
from fxconsole.ui.screens.detail_render import duration, short_time, trade_duration
from fxconsole.ui.tables import Row
from fxconsole.ui.where import zone_label
from fxconsole.ui.widgets.common import plain
from fxconsole.ui.widgets.sortable import SearchableTable

logger = logging.getLogger(__name__)

SOURCES: tuple[str | None, ...] = (None, "train", "collect", "live", "backtest")
SOURCE_NAMES = {None: "all sources", "train": "training", "collect": "collectors",
                "live": "live", "backtest": "backtests"}
PAGE = 500
REFRESH_SECONDS = 5


def trade_cells(t: TradeRow, tz: str) -> tuple[Any, ...]:
    """The cells of a trade's row."""
    return (plain(short_time(t.exit_ts if t.exit_ts is not None else t.ts, tz)),
            plain(t.source), plain(t.side), plain(short_time(t.entry_ts, tz)),
            right(duration(trade_duration(t))), right(numfmt.count(t.bars_held)),
            right(numfmt.signed(t.pips, 1)), plain(t.worker), right(numfmt.count(t.timesteps)))


def right(text: str) -> Text:
    """A number's cell, right-aligned."""
    return Text(text, justify="right", end="")


def trade_row(t: TradeRow, tz: str) -> Row:
    """A trade as a sortable, searchable row (keyed by its id)."""
    closed = t.exit_ts if t.exit_ts is not None else t.ts
    return Row(str(t.id), trade_cells(t, tz),
               (closed, t.source, t.side, t.entry_ts, trade_duration(t), t.bars_held, t.pips,
                t.worker, t.timesteps),
               text="forced" if t.forced else "")


class TradesTable(SearchableTable):
    """Trades, newest first; enter opens one."""

    COLUMNS = (("closed", "closed"), ("source", "source"), ("side", "side"),
               ("entry", "entry"), ("duration", "held"), ("bars", "bars"), ("pips", "pips"),
               ("worker", "worker"), ("steps", "steps"))

    def __init__(self, *, id: str | None = None) -> None:
        """An empty table (rows come from :class:`TradesPanel`)."""
        super().__init__(id=id)
        self.trades: dict[str, TradeRow] = {}

    def detail(self, key: str) -> Screen[Any] | None:
        """The trade's detail view."""
        trade = self.trades.get(key)
        return None if trade is None else trade_screen(self.app, trade)


class TradesPanel(Vertical):
    """A title saying what is shown, and the trades table."""

    DEFAULT_CSS = """
    TradesPanel {
        height: 1fr;
    }
    TradesPanel #trades-table {
        height: 1fr;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "cycle_source", "Source",
                tooltip="Trades: show one source (training, collectors, live, backtests) "
                        "or all"),
    ]

    snapshot: var[ConsoleSnapshot | None] = var(None)
    source: var[str | None] = var(None)

    def __init__(self, *, id: str | None = None) -> None:
        """Nothing read yet."""
        super().__init__(id=id)
        self._read_key: tuple[Any, ...] | None = None
        self.pages_read = 0

    def compose(self) -> ComposeResult:
        """The title line and the table."""
        yield Label("Trades: reading…", id="trades-title", classes="section-title")
        yield TradesTable(id="trades-table")

    @property
    def _tz(self) -> str:
        ui = getattr(getattr(self.app, "config", None), "ui", None)
        return str(getattr(ui, "timezone", "UTC") or "UTC")

    def watch_snapshot(self, snap: ConsoleSnapshot | None) -> None:
        """Read the page again when the source changed or it is over
        :data:`REFRESH_SECONDS` old."""
        if snap is None:
            return
        key = (snap.run, self.source, int(snap.taken // REFRESH_SECONDS))
        if key != self._read_key:
            self._read_key = key
            self._read(snap.run, self.source)

    def action_cycle_source(self) -> None:
        """Show the next source (after backtests: all of them)."""
        self.source = SOURCES[(SOURCES.index(self.source) + 1) % len(SOURCES)]
        self.watch_snapshot(self.snapshot)

    @work(thread=True, exclusive=True, group="trades", name="trades reader")
    def _read(self, run: str, source: str | None) -> None:
        ws = getattr(self.app, "workspace", None)
        if ws is None:
            return
        try:
            with reads.open_db(ws) as conn:
                trades = reads.read_trades(conn, run, source, PAGE)
        except (OSError, sqlite3.Error, SchemaError) as exc:
            logger.warning("reading trades failed: %s", exc)
            self.app.call_from_thread(self._title, f"Trades: could not read: {exc}")
            return
        self.app.call_from_thread(self._show, run, source, trades)

    def _title(self, text: str) -> None:
        self.query_one("#trades-title", Label).update(text)

    def _show(self, run: str, source: str | None, trades: tuple[TradeRow, ...]) -> None:
        if source != self.source:
            return  # an older read; the newer one follows
        tz = self._tz
        table = self.query_one(TradesTable)
        table.trades = {str(t.id): t for t in trades}
        table.show_rows([trade_row(t, tz) for t in trades])
        zone = zone_label(tz, self.snapshot.taken if self.snapshot else 0.0)
        newest = f"newest {len(trades):,}" if len(trades) >= PAGE else f"{len(trades):,}"
        self._title(f"Trades of {run}: {SOURCE_NAMES[source]}, {newest} · times {zone}"
                    " · f: source")
        self.pages_read += 1
