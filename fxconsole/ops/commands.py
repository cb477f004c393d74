"""Operator commands: rows of the ``commands`` table, also the audit trail (DESIGN.md).

A command goes ``pending`` → ``running`` (claimed by its target) → ``done`` | ``failed``
with a result text. A worker finishes a command when its effect is done, which may be
later than the claim: checkpoint-now is finished after the save, naming the checkpoint
(``fxconsole.ops.runtime.Reply``). Targets are worker names (``trainer``, ``collector-1``,
``live``…) or ``supervisor``; a worker claims the commands addressed to its own name. What
a target accepts depends on its role (the ``workers`` table's role, else the name without
a trailing ``-N``): see :data:`ALLOWED_VERBS`. The supervisor's lifecycle verbs take
``{"worker": NAME}`` where NAME may be ``"all"``. Live's ``deploy`` takes
``{"checkpoint": SPEC}`` and optionally ``"force": true`` (deploy to an OANDA account a
checkpoint that is not validated: :mod:`fxconsole.ops.deploy_gate`); the row keeps it.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fxconsole.ops.db import transaction
from fxconsole.sqlitetx import dumps_json

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
FINISHED = (DONE, FAILED)
SUPERVISOR = "supervisor"
ALL_WORKERS = "all"

# role → verb → required argument names
ALLOWED_VERBS: dict[str, dict[str, tuple[str, ...]]] = {
    SUPERVISOR: {"start": ("worker",), "stop": ("worker",), "restart": ("worker",)},
    "trainer": {"checkpoint-now": (), "pause": (), "resume": (), "rollback-to": ("checkpoint",)},
    "validator": {"validate": ("checkpoint",)},
    "live": {"deploy": ("checkpoint",), "pause-entries": (), "resume-entries": (),
             "kill-switch": (), "flatten": ()},
    "cluster": {"restart-actor": ("worker",)},  # the Ray driver (issue 15)
}
COLUMNS = "id, created, target, verb, args, state, result, updated, issued_by"
_INDEX_SUFFIX = re.compile(r"[-_]?\d+$")


@dataclass(frozen=True)
class Command:
    """One command row."""

    id: int
    created: float
    target: str
    verb: str
    args: dict[str, Any]
    state: str
    result: str
    updated: float
    issued_by: str

    @property
    def finished(self) -> bool:
        """True once done or failed."""
        return self.state in FINISHED

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Command:
        """Build from a ``SELECT {COLUMNS}`` row."""
        id_, created, target, verb, args, state, result, updated, issued_by = row
        return cls(id_, created, target, verb, json.loads(args), state, result, updated,
                   issued_by)


def role_of(conn: sqlite3.Connection, target: str) -> str:
    """The role of a target: its ``workers`` row's role, else its name without ``-N``."""
    if target == SUPERVISOR:
        return SUPERVISOR
    row = conn.execute("SELECT role FROM workers WHERE name = ?", (target,)).fetchone()
    return str(row[0]) if row else _INDEX_SUFFIX.sub("", target)


def check_command(role: str, target: str, verb: str, args: Mapping[str, Any]) -> None:
    """Check a verb and its arguments against :data:`ALLOWED_VERBS` (pure).

    Raises:
        ValueError: naming the verb, the target and what is allowed.
    """
    verbs = ALLOWED_VERBS.get(role)
    if verbs is None:
        raise ValueError(
            f"verb {verb!r} is not allowed for target {target!r}: role {role!r} accepts no "
            f"commands (targets with commands: {', '.join(ALLOWED_VERBS)})"
        )
    if verb not in verbs:
        raise ValueError(
            f"verb {verb!r} is not allowed for target {target!r} (role {role}); "
            f"allowed: {', '.join(verbs)}"
        )
    missing = [name for name in verbs[verb] if not args.get(name)]
    if missing:
        raise ValueError(f"{verb} for {target!r} needs argument(s) {', '.join(missing)}")


