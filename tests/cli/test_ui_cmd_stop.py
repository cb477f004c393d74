"""Stopping a supervisor from the console's CLI, whether or not this process started it."""

from __future__ import annotations

import subprocess
import sys
import time

from fxconsole.cli.ui_cmd import stop_supervisor


def test_a_supervisor_we_started_is_reaped_not_waited_for_until_the_timeout() -> None:
    # our own child: once it exits on SIGTERM it is a zombie until reaped, which signal 0
    # still finds; stop_supervisor must reap it and return at once
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = time.monotonic()
    stop_supervisor(child.pid)
    assert time.monotonic() - started < 5.0
    assert child.poll() is not None  # gone, exit status collected


def test_a_supervisor_started_elsewhere_is_waited_for() -> None:
    # a grandchild (the shell's child) is not ours to reap; it still has to be seen going
    shell = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', "
         "'import time; time.sleep(60)']); print(p.pid, flush=True); p.wait()"],
        stdout=subprocess.PIPE, text=True)
    assert shell.stdout is not None
    pid = int(shell.stdout.readline())
    stop_supervisor(pid)
    assert shell.wait(timeout=10) == 0
