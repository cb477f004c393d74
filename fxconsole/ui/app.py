"""``FxConsoleApp``: the thin Textual app of the operations console.

It owns two kinds of background work and nothing else: one reader thread that reads a
:class:`~fxconsole.ui.data.ConsoleSnapshot` on its own SQLite connection, posts it, then
waits ``interval`` before the next read (never overlapping), and one command writer
thread that writes each queued command row. Screens render what the newest snapshot holds.

Launch::

    choice = FxConsoleApp(workspace, config, mouse=True).run()
    # "stop": stop the workers; "leave": leave them running; None: quit without choosing
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import ClassVar

from rich.console import RenderableType
from textual import work
from textual.app import App, AutopilotCallbackType
from textual.notifications import SeverityLevel
from textual.reactive import var
from textual.screen import Screen
from textual.worker import get_current_worker

from fxconsole.config import Config
from fxconsole.ops import commands
from fxconsole.ops.db import connect
from fxconsole.ops.queries import EventRow
from fxconsole.ops.schema import SchemaError
from fxconsole.ops.status import active_run
from fxconsole.ui.acks import record_ack
from fxconsole.ui.bell import BellWatch
from fxconsole.ui.control import Request
from fxconsole.ui.data import ConsoleSnapshot, Probe, ProcessProbe, ReportCache, read_snapshot
from fxconsole.ui.messages import CommandQueued, CommandRejected, ReadFailed, Snapshot
from fxconsole.ui.palette import ConsoleCommands
from fxconsole.ui.screens.confirm import QuitScreen
from fxconsole.ui.screens.main import MainScreen
from fxconsole.workspace import Workspace

logger = logging.getLogger(__name__)

READ_SECONDS = 0.5  # 2 Hz: the slowest the issue allows, and half the CPU of 5 Hz
READ_BUSY_TIMEOUT = 2.0
TOAST_REPAINT_DELAY = 0.5  # seconds after a toast's timeout (its removal takes a moment)
SEVERITY: dict[str, SeverityLevel] = {"info": "information", "warning": "warning",
                                      "error": "error"}


class FxConsoleApp(App[str | None]):
    """The console; ``run()`` returns ``"stop"``, ``"leave"`` or None (see module doc)."""

    CSS_PATH = "styles.tcss"
    TITLE = "fxconsole"
    COMMANDS: ClassVar = App.COMMANDS | {ConsoleCommands}
    # Textual declares it as an instance variable, so no ClassVar here
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012

    snapshot: var[ConsoleSnapshot | None] = var(None)
    read_error: var[str] = var("")

    def __init__(
        self, workspace: Workspace, config: Config, *, mouse: bool = True,
        clock: Callable[[], float] = time.time, probe: Probe | None = None,
        interval: float = READ_SECONDS,
    ) -> None:
        """Set up; nothing is read before the app runs.

        Args:
            workspace: the workspace whose ``data/console.sqlite`` and logs are shown.
            config: its configuration (the run shown is the supervisor's active run,
                else ``supervisor.run``).
            mouse: False for ``--no-mouse`` (keyboard only).
            clock: UNIX time (frozen in tests so ages are stable).
            probe: CPU and memory of a pid (default: psutil).
            interval: seconds between the end of one read and the start of the next.
        """
        super().__init__()
        self.workspace, self.config, self.mouse = workspace, config, mouse
        self.clock, self.probe, self.interval = clock, probe, interval
        self.run_name = config.supervisor.run
        self._issued: dict[int, Request] = {}
        self._wake = threading.Event()
        self._stop_reading = threading.Event()
        self._commands: queue.SimpleQueue[Request | EventRow | None] = queue.SimpleQueue()
        self._bell = BellWatch()

    def get_default_screen(self) -> Screen[None]:
        """The main screen is the base of the stack."""
        return MainScreen(self.clock)

    async def run_async(
        self, *, headless: bool = False, inline: bool = False, inline_no_clear: bool = False,
        mouse: bool = True, size: tuple[int, int] | None = None,
        auto_pilot: AutopilotCallbackType | None = None,
    ) -> str | None:
        """Run, with the mouse only if both ``mouse`` and the app's ``mouse`` allow it."""
        return await super().run_async(
            headless=headless, inline=inline, inline_no_clear=inline_no_clear,
            mouse=mouse and self.mouse, size=size, auto_pilot=auto_pilot)

    def on_mount(self) -> None:
        """Start reading, and the command writer."""
        self._read_loop()
        self._command_loop()

    def exit(self, result: str | None = None, return_code: int = 0,
             message: RenderableType | None = None) -> None:
        """Stop the reader promptly, then exit with ``result``."""
        self._stop_reading.set()
        self._wake.set()
        self._commands.put(None)
        super().exit(result, return_code, message)

    # -- notifications ---------------------------------------------------------------

    def notify(
        self, message: str, *, title: str = "", severity: SeverityLevel = "information",
        timeout: float | None = None, markup: bool = True,
    ) -> None:
        """Show a toast, and repaint the screen once it has expired: a toast over a panel
        that did not change meanwhile left its lines painted there (a ghost) until
        something else repainted them."""
        super().notify(message, title=title, severity=severity, timeout=timeout,
                       markup=markup)
        expires = self.NOTIFICATION_TIMEOUT if timeout is None else timeout
        self.set_timer(expires + TOAST_REPAINT_DELAY, self._repaint_after_toast,
                       name="repaint after a toast")

    def _repaint_after_toast(self) -> None:
        """Repaint every line of the screen (what a toast covered included)."""
        self.screen.refresh(layout=True)
        self.refresh(repaint=True)

    # -- reading ---------------------------------------------------------------------

    def refresh_now(self) -> None:
        """Start the next read at once (e.g. after a command was written)."""
        self._wake.set()

    @work(thread=True, exclusive=True, group="reader", name="snapshot reader")
    def _read_loop(self) -> None:
        """Read, post, wait ``interval`` (or a wake-up), repeat; one connection throughout."""
        worker = get_current_worker()
        probe = self.probe or ProcessProbe()
        reports = ReportCache()
        conn: sqlite3.Connection | None = None
        try:
            while not worker.is_cancelled and not self._stop_reading.is_set():
                conn = self._read_once(conn, probe, reports)
                self._wake.wait(self.interval)
                self._wake.clear()
        finally:
            if conn is not None:
                conn.close()

    def _read_once(self, conn: sqlite3.Connection | None, probe: Probe,
                   reports: ReportCache) -> sqlite3.Connection | None:
        path = self.workspace.console_db
        try:
            if conn is None:
                if not path.exists():
                    self.post_message(ReadFailed(f"no console database at {path} yet"))
                    return None
                conn = connect(path, busy_timeout=READ_BUSY_TIMEOUT, migrate_schema=False)
            self.run_name = active_run(conn, self.run_name)
            snap = read_snapshot(conn, self.run_name, self.workspace, clock=self.clock,
                                 probe=probe, reports=reports)
        except (sqlite3.Error, SchemaError, OSError) as exc:
            logger.warning("reading the console database failed: %s", exc)
            self.post_message(ReadFailed(str(exc)))
            if conn is not None:
                conn.close()
            return None
        self.post_message(Snapshot(snap))
        return conn

    def on_snapshot(self, message: Snapshot) -> None:
        """Publish the snapshot to the screens; announce finished commands."""
        self.snapshot = message.snapshot
        self.read_error = ""
        self._announce(message.snapshot)
        self._alert(message.snapshot)

    def on_read_failed(self, message: ReadFailed) -> None:
        """Show the error in the status line (the data shown stays the last read)."""
        self.read_error = message.error

    def _alert(self, snap: ConsoleSnapshot) -> None:
        """Show each new notifying event (FATAL, kill switch, risk trip, halt, training
        alerts, validated) and ring the terminal bell once (``notify.bell``)."""
        fresh = self._bell.fresh(snap.events)
        for event in fresh:
            self.notify(event.message, title=f"{event.source}: {event.kind}", timeout=15,
                        severity=SEVERITY.get(event.level, "error"))
        if fresh and self.config.notify.bell:
            self.bell()

    # -- commands --------------------------------------------------------------------

    def send_command(self, req: Request) -> None:
        """Queue ``req`` for the command writer thread (returns at once, never blocks);
        refused with a warning while the supervisor is down (nobody would run it)."""
        sup = self.snapshot.supervisor if self.snapshot is not None else None
        if sup is not None and sup.down:
            self.notify(f"{req.verb} not sent: {sup.describe()}. Start it with "
                        "`fxconsole start`", severity="error")
            return
        self._commands.put(req)

    def acknowledge(self, alert: EventRow) -> None:
        """Record that the operator has seen ``alert`` (an event written by the command
        writer thread; the alert leaves the overview at the next read)."""
        self._commands.put(alert)

    @work(thread=True, exclusive=True, group="commands", name="command writer")
    def _command_loop(self) -> None:
        """Write each queued request as a command row issued by ``ui``, on one connection
        kept open (opening one per key cost most of a key's latency)."""
        worker = get_current_worker()
        conn: sqlite3.Connection | None = None
        try:
            while not worker.is_cancelled:
                try:
                    req = self._commands.get(timeout=1.0)
                except queue.Empty:
                    continue
                if req is None:
                    break
                if isinstance(req, EventRow):
                    conn = self._write_ack(conn, req)
                else:
                    conn = self._write_command(conn, req)
        finally:
            if conn is not None:
                conn.close()

    def _write_command(self, conn: sqlite3.Connection | None,
                       req: Request) -> sqlite3.Connection | None:
        path = self.workspace.console_db
        try:
            if conn is None:
                if not path.exists():
                    raise FileNotFoundError(f"no console database at {path}")
                conn = connect(path, migrate_schema=False)
            command_id = commands.enqueue(conn, req.target, req.verb, req.args,
                                          issued_by="ui", clock=self.clock)
        except (ValueError, sqlite3.Error, SchemaError, OSError) as exc:
            logger.warning("command %s refused: %s", req.title, exc)
            self.post_message(CommandRejected(req, str(exc)))
            if isinstance(exc, sqlite3.Error) and conn is not None:
                conn.close()  # a fresh connection for the next command
                conn = None
        else:
            logger.info("command %d written: %s", command_id, req.title)
            self.post_message(CommandQueued(command_id, req))
        return conn

    def _write_ack(self, conn: sqlite3.Connection | None,
                   alert: EventRow) -> sqlite3.Connection | None:
        path = self.workspace.console_db
        try:
            if conn is None:
                conn = connect(path, migrate_schema=False)
            record_ack(conn, alert, self.clock)
        except (sqlite3.Error, SchemaError, OSError) as exc:
            logger.warning("acknowledging alert %d failed: %s", alert.id, exc)
            self.call_from_thread(self.notify, str(exc), title="Not acknowledged",
                                  severity="error")
            if conn is not None:
                conn.close()
            return None
        logger.info("alert %d acknowledged", alert.id)
        self.refresh_now()
        return conn

    def on_command_queued(self, message: CommandQueued) -> None:
        """Remember the command to announce its outcome; read again at once."""
        self._issued[message.command_id] = message.request
        self.notify(f"{message.request.title} (command {message.command_id})", title="Sent",
                    timeout=3)
        self.refresh_now()
        if self.snapshot is not None:
            self._announce(self.snapshot)

    def on_command_rejected(self, message: CommandRejected) -> None:
        """Say why a command could not be written."""
        self.notify(message.error, title=f"Refused: {message.request.title}", severity="error")

    def _announce(self, snap: ConsoleSnapshot) -> None:
        """Notify each command of ours that has finished, once."""
        for command in snap.commands:
            req = self._issued.get(command.id)
            if req is None or not command.finished:
                continue
            del self._issued[command.id]
            ok = command.state == commands.DONE
            self.notify(command.result or command.state, title=f"{req.title}: {command.state}",
                        severity="information" if ok else "error", timeout=8)

    # -- quitting --------------------------------------------------------------------

    def ask_quit(self) -> None:
        """Ask whether to stop the workers or leave them running, then exit with it."""

        def chosen(choice: str | None) -> None:
            if choice:
                self.exit(choice)

        self.push_screen(QuitScreen(), chosen)