def enqueue(
    conn: sqlite3.Connection, target: str, verb: str, args: Mapping[str, Any] | None = None,
    issued_by: str = "", clock: Callable[[], float] = time.time,
) -> int:
    """Queue a command for ``target``.

    Args:
        conn: the connection.
        target: a worker name or ``"supervisor"``.
        verb: one of the target role's verbs (:data:`ALLOWED_VERBS`).
        args: JSON-serialisable arguments (e.g. ``{"checkpoint": "best"}``).
        issued_by: who asked (``"ui"``, ``"ctl"``, a user name), for the audit trail.
        clock: UNIX time.

    Returns:
        The command id.

    Raises:
        ValueError: for a verb the target does not accept or a missing argument.
    """
    args = dict(args or {})
    check_command(role_of(conn, target), target, verb, args)
    now = clock()
    with transaction(conn):
        cursor = conn.execute(
            "INSERT INTO commands (created, target, verb, args, state, updated, issued_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now, target, verb, dumps_json(args), PENDING, now, issued_by),
        )
    return int(cursor.lastrowid or 0)  # always set by an INSERT into a rowid table


def claim(
    conn: sqlite3.Connection, target: str, clock: Callable[[], float] = time.time
) -> list[Command]:
    """Take every pending command of ``target``, oldest first, marking them running.

    Atomic: two processes claiming the same target never get the same command. Cheap when
    there is nothing to claim (one read, no write lock), so workers may call it every loop.
    """
    sql = f"SELECT {COLUMNS} FROM commands WHERE target = ? AND state = ? ORDER BY id"
    if conn.execute(sql + " LIMIT 1", (target, PENDING)).fetchone() is None:
        return []
    with transaction(conn):
        rows = conn.execute(sql, (target, PENDING)).fetchall()
        now = clock()
        conn.executemany("UPDATE commands SET state = ?, updated = ? WHERE id = ?",
                         [(RUNNING, now, row[0]) for row in rows])
    return [Command.from_row((*row[:5], RUNNING, row[6], now, row[8])) for row in rows]


def finish(
    conn: sqlite3.Connection, command_id: int, ok: bool, result: str = "",
    clock: Callable[[], float] = time.time,
) -> Command:
    """Record the outcome of a pending or running command: done if ``ok``, else failed.

    Returns:
        The updated command.

    Raises:
        ValueError: if there is no such command or it has already finished.
    """
    with transaction(conn):
        updated = conn.execute(
            "UPDATE commands SET state = ?, result = ?, updated = ?"
            " WHERE id = ? AND state IN (?, ?)",
            (DONE if ok else FAILED, str(result), clock(), command_id, PENDING, RUNNING),
        ).rowcount
    command = get(conn, command_id)
    if not updated:
        raise ValueError(f"command {command_id} has already finished ({command.state})")
    return command


def get(conn: sqlite3.Connection, command_id: int) -> Command:
    """The command with this id.

    Raises:
        ValueError: if there is none.
    """
    row = conn.execute(f"SELECT {COLUMNS} FROM commands WHERE id = ?", (command_id,)).fetchone()
    if row is None:
        raise ValueError(f"no command {command_id}")
    return Command.from_row(row)


def wait(
    conn: sqlite3.Connection, command_id: int, timeout: float, poll: float = 0.05,
    clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
) -> Command:
    """Poll until the command is done or failed.

    Returns:
        The finished command (check ``state`` and ``result``).

    Raises:
        TimeoutError: naming the command if it has not finished after ``timeout`` seconds.
        ValueError: if there is no such command.
    """
    deadline = clock() + timeout
    while True:
        command = get(conn, command_id)
        if command.finished:
            return command
        if clock() >= deadline:
            raise TimeoutError(
                f"command {command_id} ({command.verb} for {command.target}) is still "
                f"{command.state} after {timeout:g} s"
            )
        sleep(poll)
