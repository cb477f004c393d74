"""The main screen: a status line, six panels in tabs, and a footer of the keys that apply.

Every operator key becomes a :class:`~fxconsole.ui.control.Request` that the app writes as
a command row; destructive ones ask first (:class:`ConfirmScreen`), checkpoint actions
pick a checkpoint first (:class:`CheckpointPicker`). A deploy to an OANDA account of a
checkpoint that is not validated asks a second time, saying what it skips, and is sent
forced only after that second yes (the request's ``override``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, TabbedContent, TabPane

from fxconsole.ui import control
from fxconsole.ui.control import Request
from fxconsole.ui.data import CheckpointView, ConsoleSnapshot
from fxconsole.ui.messages import WorkerSelected
from fxconsole.ui.screens.confirm import ConfirmScreen, RollbackScreen
from fxconsole.ui.screens.help import HelpScreen
from fxconsole.ui.screens.picker import CheckpointPicker
from fxconsole.ui.widgets.checkpoints_table import CheckpointsTable
from fxconsole.ui.widgets.events import EventsPanel
from fxconsole.ui.widgets.live import LivePanel
from fxconsole.ui.widgets.log_view import LogView
from fxconsole.ui.widgets.overview import Overview
from fxconsole.ui.widgets.sortable import HELP_KEYS as TABLE_KEYS
from fxconsole.ui.widgets.sortable import SortableTable
from fxconsole.ui.widgets.status_bar import StatusBar
from fxconsole.ui.widgets.trades import TradesPanel
from fxconsole.ui.widgets.training import TrainingPanel
from fxconsole.ui.widgets.validation import ValidationPanel
from fxconsole.ui.widgets.workers_table import WorkersTable

if TYPE_CHECKING:
    from fxconsole.ui.app import FxConsoleApp

PANELS = (("workers", "Workers"), ("training", "Training"), ("validation", "Validation"),
          ("live", "Live"), ("checkpoints", "Checkpoints"), ("events", "Events"),
          ("trades", "Trades"))
# The widgets of each panel that draw from snapshots.
PANEL_WIDGETS = {"workers": ("#overview",), "training": ("#training-panel",),
                 "validation": ("#validation-panel",),
                 "live": ("#live-panel", "#live-equity"), "trades": ("#trades-panel",),
                 "checkpoints": ("#checkpoints-table",), "events": ("#events-panel",)}
# The footer shows, besides quit and help, the keys of the panel in view (all keys work
# everywhere; the help screen lists them all).
FOOTER = {
    "workers": {"restart_worker", "stop_worker", "start_worker", "filter_logs", "toggle_log"},
    "training": {"checkpoint_now", "pause_resume", "rollback"},
    "validation": {"rollback", "deploy"},
    "live": {"deploy", "kill_switch", "flatten"},
    "checkpoints": {"rollback", "deploy"},
    "events": {"acknowledge"},
}
ALWAYS = {"quit", "help"}
WORKER_ACTIONS = {"restart_worker", "stop_worker", "start_worker"}


class MainScreen(Screen[None]):
    """The console."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("r", "restart_worker", "Restart", tooltip="Restart the selected worker"),
        Binding("s", "stop_worker", "Stop", tooltip="Stop the selected worker (asks first)"),
        Binding("S", "start_worker", "Start", tooltip="Start the selected worker"),
        Binding("c", "checkpoint_now", "Checkpoint", tooltip="Trainer: save a checkpoint now"),
        Binding("p", "pause_resume", "Pause/resume", tooltip="Pause or resume training"),
        Binding("b", "rollback", "Roll back",
                tooltip="Roll back: train and/or trade an older checkpoint"),
        Binding("d", "deploy", "Deploy", tooltip="Deploy a checkpoint to live"),
        Binding("K", "kill_switch", "Kill switch", tooltip="Live: kill switch on/off"),
        Binding("X", "flatten", "Flatten", tooltip="Live: close the open position"),
        Binding("a", "acknowledge", "Ack alert",
                tooltip="Acknowledge the selected (Events) or newest alert"),
        Binding("slash", "filter_logs", "Filter", key_display="/",
                tooltip="Show only the log lines containing a text"),
        Binding("l", "toggle_log", "Log", tooltip="Move between the workers table and the log"),
        Binding("tab", "next_panel", "Next panel", show=False),
        Binding("shift+tab", "previous_panel", "Previous panel", show=False),
        *[Binding(str(i), f"panel('{pid}')", f"{title} panel", show=False)
          for i, (pid, title) in enumerate(PANELS, 1)],
    ]

    snapshot: var[ConsoleSnapshot | None] = var(None)

    def __init__(self, clock: Callable[[], float]) -> None:
        """``clock`` gives UNIX time to the status line."""
        super().__init__()
        self.clock = clock
        self.selected_worker: str | None = None

    @property
    def fx_app(self) -> FxConsoleApp:
        """The app, typed."""
        return cast("FxConsoleApp", self.app)

    def compose(self) -> ComposeResult:
        """Status line, the tabbed panels, the footer."""
        yield StatusBar(self.clock, id="status")
        with TabbedContent(id="panels", initial="workers"):
            with TabPane(f"1 {PANELS[0][1]}", id="workers"), Horizontal(id="workers-split"):
                with Vertical(id="workers-main"):
                    yield WorkersTable(id="workers-table")
                    yield LogView(id="log-view")
                yield Overview(id="overview")  # wide terminals only
            with TabPane(f"2 {PANELS[1][1]}", id="training"):
                yield TrainingPanel(id="training-panel")
            with TabPane(f"3 {PANELS[2][1]}", id="validation"):
                yield ValidationPanel(id="validation-panel")
            with TabPane(f"4 {PANELS[3][1]}", id="live"):
                yield LivePanel(id="live-panel")
            with TabPane(f"5 {PANELS[4][1]}", id="checkpoints"):
                yield CheckpointsTable(id="checkpoints-table")
            with TabPane(f"6 {PANELS[5][1]}", id="events"):
                yield EventsPanel(id="events-panel")
            with TabPane(f"7 {PANELS[6][1]}", id="trades"):
                yield TradesPanel(id="trades-panel")
        yield Footer()

    def on_mount(self) -> None:
        """Follow the app's snapshots and read errors."""
        self.watch(self.app, "snapshot", self._show, init=True)
        self.watch(self.app, "read_error", self._show_error, init=True)
        self.query_one("#workers-table").focus()

    def _show(self, snap: ConsoleSnapshot | None) -> None:
        """Give the snapshot to the status line, the workers table (it holds the selected
        worker every panel's keys act on) and the panel in view; a hidden panel gets the
        newest snapshot when it is shown (drawing hidden panels cost most of idle CPU)."""
        self.snapshot = snap
        for selector in ("#status", "#workers-table", *PANEL_WIDGETS[self.panel]):
            cast(Any, self.query_one(selector)).snapshot = snap

    def _show_error(self, error: str) -> None:
        self.query_one(StatusBar).error = error

    @property
    def panel(self) -> str:
        """The id of the panel in view."""
        return self.query_one(TabbedContent).active or "workers"

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """The bindings, with the footer limited to the keys of the panel in view."""
        shown = ALWAYS | FOOTER.get(self.panel, set())
        out = {}
        for key, active in super().active_bindings.items():
            binding = active.binding
            if binding.show and active.node is self and binding.action not in shown:
                active = active._replace(binding=dataclasses.replace(binding, show=False))
            out[key] = active
        # the screen's keys first: a table's sort key is the one a narrow footer drops
        return dict(sorted(out.items(), key=lambda item: item[1].node is not self))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Worker keys need a selected worker."""
        if action in WORKER_ACTIONS:
            return self.selected_worker is not None
        return True

    def help_keys(self) -> list[tuple[str, str]]:
        """(key, description) of every binding of this screen, for the help screen (the
        panel keys on one line)."""
        out, panels = [], []
        for item in self.BINDINGS:
            binding = item if isinstance(item, Binding) else Binding(*item)
            if binding.action.startswith("panel("):
                panels.append(binding)
            else:
                out.append((binding.key_display or binding.key,
                            binding.tooltip or binding.description))
        out.append((f"{panels[0].key}–{panels[-1].key}",
                    "panels: " + ", ".join(b.description.removesuffix(" panel") for b in panels)))
        out += [*TABLE_KEYS, ("f", "trades: show one source (training, collectors, live, "
                                   "backtests) or all")]
        return out

    # -- panels and focus ------------------------------------------------------------

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Bring the panel up to date, focus its first widget; the footer follows it."""
        self._show(self.snapshot)
        self._focus_panel()
        self.refresh_bindings()

    def _focus_panel(self) -> None:
        pane = self.query_one(TabbedContent).active_pane
        focusable = [w for w in pane.query(Widget) if w.focusable] if pane else []
        if focusable:
            focusable[0].focus()

    def action_panel(self, panel: str) -> None:
        """Show a panel."""
        self.query_one(TabbedContent).active = panel

    def _step_panel(self, step: int) -> None:
        ids = [pid for pid, _ in PANELS]
        self.action_panel(ids[(ids.index(self.panel) + step) % len(ids)])

    def action_next_panel(self) -> None:
        """Show the next panel."""
        self._step_panel(1)

    def action_previous_panel(self) -> None:
        """Show the previous panel."""
        self._step_panel(-1)

    def on_worker_selected(self, message: WorkerSelected) -> None:
        """Show the selected worker's log."""
        if message.name == self.selected_worker:
            return
        self.selected_worker = message.name
        ws = self.fx_app.workspace
        path = ws.logs_dir / f"{message.name}.log"
        self.query_one(LogView).show(path, f"{message.name} ({path.relative_to(ws.root)})")
        self.refresh_bindings()

    def action_toggle_log(self) -> None:
        """Move the focus between the workers table and the log."""
        self.action_panel("workers")
        table = self.query_one("#workers-table")
        (self.query_one("#log-pane") if table.has_focus else table).focus()

    def action_filter_logs(self) -> None:
        """Ask for the text the log lines must contain."""
        self.action_panel("workers")
        self.query_one(LogView).open_filter()

    # -- commands --------------------------------------------------------------------

    def request(self, req: Request) -> None:
        """Write ``req`` as a command, after confirmation if it asks for one; a request
        with an ``override`` goes on to the override's question instead, and only the
        override is written (if that is confirmed too)."""
        def go() -> None:
            if req.override is not None:
                self.request(req.override)
            else:
                self.fx_app.send_command(req)

        if not req.confirm:
            go()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                go()

        self.app.push_screen(ConfirmScreen(req.confirm, yes=req.confirm_label), answered)

    def action_restart_worker(self) -> None:
        """Restart the selected worker."""
        if self.selected_worker:
            self.request(control.lifecycle("restart", self.selected_worker))

    def action_stop_worker(self) -> None:
        """Stop the selected worker (asks first)."""
        if self.selected_worker:
            self.request(control.lifecycle("stop", self.selected_worker))

    def action_start_worker(self) -> None:
        """Start the selected worker."""
        if self.selected_worker:
            self.request(control.lifecycle("start", self.selected_worker))

    def action_checkpoint_now(self) -> None:
        """Ask the trainer for a checkpoint."""
        self.request(control.checkpoint_now(self.snapshot))

    def action_pause_resume(self) -> None:
        """Pause training, or resume it."""
        self.request(control.pause_or_resume(self.snapshot))

    def action_kill_switch(self) -> None:
        """Engage (or release) live's kill switch (asks first)."""
        self.request(control.kill_switch(self.snapshot, self.fx_app.config))

    def action_flatten(self) -> None:
        """Close live's open position (asks first)."""
        self.request(control.flatten(self.snapshot))

    def action_pause_entries(self) -> None:
        """Stop live opening positions."""
        self.request(control.entries(self.snapshot, pause=True))

    def action_resume_entries(self) -> None:
        """Let live open positions again (releases the kill switch)."""
        self.request(control.entries(self.snapshot, pause=False))

    def action_rollback(self) -> None:
        """Pick a checkpoint, then choose: the trainer resumes from it, live trades it, or
        both (the choice is the confirmation; live's deploy of an unvalidated checkpoint
        to an OANDA account asks a second time, and declining it cancels only the
        deploy)."""
        checkpoints = self.snapshot.checkpoints if self.snapshot else ()
        if not checkpoints:
            self.notify("The run has no checkpoints yet.", severity="warning")
            return

        def picked(checkpoint: CheckpointView | None) -> None:
            if checkpoint is None:
                return

            def chosen(choice: str | None) -> None:
                for req in control.rollback_requests(self.snapshot, checkpoint, choice or "",
                                                     self.fx_app.config):
                    self.request(req)

            self.app.push_screen(
                RollbackScreen(control.rollback_question(self.snapshot, checkpoint)), chosen)

        highlight = self.query_one(CheckpointsTable).highlighted
        self.app.push_screen(CheckpointPicker("Roll back to which checkpoint?", checkpoints,
                                              highlight), picked)

    def action_deploy(self) -> None:
        """Pick a checkpoint, then make live trade it (asks first; asks again before a
        forced deploy of an unvalidated checkpoint to an OANDA account)."""
        self._pick("Deploy which checkpoint to live?",
                   lambda c: control.deploy(self.snapshot, c, self.fx_app.config))

    def _pick(self, title: str, then: Callable[[CheckpointView], Request]) -> None:
        checkpoints = self.snapshot.checkpoints if self.snapshot else ()
        if not checkpoints:
            self.notify("The run has no checkpoints yet.", severity="warning")
            return

        def picked(choice: CheckpointView | None) -> None:
            if choice is not None:
                self.request(then(choice))

        highlight = self.query_one(CheckpointsTable).highlighted
        self.app.push_screen(CheckpointPicker(title, checkpoints, highlight), picked)

    def action_acknowledge(self) -> None:
        """Acknowledge the active alert under the Events table's cursor, else the newest
        active alert (recorded as an event, so it stays acknowledged)."""
        alerts = self.snapshot.alerts if self.snapshot else []
        if not alerts:
            self.notify("No active alert.", timeout=3)
            return
        selected = None
        if self.panel == "events":
            key = self.query_one("#events-table", SortableTable).cursor_key
            selected = next((a for a in alerts if str(a.id) == key), None)
        alert = selected or alerts[0]
        self.fx_app.acknowledge(alert)
        self.notify(f"{alert.source}: {alert.message}", title="Acknowledged", timeout=3)

    def action_help(self) -> None:
        """List every key."""
        self.app.push_screen(HelpScreen(self.help_keys()))

    def action_quit(self) -> None:
        """Ask what to do with the workers, then quit."""
        self.fx_app.ask_quit()
