"""The console database: connection settings, migrations, transactions."""

from __future__ import annotations

import math
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from fxconsole.ops.db import connect, migrate, transaction, user_version
from fxconsole.ops.schema import MIGRATIONS, SCHEMA_VERSION, SchemaError, statements
from fxconsole.sqlitetx import dumps_json

TABLES = {"runs", "workers", "heartbeats", "metrics", "trades", "episodes", "checkpoints",
          "validations", "commands", "events"}


def schema_of(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()


def test_new_database_gets_every_table_and_the_settings(tmp_path: Path) -> None:
    conn = connect(tmp_path / "data" / "console.sqlite")
    names = {name for name, _ in schema_of(conn)}
    assert names >= TABLES | {"metrics_run_key_step", "metrics_key_ts", "events_ts"}
    assert user_version(conn) == SCHEMA_VERSION == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.isolation_level is None
    assert not conn.in_transaction


def test_reopening_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    before = schema_of(connect(path))
    conn = connect(path)
    statements_run: list[str] = []
    conn.set_trace_callback(statements_run.append)
    assert migrate(conn) == SCHEMA_VERSION
    assert not [s for s in statements_run if not s.startswith("PRAGMA user_version")]
    assert schema_of(conn) == before


def test_a_newer_database_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaError, match=rf"schema version {SCHEMA_VERSION + 1}.*upgrade") as e:
        connect(path)
    assert str(path) in str(e.value)


def test_migrations_apply_in_order_and_a_failing_one_leaves_no_trace(tmp_path: Path) -> None:
    conn = connect(tmp_path / "console.sqlite", migrate_schema=False)
    assert user_version(conn) == 0
    broken = (*MIGRATIONS, "CREATE TABLE extra (x); INSERT INTO nowhere VALUES (1);")
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        migrate(conn, broken)
    assert user_version(conn) == SCHEMA_VERSION  # the good migration stayed
    assert "extra" not in {name for name, _ in schema_of(conn)}
    assert migrate(conn, (*MIGRATIONS, "CREATE TABLE extra (x);")) == SCHEMA_VERSION + 1
    with pytest.raises(SchemaError):
        migrate(conn)


def test_connections_opening_a_new_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    errors: list[Exception] = []
    versions: list[int] = []

    def open_it() -> None:
        try:
            versions.append(user_version(connect(path)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert versions == [SCHEMA_VERSION] * 6


def test_transaction_commits_or_rolls_back(tmp_path: Path) -> None:
    conn = connect(tmp_path / "console.sqlite")
    with transaction(conn):
        conn.execute("INSERT INTO runs (name, created) VALUES ('a', 1)")
    with pytest.raises(ZeroDivisionError), transaction(conn):
        conn.execute("INSERT INTO runs (name, created) VALUES ('b', 1)")
        _ = 1 / 0
    assert [r[0] for r in conn.execute("SELECT name FROM runs")] == ["a"]
    assert not conn.in_transaction


def test_transaction_takes_the_write_lock_up_front(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    holder, waiter = connect(path), connect(path, busy_timeout=0.05)
    locked = pytest.raises(sqlite3.OperationalError, match="locked")
    with transaction(holder), locked, transaction(waiter):
        pass  # pragma: no cover - BEGIN IMMEDIATE fails first
    assert not waiter.in_transaction


def test_a_connection_from_another_process_is_refused(tmp_path: Path) -> None:
    conn = connect(tmp_path / "console.sqlite")
    conn.owner_pid += 1  # as if inherited through fork
    with pytest.raises(RuntimeError, match="one connection per process"), transaction(conn):
        pass  # pragma: no cover


def test_statements_split_on_semicolons_outside_literals_and_comments() -> None:
    script = "CREATE TABLE a (x TEXT DEFAULT ';');\n-- a comment; with a semicolon\nSELECT 1;\n"
    assert list(statements(script)) == [
        "CREATE TABLE a (x TEXT DEFAULT ';');",
        "-- a comment; with a semicolon\nSELECT 1;",
    ]
    with pytest.raises(SchemaError, match="incomplete"):
        list(statements("CREATE TABLE b (x TEXT DEFAULT ';)"))


@pytest.mark.parametrize(("value", "expected"), [
    ({"a": math.nan, "b": [1.0, math.inf]}, '{"a": null, "b": [1.0, null]}'),
    ({"a": np.float32(0.5), "b": np.arange(2)}, '{"a": 0.5, "b": [0, 1]}'),
    ({"p": Path("/x")}, '{"p": "/x"}'),
    ({(1, 2): 3}, '"{(1, 2): 3}"'),
])
def test_dumps_json_always_gives_valid_json(value: object, expected: str) -> None:
    text = dumps_json(value)
    assert text == expected
    assert sqlite3.connect(":memory:").execute("SELECT json_valid(?)", (text,)).fetchone()[0]
