"""What every worker process shares: logging, thread counts, signals, the database,
commands and heartbeats. A worker module in ``workers/`` is only its loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import FrameType
from typing import Any

from fxconsole.config import Config, load_config
from fxconsole.workspace import Workspace

logger = logging.getLogger(__name__)

LOG_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 3
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "NUMBA_NUM_THREADS")

CommandHandler = Callable[[dict[str, Any]], str]
SUPERVISOR_PID_ENV = "FXCONSOLE_SUPERVISOR_PID"
SOURCE_BY_ROLE = {"trainer": "train", "collector": "collect", "live": "live",
                  "validator": "backtest"}


def setup_logging(logs_dir: Path, name: str, level: int = logging.INFO) -> Path:
    """Log to ``data/logs/<name>.log``, rotated at 10 MB (3 kept)."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    path = logs_dir / f"{name}.log"
    handler = RotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return path


@dataclass
class WorkerRuntime:
    """One worker process: identity, settings, database connection, stop flag."""

    name: str
    role: str
    workspace: Workspace
    config: Config
    run: str
    conn: Any = None
    writer: Any = None
    stop: threading.Event = field(default_factory=threading.Event)
    handlers: dict[str, CommandHandler] = field(default_factory=dict)
    last_beat: float = 0.0
    beat_every: float = 1.0

    @classmethod
    def start(cls, name: str, role: str, workspace: Workspace, run: str,
              config_path: Path | None = None) -> WorkerRuntime:
        """Set up logging, threads, signals and the database connection of this process."""
        setup_logging(workspace.logs_dir, name)
        config = load_config(config_path or workspace.config_file)
        rt = cls(name, role, workspace, config, run)
        rt._open_database()
        rt._install_signals()
        rt._set_threads()
        logger.info("worker %s (%s) started, pid %d, run %s", name, role, os.getpid(), run)
        return rt

    def _open_database(self) -> None:
        from fxconsole.ops.db import connect
        from fxconsole.ops.writer import MetricsWriter

        self.conn = connect(self.workspace.console_db)
        self.writer = MetricsWriter(self.conn, self.run, self.name,
                                    source=SOURCE_BY_ROLE.get(self.role, "train"))

    def _install_signals(self) -> None:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            logger.info("signal %d: finishing the current step, then exiting", signum)
            self.stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def _set_threads(self) -> None:
        import numba

        numba.set_num_threads(1)
        if self.role != "trainer":
            # the others decide with numpy actors: importing torch would cost ~180 MB of
            # RSS; should one load it after all, OMP_NUM_THREADS=1 from the pool applies
            return
        try:
            import torch

            torch.set_num_threads(self.config.train.torch_threads)
        except ImportError:  # pragma: no cover - torch is a dependency
            pass

    @contextlib.contextmanager
    def keepalive(self, step: int = 0, info: dict[str, Any] | None = None) -> Iterator[None]:
        """Heartbeats from a thread (its own connection) while the body runs a long call
        that cannot beat itself (a MuZero validation: minutes of search). Commands are
        polled after it, as usual."""
        from fxconsole.ops.db import connect
        from fxconsole.ops.writer import MetricsWriter

        done = threading.Event()

        def beat() -> None:
            conn = connect(self.workspace.console_db)
            writer = MetricsWriter(conn, self.run, self.name,
                                   source=SOURCE_BY_ROLE.get(self.role, "train"))
            try:
                while not done.wait(self.beat_every):
                    writer.heartbeat(step, {**(info or {}), "busy": True})
                    writer.flush()
            finally:
                writer.close()
                conn.close()

        thread = threading.Thread(target=beat, name=f"{self.name}-keepalive", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(10)

    def beat(self, step: int = 0, info: dict[str, Any] | None = None, force: bool = False) -> None:
        """Heartbeat (at most once per ``beat_every`` seconds unless forced), poll commands."""
        now = time.monotonic()
        if not force and now - self.last_beat < self.beat_every:
            return
        self.last_beat = now
        self._check_supervisor()
        self.writer.heartbeat(step, info or {})
        self.writer.flush()
        self.poll_commands()

    def _check_supervisor(self) -> None:
        """Stop if the supervisor that started this worker is gone (e.g. it was kill -9ed):
        a worker never outlives its supervisor."""
        supervisor = os.environ.get(SUPERVISOR_PID_ENV)
        if supervisor and os.getppid() != int(supervisor) and not self.stop.is_set():
            logger.error("supervisor pid %s is gone: stopping", supervisor)
            self.stop.set()

    def poll_commands(self) -> None:
        """Run this worker's pending commands; record each outcome."""
        from fxconsole.ops.commands import claim, finish

        for command in claim(self.conn, self.name):
            handler = self.handlers.get(command.verb)
            if handler is None:
                finish(self.conn, command.id, False, f"{self.name} does not know {command.verb}")
                continue
            try:
                result = handler(command.args)
            except Exception as exc:  # an operator's bad argument must not kill the worker
                logger.exception("command %s %s failed", command.verb, command.args)
                finish(self.conn, command.id, False, str(exc))
            else:
                logger.info("command %s %s: %s", command.verb, command.args, result)
                finish(self.conn, command.id, True, result)

    def sleep(self, seconds: float) -> None:
        """Sleep, waking for heartbeats and commands, until ``seconds`` pass or stop."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            self.beat()
            self.stop.wait(min(0.2, max(0.0, deadline - time.monotonic())))

    def close(self) -> None:
        """Flush and close the database connection."""
        if self.writer is not None:
            self.writer.close()
        if self.conn is not None:
            self.conn.close()
        logger.info("worker %s exiting", self.name)
