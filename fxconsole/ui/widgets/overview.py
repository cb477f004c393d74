"""The overview beside the workers on wide terminals: the headline of every other panel."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import var
from textual.widgets import Static

from fxconsole.ui import format as fmt
from fxconsole.ui.data import ConsoleSnapshot
from fxconsole.ui.widgets.common import changed, themed, update_static
from fxconsole.ui.widgets.training import stats_table

BARS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 40
ALERTS = 5
AGE_SECONDS = 10  # redraw at least this often, for the ages shown
FIGURE_SECONDS = 2.0  # redraw for moving figures alone at most this often


def spark(values: Sequence[float], width: int = SPARK_WIDTH) -> str:
    """A one-line sparkline of the last ``width`` values (empty for no data)."""
    values = list(values)[-width:]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(BARS[round((v - lo) / span * (len(BARS) - 1))] for v in values)


class Overview(VerticalScroll):
    """Training figures and trends, the newest verdict, live's state, the newest alerts."""

    snapshot: var[ConsoleSnapshot | None] = var(None)

    def compose(self) -> ComposeResult:
        """One static body."""
        yield Static(id="overview-body")

    def watch_snapshot(self, snap: ConsoleSnapshot | None) -> None:
        """Redraw (only while shown: it is hidden on narrow terminals): at once when a
        verdict, a worker's state or the alerts change, and when only the training and
        live figures moved, at most every :data:`FIGURE_SECONDS` (they move every second
        on a busy system, and each redraw repaints the screen)."""
        if snap is None or not self.display:
            return
        now = time.monotonic()
        events = changed(self, (snap.validation, [w.row.state for w in snap.workers],
                                snap.events, snap.taken // AGE_SECONDS))
        figures = (snap.metrics, snap.series, snap.best_sqn)
        if not events and (getattr(self, "_figures", None) == figures
                           or now - getattr(self, "_drawn_at", -math.inf) < FIGURE_SECONDS):
            return
        self._figures, self._drawn_at = figures, now
        update_static(self.query_one("#overview-body", Static), self._body(snap))

    def _body(self, snap: ConsoleSnapshot) -> Group:
        parts: list[RenderableType] = [Text("Training", style="bold"), stats_table(snap)]
        for key, title in (("rollout/expectancy", "expectancy"), ("rollout/win_rate", "win rate")):
            values = [v for _, v in snap.series.get(key, ())]
            parts.append(Text(f"{title:<11}{spark(values)}"))
        parts += [Text(""), Text("Validation", style="bold"), self._validation(snap),
                  Text(""), Text("Live", style="bold"), self._live(snap),
                  Text(""), Text("Alerts", style="bold"), *self._alerts(snap)]
        return Group(*parts)

    def _validation(self, snap: ConsoleSnapshot) -> Text:
        if snap.validation is None:
            return Text("no validation yet")
        v = snap.validation.row
        steps = fmt.DASH if v.timesteps is None else f"{v.timesteps:,}"
        verdict = themed(self.app, "VALIDATED", "success", bold=True) if v.validated \
            else themed(self.app, "NOT VALIDATED", "error", bold=True)
        return Text.assemble(f"{steps} steps · ", verdict,
                             f" · SQN {fmt.num(v.sqn, '+.2f')} · exp {fmt.pips(v.expectancy)}")

    def _live(self, snap: ConsoleSnapshot) -> Text:
        live = snap.live
        position = live.get("position")
        side = fmt.DASH if position is None else \
            "long" if position > 0 else "short" if position < 0 else "flat"
        text = Text(f"{side} · realised {fmt.pips(live.get('realised_pips'))} · "
                    f"{fmt.num(live.get('trades'), ',.0f')} trades")
        if live.get("kill_switch"):
            text.append_text(Text(" · ").append_text(
                themed(self.app, "KILL SWITCH", "error", bold=True)))
        elif live.get("entries_paused"):
            text.append(" · entries paused")
        return text

    def _alerts(self, snap: ConsoleSnapshot) -> list[Text]:
        alerts = snap.alerts[:ALERTS]  # neither acknowledged (key a) nor resolved
        if not alerts:
            return [Text("none active")]
        return [Text.assemble(f"{fmt.age(snap.taken - e.ts):>4} ", themed(self.app, e.level),
                              f" {e.message}") for e in alerts]
