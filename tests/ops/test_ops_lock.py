"""One supervisor per workspace: the flock'ed pid file."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fxconsole.ops.lock import AlreadyRunning, SupervisorLock
from fxconsole.workspace import Workspace

HOLD = """
import sys, time
from pathlib import Path
from fxconsole.ops.lock import SupervisorLock
SupervisorLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_acquire_writes_the_pid_and_a_second_acquire_names_it(tmp_path: Path) -> None:
    lock = SupervisorLock.for_workspace(Workspace(tmp_path))
    assert lock.path == tmp_path / "data" / "supervisor.lock"
    assert lock.holder() is None
    with lock:
        assert lock.held and lock.path.read_text() == f"{os.getpid()}\n"
        other = SupervisorLock(lock.path)
        with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()} holds") as caught:
            other.acquire()
        assert caught.value.pid == os.getpid() and not other.held
        assert other.holder() == os.getpid()
    assert not lock.held and lock.path.read_text() == ""
    assert SupervisorLock(lock.path).holder() is None
    with SupervisorLock(lock.path) as again:
        assert again.held


def test_a_killed_holder_frees_the_lock_at_once(tmp_path: Path) -> None:
    path = tmp_path / "supervisor.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        with pytest.raises(AlreadyRunning, match=f"pid {holder.pid} holds"):
            SupervisorLock(path).acquire()
        assert SupervisorLock(path).holder() == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with SupervisorLock(path) as lock:
        assert lock.path.read_text() == f"{os.getpid()}\n"


def test_children_do_not_inherit_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "supervisor.lock"
    lock = SupervisorLock(path).acquire()
    child = subprocess.Popen(["sleep", "30"], close_fds=False)
    try:
        lock.release()
        time.sleep(0.05)
        SupervisorLock(path).acquire().release()  # the sleeping child holds nothing
    finally:
        child.kill()
        child.wait()


def test_holder_without_a_pid_yet_reads_minus_one(tmp_path: Path) -> None:
    path = tmp_path / "supervisor.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert SupervisorLock(path).holder() == -1
        with pytest.raises(AlreadyRunning, match="not written its pid"):
            SupervisorLock(path).acquire()
    finally:
        os.close(fd)
