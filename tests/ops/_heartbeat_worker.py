"""A worker on the real runtime whose main loop blocks, for the heartbeat-thread tests.

Usage: ``python _heartbeat_worker.py WORKSPACE MODE [SECONDS]`` where MODE is

- ``slow``: every iteration blocks in one call of SECONDS (a long update), then beats;
- ``stuck``: a few normal iterations, then blocks for ever (a hung main loop).

It exits 0 once asked to stop (SIGTERM), after the call it is in returns.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from fxconsole.ops.runtime import WorkerRuntime
from fxconsole.workspace import Workspace


def long_update(seconds: float) -> None:
    time.sleep(seconds)  # a call that cannot beat itself


def stuck_for_ever() -> None:
    while True:
        time.sleep(3600)


def main() -> int:
    root, mode = Path(sys.argv[1]), sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    rt = WorkerRuntime.start("hb", "validator", Workspace(root), "main")
    step = 0
    try:
        while not rt.stop.is_set():
            step += 1
            rt.beat(step, {"mode": mode}, force=True)
            if mode == "slow":
                long_update(seconds)
            elif step > 5:
                stuck_for_ever()
            else:
                time.sleep(0.1)
    finally:
        rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
