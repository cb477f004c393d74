"""The worker pool of one workspace: the supervisor wired to the console database.

Owns the supervisor lock, spawns trainer, collectors, validator and live as
``python -m workers ROLE``, mirrors every state change into the ``workers`` table, feeds
heartbeats from SQLite back to the supervisor, executes lifecycle commands, and raises
alerts as events.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.manifest import validate_run_name
from fxconsole.config import Config, config_record
from fxconsole.ops import commands as cmd
from fxconsole.ops.alerts import ALERT_KEYS, AlertTracker, active_alerts
from fxconsole.ops.config_watch import ConfigWatch, write_running_config
from fxconsole.ops.db import connect, transaction
from fxconsole.ops.exitcodes import FATAL_EXIT_CODES
from fxconsole.ops.housekeeping import Housekeeper
from fxconsole.ops.lifecycle_wait import WAITED_VERBS, LifecycleWait, wait_limit
from fxconsole.ops.lock import SupervisorLock
from fxconsole.ops.notifier import start_notifier
from fxconsole.ops.queries import latest_metrics
from fxconsole.ops.registry import sync_checkpoints, upsert_run
from fxconsole.ops.runtime import SUPERVISOR_PID_ENV, THREAD_VARS
from fxconsole.ops.states import ProgramSpec, WorkerState, WorkerStatus
from fxconsole.ops.supervisor import Supervisor
from fxconsole.sqlitetx import dumps_json
from fxconsole.workspace import Workspace

logger = logging.getLogger(__name__)

ALERT_SECONDS = 10.0
COMMAND_SECONDS = 0.5
REGISTRY_SECONDS = 5.0
WORKSPACE_SECONDS = 3.0  # how often the supervisor checks its workspace still exists


CLUSTER = "cluster"  # the Ray driver's worker name (cluster.backend = "ray")
CLUSTER_STOPWAIT = 30.0  # seconds the driver gets to stop its actors and Ray


def fallback_names(cfg: Config) -> list[str]:
    """The local collectors started when the cluster's head is lost
    (``cluster.fallback_local``): ``local-collector-N``, apart from the actors' names."""
    if cfg.cluster.backend != "ray" or not cfg.cluster.fallback_local:
        return []
    return [f"local-collector-{i + 1}" for i in range(cfg.supervisor.collectors)]


def program_specs(cfg: Config, ws: Workspace, run: str,
                  config_path: Path | None = None) -> list[ProgramSpec]:
    """One spec per worker: trainer, collector-1…N, validator, tuner, live (as configured).

    Workers read the same config file as the supervisor (``config_path``, default the
    workspace's) and start with one BLAS/OpenMP/numba thread.
    """
    s = cfg.supervisor
    names = [("trainer", "trainer")]
    if cfg.cluster.backend == "ray":  # collectors are Ray actors of the cluster worker
        names.append((CLUSTER, "cluster"))
        names += [(name, "collector") for name in fallback_names(cfg)]
    else:
        names += [(f"collector-{i + 1}", "collector") for i in range(s.collectors)]
    if s.validator and not (cfg.cluster.backend == "ray" and cfg.cluster.validators):
        names.append(("validator", "validator"))  # else validator actors of the driver
    if s.tuner:
        names.append(("tuner", "tuner"))
    if s.live:
        names.append(("live", "live"))
    return [
        ProgramSpec(
            name=name, role=role,
            argv=(sys.executable, "-m", "workers", role, "--workspace", str(ws.root),
                  "--name", name, "--run", run,
                  "--config", str(config_path or ws.config_file)),
            startsecs=s.startsecs, startretries=s.startretries,
            # the Ray driver stops its actors (and a private cluster) before it exits
            stopwaitsecs=max(s.stopwaitsecs, CLUSTER_STOPWAIT) if role == "cluster"
            else s.stopwaitsecs,
            heartbeat_timeout=s.heartbeat_timeout, log_file=ws.logs_dir / f"{name}.out",
            crash_limit=s.crash_limit, crash_window=s.crash_window,
            fatal_exit_codes=FATAL_EXIT_CODES, cwd=ws.root,
            env={SUPERVISOR_PID_ENV: str(os.getpid()), **dict.fromkeys(THREAD_VARS, "1")},
        )
        for name, role in names
    ]


