"""Worker processes: spawn in a fresh interpreter and a new process group, signal, reap.

Each worker is started with ``subprocess.Popen(..., start_new_session=True)``: a fresh
interpreter (the ``spawn`` start method, nothing inherited from the supervisor but the
environment) that leads its own session and process group, so one signal reaches the
worker and everything it started. Its stdout and stderr are appended to its log file.

Workers die with their supervisor: on Linux each is started with ``PR_SET_PDEATHSIG``
(SIGTERM), so the kernel signals it the moment the supervisor's process ends — also by
``kill -9``, and also while the worker sits in a long call that never reaches its own
check of the supervisor's pid.

Reaping never leaves orphans: when the leader has exited, :meth:`WorkerProcess.poll` first
looks at it without reaping (``waitid(WNOWAIT)``), sends SIGKILL to whatever is left of
its group — while the leader's zombie still pins the group id, so the signal cannot reach
an unrelated process that reused the number — and only then reaps it with ``waitpid``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Protocol

from fxconsole.ops.states import ProgramSpec

logger = logging.getLogger(__name__)


class ProcessHandle(Protocol):
    """What the supervisor needs from a started worker (real or fake)."""

    @property
    def pid(self) -> int:
        """The leader's pid, also its process-group id."""
        ...

    def poll(self) -> int | None:
        """Reap the worker if it has exited and return its exit code, else None."""
        ...

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the worker's whole process group."""
        ...


Launcher = Callable[[ProgramSpec], ProcessHandle]
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _load_prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` on Linux, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl: Callable[..., int] = libc.prctl
        return prctl
    except (OSError, AttributeError):
        logger.warning("prctl is not available: workers will not die with the supervisor "
                       "by PR_SET_PDEATHSIG (they still stop at their next heartbeat)")
        return None


_PRCTL = _load_prctl()  # loaded before any fork: the child only calls it


def parent_death_signal(parent: int, sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``sig`` when ``parent`` dies (Linux's
    ``PR_SET_PDEATHSIG``); None where that does not exist.

    If the parent died between the fork and the call, the child signals itself at once.
    """
    prctl = _PRCTL
    if prctl is None:
        return None

    def preexec() -> None:  # runs in the child between fork and exec: no logging, no locks
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``.

    Returns:
        False if no process of the group exists any more, True otherwise.
    """
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def is_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (works for any process, not just children)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _proc_stat(pid).get("state") not in ("Z", "X", None)


def group_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes whose process group is ``pgid`` (from /proc)."""
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat.get("pgrp") == str(pgid) and stat.get("state") not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def _proc_stat(pid: int) -> dict[str, str]:
    """State and process group of ``pid`` from ``/proc/<pid>/stat`` (empty if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return {}
    fields = text[text.rfind(")") + 2 :].split()  # the command name may contain spaces
    return {"state": fields[0], "pgrp": fields[2]} if len(fields) > 2 else {}


class WorkerProcess:
    """A running worker: the leader of its own process group, reaped by :meth:`poll`."""

    def __init__(self, popen: subprocess.Popen[bytes], name: str) -> None:
        self._popen = popen
        self.name = name
        self.returncode: int | None = None

    @property
    def pid(self) -> int:
        """The leader's pid, equal to the process-group id."""
        return self._popen.pid

    @property
    def pgid(self) -> int:
        """The process-group id (the leader's pid: it started a new session)."""
        return self._popen.pid

    def poll(self) -> int | None:
        """Reap the leader if it has exited, killing what is left of its group first.

        Returns:
            The exit code (-N when killed by signal N), or None while it runs.
        """
        if self.returncode is not None:
            return self.returncode
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped by someone else (a waitpid(-1) elsewhere)
            logger.warning("worker %s (pid %d) was reaped elsewhere; exit code unknown",
                           self.name, self.pid)
            self.returncode = self._popen.returncode if self._popen.returncode is not None else -1
            return self.returncode
        if info is None or info.si_pid == 0:
            return None
        self._kill_leftovers()
        self.returncode = self._popen.wait()  # the zombie is there: returns at once
        return self.returncode

    def _kill_leftovers(self) -> None:
        left = [pid for pid in group_members(self.pgid) if pid != self.pid]
        if left:
            logger.warning("worker %s exited leaving %d process(es) in its group %d: %s; "
                           "SIGKILL", self.name, len(left), self.pgid, left)
            signal_group(self.pgid, signal.SIGKILL)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the worker's process group (nothing if it is already gone)."""
        if self.returncode is None:
            signal_group(self.pgid, sig)

    def wait(self, timeout: float, interval: float = 0.02) -> int | None:
        """Poll until the worker is reaped or ``timeout`` seconds pass; return its code."""
        deadline = time.monotonic() + timeout
        while (code := self.poll()) is None and time.monotonic() < deadline:
            time.sleep(interval)
        return code


def spawn_worker(spec: ProgramSpec) -> WorkerProcess:
    """Start ``spec``'s command as the leader of a new session, output appended to its log.

    Raises:
        OSError: if the command cannot be started (missing executable, log folder not
            writable …).
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env}
    command = list(spec.command())
    with _open_log(spec) as out:
        popen = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=spec.cwd,
            env=env,
            close_fds=True,
            start_new_session=True,
            # the kernel signals the worker when the spawning *thread* ends: spawn from the
            # supervisor loop's thread, which lives as long as the supervisor
            preexec_fn=parent_death_signal(os.getpid()),
        )
    logger.debug("spawned %s pid %d: %s", spec.name, popen.pid, command)
    return WorkerProcess(popen, spec.name)


@contextlib.contextmanager
def _open_log(spec: ProgramSpec) -> Iterator[IO[bytes]]:
    if spec.log_file is None:
        with open(os.devnull, "wb") as devnull:
            yield devnull
        return
    spec.log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(spec.log_file, "ab") as log:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write(f"--- {stamp} supervisor: starting {spec.name}\n".encode())
        log.flush()
        yield log
