"""Live P/L by trading day and the live equity curve, for the Live panel.

Today's and this week's closed-trade pips (the trading day rolls at 17:00 New York, the
week opens Sunday 17:00 New York), each day of the week so far, and the cumulative live
pips drawn as a text chart. Read in a thread worker (:func:`fxconsole.ui.reads.read_live_pnl`)
only when a live trade closed or the trading day rolled, not on every snapshot.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual import work
from textual.geometry import Size
from textual.reactive import var
from textual.widget import Widget

from fxconsole import numfmt
from fxconsole.ops.schema import SchemaError
from fxconsole.ui import reads
from fxconsole.ui.chart import AXIS_WIDTH, equity_chart
from fxconsole.ui.data import ConsoleSnapshot
from fxconsole.ui.pnl import trading_day_start

logger = logging.getLogger(__name__)

CHART_HEIGHT = 5  # rows of the chart when wide; 3 when narrow
NARROW = 100
MIN_CHART_WIDTH = 10


def pnl_text(data: reads.LivePnL) -> Text:
    """``today (Tue 11-14) +29.6 pips, 3 trades · this week +120.3 pips, 14 trades``,
    then the week's days."""
    p = data.pnl
    text = Text()
    text.append("today ", style="dim")
    text.append(f"({p.today.label}) ")
    text.append(f"{numfmt.signed(p.today.pips, 1)} pips", style="bold")
    text.append(f", {numfmt.count(p.today.trades)} trades   ")
    text.append("this week ", style="dim")
    text.append(f"{numfmt.signed(p.week_pips, 1)} pips", style="bold")
    text.append(f", {numfmt.count(p.week_trades)} trades")
    if p.days:
        text.append("\nby trading day ", style="dim")
        text.append("  ".join(f"{d.label} {numfmt.signed(d.pips, 1)}" for d in p.days))
    return text


def equity_block(data: reads.LivePnL, width: int) -> RenderableType:
    """The caption and the chart of cumulative live pips (a dash without trades)."""
    if not data.total_trades:
        return Text("equity: no live trades yet", style="dim")
    shown = max(0, len(data.curve) - 1)  # the curve starts before the first trade
    caption = Text(f"equity: cumulative live pips {numfmt.signed(data.total_pips, 1)} over "
                   f"{numfmt.count(data.total_trades)} trades"
                   + (f" (chart: the last {shown:,})" if shown < data.total_trades else ""),
                   style="dim")
    plot_width = width - AXIS_WIDTH
    if shown < 1 or plot_width < MIN_CHART_WIDTH:
        return caption
    lines = equity_chart(list(data.curve), {}, plot_width,
                         CHART_HEIGHT if width >= NARROW else 3)
    return Group(caption, Text("\n".join(lines), no_wrap=True))


class LiveEquity(Widget):
    """Live P/L by trading day and the equity curve (a snapshot tells it when to read).

    The chart is drawn for the width the widget has when it renders (and its height
    measured for the width it is given), so it never depends on when the read ends.
    """

    DEFAULT_CSS = """
    LiveEquity {
        height: auto;
        padding: 0 1 1 1;
    }
    """

    snapshot: var[ConsoleSnapshot | None] = var(None)

    def __init__(self, *, id: str | None = None) -> None:
        """Nothing read yet."""
        super().__init__(id=id)
        self.data: reads.LivePnL | None = None
        self._read_key: tuple[Any, ...] | None = None

    def watch_snapshot(self, snap: ConsoleSnapshot | None) -> None:
        """Read again when a live trade closed or the trading day rolled."""
        if snap is None:
            return
        newest = snap.live_trades[0].id if snap.live_trades else None
        key = (snap.run, newest, trading_day_start(snap.taken))
        if key != self._read_key:
            self._read_key = key
            self._read(snap.run, snap.taken)

    @work(thread=True, exclusive=True, group="live-pnl", name="live P/L reader")
    def _read(self, run: str, now: float) -> None:
        ws = getattr(self.app, "workspace", None)
        if ws is None:
            return
        try:
            with reads.open_db(ws) as conn:
                data = reads.read_live_pnl(conn, run, now)
        except (OSError, sqlite3.Error, SchemaError) as exc:
            logger.warning("reading the live P/L failed: %s", exc)
            return
        self.app.call_from_thread(self._show, data)

    def _show(self, data: reads.LivePnL) -> None:
        self.data = data
        self.refresh(layout=True)

    def content(self, width: int) -> RenderableType:
        """What the widget shows at ``width`` columns."""
        if self.data is None:
            return Text("P/L: reading…", style="dim")
        return Group(pnl_text(self.data), equity_block(self.data, width))

    def render(self) -> RenderableType:
        """The P/L and the chart for the current width."""
        return self.content(self.content_size.width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """The lines :meth:`content` takes at ``width``."""
        console = self.app.console
        return len(console.render_lines(self.content(width),
                                        console.options.update_width(max(1, width)),
                                        pad=False))
