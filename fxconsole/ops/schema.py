"""The console database's schema as versioned migrations (applied by :func:`..db.migrate`).

``MIGRATIONS[i]`` is the SQL script that takes the database from version ``i`` to ``i + 1``;
``PRAGMA user_version`` records the version reached. Never edit a released migration:
append a new script. Every timestamp is UNIX seconds (REAL); JSON columns hold valid JSON
(``json_valid`` checks). The high-volume tables (metrics, trades, episodes) carry no
NOT NULL on their float columns, because SQLite stores a NaN as NULL and a constraint
failure would poison a whole batch of a writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

SOURCES = ("train", "collect", "live", "backtest")
EVENT_LEVELS = ("info", "warning", "error")
COMMAND_STATES = ("pending", "running", "done", "failed")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


V1 = f"""
CREATE TABLE runs (
    name TEXT PRIMARY KEY,
    agent TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    config TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(config)),
    state TEXT NOT NULL DEFAULT 'active'
);

CREATE TABLE workers (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    state TEXT NOT NULL,
    pid INTEGER,
    started REAL,
    stopped REAL,
    restarts INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER,
    heartbeat_timeout REAL,
    message TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL
);

CREATE TABLE heartbeats (
    worker TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    pid INTEGER NOT NULL,
    step INTEGER,
    info TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(info))
);

CREATE TABLE metrics (
    ts REAL NOT NULL,
    run TEXT NOT NULL,
    worker TEXT NOT NULL,
    key TEXT NOT NULL,
    step INTEGER NOT NULL,
    value REAL
);
CREATE INDEX metrics_run_key_step ON metrics (run, key, step);
CREATE INDEX metrics_key_ts ON metrics (key, ts);

CREATE TABLE trades (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    run TEXT NOT NULL,
    worker TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ({_in(SOURCES)})),
    side TEXT NOT NULL CHECK (side IN ('long', 'short')),
    entry_ts REAL,
    exit_ts REAL,
    entry_price REAL,
    exit_price REAL,
    pips REAL,
    max_dd REAL,
    bars_held INTEGER,
    forced INTEGER NOT NULL DEFAULT 0 CHECK (forced IN (0, 1)),
    timesteps INTEGER
);
CREATE INDEX trades_run ON trades (run);

CREATE TABLE episodes (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    run TEXT NOT NULL,
    worker TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ({_in(SOURCES)})),
    reward REAL,
    trades INTEGER,
    pips REAL,
    length INTEGER
);
CREATE INDEX episodes_run ON episodes (run);

CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY,
    run TEXT NOT NULL,
    tag TEXT NOT NULL,
    model_file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    timesteps INTEGER NOT NULL,
    created REAL NOT NULL,
    manifest_path TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(metrics)),
    UNIQUE (run, tag)
);

CREATE TABLE validations (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    run TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    timesteps INTEGER,
    split TEXT NOT NULL,
    validated INTEGER NOT NULL CHECK (validated IN (0, 1)),
    sqn REAL,
    expectancy REAL,
    trades INTEGER,
    report_path TEXT,
    summary TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(summary))
);
CREATE INDEX validations_run_sha ON validations (run, sha256);

CREATE TABLE commands (
    id INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    target TEXT NOT NULL,
    verb TEXT NOT NULL,
    args TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(args)),
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ({_in(COMMAND_STATES)})),
    result TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL,
    issued_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX commands_target_state ON commands (target, state);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    level TEXT NOT NULL CHECK (level IN ({_in(EVENT_LEVELS)})),
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(data))
);
CREATE INDEX events_ts ON events (ts);
"""

ORDER_STATES = ("INTENT", "SENT", "FILLED", "CANCELLED", "REJECTED", "UNKNOWN", "NOT_FOUND")

# Live trading (issue 7): the order journal, the live worker's persistent switches and
# tripped limits, and the paper broker's own account.
V2 = f"""
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    run TEXT NOT NULL,
    worker TEXT NOT NULL,
    broker TEXT NOT NULL,
    instrument TEXT NOT NULL,
    units INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    bar_ts REAL,
    decision_price REAL,
    created REAL NOT NULL,
    sent REAL,
    state TEXT NOT NULL CHECK (state IN ({_in(ORDER_STATES)})),
    filled_units INTEGER,
    fill_price REAL,
    cost_pips REAL,
    pl REAL,
    order_id TEXT NOT NULL DEFAULT '',
    transaction_id TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL
);
CREATE INDEX orders_state ON orders (state);
CREATE INDEX orders_created ON orders (created);

CREATE TABLE live_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL CHECK (json_valid(value)),
    updated REAL NOT NULL
);

CREATE TABLE paper_account (
    instrument TEXT PRIMARY KEY,
    units INTEGER NOT NULL DEFAULT 0,
    avg_price REAL,
    balance REAL NOT NULL DEFAULT 0,
    realised_pips REAL NOT NULL DEFAULT 0,
    clock REAL,
    cursor INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL DEFAULT '',
    last_transaction INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL
);

