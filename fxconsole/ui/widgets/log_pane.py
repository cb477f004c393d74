"""A tail-style log pane: follow mode, "+N new lines", a filter, level colours.

A thread worker reads a :class:`LogTail` and posts the batch; the main thread writes it to
a ``Log`` in one ``write_lines`` call and only then schedules the next read, so reads never
overlap (``bench/bench_ui_logs.py`` measures it against one ``write_line`` per line).

Keys (log focused): ``f``/``End`` follow; ``Home``/``PageUp``/``PageDown``, arrows and the
wheel scroll (``Log``'s own bindings), which pauses following; ``/`` posts
:class:`LogPane.FilterRequested`: the app shows its one prompt (k9s-style, at the bottom)
and calls :meth:`LogPane.set_filter` with what was typed.
"""

from __future__ import annotations

import logging
import os
import re
from collections import deque
from pathlib import Path
from typing import ClassVar

from rich.highlighter import Highlighter
from rich.text import Text
from textual import work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Log

from fxconsole.ui.widgets.log_tail import LogTail

logger = logging.getLogger(__name__)

LEVEL_STYLES = {"CRITICAL": "bold red", "ERROR": "red", "WARNING": "yellow", "DEBUG": "dim"}
"""ANSI colours, which Textual maps to its theme and its NO_COLOR filter strips (the level
word is also bold, which survives NO_COLOR)."""

_LEVEL_RE = re.compile(r" (CRITICAL|ERROR|WARNING|INFO|DEBUG) ")
_LEVEL_SEARCH_CHARS = 64  # "%(asctime)s %(levelname)s": the level sits near the start


class LevelHighlighter(Highlighter):
    """Colours a ``%(asctime)s %(levelname)s %(name)s: %(message)s`` line by its level."""

    def highlight(self, text: Text) -> None:
        """Stylize ``text`` in place (called by ``Log`` for each visible line).

        Args:
            text: One log line.
        """
        match = _LEVEL_RE.search(text.plain, 0, _LEVEL_SEARCH_CHARS)
        if match is None or match.group(1) not in LEVEL_STYLES:
            return
        text.stylize(LEVEL_STYLES[match.group(1)])
        if match.group(1) != "DEBUG":
            text.stylize("bold", match.start(1), match.end(1))


class _TailLog(Log):
    """``Log`` whose ``End`` key falls through to the pane (to resume following).

    New lines change its virtual size; ``Log`` re-lays out the whole screen for that (a
    reflow of every widget, each second while a worker logs: most of the console's idle
    CPU). Its own size is fixed by its pane, so only its scrollbars need to follow: the
    screen is laid out again only when a scrollbar appears or goes.
    """

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def watch_virtual_size(self, virtual_size: Size) -> None:
        """Update the scrollbars; lay out only if one appears or goes."""
        bars = (self.show_vertical_scrollbar, self.show_horizontal_scrollbar)
        self._scroll_update(virtual_size)
        if (self.show_vertical_scrollbar, self.show_horizontal_scrollbar) != bars:
            self.refresh(layout=True)

    def action_scroll_end(self) -> None:
        raise SkipAction()

    def on_resize(self) -> None:
        """Keep the newest line in view when the pane changes size while following."""
        pane = self.parent
        if isinstance(pane, LogPane) and pane.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)


