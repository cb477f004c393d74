"""The supervisor: owns the worker processes and drives their state machines.

:class:`Supervisor` does the I/O around :class:`~fxconsole.ops.states.WorkerMachine`: it
reaps exits, reads heartbeats, spawns and signals processes as the machines decide, and
publishes every change through ``on_change`` (where the SQLite store plugs in). It never
sleeps inside :meth:`Supervisor.tick`; a loop (:meth:`Supervisor.run_forever`, or the
console's own) calls it a few times a second. It is not thread-safe: call every method
from the loop's thread.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from fxconsole.ops.crash_reason import exit_reason, read_tail
from fxconsole.ops.process import Launcher, ProcessHandle, spawn_worker
from fxconsole.ops.states import (
    Action,
    Clock,
    Event,
    Exited,
    ProgramSpec,
    RestartRequested,
    Spawned,
    SpawnFailed,
    StartRequested,
    StopRequested,
    Tick,
    WorkerMachine,
    WorkerState,
    WorkerStatus,
)

logger = logging.getLogger(__name__)

ALL = "all"
_SIGNALS = {Action.TERMINATE: signal.SIGTERM, Action.KILL: signal.SIGKILL}


class UnknownWorker(ValueError):
    """A command named a worker the supervisor does not know."""


def no_heartbeats(name: str) -> float | None:
    """The default heartbeat source: nothing is known (heartbeats are then not judged)."""
    return None


def ignore_change(status: WorkerStatus) -> None:
    """The default change sink: drop it (every change is logged anyway)."""


@dataclass
class _Worker:
    machine: WorkerMachine
    proc: ProcessHandle | None = None
    heartbeat_failing: bool = False


class Supervisor:
    """Spawns, watches, restarts and stops a fixed set of workers.

    Args:
        specs: one per worker; names must be unique (and not ``"all"``).
        clock: monotonic seconds; drives every timeout.
        heartbeats: ``name → UNIX time of the last heartbeat`` (or None if there is none).
        on_change: called with each new status; its errors are logged, never raised.
        launcher: starts a worker's process (:func:`~fxconsole.ops.process.spawn_worker`).
        wall_clock: UNIX seconds, to age heartbeats and stamp statuses.
        sleep: used only by :meth:`shutdown`.
        output_tail: ``log file → its last lines`` (the exit reason is read from them).
    """

    def __init__(
        self,
        specs: Iterable[ProgramSpec],
        clock: Clock = time.monotonic,
        heartbeats: Callable[[str], float | None] = no_heartbeats,
        on_change: Callable[[WorkerStatus], None] = ignore_change,
        launcher: Launcher = spawn_worker,
        wall_clock: Clock = time.time,
        sleep: Callable[[float], None] = time.sleep,
        output_tail: Callable[[Path | None], str] = read_tail,
    ) -> None:
        self._workers: dict[str, _Worker] = {}
        for spec in specs:
            if spec.name in self._workers or spec.name == ALL:
                raise ValueError(f"worker name {spec.name!r} is duplicated or reserved")
            self._workers[spec.name] = _Worker(WorkerMachine(spec, clock, wall_clock))
        self._clock = clock
        self._wall = wall_clock
        self._heartbeats = heartbeats
        self._on_change = on_change
        self._launcher = launcher
        self._sleep = sleep
        self._output_tail = output_tail
        self._closing = False

    # -- the loop ----------------------------------------------------------------------

    def tick(self) -> None:
        """Reap exits, then let each worker's machine act on time and heartbeats."""
        for worker in self._workers.values():
            self._reap(worker)
            self._handle(worker, self._tick_event(worker))

    def run_forever(self, stop_event: threading.Event, tick_seconds: float = 0.2) -> None:
        """Tick until ``stop_event`` is set (SIGTERM, SIGINT and SIGHUP set it), then shut down.

        Signal handlers are installed only when called from the main thread, and restored
        on return; SIGHUP is left alone when it is ignored (``nohup``). Returns after
        :meth:`shutdown`, when no worker process remains.
        """
        received: list[int] = []

        def on_signal(signum: int, frame: FrameType | None) -> None:
            received.append(signum)
            stop_event.set()

        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    previous[sig] = signal.signal(sig, on_signal)
        try:
            while not stop_event.is_set():
                try:
                    self.tick()
                except Exception:
                    logger.exception("supervisor tick failed")
                stop_event.wait(tick_seconds)
            if received:
                logger.info("received %s; stopping every worker",
                            signal.Signals(received[0]).name)
        finally:
            self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # -- operator commands -------------------------------------------------------------

    def start(self, name: str) -> None:
        """Start a worker (or ``"all"``); also clears FATAL. Running ones are left alone."""
        self._command(name, StartRequested())

    def stop(self, name: str) -> None:
        """Stop a worker (or ``"all"``): SIGTERM to its group, SIGKILL after stopwaitsecs."""
        self._command(name, StopRequested())

    def restart(self, name: str) -> None:
        """Stop then start a worker (or ``"all"``); starts at once what is not running."""
        self._command(name, RestartRequested())

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop every worker and return when no worker process remains.

        Args:
            timeout: seconds to wait for the workers to stop (each also gets SIGKILL after
                its own stopwaitsecs); leftovers then get SIGKILL. Default: the longest
                stopwaitsecs plus one second.
        """
        self._closing = True
        for worker in self._workers.values():
            self._handle(worker, StopRequested())
        if timeout is None:
            timeout = 1.0 + max((w.machine.spec.stopwaitsecs for w in self._workers.values()),
                                default=0.0)
        self._wait_for_exits(timeout)
        for worker in self._running():
            logger.warning("worker %s still running after %gs; SIGKILL",
                           worker.machine.spec.name, timeout)
            self._signal(worker, signal.SIGKILL)
        if not self._wait_for_exits(5.0):
            names = [w.machine.spec.name for w in self._running()]
            logger.error("workers %s survived SIGKILL (uninterruptible sleep?)", names)

    # -- queries -----------------------------------------------------------------------

    def statuses(self) -> list[WorkerStatus]:
        """Every worker's current status, in the order of the specs."""
        return [worker.machine.status() for worker in self._workers.values()]

    def status(self, name: str) -> WorkerStatus:
        """One worker's current status.

        Raises:
            UnknownWorker: if no worker has that name.
        """
        return self._select(name)[0].machine.status()

    @property
    def specs(self) -> list[ProgramSpec]:
        """The workers' specs, in order."""
        return [worker.machine.spec for worker in self._workers.values()]

    # -- internals ---------------------------------------------------------------------

    def _command(self, name: str, event: Event) -> None:
        workers = self._select(name)
        if self._closing and not isinstance(event, StopRequested):
            raise RuntimeError("the supervisor is shutting down")
        for worker in workers:
            self._handle(worker, event)

    def _select(self, name: str) -> list[_Worker]:
        if name == ALL:
            return list(self._workers.values())
        if name not in self._workers:
            known = ", ".join(self._workers) or "none"
            raise UnknownWorker(f"no worker named {name!r} (known: {known})")
        return [self._workers[name]]

    def _running(self) -> list[_Worker]:
        return [worker for worker in self._workers.values() if worker.proc is not None]

    def _wait_for_exits(self, timeout: float) -> bool:
        deadline = self._clock() + timeout
        while True:
            self.tick()
            if not self._running():
                return True
            if self._clock() >= deadline:
                return False
            self._sleep(0.02)

    def _tick_event(self, worker: _Worker) -> Tick:
        spec = worker.machine.spec
        if spec.heartbeat_timeout is None or worker.machine.state is not WorkerState.RUNNING:
            return Tick()
        try:
            beat = self._heartbeats(spec.name)
        except Exception:
            if not worker.heartbeat_failing:
                logger.exception("reading the heartbeat of %s failed", spec.name)
            worker.heartbeat_failing = True
            return Tick(heartbeat_known=False)
        worker.heartbeat_failing = False
        return Tick(None if beat is None else self._wall() - beat)

    def _reap(self, worker: _Worker) -> None:
        if worker.proc is None:
            return
        code = worker.proc.poll()
        if code is not None:
            worker.proc = None
            reason = ""
            if code != 0:
                try:
                    reason = exit_reason(code, self._output_tail(worker.machine.spec.log_file))
                except Exception:  # a reason is a courtesy: never let it stop the reaping
                    logger.exception("reading the exit reason of %s failed",
                                     worker.machine.spec.name)
            self._handle(worker, Exited(code, reason))

    def _handle(self, worker: _Worker, event: Event) -> None:
        pending = worker.machine.handle(event)
        while pending:
            action = pending.pop(0)
            if action is Action.SPAWN:
                pending.extend(self._spawn(worker))
            else:
                self._signal(worker, _SIGNALS[action])
        self._publish(worker)

    def _spawn(self, worker: _Worker) -> list[Action]:
        spec = worker.machine.spec
        try:
            worker.proc = self._launcher(spec)
        except Exception as exc:
            logger.exception("could not start worker %s", spec.name)
            return worker.machine.handle(SpawnFailed(f"{type(exc).__name__}: {exc}"))
        return worker.machine.handle(Spawned(worker.proc.pid))

    def _signal(self, worker: _Worker, sig: int) -> None:
        if worker.proc is None:
            return
        try:
            worker.proc.signal(sig)
        except OSError:
            logger.exception("could not signal worker %s", worker.machine.spec.name)

    def _publish(self, worker: _Worker) -> None:
        for change in worker.machine.drain():
            status = change.status
            if change.old is change.new:
                logger.info("worker %s: %s: %s", status.name, status.state, status.message)
            else:
                logger.info("worker %s: %s -> %s: %s", status.name, change.old, change.new,
                            status.message)
            try:
                self._on_change(status)
            except Exception:
                logger.exception("on_change failed for worker %s", status.name)
