"""What every worker process shares: logging, thread counts, signals, the database,
commands and heartbeats. A worker module in ``workers/`` is only its loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import FrameType
from typing import Any

from fxconsole.config import Config, load_config
from fxconsole.ops.heartbeat import HeartbeatThread, Progress, stall_limit
from fxconsole.workspace import Workspace

logger = logging.getLogger(__name__)

BEAT_SECONDS = 1.0  # between heartbeats (at most a fifth of supervisor.heartbeat_timeout)
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


class Reply:
    """A command its handler finishes later (e.g. checkpoint-now, after the save).

    A deferred handler (``WorkerRuntime.deferred``) receives it, keeps it, and calls
    :meth:`done` or :meth:`fail` once, from the main thread. A reply still open when the
    worker exits fails with "worker stopped before it finished".
    """

    def __init__(self, command_id: int, verb: str, args: dict[str, Any],
                 finish: Callable[[Reply, bool, str], None]) -> None:
        self.command_id, self.verb, self.args = command_id, verb, args
        self._finish = finish
        self.finished = False

    def done(self, result: str) -> None:
        """The command succeeded with ``result``."""
        self._end(True, result)

    def fail(self, error: str) -> None:
        """The command failed with ``error``."""
        self._end(False, error)

    def _end(self, ok: bool, text: str) -> None:
        if not self.finished:
            self.finished = True
            self._finish(self, ok, text)


DeferredHandler = Callable[[Reply], None]


@dataclass
class WorkerRuntime:
    """One worker process: identity, settings, database connection, stop flag.

    Heartbeats come from a :class:`~fxconsole.ops.heartbeat.HeartbeatThread` (its own
    connection); :meth:`beat` stamps the main loop's progress, flushes and polls commands.
    """

    name: str
    role: str
    workspace: Workspace
    config: Config
    run: str
    conn: Any = None
    writer: Any = None
    stop: threading.Event = field(default_factory=threading.Event)
    handlers: dict[str, CommandHandler] = field(default_factory=dict)
    deferred: dict[str, DeferredHandler] = field(default_factory=dict)
    last_beat: float = 0.0
    beat_every: float = BEAT_SECONDS
    progress: Progress = field(default_factory=Progress)
    heartbeats: HeartbeatThread | None = None
    _open_replies: dict[int, Reply] = field(default_factory=dict)

    @classmethod
    def start(cls, name: str, role: str, workspace: Workspace, run: str,
              config_path: Path | None = None) -> WorkerRuntime:
        """Set up logging, threads, signals, the database connection and the heartbeat
        thread of this process."""
        setup_logging(workspace.logs_dir, name)
        config = load_config(config_path or workspace.config_file)
        rt = cls(name, role, workspace, config, run,
                 beat_every=min(BEAT_SECONDS, config.supervisor.heartbeat_timeout / 5))
        rt._open_database()
        rt._install_signals()
        rt._set_threads()
        rt.start_heartbeats()
        logger.info("worker %s (%s) started, pid %d, run %s", name, role, os.getpid(), run)
        return rt

    def start_heartbeats(self) -> None:
        """Start the heartbeat thread (stall limit from ``supervisor.heartbeat_timeout``)."""
        limit = stall_limit(self.config.supervisor.heartbeat_timeout)
        self.heartbeats = HeartbeatThread(self.workspace.console_db, self.name, self.progress,
                                          self.beat_every, limit,
                                          on_beat=self._check_supervisor).start()

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
        """Declare the body a long call on purpose (a MuZero validation: minutes of
        search): the heartbeats go on with ``busy`` set and the stall rule is suspended
        until it returns. Commands are polled after it, as usual."""
        self.progress.mark(step, info)
        self.progress.exempt += 1
        try:
            yield
        finally:
            self.progress.exempt -= 1
            self.progress.mark(step, info)

    def beat(self, step: int = 0, info: dict[str, Any] | None = None, force: bool = False) -> None:
        """Stamp the main loop's progress; at most once per ``beat_every`` seconds (unless
        forced) flush the writer and poll commands. The heartbeat row itself is the
        heartbeat thread's."""
        self.progress.mark(step, info)
        now = time.monotonic()
        if not force and now - self.last_beat < self.beat_every:
            return
        self.last_beat = now
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
        """Run this worker's pending commands; record each outcome (a deferred handler's
        when it calls its :class:`Reply`)."""
        from fxconsole.ops.commands import claim, finish

        for command in claim(self.conn, self.name):
            deferred = self.deferred.get(command.verb)
            handler = self.handlers.get(command.verb)
            if deferred is None and handler is None:
                finish(self.conn, command.id, False, f"{self.name} does not know {command.verb}")
                continue
            reply = Reply(command.id, command.verb, command.args, self._finish_reply)
            try:
                if deferred is not None:
                    self._open_replies[command.id] = reply
                    deferred(reply)
                elif handler is not None:
                    reply.done(handler(command.args))
            except Exception as exc:  # an operator's bad argument must not kill the worker
                logger.exception("command %s %s failed", command.verb, command.args)
                reply.fail(str(exc))

    def _finish_reply(self, reply: Reply, ok: bool, text: str) -> None:
        from fxconsole.ops.commands import finish

        self._open_replies.pop(reply.command_id, None)
        if ok:
            logger.info("command %s %s: %s", reply.verb, reply.args, text)
        try:
            finish(self.conn, reply.command_id, ok, text)
        except ValueError as exc:  # e.g. a restarted supervisor failed it meanwhile
            logger.warning("command %d %s: %s", reply.command_id, reply.verb, exc)

    def sleep(self, seconds: float) -> None:
        """Sleep, waking for heartbeats and commands, until ``seconds`` pass or stop."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            self.beat()
            self.stop.wait(min(0.2, max(0.0, deadline - time.monotonic())))

    def close(self) -> None:
        """Fail the commands still open, stop beating, flush and close the connection."""
        for reply in list(self._open_replies.values()):
            try:
                reply.fail(f"{self.name} stopped before it finished {reply.verb}")
            except sqlite3.Error:
                logger.exception("cannot record the outcome of command %d", reply.command_id)
        if self.heartbeats is not None:
            self.heartbeats.stop()
        if self.writer is not None:
            self.writer.close()
        if self.conn is not None:
            self.conn.close()
        logger.info("worker %s exiting", self.name)