class LogPane(Widget):
    """Follows one worker's log file.

    Args:
        path: The log file to follow, or None for an empty pane (see :meth:`set_source`).
        title: Shown in the top border; defaults to the file name.
        max_lines: Lines retained (and shown) at most; older lines are dropped.
        poll_interval: Seconds between the end of one read and the start of the next.
        name: Widget name.
        id: Widget id.
        classes: Widget classes.
    """

    DEFAULT_CSS = """
    LogPane {
        height: 1fr;
        border: round $panel-lighten-2;
        border-subtitle-color: $text-muted;
        &:focus-within { border: round $accent; }
        & > Log { height: 1fr; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "follow", "Follow"),
        Binding("end", "follow", "Follow", show=False),
        Binding("slash", "filter", "Filter"),
    ]

    class LinesRead(Message, bubble=False):
        """A batch read by the pane's worker (posted to the pane itself)."""

        def __init__(self, generation: int, lines: list[str], error: str | None) -> None:
            super().__init__()
            self.generation = generation
            self.lines = lines
            self.error = error

    class FilterRequested(Message):
        """``/`` was pressed: the app should prompt for a filter (``current`` first)."""

        def __init__(self, pane: LogPane, current: str) -> None:
            super().__init__()
            self.pane = pane
            self.current = current

        @property
        def control(self) -> LogPane:
            """The pane that asks (for ``@on(..., "#id")`` selectors)."""
            return self.pane

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        title: str = "",
        *,
        max_lines: int = 10_000,
        poll_interval: float = 0.2,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        if max_lines < 1 or poll_interval <= 0:
            raise ValueError("max_lines and poll_interval must be positive")
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max_lines
        self.poll_interval = poll_interval
        self._retained: deque[str] = deque(maxlen=max_lines)
        self._log = _TailLog(max_lines=max_lines, highlight=True, auto_scroll=False)
        self._log.highlighter = LevelHighlighter()
        self._tail: LogTail | None = None
        self._generation = 0
        self._reading = False
        self._following = True
        self._pending = 0
        self._filter = ""
        self._error: str | None = None
        self._timer: Timer | None = None
        self._initial: tuple[str | os.PathLike[str] | None, str] = (path, title)
        self._ready = False  # set in on_mount: is_mounted is still False there

    # -- public surface -----------------------------------------------------------------

    @property
    def following(self) -> bool:
        """Whether the pane scrolls to each new line (False once the user scrolls up)."""
        return self._following

    @property
    def pending(self) -> int:
        """Lines (matching the filter) that arrived while following was paused."""
        return self._pending

    @property
    def filter_text(self) -> str:
        """The current filter ("" when none)."""
        return self._filter

    @property
    def source(self) -> Path | None:
        """The file followed, or None."""
        return None if self._tail is None else self._tail.path

    @property
    def retained_lines(self) -> list[str]:
        """A copy of the lines retained (at most ``max_lines``), filtered or not."""
        return list(self._retained)

    @property
    def shown_lines(self) -> list[str]:
        """A copy of the lines in the ``Log`` (those matching the filter)."""
        return list(self._log.lines)

    def compose(self) -> ComposeResult:
        """Yield the ``Log``."""
        yield self._log

    def on_mount(self) -> None:
        """Watch the log's scrolling and start following the initial path, if any."""
        self.watch(self._log, "scroll_y", self._on_log_scrolled, init=False)
        self._ready = True
        path, title = self._initial
        self.set_source(path, title)

    def on_unmount(self) -> None:
        """Close the file."""
        if self._tail is not None:
            self._tail.close()

    def focus(self, scroll_visible: bool = True) -> LogPane:
        """Focus the log inside the pane (the pane itself takes no focus).

        Args:
            scroll_visible: Scroll it into view.

        Returns:
            The pane.
        """
        self._log.focus(scroll_visible)
        return self

    def set_source(self, path: str | os.PathLike[str] | None, title: str = "") -> None:
        """Follow another file (or none), starting from its last ``max_lines`` lines.

        Args:
            path: The log file (it need not exist yet), or None to show nothing.
            title: Shown in the top border; defaults to the file name.
        """
        if not self._ready:
            self._initial = (path, title)  # on_mount starts it
            return
        if self._tail is not None:
            self._tail.close()
        if self._timer is not None:
            self._timer.stop()  # one chain of reads: a pending one would start a second
        self._tail = None if path is None else LogTail(path, max_lines=self.max_lines)
        self._generation += 1
        self._retained.clear()
        self._log.clear()
        self._following, self._pending, self._error = True, 0, None
        self.border_title = Content(title or (Path(path).name if path is not None else ""))
        self._update_subtitle()
        self._poll()

    def set_filter(self, text: str) -> None:
        """Show only lines containing ``text`` (case-insensitive); "" shows all.

        Re-renders from the retained lines and resumes following.

        Args:
            text: The substring to match.
        """
        self._filter = text
        self._log.clear()
        self._write_lines(self._log, self._matching(self._retained))
        self.action_follow()

    # -- actions ------------------------------------------------------------------------

    def action_follow(self) -> None:
        """Scroll to the end and follow new lines again."""
        self._following, self._pending = True, 0
        self._log.scroll_end(animate=False, immediate=True, x_axis=False)
        self._update_subtitle()

    def action_filter(self) -> None:
        """Ask the app to prompt for a filter."""
        self.post_message(self.FilterRequested(self, self._filter))

    # -- reading ------------------------------------------------------------------------

    def _poll(self) -> None:
        """Start a read unless one is running (the running one schedules the next)."""
        self._timer = None
        if self._tail is not None and not self._reading:
            self._reading = True
            self._read(self._tail, self._generation)

    @work(thread=True, exclusive=True, group="log-pane-read", exit_on_error=False)
    def _read(self, tail: LogTail, generation: int) -> None:
        error: str | None = None
        try:
            lines = tail.read_new()
        except OSError as exc:
            lines, error = [], f"{type(exc).__name__}: {exc.strerror or exc}"
        except Exception as exc:  # a failing read must not stop the pane
            logger.exception("reading %s", tail.path)
            lines, error = [], f"{type(exc).__name__}: {exc}"
        self.post_message(self.LinesRead(generation, lines, error))

    def on_log_pane_lines_read(self, message: LinesRead) -> None:
        """Write a batch, then schedule the next read."""
        self._reading = False
        if message.generation != self._generation:
            self._poll()  # a read of the previous source: start on the new one now
            return
        if message.error != self._error:
            if message.error:
                logger.warning("log pane %s: %s", self.source, message.error)
            self._error = message.error
            self._update_subtitle()
        if message.lines:
            self._ingest(message.lines)
        self._timer = self.set_timer(self.poll_interval, self._poll)

    def _ingest(self, lines: list[str]) -> None:
        self._retained.extend(lines)
        shown = self._matching(lines) if self._filter else lines
        if not shown:
            return
        log = self._log
        before = len(log.lines)
        scroll_y = log.scroll_y
        self._write_lines(log, shown)
        if self._following:
            log.scroll_end(animate=False, immediate=True, x_axis=False)
            return
        self._pending += len(shown)
        pruned = before + len(shown) - len(log.lines)
        if pruned > 0:  # keep the lines the user is reading in place
            log.scroll_to(y=max(0, scroll_y - pruned), animate=False, immediate=True)
        self._update_subtitle()

    def _write_lines(self, log: Log, lines: list[str]) -> None:
        """Append lines to the widget in one batch (the bench overrides this)."""
        log.write_lines(lines, scroll_end=False)

    def _matching(self, lines: list[str] | deque[str]) -> list[str]:
        if not self._filter:
            return list(lines)
        needle = self._filter.casefold()
        return [line for line in lines if needle in line.casefold()]

    # -- follow state and the subtitle --------------------------------------------------

    def _on_log_scrolled(self) -> None:
        at_end = self._log.is_vertical_scroll_end
        if at_end and not self._following:
            self._following, self._pending = True, 0
        elif not at_end and self._following:
            self._following = False
        else:
            return
        self._update_subtitle()

    def _update_subtitle(self) -> None:
        state = "following" if self._following else "paused"
        parts = [f"/{self._filter}" if self._filter else "", state,
                 f"+{self._pending} new lines" if self._pending else "", self._error or ""]
        self.border_subtitle = Content(" · ".join(part for part in parts if part))
