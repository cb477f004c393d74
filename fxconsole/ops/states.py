"""Worker lifecycle: supervisord's states and rules as a small event-driven state machine.

This module is pure: no processes, signals, files or logging. :class:`WorkerMachine` takes
events (an operator asked to start or stop, a process was spawned or exited, time passed)
and answers with :class:`Action` values that the supervisor carries out. Every lifecycle
decision — startsecs, startretries with a growing backoff, FATAL, autorestart, a stale
heartbeat, escalation to SIGKILL after stopwaitsecs — is made here, against an injected
clock, so tests replay event histories with a fake clock and no real process.

States and their meanings follow supervisord (``supervisor/states.py``):

========  ==================================================================
STOPPED   not running: never started, or stopped by an operator
STARTING  spawned; not yet up for ``startsecs``
RUNNING   up for at least ``startsecs``
BACKOFF   exited before ``startsecs``; will be retried after a growing delay
STOPPING  SIGTERM sent to the process group; SIGKILL follows after ``stopwaitsecs``
EXITED    ended on its own (or was killed as hung) after RUNNING
FATAL     failed to start ``startretries + 1`` times in a row, crashed ``crash_limit``
          times within ``crash_window`` seconds, or exited with a code of
          ``fatal_exit_codes`` (a configuration or credential error); waits for an operator
========  ==================================================================

The crash policy after RUNNING follows systemd's ``StartLimitBurst``/``StartLimitIntervalSec``:
a one-off crash restarts at once; the k-th crash within ``crash_window`` seconds waits
``backoff_delay(k - 1)`` (BACKOFF); the ``crash_limit``-th goes FATAL. ``crash_limit = 0``
turns the policy off (restart at once, forever, as supervisord does). The reason of an
exit (the worker's last error line, read by the supervisor) arrives in :class:`Exited`.
"""

from __future__ import annotations

import re
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

Clock = Callable[[], float]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class WorkerState(StrEnum):
    """supervisord's process states (the values are what the store writes)."""

    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    BACKOFF = "BACKOFF"
    STOPPING = "STOPPING"
    EXITED = "EXITED"
    FATAL = "FATAL"


@dataclass(frozen=True)
class ProgramSpec:
    """How to run and watch one worker (supervisord's ``[program:x]`` section).

    Give either ``argv`` (a full command) or ``module`` (run as ``python -m module *args``
    in a fresh interpreter, the ``spawn`` start method).
    """

    name: str
    role: str
    argv: tuple[str, ...] | None = None
    module: str | None = None
    args: tuple[str, ...] = ()
    startsecs: float = 1.0
    startretries: int = 3
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    stopwaitsecs: float = 10.0
    heartbeat_timeout: float | None = None
    autostart: bool = True
    autorestart: bool = True
    crash_limit: int = 0  # crashes after RUNNING within crash_window → FATAL (0: never)
    crash_window: float = 300.0
    # exit code → its meaning ("configuration error"): such an exit goes FATAL at once
    fatal_exit_codes: Mapping[int, str] = field(default_factory=dict, hash=False)
    log_file: Path | None = None
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict, hash=False)  # extra variables

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"worker name {self.name!r}: use letters, digits, '_', '.', '-'")
        if (self.argv is None) == (self.module is None):
            raise ValueError(f"worker {self.name}: give exactly one of argv or module")
        if self.argv is not None and not self.argv:
            raise ValueError(f"worker {self.name}: argv is empty")
        problems = {
            "startsecs must be >= 0": self.startsecs < 0,
            "startretries must be >= 0": self.startretries < 0,
            "stopwaitsecs must be > 0": self.stopwaitsecs <= 0,
            "backoff_base must be > 0": self.backoff_base <= 0,
            "backoff_cap must be >= backoff_base": self.backoff_cap < self.backoff_base,
            "crash_limit must be >= 0": self.crash_limit < 0,
            "crash_window must be > 0": self.crash_window <= 0,
            "heartbeat_timeout must be > 0 or None": (
                self.heartbeat_timeout is not None and self.heartbeat_timeout <= 0
            ),
        }
        for problem in (text for text, bad in problems.items() if bad):
            raise ValueError(f"worker {self.name}: {problem}")

    def command(self) -> tuple[str, ...]:
        """The argv to execute: ``argv``, or ``sys.executable -m module *args``."""
        if self.argv is not None:
            return self.argv
        return (sys.executable, "-m", str(self.module), *self.args)

    def backoff_delay(self, retries: int) -> float:
        """Seconds to wait before retry number ``retries`` (1-based): base·2^(n-1), capped."""
        exponent = max(0, min(retries - 1, 62))
        return float(min(self.backoff_cap, self.backoff_base * 2.0**exponent))


