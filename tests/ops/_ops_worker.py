"""A tiny stand-in worker for the supervisor's real-process tests (stdlib only, fast start).

Usage: ``python _ops_worker.py MODE HEARTBEAT_FILE [PID_FILE]`` where MODE is

- ``loop``: touch the heartbeat file every 50 ms; exit 0 on SIGTERM;
- ``crash``: print a line and exit 1 at once;
- ``hang``: beat for 0.3 s, then stop beating (and never exit by itself);
- ``stubborn``: like ``loop`` but ignore SIGTERM;
- ``grandchild``: like ``loop``, after starting ``sleep 300`` and a ``sleep 300`` that
  ignores SIGTERM, whose pids go to PID_FILE.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def beat(path: Path) -> None:
    path.touch()


def main() -> int:
    mode, heartbeat = sys.argv[1], Path(sys.argv[2])
    print(f"worker {mode} pid {os.getpid()} pgid {os.getpgid(0)}", flush=True)
    if mode == "crash":
        print("crashing at start", file=sys.stderr, flush=True)
        return 1
    signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "stubborn" else _exit_0)
    if mode == "grandchild":
        plain = subprocess.Popen(["sleep", "300"])
        deaf = subprocess.Popen(["sh", "-c", "trap '' TERM; exec sleep 300"])
        Path(sys.argv[3]).write_text(f"{plain.pid} {deaf.pid}\n")
    started = time.monotonic()
    while True:
        if mode != "hang" or time.monotonic() - started < 0.3:
            beat(heartbeat)
        time.sleep(0.05)


def _exit_0(signum: int, frame: object) -> None:
    print("SIGTERM: exiting 0", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    sys.exit(main())