CREATE TABLE paper_orders (
    transaction_id INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    instrument TEXT NOT NULL,
    units INTEGER NOT NULL,
    state TEXT NOT NULL,
    price REAL,
    cost_pips REAL NOT NULL DEFAULT 0,
    pl REAL NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '',
    ts REAL NOT NULL
);
"""

# The console's "last live trades" read scanned every trade of the run (8 ms at 18k rows).
V3 = """
CREATE INDEX trades_run_source_id ON trades (run, source, id);
"""

# SPEC §6.3/§6.4: each row keeps the Sharpe ratio its DSR deflates against, the DSR and the
# K it was computed with; test-split rows are the recorded examinations.
V4 = """
ALTER TABLE validations ADD COLUMN sr REAL;
ALTER TABLE validations ADD COLUMN dsr REAL;
ALTER TABLE validations ADD COLUMN k INTEGER;
CREATE INDEX validations_run_split ON validations (run, split, sha256);
"""

# Tuning (`fxconsole tune`): each trial is a run; the console lists them, and the deflated
# SQN of any run of a study counts the checkpoints of all its trials in K (SPEC §6.3).
V5 = """
CREATE TABLE tuning_trials (
    run TEXT PRIMARY KEY,
    study TEXT NOT NULL,
    trial INTEGER NOT NULL,
    state TEXT NOT NULL,
    value REAL,
    params TEXT NOT NULL DEFAULT '{}',
    note TEXT NOT NULL DEFAULT '',
    ts REAL NOT NULL
);
CREATE INDEX tuning_trials_study ON tuning_trials (study, trial);
"""

# Bounded stores (issue 16): raw train/collect trades and episodes are pruned to a sample,
# so every row is counted into a per-(run, source) total by a trigger, in the inserting
# transaction, whoever inserts it; the totals start from the rows already there.
# retention_state keeps the retention pass's watermarks and budget pressure.
V6 = """
CREATE TABLE trade_totals (
    run TEXT NOT NULL,
    source TEXT NOT NULL,
    trades INTEGER NOT NULL DEFAULT 0,
    scored INTEGER NOT NULL DEFAULT 0,
    wins INTEGER NOT NULL DEFAULT 0,
    pips REAL NOT NULL DEFAULT 0,
    pips_sq REAL NOT NULL DEFAULT 0,
    first_ts REAL,
    last_ts REAL,
    PRIMARY KEY (run, source)
);
INSERT INTO trade_totals (run, source, trades, scored, wins, pips, pips_sq, first_ts, last_ts)
SELECT run, source, count(*), count(pips), total(pips > 0), total(pips), total(pips * pips),
       min(ts), max(ts)
FROM trades GROUP BY run, source;
CREATE TRIGGER trades_total AFTER INSERT ON trades BEGIN
    INSERT INTO trade_totals (run, source, trades, scored, wins, pips, pips_sq, first_ts,
                              last_ts)
    VALUES (NEW.run, NEW.source, 1, NEW.pips IS NOT NULL, coalesce(NEW.pips > 0, 0),
            coalesce(NEW.pips, 0), coalesce(NEW.pips * NEW.pips, 0), NEW.ts, NEW.ts)
    ON CONFLICT (run, source) DO UPDATE SET trades = trades + 1,
        scored = scored + excluded.scored, wins = wins + excluded.wins,
        pips = pips + excluded.pips, pips_sq = pips_sq + excluded.pips_sq,
        last_ts = max(coalesce(last_ts, excluded.last_ts), excluded.last_ts);
END;

CREATE TABLE episode_totals (
    run TEXT NOT NULL,
    source TEXT NOT NULL,
    episodes INTEGER NOT NULL DEFAULT 0,
    reward REAL NOT NULL DEFAULT 0,
    trades INTEGER NOT NULL DEFAULT 0,
    pips REAL NOT NULL DEFAULT 0,
    length INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run, source)
);
INSERT INTO episode_totals (run, source, episodes, reward, trades, pips, length)
SELECT run, source, count(*), total(reward), coalesce(sum(trades), 0), total(pips),
       coalesce(sum(length), 0)
FROM episodes GROUP BY run, source;
CREATE TRIGGER episodes_total AFTER INSERT ON episodes BEGIN
    INSERT INTO episode_totals (run, source, episodes, reward, trades, pips, length)
    VALUES (NEW.run, NEW.source, 1, coalesce(NEW.reward, 0), coalesce(NEW.trades, 0),
            coalesce(NEW.pips, 0), coalesce(NEW.length, 0))
    ON CONFLICT (run, source) DO UPDATE SET episodes = episodes + 1,
        reward = reward + excluded.reward, trades = trades + excluded.trades,
        pips = pips + excluded.pips, length = length + excluded.length;
END;

CREATE TABLE retention_state (
    key TEXT PRIMARY KEY,
    value REAL NOT NULL
);
"""

# Issue 16's crash policy: why a worker last failed (its last error line), for status.
V7 = """
ALTER TABLE workers ADD COLUMN reason TEXT NOT NULL DEFAULT '';
"""

MIGRATIONS: tuple[str, ...] = (V1, V2, V3, V4, V5, V6, V7)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(Exception):
    """The database's schema cannot be used by this code (e.g. it is newer)."""


def statements(script: str) -> Iterator[str]:
    """Split an SQL script into complete statements (``;`` inside literals is kept).

    ``sqlite3.Connection.executescript`` would COMMIT an open transaction first, so a
    migration runs its statements one by one inside its own transaction instead.

    Raises:
        SchemaError: if the script ends with an incomplete statement.
    """
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                yield pending.strip()
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise SchemaError(f"incomplete SQL statement at the end of a migration: {pending!r}")