@dataclass(frozen=True)
class WorkerStatus:
    """A snapshot of one worker, as published to the store. Times are UNIX seconds."""

    name: str
    state: WorkerState
    pid: int | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    restarts: int = 0
    exit_code: int | None = None
    backoff_until: float | None = None
    retries: int = 0
    message: str = ""
    reason: str = ""  # the last failed exit's error line (kept until an operator start)


class Action(Enum):
    """What the supervisor must do for a worker."""

    SPAWN = "spawn"
    TERMINATE = "terminate"  # SIGTERM to the process group
    KILL = "kill"  # SIGKILL to the process group


@dataclass(frozen=True)
class StartRequested:
    """An operator (or autostart) asked for the worker to run."""


@dataclass(frozen=True)
class StopRequested:
    """An operator asked for the worker to stop and stay stopped."""


@dataclass(frozen=True)
class RestartRequested:
    """An operator asked for a stop then a start (this also clears FATAL)."""


@dataclass(frozen=True)
class Spawned:
    """The SPAWN action succeeded: the process, leader of its own group, has this pid."""

    pid: int


@dataclass(frozen=True)
class SpawnFailed:
    """The SPAWN action failed before any process existed (bad path, permissions …)."""

    message: str


@dataclass(frozen=True)
class Exited:
    """The process was reaped; ``code`` as ``Popen.returncode`` (-N: killed by signal N).

    ``reason``: the worker's last error line (from its output), empty if none is known.
    """

    code: int
    reason: str = ""


@dataclass(frozen=True)
class Tick:
    """Time passed. ``heartbeat_age``: seconds since the last heartbeat, None if none yet;
    ``heartbeat_known`` is False when the heartbeat source failed (nothing is judged)."""

    heartbeat_age: float | None = None
    heartbeat_known: bool = True


Event = StartRequested | StopRequested | RestartRequested | Spawned | SpawnFailed | Exited | Tick


@dataclass(frozen=True)
class Transition:
    """One published change: ``old`` → ``new`` (equal when only the details changed)."""

    old: WorkerState
    new: WorkerState
    status: WorkerStatus


