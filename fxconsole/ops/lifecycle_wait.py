"""When a lifecycle command (``ctl start``/``restart``) is really done.

The supervisor acts on ``restart trainer`` at once (SIGTERM, then a new process), but the
worker is back only once the new process has stayed up for ``startsecs`` and reached
RUNNING. :class:`LifecycleWait` holds a command open until then, and answers failed
with the reason when the worker instead ends FATAL or is still not RUNNING by a deadline.

Pure: it is fed :class:`~fxconsole.ops.states.WorkerStatus` snapshots and a clock value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fxconsole.ops.states import WorkerState, WorkerStatus

WAITED_VERBS = ("start", "restart")
"""Verbs whose command stays running until the worker is RUNNING (again)."""


@dataclass(frozen=True)
class LifecycleWait:
    """One open start/restart command and the workers it waits for.

    Attributes:
        command_id: The command to finish.
        verb: ``start`` or ``restart``.
        target: What the operator named (a worker or ``all``), for the result text.
        before: ``worker → its start time when the command was taken`` (``None``: not
            started then). A restart is back when the worker runs with another start time.
        deadline: Clock value after which the command fails.
    """

    command_id: int
    verb: str
    target: str
    before: dict[str, float | None]
    deadline: float

    @classmethod
    def taken(cls, command_id: int, verb: str, target: str, statuses: Iterable[WorkerStatus],
              now: float, limit: float) -> LifecycleWait:
        """The wait of a command just handed to the supervisor.

        Args:
            command_id: The command's id.
            verb: ``start`` or ``restart``.
            target: The worker name or ``all``.
            statuses: The selected workers' statuses *before* the command was applied.
            now: The current clock value.
            limit: Seconds to wait at most.

        Returns:
            The wait.
        """
        return cls(command_id, verb, target, {s.name: s.started_at for s in statuses},
                   now + limit)

    def outcome(self, statuses: dict[str, WorkerStatus], now: float) -> tuple[bool, str] | None:
        """``(ok, result)`` once the command is finished, else ``None`` (still waiting).

        Args:
            statuses: ``worker → its current status`` (at least the waited workers).
            now: The current clock value.

        Returns:
            ``(True, "restart trainer: RUNNING (pid 12)")`` when every worker is back,
            ``(False, why)`` when one is FATAL or the deadline passed, else ``None``.
        """
        current = [statuses[name] for name in self.before if name in statuses]
        fatal = [s for s in current if s.state is WorkerState.FATAL]
        if fatal:
            return False, f"{self.verb} {self.target}: " + "; ".join(
                f"{s.name} is FATAL" + (f": {s.reason or s.message}" if s.reason or s.message
                                        else "") for s in fatal)
        waiting = [s for s in current if not self._back(s)]
        if not waiting:
            pids = ", ".join(f"{s.name} pid {s.pid}" for s in current)
            return True, f"{self.verb} {self.target}: RUNNING ({pids})"
        if now >= self.deadline:
            return False, f"{self.verb} {self.target}: not RUNNING in time (" + "; ".join(
                f"{s.name} {s.state}" + (f": {s.message}" if s.message else "")
                for s in waiting) + ")"
        return None

    def _back(self, status: WorkerStatus) -> bool:
        """Whether a worker is RUNNING in the sense of this command."""
        if status.state is not WorkerState.RUNNING:
            return False
        if self.verb == "restart":
            return status.started_at != self.before.get(status.name)
        return True


def wait_limit(stopwaitsecs: float, startsecs: float, startretries: int) -> float:
    """Seconds a start/restart may take: the stop, every allowed start attempt, a margin.

    Args:
        stopwaitsecs: Time a worker has to stop before SIGKILL.
        startsecs: Time a new process must stay up to count as RUNNING.
        startretries: Failed starts allowed before FATAL.

    Returns:
        The limit in seconds.
    """
    return stopwaitsecs + (startretries + 1) * (startsecs + 5.0) + 5.0