@dataclass
class Pool:
    """A running pool: call :meth:`step` several times a second, :meth:`close` at the end."""

    cfg: Config
    ws: Workspace
    run: str
    config_path: Path | None = None
    clock: Callable[[], float] = time.monotonic
    conn: sqlite3.Connection = field(init=False)
    supervisor: Supervisor = field(init=False)
    lock: SupervisorLock = field(init=False)
    alerts: AlertTracker = field(default_factory=AlertTracker)
    _beats: dict[str, float] = field(default_factory=dict)
    _next_commands: float = 0.0
    _next_alerts: float = 0.0
    _next_registry: float = 0.0
    _next_workspace: float = 0.0
    _waits: list[LifecycleWait] = field(default_factory=list)  # start/restart not yet back
    stop_reason: str | None = None  # set when the supervisor must stop (workspace gone)
    _fallback_due: bool = False  # the cluster driver exited: start the local collectors
    _fell_back: bool = False

    def __post_init__(self) -> None:
        self.ws.ensure()
        validate_run_name(self.run)
        self.lock = SupervisorLock.for_workspace(self.ws).acquire()
        try:
            self._open()
        except BaseException:
            self.lock.release()
            raise

    def _open(self) -> None:
        self.conn = connect(self.ws.console_db)
        source = self.config_path or self.ws.config_file
        self._config_watch = ConfigWatch(source)
        # workers (also those restarted later) get the config this supervisor loaded
        running = write_running_config(self.cfg, self.ws.data_dir)
        specs = program_specs(self.cfg, self.ws, self.run, running)
        self._roles = {spec.name: spec.role for spec in specs}
        self._timeouts = {spec.name: spec.heartbeat_timeout for spec in specs}
        with transaction(self.conn):  # forget workers and commands of an earlier supervisor
            self.conn.execute("DELETE FROM workers")
            self.conn.execute(
                "UPDATE commands SET state = 'failed', result = 'supervisor restarted before "
                "it ran', updated = ? WHERE state IN ('pending', 'running')", (time.time(),))
        self.supervisor = Supervisor(specs, clock=self.clock, heartbeats=self._heartbeat,
                                     on_change=self._on_change)
        upsert_run(self.conn, self.run, "ppo", config_record(self.cfg))
        with transaction(self.conn):  # the run this supervisor follows is the active one
            self.conn.execute("UPDATE runs SET state = 'inactive' WHERE name != ?", (self.run,))
        self.housekeeper = Housekeeper(  # bounded stores (issue 16): before workers start
            self.conn, self.cfg.ops, self.ws.checkpoints_dir,
            [*(s.log_file for s in specs if s.log_file), self.ws.logs_dir / "supervisor.log"],
            clock=self.clock)
        self.notifier = start_notifier(self.cfg.notify, self.ws, self.run)  # webhook thread

    def start(self) -> None:
        """Start every worker (not the fallback collectors: they wait for a lost head)."""
        fallback = set(fallback_names(self.cfg))
        if not fallback:
            self.supervisor.start(cmd.ALL_WORKERS)
            return
        for name in self._roles:
            if name not in fallback:
                self.supervisor.start(name)

    def step(self) -> None:
        """One supervision pass: heartbeats, lifecycle, commands, alerts.

        A failing database read or write is logged and retried next pass: the supervisor
        must outlive a locked database or a full disk.
        """
        try:
            self._step()
        except (sqlite3.Error, OSError, ValueError):
            logger.exception("supervision pass failed; retrying")

    def _step(self) -> None:
        self._beats = dict(self.conn.execute("SELECT worker, ts FROM heartbeats").fetchall())
        self.supervisor.tick()
        if self._fallback_due:
            self._fall_back()
        now = self.clock()
        if now >= self._next_commands:
            self._next_commands = now + COMMAND_SECONDS
            self._run_commands()
        if now >= self._next_alerts:
            self._next_alerts = now + ALERT_SECONDS
            self._check_alerts()
        if now >= self._next_registry:
            self._next_registry = now + REGISTRY_SECONDS
            self._sync_registry()
            self._check_config()
        if now >= self._next_workspace:
            self._next_workspace = now + WORKSPACE_SECONDS
            self._check_workspace()
        self.housekeeper.tick()

    def close(self, timeout: float | None = None) -> None:
        """Stop every worker (SIGTERM, then SIGKILL), release the lock."""
        try:
            self._abandon_waits()
            self.supervisor.shutdown(timeout)
        finally:
            if self.notifier is not None:
                self.notifier.close()
            self.conn.close()
            self.lock.release()

    def _check_config(self) -> None:
        change = self._config_watch.poll()
        if change is not None:
            level, message = change
            logger.log(logging.WARNING if level == "warning" else logging.INFO, "%s", message)
            with transaction(self.conn):
                self._event(level, "config-invalid" if level == "warning" else "config-changed",
                            message)

    def _check_workspace(self) -> None:
        """Ask the loop to stop once the workspace folder (its lock file) is gone."""
        if self.stop_reason is None and not self.lock.still_ours():
            self.stop_reason = (f"the workspace {self.ws.root} (its lock file {self.lock.path}) "
                                "was deleted or replaced")
            logger.error("%s: stopping every worker and the supervisor", self.stop_reason)

    def _heartbeat(self, name: str) -> float | None:
        return self._beats.get(name)

    def _on_change(self, status: WorkerStatus) -> None:
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO workers (name, role, state, pid, started, stopped, restarts,"
                " exit_code, heartbeat_timeout, message, reason, updated)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(name) DO UPDATE SET state=excluded.state, pid=excluded.pid,"
                " started=excluded.started, stopped=excluded.stopped,"
                " restarts=excluded.restarts, exit_code=excluded.exit_code,"
                " message=excluded.message, reason=excluded.reason, updated=excluded.updated",
                (status.name, self._roles[status.name], str(status.state), status.pid,
                 status.started_at, status.stopped_at, status.restarts, status.exit_code,
                 self._timeouts[status.name], status.message, status.reason, time.time()),
            )
            why = f": {status.reason}" if status.reason else ""
            if (status.name == CLUSTER and status.exit_code not in (0, None)
                    and status.state in (WorkerState.EXITED, WorkerState.BACKOFF,
                                         WorkerState.FATAL)):
                self._fallback_due = not self._fell_back and bool(fallback_names(self.cfg))
            if status.state == WorkerState.EXITED and status.exit_code not in (0, None):
                self._event("warning", "worker-exited",
                            f"{status.name} exited with {status.exit_code}{why}",
                            {"exit_code": status.exit_code, "reason": status.reason})
            elif status.state == WorkerState.FATAL:
                self._event("error", "worker-fatal",
                            f"{status.name} is FATAL: {status.message or 'gave up restarting'}"
                            f"{why}", {"exit_code": status.exit_code, "reason": status.reason})
            elif (status.state == WorkerState.STOPPING
                  and status.message.startswith("heartbeat stale")):
                self._event("warning", "heartbeat-gap", f"{status.name}: {status.message}")

    def _fall_back(self) -> None:
        """The cluster driver exited with an error (its head lost): start the local
        collectors once (``cluster.fallback_local``); the driver is restarted as usual."""
        self._fallback_due, self._fell_back = False, True
        names = fallback_names(self.cfg)
        for name in names:
            self.supervisor.start(name)
        logger.warning("cluster driver down: falling back to %d local collector(s)", len(names))
        with transaction(self.conn):
            self._event("warning", "cluster-fallback",
                        f"the cluster driver exited: started {', '.join(names)} locally",
                        {"workers": names})

    def _forward_to_cluster(self, command: cmd.Command, worker: str) -> bool:
        """A restart of a Ray actor (a row the cluster driver keeps) goes to the driver."""
        if (command.verb != "restart" or worker in self._roles or CLUSTER not in self._roles
                or worker == cmd.ALL_WORKERS):
            return False
        row = self.conn.execute("SELECT message FROM workers WHERE name = ?",
                                (worker,)).fetchone()
        if row is None:
            return False
        forwarded = cmd.enqueue(self.conn, CLUSTER, "restart-actor", {"worker": worker},
                                issued_by=command.issued_by or cmd.SUPERVISOR)
        cmd.finish(self.conn, command.id, True,
                   f"restart {worker}: a Ray actor, asked the cluster driver (command "
                   f"{forwarded})")
        return True

    def _event(self, level: str, kind: str, message: str,
               data: dict[str, object] | None = None) -> None:
        self.conn.execute(
            "INSERT INTO events (ts, level, source, kind, message, data) VALUES (?,?,?,?,?,?)",
            (time.time(), level, cmd.SUPERVISOR, kind, message, dumps_json(data or {})),
        )

    def _run_commands(self) -> None:
        for command in cmd.claim(self.conn, cmd.SUPERVISOR):
            worker = str(command.args.get("worker", cmd.ALL_WORKERS))
            if self._forward_to_cluster(command, worker):
                continue
            try:
                before = [self.supervisor.status(w) for w in self._names(worker)]
                getattr(self.supervisor, command.verb)(worker)
            except (ValueError, KeyError, RuntimeError) as exc:
                cmd.finish(self.conn, command.id, False, str(exc))
            else:
                if command.verb in WAITED_VERBS:  # done once the worker is RUNNING again
                    s = self.cfg.supervisor
                    self._waits.append(LifecycleWait.taken(
                        command.id, command.verb, worker, before, self.clock(),
                        wait_limit(s.stopwaitsecs, s.startsecs, s.startretries)))
                else:
                    cmd.finish(self.conn, command.id, True, f"{command.verb} {worker}: requested")
        self._finish_waits()

    def _names(self, worker: str) -> list[str]:
        """The workers a lifecycle command names (``all``: every one)."""
        return list(self._roles) if worker == cmd.ALL_WORKERS else [worker]

    def _finish_waits(self) -> None:
        """Finish the start/restart commands whose workers are back (or will not be)."""
        if not self._waits:
            return
        statuses = {s.name: s for s in self.supervisor.statuses()}
        now, open_waits = self.clock(), []
        for wait in self._waits:
            outcome = wait.outcome(statuses, now)
            if outcome is None:
                open_waits.append(wait)
                continue
            try:
                cmd.finish(self.conn, wait.command_id, *outcome)
            except ValueError:  # finished elsewhere (a new supervisor failed it)
                logger.warning("command %d had already finished", wait.command_id)
        self._waits = open_waits

    def _abandon_waits(self) -> None:
        """Fail the start/restart commands still waiting when the supervisor stops."""
        for wait in self._waits:
            try:
                cmd.finish(self.conn, wait.command_id, False,
                           f"{wait.verb} {wait.target}: the supervisor stopped first")
            except (ValueError, sqlite3.Error):
                logger.warning("could not fail command %d", wait.command_id)
        self._waits = []

    def _sync_registry(self) -> None:
        """Mirror the run folder's manifests into the checkpoints table (the UI's list)."""
        run_dir = self.ws.checkpoints_dir / self.run
        if run_dir.is_dir():
            sync_checkpoints(self.conn, self.run, RunCheckpoints(run_dir).list(), run_dir)

    def _check_alerts(self) -> None:
        latest = latest_metrics(self.conn, self.run, list(ALERT_KEYS))
        values = {k: v.value for k, v in latest.items() if v.value is not None}
        raised, cleared = self.alerts.update(active_alerts(values, self.cfg.alerts))
        if not raised and not cleared:
            return
        with transaction(self.conn):
            for kind, message in raised.items():
                self._event("warning", kind, message)
            for kind in cleared:
                self._event("info", kind, f"{kind} cleared")
