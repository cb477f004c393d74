"""Runs a real :class:`Supervisor` in the foreground for the SIGTERM test and the idle bench.

Usage: ``python _ops_supervisor_main.py WORKDIR MODE[,MODE...]``: one worker per mode
(see ``_ops_worker.py``); every status change is written to WORKDIR/status.json.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from dataclasses import asdict
from pathlib import Path

from fxconsole.ops.states import ProgramSpec, WorkerStatus
from fxconsole.ops.supervisor import Supervisor

WORKER = Path(__file__).with_name("_ops_worker.py")


def main() -> None:
    workdir, modes = Path(sys.argv[1]), sys.argv[2].split(",")
    logging.basicConfig(filename=workdir / "supervisor.log", level=logging.INFO)
    specs = [
        ProgramSpec(
            name=f"w{i}", role=mode,
            argv=(sys.executable, str(WORKER), mode, str(workdir / f"w{i}.hb"),
                  str(workdir / f"w{i}.pids")),
            startsecs=0.3, stopwaitsecs=0.5, heartbeat_timeout=5.0,
            log_file=workdir / "logs" / f"w{i}.log",
        )
        for i, mode in enumerate(modes)
    ]
    statuses: dict[str, dict[str, object]] = {}

    def on_change(status: WorkerStatus) -> None:
        statuses[status.name] = asdict(status)
        tmp = workdir / "status.json.tmp"
        tmp.write_text(json.dumps({"supervisor": os.getpid(), "workers": statuses}))
        tmp.replace(workdir / "status.json")

    def heartbeats(name: str) -> float | None:
        try:
            return (workdir / f"{name}.hb").stat().st_mtime
        except FileNotFoundError:
            return None

    Supervisor(specs, heartbeats=heartbeats, on_change=on_change).run_forever(
        threading.Event(), tick_seconds=0.2)


if __name__ == "__main__":
    main()
