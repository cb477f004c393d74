"""The top line: where live trades (PAPER / PRACTICE / LIVE, always first), warnings
(supervisor down, stale data, kill switch…), run, workers up, data age, active alerts and
the time in the console's zone."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.reactive import var
from textual.widgets import Static

from fxconsole.config import Config
from fxconsole.ui import format as fmt
from fxconsole.ui.control import training_paused
from fxconsole.ui.data import ConsoleSnapshot
from fxconsole.ui.where import LIVE, PAPER, Where, clock, where
from fxconsole.ui.widgets.common import changed, themed

TICK_SECONDS = 1.5  # redraw by itself only when snapshots have stopped this long
WIDE_COLUMNS = 120  # from here the banner also says what paper replays
MODE_MEANING = {PAPER: "success", LIVE: "error"}  # PRACTICE: warning


class StatusBar(Static):
    """Redrawn on each snapshot, and once a second while no snapshot comes (so ages keep
    moving if reads stall; a tick of its own besides the snapshots' would paint the
    screen once more each second)."""

    snapshot: var[ConsoleSnapshot | None] = var(None)
    error: var[str] = var("")

    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        """``clock`` gives UNIX time (injected so tests can freeze ages)."""
        super().__init__(id=id)
        self.clock = clock

    def on_mount(self) -> None:
        """Keep the age current."""
        self._last_snapshot = time.monotonic()
        self.set_interval(1.0, self._tick)

    def watch_snapshot(self) -> None:
        """Redraw."""
        self._last_snapshot = time.monotonic()
        self._redraw()

    def _tick(self) -> None:
        if time.monotonic() - self._last_snapshot >= TICK_SECONDS:
            self._redraw()

    def watch_error(self) -> None:
        """Redraw."""
        self._redraw()

    def _redraw(self) -> None:
        snap = self.snapshot
        config: Config = getattr(self.app, "config", None) or Config()
        if snap is None:
            place = where(config.live.broker, config.oanda.environment, config.live.paper_source)
            self.update(Text.assemble(" ", banner(self.app, place), " fxconsole · ",
                                      self.error or "reading the console database…"))
            self.set_class(bool(self.error), "-stale")
            return
        now = self.clock()
        text = Text(" ")
        text.append_text(banner(self.app, live_where(snap, config),
                                wide=self.app.size.width >= WIDE_COLUMNS))
        text.append(" ")
        up = sum(w.row.state == "RUNNING" for w in snap.workers)
        stale = snap.stale_age(now)
        flags = warning_flags(snap, stale, bool(self.error))
        age = None if snap.updated is None else now - snap.updated
        if flags:  # on the stale bar's error background the words go plain bold
            text.append_text(Text(" · ".join(flags), style="bold") if stale is not None
                             else themed(self.app, " · ".join(flags), "error", bold=True))
            text.append(" │ ")
        text.append(f"run {snap.run} · {up}/{len(snap.workers)} running")
        if snap.synthetic:
            text.append(" · synthetic data")
        if stale is None:
            text.append(f" · updated {fmt.age(age)} ago")
        alerts = len(snap.alerts)
        if alerts:
            text.append(" · ")
            text.append_text(themed(self.app, f"{alerts} alert{'s' if alerts > 1 else ''}",
                                    "warning", bold=True))
        text.append(f" · {clock(now, config.ui.timezone)}")
        if self.error:
            text.append(f" · {self.error}")
        self.set_class(stale is not None or bool(self.error), "-stale")
        self.set_class(bool(flags), "-flagged")
        if changed(self, text):
            self.update(text, layout=False)  # one line, always


def warning_flags(snap: ConsoleSnapshot, stale: float | None, error: bool) -> list[str]:
    """The status line's warnings, most urgent first (so that an 80-column line never
    hides them): supervisor down, STALE, FATAL workers, kill switch, paused, read error."""
    flags = supervisor_flags(snap)
    if stale is not None:
        flags.append("STALE" + (f" {fmt.age(stale)}" if stale != math.inf else ""))
    fatal = [w.name for w in snap.workers if w.row.state == "FATAL"]
    if fatal:
        flags.append(f"FATAL {', '.join(fatal)}")
    if snap.value("live/kill_switch"):
        flags.append("KILL SWITCH ON")
    if training_paused(snap):
        flags.append("TRAINING PAUSED")
    if error:
        flags.append("READ ERROR")
    return flags


def supervisor_flags(snap: ConsoleSnapshot) -> list[str]:
    """``["SUPERVISOR DOWN (pid N gone)"]`` while the supervisor is down, else ``[]``."""
    sup = snap.supervisor
    if sup is None or not sup.down:
        return []
    return ["SUPERVISOR DOWN" + (f" (pid {sup.dead_pid} gone)" if sup.dead_pid else "")]


def live_where(snap: ConsoleSnapshot, config: Config) -> Where:
    """Where live trades: the broker the live worker reports (else ``live.broker``), the
    OANDA environment, and for paper replay the year of the bars replayed."""
    reported = snap.live_state.get("broker")
    name = reported.get("name") if isinstance(reported, Mapping) else None
    decisions = [d for d in snap.live_state.get("decisions") or [] if isinstance(d, Mapping)]
    return where(str(name or config.live.broker), config.oanda.environment,
                 config.live.paper_source, decisions)


def banner(app: Any, place: Where, wide: bool = True) -> Text:
    """`` PAPER replay 2023 `` (`` PAPER `` when not ``wide``: the live panel says what
    is replayed): reversed, in the mode's colour (none under NO_COLOR)."""
    label = place.label if wide else place.mode
    text = themed(app, f" {label} ", MODE_MEANING.get(place.mode, "warning"), bold=True)
    text.stylize(Style(reverse=True))
    return text
