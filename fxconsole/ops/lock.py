"""One supervisor per workspace: an ``flock`` on ``data/supervisor.lock`` holding its pid.

The kernel releases an ``flock`` when the last descriptor of the open file goes away, so a
supervisor killed with -9 frees the workspace at once; the pid in the file is only there to
tell a second supervisor (or the console) who holds it. The descriptor is close-on-exec
(Python's default), so workers never inherit the lock. The file itself is never deleted:
deleting a lock file lets two processes lock two different files.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path
from types import TracebackType

from fxconsole.workspace import Workspace

logger = logging.getLogger(__name__)

LOCK_NAME = "supervisor.lock"


HOLDER_CHECK_RETRIES = 20


class AlreadyRunning(RuntimeError):
    """Another process holds the workspace's supervisor lock."""

    def __init__(self, path: Path, pid: int | None) -> None:
        holder = f"pid {pid}" if pid is not None else "a process that has not written its pid"
        super().__init__(f"a supervisor is already running for this workspace: {holder} "
                         f"holds {path}")
        self.path = path
        self.pid = pid


class SupervisorLock:
    """An exclusive, non-blocking ``flock`` on a file that names its holder's pid.

    Use as a context manager, or call :meth:`acquire` and :meth:`release`.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @classmethod
    def for_workspace(cls, workspace: Workspace) -> SupervisorLock:
        """The lock of ``workspace`` (``data/supervisor.lock``)."""
        return cls(workspace.data_dir / LOCK_NAME)

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> SupervisorLock:
        """Take the lock and write this process's pid into the file.

        Raises:
            AlreadyRunning: if another process (or another lock object) holds it; its
                message names the holder's pid.
        """
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        for attempt in range(HOLDER_CHECK_RETRIES + 1):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pid = _read_pid(fd)
                # No pid: most likely a `holder()` check (status, monitor.sh) holding a
                # shared lock for an instant, not a supervisor: try again shortly.
                if pid is None and attempt < HOLDER_CHECK_RETRIES:
                    time.sleep(0.05)
                    continue
                os.close(fd)
                raise AlreadyRunning(self.path, pid) from None
            except BaseException:
                os.close(fd)
                raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        logger.debug("supervisor lock %s taken by pid %d", self.path, os.getpid())
        return self

    def release(self) -> None:
        """Clear the pid and release the lock (nothing if it is not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the only descriptor releases the flock

    def holder(self) -> int | None:
        """The pid of the process holding the lock, or None when nobody holds it.

        A holder that has not written its pid yet reads as ``-1``.
        """
        if self._fd is not None:
            return os.getpid()
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            return -1 if pid is None else pid
        finally:
            os.close(fd)
        return None

    def recorded_pid(self) -> int | None:
        """The pid written in the file, whether or not anybody holds the lock: after a
        supervisor was killed with -9 it still names the dead holder (a clean release
        clears it). None if the file is missing or empty."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            return _read_pid(fd)
        finally:
            os.close(fd)

    def still_ours(self) -> bool:
        """True while this object holds the lock on the file that is at :attr:`path` now
        (False once the file, or the workspace around it, was deleted or replaced)."""
        if self._fd is None:
            return False
        try:
            now, held = os.stat(self.path), os.fstat(self._fd)
            return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)
        except OSError:
            return False

    def __enter__(self) -> SupervisorLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None
