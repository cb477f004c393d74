"""Connections to the console database ``data/console.sqlite``.

Rules (DESIGN.md, State):

- **One connection per process, opened after the process starts.** Never share a
  connection across ``fork``/``spawn`` (SQLite's locks are per process; a forked copy can
  corrupt the database). :func:`transaction` refuses a connection opened by another pid.
- WAL journal, ``synchronous=NORMAL`` (a power cut may lose the last commits, never
  consistency; the live order journal's connection raises it to FULL), a busy timeout of
  several seconds, foreign keys on.
- ``auto_vacuum=INCREMENTAL`` (a new database is created so; an older one is converted
  once by :func:`ensure_incremental_vacuum`, which the supervisor runs before starting
  workers), so the retention pass can give freed pages back; the WAL file is cut back to
  :data:`WAL_SIZE_LIMIT` after checkpoints.
- ``isolation_level=None``: the ``sqlite3`` module never opens transactions by itself;
  every write goes through :func:`transaction`, which takes the write lock up front with
  ``BEGIN IMMEDIATE`` (a deferred transaction that later upgrades to a writer fails with
  "database is locked" without waiting). Reads outside a transaction are autocommit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from fxconsole.ops.schema import MIGRATIONS, SchemaError, statements
from fxconsole.sqlitetx import immediate

logger = logging.getLogger(__name__)

CONSOLE_DB = "console.sqlite"
BUSY_TIMEOUT_SECONDS = 10.0
WAL_SIZE_LIMIT = 64 * 1024 * 1024
INCREMENTAL = 2  # PRAGMA auto_vacuum


class ConsoleConnection(sqlite3.Connection):
    """A ``sqlite3.Connection`` that remembers which process opened it."""

    owner_pid: int = 0


def connect(
    path: Path | str, busy_timeout: float = BUSY_TIMEOUT_SECONDS, migrate_schema: bool = True
) -> ConsoleConnection:
    """Open the console database, configure it, and bring its schema up to date.

    Args:
        path: the database file (its folder is created if missing) or ``":memory:"``.
        busy_timeout: seconds a statement waits for a lock before "database is locked".
        migrate_schema: apply pending migrations (see :func:`migrate`).

    Returns:
        A connection for this process only, in autocommit mode.

    Raises:
        SchemaError: if the database was written by a newer fxconsole.
        sqlite3.Error: if the file cannot be opened or configured.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, factory=ConsoleConnection
    )
    conn.owner_pid = os.getpid()
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect on a new file only
        _set_wal(conn, busy_timeout)
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if migrate_schema:
            migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def ensure_incremental_vacuum(conn: sqlite3.Connection) -> bool:
    """Convert a database created without ``auto_vacuum=INCREMENTAL`` (one ``VACUUM``).

    The ``VACUUM`` rewrites the whole file and holds the write lock meanwhile: call it
    before the workers start. A database already incremental costs one PRAGMA read.

    Returns:
        True if the database was converted now.

    Raises:
        sqlite3.Error: if the ``VACUUM`` fails (e.g. locked beyond the busy timeout).
    """
    if int(conn.execute("PRAGMA auto_vacuum").fetchone()[0]) == INCREMENTAL:
        return False
    started = time.monotonic()
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("VACUUM")
    logger.info("console database converted to incremental vacuum in %.1f s",
                time.monotonic() - started)
    return int(conn.execute("PRAGMA auto_vacuum").fetchone()[0]) == INCREMENTAL


def _set_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch to WAL; retried, because switching can fail "locked" without waiting."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    if mode != "wal":
        logger.warning("console database journal mode is %s, not wal", mode)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` if the block raises.

    The write lock is taken at ``BEGIN`` (waiting up to the busy timeout), so the block
    never fails half-way for lack of it.

    Raises:
        RuntimeError: if the connection was opened by another process.
        sqlite3.OperationalError: "database is locked" after the busy timeout.
    """
    owner = getattr(conn, "owner_pid", 0)
    if owner and owner != os.getpid():
        raise RuntimeError(
            f"console database connection opened by pid {owner} used in pid {os.getpid()}: "
            "open one connection per process, after it starts"
        )
    with immediate(conn):
        yield conn


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (0 for a new one)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: tuple[str, ...] = MIGRATIONS) -> int:
    """Apply the migrations the database lacks, each in its own transaction.

    Safe when several processes open a new database at once: the version is re-read under
    the write lock, so each migration runs exactly once. Opening an up-to-date database
    writes nothing.

    Returns:
        The schema version reached (``len(migrations)``).

    Raises:
        SchemaError: if the database's version is newer than ``len(migrations)``.
    """
    target = len(migrations)
    _check_not_newer(conn, user_version(conn), target)
    for version in range(user_version(conn) + 1, target + 1):
        with transaction(conn):
            current = user_version(conn)
            _check_not_newer(conn, current, target)
            if current >= version:
                continue  # another process got there first
            for statement in statements(migrations[version - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
        logger.info("console database migrated to schema version %d", version)
    return target


def _check_not_newer(conn: sqlite3.Connection, version: int, target: int) -> None:
    if version > target:
        name = conn.execute("PRAGMA database_list").fetchone()[2] or ":memory:"
        raise SchemaError(
            f"console database {name} has schema version {version}, but this fxconsole "
            f"only knows versions up to {target}: upgrade fxconsole (or use a new workspace)"
        )
