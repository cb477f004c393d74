"""The top line: run, workers up, data age, and warnings (supervisor down, stale data,
kill switch…)."""

from __future__ import annotations

import math
from collections.abc import Callable

from rich.text import Text
from textual.reactive import var
from textual.widgets import Static

from fxconsole.ui import format as fmt
from fxconsole.ui.control import training_paused
from fxconsole.ui.data import ConsoleSnapshot
from fxconsole.ui.widgets.common import changed, themed


class StatusBar(Static):
    """Redrawn on each snapshot and once a second (so ages keep moving if reads stall)."""

    snapshot: var[ConsoleSnapshot | None] = var(None)
    error: var[str] = var("")

    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        """``clock`` gives UNIX time (injected so tests can freeze ages)."""
        super().__init__(id=id)
        self.clock = clock

    def on_mount(self) -> None:
        """Keep the age current."""
        self.set_interval(1.0, self._redraw)

    def watch_snapshot(self) -> None:
        """Redraw."""
        self._redraw()

    def watch_error(self) -> None:
        """Redraw."""
        self._redraw()

    def _redraw(self) -> None:
        snap = self.snapshot
        if snap is None:
            self.update(Text(f" fxconsole · {self.error or 'reading the console database…'}"))
            self.set_class(bool(self.error), "-stale")
            return
        now = self.clock()
        up = sum(w.row.state == "RUNNING" for w in snap.workers)
        stale = snap.stale_age(now)
        flags = supervisor_flags(snap)  # first, so that an 80-column line never hides them
        if stale is not None:
            flags.append("STALE" + (f" {fmt.age(stale)}" if stale != math.inf else ""))
        fatal = [w.name for w in snap.workers if w.row.state == "FATAL"]
        if fatal:
            flags.append(f"FATAL {', '.join(fatal)}")
        if snap.value("live/kill_switch"):
            flags.append("KILL SWITCH ON")
        if training_paused(snap):
            flags.append("TRAINING PAUSED")
        if self.error:
            flags.append("READ ERROR")
        age = None if snap.updated is None else now - snap.updated
        text = Text(" ")
        if flags:  # on the stale bar's error background the words go plain bold
            text.append_text(Text(" · ".join(flags), style="bold") if stale is not None
                             else themed(self.app, " · ".join(flags), "error", bold=True))
            text.append(" │ ")
        text.append(f"run {snap.run} · {up}/{len(snap.workers)} running")
        if snap.synthetic:
            text.append(" · synthetic data")
        if stale is None:
            text.append(f" · updated {fmt.age(age)} ago")
        if self.error:
            text.append(f" · {self.error}")
        self.set_class(stale is not None or bool(self.error), "-stale")
        self.set_class(bool(flags), "-flagged")
        if changed(self, text):
            self.update(text, layout=False)  # one line, always


def supervisor_flags(snap: ConsoleSnapshot) -> list[str]:
    """``["SUPERVISOR DOWN (pid N gone)"]`` while the supervisor is down, else ``[]``."""
    sup = snap.supervisor
    if sup is None or not sup.down:
        return []
    return ["SUPERVISOR DOWN" + (f" (pid {sup.dead_pid} gone)" if sup.dead_pid else "")]
