"""Detail views: a worker, an event, a command, a checkpoint or a trade, opened with enter on its
table row (k9s's "describe"); esc or q closes.

The view reads what it needs in a thread worker (:mod:`fxconsole.ui.reads`), then draws
it with :mod:`fxconsole.ui.screens.detail_render` on the main thread; until then it says
it is reading, and if the read fails it says why.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from rich.console import RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, Static

from fxconsole.ops.commands import Command
from fxconsole.ops.queries import EventRow, TradeRow
from fxconsole.ops.schema import SchemaError
from fxconsole.ui import reads
from fxconsole.ui.data import CheckpointView
from fxconsole.ui.screens import detail_render as render
from fxconsole.workspace import Workspace

logger = logging.getLogger(__name__)

T = TypeVar("T")


class DetailScreen(Screen[None], Generic[T]):
    """A titled, scrollable view of what ``load`` returns, drawn by ``draw``."""

    DEFAULT_CSS = """
    DetailScreen #detail-title {
        width: 100%;
        padding: 0 1;
        background: $boost;
        text-style: bold;
    }
    DetailScreen #detail-scroll {
        height: 1fr;
        padding: 0 1;
    }
    DetailScreen #detail-body {
        height: auto;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", key_display="esc"),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("end", "end", "End", show=False),
        Binding("home", "home", "Home", show=False),
    ]

    def __init__(self, title: str, load: Callable[[], T],
                 draw: Callable[[T], RenderableType]) -> None:
        """``load`` runs in a thread (it may do I/O); ``draw`` on the main thread."""
        super().__init__()
        self.title_text, self.load, self.draw = title, load, draw
        self.loaded = False

    def compose(self) -> ComposeResult:
        """Title, the body in a scrolling box, the footer."""
        yield Label(self.title_text, id="detail-title")
        with VerticalScroll(id="detail-scroll"):
            yield Static(Text("reading…", style="dim"), id="detail-body")
        yield Footer()

    def on_mount(self) -> None:
        """Start reading."""
        self.query_one("#detail-scroll").focus()
        self._read()

    @work(thread=True, exclusive=True, group="detail", name="detail reader")
    def _read(self) -> None:
        try:
            data = self.load()
        except (OSError, sqlite3.Error, SchemaError) as exc:
            logger.warning("%s: read failed: %s", self.title_text, exc)
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self._show, data)

    def _show(self, data: T) -> None:
        self.query_one("#detail-body", Static).update(self.draw(data))
        self.loaded = True

    def _failed(self, error: str) -> None:
        self.query_one("#detail-body", Static).update(Text(f"could not read: {error}"))
        self.loaded = True

    def action_close(self) -> None:
        """Back to the table."""
        self.dismiss(None)

    def action_page(self, pages: int) -> None:
        """Scroll a page down (1) or up (-1)."""
        scroll = self.query_one("#detail-scroll", VerticalScroll)
        (scroll.scroll_page_down if pages > 0 else scroll.scroll_page_up)(animate=False)

    def action_end(self) -> None:
        """Scroll to the end."""
        self.query_one("#detail-scroll", VerticalScroll).scroll_end(animate=False)

    def action_home(self) -> None:
        """Scroll to the top."""
        self.query_one("#detail-scroll", VerticalScroll).scroll_home(animate=False)


def _app_context(app: Any) -> tuple[Workspace, float, str]:
    """The app's workspace, its clock's time now, and the zone times are shown in."""
    ui = getattr(app.config, "ui", None)
    return app.workspace, app.clock(), str(getattr(ui, "timezone", "UTC") or "UTC")


def worker_screen(app: Any, name: str) -> DetailScreen[Any]:
    """The detail view of worker ``name``: its state, history, log and output."""
    ws, now, tz = _app_context(app)

    def load() -> reads.WorkerDetail:
        with reads.open_db(ws) as conn:
            return reads.read_worker(conn, ws, name)

    return DetailScreen(f"Worker {name}", load, lambda d: render.worker_detail(d, now, tz))


def event_screen(app: Any, event: EventRow) -> DetailScreen[Any]:
    """The detail view of one event: its whole message and data."""
    _, now, tz = _app_context(app)
    return DetailScreen(f"Event {event.id}: {event.source} {event.kind}", lambda: event,
                        lambda e: render.event_detail(e, now, tz))


def command_screen(app: Any, command: Command) -> DetailScreen[Any]:
    """The detail view of one command: its whole result and arguments."""
    _, now, tz = _app_context(app)
    return DetailScreen(f"Command {command.id}: {command.verb} → {command.target}",
                        lambda: command, lambda c: render.command_detail(c, now, tz))


def checkpoint_screen(app: Any, view: CheckpointView) -> DetailScreen[Any]:
    """The detail view of a checkpoint: manifest, pinned window, examinations, files."""
    ws, _, tz = _app_context(app)

    def load() -> reads.CheckpointDetail:
        with reads.open_db(ws) as conn:
            return reads.read_checkpoint(conn, ws, view.sha256)

    return DetailScreen(f"Checkpoint {view.label}", load,
                        lambda d: render.checkpoint_detail(d, view, tz))


def trade_screen(app: Any, trade: TradeRow) -> DetailScreen[Any]:
    """The detail view of one trade."""
    _, _, tz = _app_context(app)
    return DetailScreen(f"Trade #{trade.id} ({trade.source} {trade.side})", lambda: trade,
                        lambda t: render.trade_detail(t, tz))