class WorkerMachine:
    """The lifecycle of one worker. Feed events to :meth:`handle`; carry out its actions.

    ``clock`` is monotonic and drives every decision; ``wall_clock`` only stamps the
    UNIX times in :class:`WorkerStatus`. Published changes accumulate until :meth:`drain`.
    """

    def __init__(self, spec: ProgramSpec, clock: Clock = time.monotonic,
                 wall_clock: Clock = time.time) -> None:
        self.spec = spec
        self._clock = clock
        self._wall = wall_clock
        self._status = WorkerStatus(spec.name, WorkerState.STOPPED, message="not started")
        self._spawned_at = 0.0  # monotonic
        self._retry_at = 0.0  # monotonic
        self._kill_at = 0.0  # monotonic
        self._killed = False
        self._hung = False
        self._start_pending = spec.autostart
        self._spawn_from: WorkerState | None = None
        self._changes: list[Transition] = []
        self._crashes: deque[float] = deque()  # monotonic times of crashes after RUNNING

    @property
    def state(self) -> WorkerState:
        """The current state."""
        return self._status.state

    def status(self) -> WorkerStatus:
        """The current snapshot."""
        return self._status

    def drain(self) -> list[Transition]:
        """Return and forget the changes published since the last call."""
        changes, self._changes = self._changes, []
        return changes

    def handle(self, event: Event) -> list[Action]:
        """Apply one event; return what the supervisor must do now, in order."""
        match event:
            case StartRequested():
                return self._on_start()
            case StopRequested():
                return self._on_stop()
            case RestartRequested():
                return self._on_restart()
            case Spawned(pid=pid):
                return self._on_spawned(pid)
            case SpawnFailed(message=message):
                return self._failed_start(None, f"spawn failed: {message}", message)
            case Exited(code=code, reason=reason):
                return self._on_exited(code, reason)
            case Tick():
                return self._on_tick(event)
        raise TypeError(f"unknown event {event!r}")

    # -- operator requests -------------------------------------------------------------

    def _on_start(self) -> list[Action]:
        state = self.state
        if state is WorkerState.STOPPING:
            self._start_pending = True
            self._hung = False
            return []
        if state in (WorkerState.STARTING, WorkerState.RUNNING):
            return []
        self._crashes.clear()  # an operator start forgets the crash history (reset-failed)
        self._status = replace(self._status, retries=0, reason="")
        return self._spawn(counted=False)

    def _on_stop(self) -> list[Action]:
        self._start_pending = False
        self._hung = False
        state = self.state
        if state in (WorkerState.STARTING, WorkerState.RUNNING):
            return self._terminate("stop requested")
        if state in (WorkerState.BACKOFF, WorkerState.EXITED):
            self._set(WorkerState.STOPPED, "stopped by request", backoff_until=None)
        return []

    def _on_restart(self) -> list[Action]:
        if self.state in (WorkerState.STARTING, WorkerState.RUNNING):
            self._crashes.clear()
            actions = self._terminate("restart requested")
            self._start_pending = True
            return actions
        return self._on_start()

    # -- process events ----------------------------------------------------------------

    def _on_spawned(self, pid: int) -> list[Action]:
        if self._spawn_from is None:
            return []
        spawned = replace(self._status, pid=pid, message=f"spawned pid {pid}")
        self._publish(self._spawn_from, spawned)
        if self.spec.startsecs <= 0:
            self._set(WorkerState.RUNNING, "running", retries=0)
        return []

    def _on_exited(self, code: int, reason: str) -> list[Action]:
        state = self.state
        meaning = self.spec.fatal_exit_codes.get(code)
        if meaning is not None and state in (WorkerState.STARTING, WorkerState.RUNNING):
            self._ended(WorkerState.FATAL, code,
                        f"exited with code {code} ({meaning}); not restarted: fix it, then "
                        "start the worker", reason=reason, backoff_until=None)
            return []
        if state is WorkerState.STARTING:
            return self._failed_start(code, f"exited with code {code} before startsecs", reason)
        if state is WorkerState.RUNNING:
            self._ended(WorkerState.EXITED, code, f"exited unexpectedly with code {code}",
                        reason=reason)
            return self._autorestart()
        if state is not WorkerState.STOPPING:
            return []
        if self._hung:
            self._hung = False
            self._ended(WorkerState.EXITED, code, f"hung worker ended with code {code}",
                        reason="heartbeat stale: killed as hung" + (f"; {reason}" if reason
                                                                     else ""))
            return self._autorestart()
        self._ended(WorkerState.STOPPED, code, f"stopped (exit code {code})")
        if self._start_pending:
            return self._spawn(counted=False)
        return []

    def _failed_start(self, code: int | None, why: str, reason: str) -> list[Action]:
        retries = self._status.retries + 1
        if retries > self.spec.startretries:
            message = (f"{why}; gave up after {retries} attempts "
                       f"(startretries={self.spec.startretries}); needs an operator restart")
            self._ended(WorkerState.FATAL, code, message, retries=retries, backoff_until=None,
                        reason=reason)
            return []
        delay = self.spec.backoff_delay(retries)
        self._retry_at = self._clock() + delay
        self._ended(WorkerState.BACKOFF, code, f"{why}; retry in {delay:g}s",
                    retries=retries, backoff_until=self._wall() + delay, reason=reason)
        return []

    # -- time --------------------------------------------------------------------------

    def _on_tick(self, tick: Tick) -> list[Action]:
        state, now = self.state, self._clock()
        if state is WorkerState.STOPPED and self._start_pending:
            return self._spawn(counted=False)
        if state is WorkerState.STARTING:
            if self._spawn_from is None and now - self._spawned_at >= self.spec.startsecs:
                self._set(WorkerState.RUNNING, "running", retries=0)
        elif state is WorkerState.RUNNING:
            return self._check_heartbeat(tick, now)
        elif state is WorkerState.BACKOFF and now >= self._retry_at:
            return self._spawn(counted=True)
        elif state is WorkerState.STOPPING and not self._killed and now >= self._kill_at:
            self._killed = True
            self._set(WorkerState.STOPPING,
                      f"still running {self.spec.stopwaitsecs:g}s after SIGTERM; SIGKILL")
            return [Action.KILL]
        return []

    def _check_heartbeat(self, tick: Tick, now: float) -> list[Action]:
        timeout = self.spec.heartbeat_timeout
        if timeout is None or not tick.heartbeat_known:
            return []
        since_spawn = now - self._spawned_at
        age = since_spawn if tick.heartbeat_age is None else min(tick.heartbeat_age, since_spawn)
        if age <= timeout:
            return []
        actions = self._terminate(f"heartbeat stale ({age:.1f}s > {timeout:g}s); treated as hung")
        self._hung = True
        return actions

    # -- helpers -----------------------------------------------------------------------

    def _spawn(self, counted: bool) -> list[Action]:
        self._spawn_from = self.state
        self._start_pending = False
        self._hung = False
        self._killed = False
        self._spawned_at = self._clock()
        restarts = self._status.restarts + (1 if counted else 0)
        # Published by _on_spawned (with the pid) or replaced by _failed_start.
        self._status = replace(self._status, state=WorkerState.STARTING, pid=None,
                               started_at=self._wall(), restarts=restarts, backoff_until=None,
                               message="starting")
        return [Action.SPAWN]

    def _terminate(self, why: str) -> list[Action]:
        self._killed = False
        self._kill_at = self._clock() + self.spec.stopwaitsecs
        self._set(WorkerState.STOPPING, f"{why}; SIGTERM")
        return [Action.TERMINATE]

    def _autorestart(self) -> list[Action]:
        """After a crash past RUNNING: restart, back off or go FATAL (the crash policy)."""
        if not self.spec.autorestart:
            return []
        limit, window = self.spec.crash_limit, self.spec.crash_window
        if limit <= 0:
            return self._spawn(counted=True)
        now = self._clock()
        self._crashes.append(now)
        while now - self._crashes[0] > window:
            self._crashes.popleft()
        crashes = len(self._crashes)
        if crashes >= limit:
            self._set(WorkerState.FATAL, f"crashed {crashes} times within {window:g}s "
                      f"(crash_limit={limit}); needs an operator restart", backoff_until=None)
            return []
        if crashes == 1:
            return self._spawn(counted=True)
        delay = self.spec.backoff_delay(crashes - 1)
        self._retry_at = now + delay
        self._set(WorkerState.BACKOFF,
                  f"crashed {crashes} times within {window:g}s; restart in {delay:g}s",
                  backoff_until=self._wall() + delay)
        return []

    def _ended(self, state: WorkerState, code: int | None, message: str,
               **changes: Any) -> None:
        self._set(state, message, pid=None, exit_code=code, stopped_at=self._wall(), **changes)

    def _set(self, state: WorkerState, message: str, **changes: Any) -> None:
        old = self._status.state if self._spawn_from is None else self._spawn_from
        self._publish(old, replace(self._status, state=state, message=message, **changes))

    def _publish(self, old: WorkerState, status: WorkerStatus) -> None:
        self._spawn_from = None
        self._status = status
        self._changes.append(Transition(old, status.state, status))
