"""The order journal and the live worker's persistent state, in the console database.

An order's life (``orders`` table): :meth:`Journal.record_intent` commits it as
``INTENT`` before anything is sent, :meth:`Journal.mark_sent` commits ``SENT`` just before
the request goes out, :meth:`Journal.record_outcome` stores what the broker answered
(``FILLED``, ``REJECTED``, ``CANCELLED``, ``UNKNOWN``) or what a later resolution found
(``NOT_FOUND`` when the broker never received it). So after a crash every order that may
have reached the broker is ``SENT`` or ``UNKNOWN`` and is resolved before trading goes on;
nothing is ever re-sent blindly.

``live_state`` holds small JSON values under the fixed keys below: the
operator's switches, a halt after a reconciliation mismatch, the risk counters, the last
decided bar and the last decisions, which the console shows.

Every write is its own short ``BEGIN IMMEDIATE`` transaction, on a connection set to
``synchronous=FULL``: a committed INTENT or SENT survives a power cut.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fxconsole.brokers.base import OrderResult, OrderState
from fxconsole.sqlitetx import dumps_json, immediate
from fxconsole.timeutil import ns_to_seconds, seconds_to_ns

logger = logging.getLogger(__name__)

# live_state keys (the console reads them).
KILL_SWITCH = "kill_switch"  # bool
ENTRIES_PAUSED = "entries_paused"  # bool
HALTED = "halted"  # {"reason", "since", "kind"} or null
RISK = "risk"  # RiskState.to_dict()
LAST_BAR_TS = "last_bar_ts"  # UNIX seconds of the newest decided bar
DECISIONS = "decisions"  # the last decisions, newest first
POSITION = "position"  # PositionTracker.to_dict() plus units and broker position
TOTALS = "totals"  # {"decisions", "trades", "realised_pips"}
BASELINE = "baseline"  # {"broker", "units", "after_order_id"}: position set by an operator
DEPLOYED = "deployed"  # {"label", "since"} of the traded checkpoint or null
BROKER = "broker"  # {"name", "instrument", "connected"}
FLATTEN_PENDING = "flatten_pending"  # bool: an operator's flatten not yet done or refused
MAX_DECISIONS = 20
CHECKPOINT_SECONDS = 10.0
MAX_CLIENT_ID = 128  # OANDA's limit on client extension ids
SYNCHRONOUS = "FULL"  # the journal's connection: every commit on disk before it returns
UNRESOLVED = (OrderState.INTENT, OrderState.SENT, OrderState.UNKNOWN)
_COLUMNS = ("id, client_id, run, worker, broker, instrument, units, purpose, bar_ts, "
            "decision_price, created, sent, state, filled_units, fill_price, cost_pips, pl, "
            "order_id, transaction_id, reason, code, updated")


@dataclass(frozen=True)
class JournalOrder:
    """One row of the ``orders`` table (times: ``created``/``sent`` UNIX s, ``bar_ts`` ns)."""

    id: int
    client_id: str
    run: str
    worker: str
    broker: str
    instrument: str
    units: int
    purpose: str
    bar_ts: int | None
    decision_price: float | None
    created: float
    sent: float | None
    state: OrderState
    filled_units: int | None
    fill_price: float | None
    cost_pips: float | None
    pl: float | None
    order_id: str
    transaction_id: str
    reason: str
    code: str
    updated: float

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> JournalOrder:
        """Build from a ``SELECT`` of :data:`_COLUMNS`."""
        values = list(row)
        values[8] = seconds_to_ns(values[8])
        values[12] = OrderState(values[12])
        return cls(*values)


def make_client_id(run: str, bar_ts: int | None, seq: int) -> str:
    """``fx-<run>-<bar open time, UNIX s>-<seq>``: unique, traceable, ≤ 128 characters."""
    stamp = "0" if bar_ts is None else str(bar_ts // 1_000_000_000)
    suffix = f"-{stamp}-{seq}"
    return f"fx-{run[:MAX_CLIENT_ID - 3 - len(suffix)]}{suffix}"


class Journal:
    """The order journal and ``live_state`` of one broker, over one connection."""

    def __init__(self, conn: sqlite3.Connection, run: str, worker: str, broker: str,
                 clock: Callable[[], float] = time.time) -> None:
        """Use ``conn`` (this process's console connection; schema version ≥ 2).

        Args:
            conn: an autocommit connection (``fxconsole.ops.db.connect``).
            run: the run whose checkpoint trades (part of client ids).
            worker: the trading process's name.
            broker: the broker's name; positions are believed per broker.
            clock: UNIX seconds, for ``created``/``sent``/``updated``.
        """
        self.conn, self.run, self.worker, self.broker = conn, run, worker, broker
        self.clock = clock
        self._counts: dict[tuple[OrderState, ...], int] = {}  # see count(); cleared on writes
        # A commit that crosses SQLite's WAL threshold runs a checkpoint and waits for the
        # disk (10–20 ms, measured): not on the way to an order. This connection leaves
        # checkpoints to checkpoint_wal(), called after a bar's work (other processes'
        # commits checkpoint as usual).
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        # Durable journal (issue 16): with synchronous=NORMAL a power cut may undo the last
        # commits, so the INTENT/SENT rows of an order already sent could vanish. FULL
        # syncs the WAL at every commit (the cost is in bench/bench_live.py).
        conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
        self._checkpointed = clock()

    # --- orders ---------------------------------------------------------------------

    def record_intent(self, instrument: str, units: int, purpose: str, bar_ts: int | None,
                      decision_price: float | None) -> JournalOrder:
        """Commit a new order as INTENT (before anything is sent); return it.

        Its client id is ``fx-<run>-<bar s>-<seq>`` with ``seq`` one more than the orders
        already journaled for that run and bar.
        """
        now = self.clock()
        with immediate(self.conn):
            prefix = make_client_id(self.run, bar_ts, 0)[:-1]
            # ids with this prefix sort in [prefix, prefix's successor): a range on the
            # client_id index, not a scan of the table
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            seq = 1 + self.conn.execute(
                "SELECT count(*) FROM orders WHERE client_id >= ? AND client_id < ?",
                (prefix, upper)).fetchone()[0]
            client_id = make_client_id(self.run, bar_ts, seq)
            cur = self.conn.execute(
                "INSERT INTO orders (client_id, run, worker, broker, instrument, units, purpose,"
                " bar_ts, decision_price, created, state, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (client_id, self.run, self.worker, self.broker, instrument, int(units), purpose,
                 ns_to_seconds(bar_ts), decision_price, now, OrderState.INTENT.value, now))
            order_id = cur.lastrowid
        self._counts.clear()
        logger.info("order intent %s: %+d %s (%s)", client_id, units, instrument, purpose)
        return self.get(int(order_id or 0))

    def mark_sent(self, client_id: str) -> None:
        """Commit SENT: the request is about to go out."""
        now = self.clock()
        with immediate(self.conn):
            self.conn.execute("UPDATE orders SET state = ?, sent = ?, updated = ?"
                              " WHERE client_id = ? AND state = ?",
                              (OrderState.SENT.value, now, now, client_id,
                               OrderState.INTENT.value))
        self._counts.clear()

    def record_outcome(self, result: OrderResult) -> JournalOrder:
        """Store the broker's answer (or a resolution) for ``result.client_id``.

        Raises:
            KeyError: if the journal has no such order.
        """
        now = self.clock()
        with immediate(self.conn):
            cur = self.conn.execute(
                "UPDATE orders SET state = ?, filled_units = ?, fill_price = ?, cost_pips = ?,"
                " pl = ?, order_id = ?, transaction_id = ?, reason = ?, code = ?, updated = ?"
                " WHERE client_id = ?",
                (result.state.value, result.units, result.price, result.cost_pips, result.pl,
                 result.order_id, result.transaction_id, result.reason, result.code, now,
                 result.client_id))
            if cur.rowcount != 1:
                raise KeyError(f"no journaled order {result.client_id!r}")
        self._counts.clear()
        logger.info("order %s: %s %+d @ %s %s", result.client_id, result.state.value,
                    result.units, result.price, result.reason)
        return self.by_client_id(result.client_id)

    def get(self, order_id: int) -> JournalOrder:
        """One order by row id.

        Raises:
            KeyError: if there is none.
        """
        return self._one("id = ?", order_id)

    def by_client_id(self, client_id: str) -> JournalOrder:
        """One order by client id.

        Raises:
            KeyError: if there is none.
        """
        return self._one("client_id = ?", client_id)

    def _one(self, where: str, value: Any) -> JournalOrder:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM orders WHERE {where}",
                                (value,)).fetchone()
        if row is None:
            raise KeyError(f"no journaled order with {where.split()[0]} {value!r}")
        return JournalOrder.from_row(row)

    def unresolved(self) -> list[JournalOrder]:
        """This broker's orders in INTENT, SENT or UNKNOWN, oldest first."""
        marks = ", ".join("?" * len(UNRESOLVED))
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM orders WHERE broker = ? AND state IN ({marks}) ORDER BY id",
            (self.broker, *(s.value for s in UNRESOLVED))).fetchall()
        return [JournalOrder.from_row(r) for r in rows]

    def recent(self, n: int = 20) -> list[JournalOrder]:
        """This broker's newest ``n`` orders, newest first."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM orders WHERE broker = ? ORDER BY id DESC LIMIT ?",
            (self.broker, int(n))).fetchall()
        return [JournalOrder.from_row(r) for r in rows]

    def checkpoint_wal(self, every_seconds: float = CHECKPOINT_SECONDS) -> None:
        """Copy the WAL into the database (PASSIVE: never waits for readers) if
        ``every_seconds`` passed since the last time; call it off the order path."""
        now = self.clock()
        if now - self._checkpointed >= every_seconds:
            self._checkpointed = now
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def count(self, *states: OrderState) -> int:
        """This broker's orders in any of ``states`` (counted again only after an outcome
        was recorded here: the metrics ask every bar, and the table only grows)."""
        if states not in self._counts:
            marks = ", ".join("?" * len(states))
            self._counts[states] = int(self.conn.execute(
                f"SELECT count(*) FROM orders WHERE broker = ? AND state IN ({marks})",
                (self.broker, *(s.value for s in states))).fetchone()[0])
        return self._counts[states]

    def fills(self) -> int:
        """Filled orders of this broker."""
        return self.count(OrderState.FILLED)

    def rejects(self) -> int:
        """Rejected or cancelled orders of this broker."""
        return self.count(OrderState.REJECTED, OrderState.CANCELLED)

    def last_decided_bar(self) -> int | None:
        """The newest bar (ns) an order was journaled for, or None."""
        row = self.conn.execute("SELECT max(bar_ts) FROM orders WHERE broker = ?",
                                (self.broker,)).fetchone()
        return seconds_to_ns(row[0]) if row and row[0] is not None else None

    def believed_position(self, instrument: str) -> int:
        """The position the journal believes in: the baseline plus the fills after it."""
        base = self.baseline()
        total = self.conn.execute(
            "SELECT coalesce(sum(filled_units), 0) FROM orders WHERE broker = ? AND"
            " instrument = ? AND state = ? AND id > ?",
            (self.broker, instrument, OrderState.FILLED.value, base["after_order_id"]),
        ).fetchone()[0]
        return int(base["units"]) + int(total)

    def filled_since_baseline(self, instrument: str) -> list[JournalOrder]:
        """This broker's fills in ``instrument`` after the baseline, oldest first."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM orders WHERE broker = ? AND instrument = ? AND state = ?"
            " AND id > ? ORDER BY id",
            (self.broker, instrument, OrderState.FILLED.value,
             self.baseline()["after_order_id"])).fetchall()
        return [JournalOrder.from_row(r) for r in rows]

    def baseline(self) -> dict[str, int]:
        """The operator-confirmed position (``units``) and the last order it includes."""
        raw = self.get_state(BASELINE) or {}
        if raw.get("broker") != self.broker:
            return {"units": 0, "after_order_id": 0}
        return {"units": int(raw.get("units", 0)),
                "after_order_id": int(raw.get("after_order_id", 0))}

    def set_baseline(self, units: int) -> None:
        """Declare the broker's position to be ``units``, including every order so far."""
        last = self.conn.execute("SELECT coalesce(max(id), 0) FROM orders").fetchone()[0]
        self.set_state(BASELINE, {"broker": self.broker, "units": int(units),
                                  "after_order_id": int(last)})

    # --- live_state -----------------------------------------------------------------

    def get_state(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key``, or ``default``."""
        row = self.conn.execute("SELECT value FROM live_state WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_state(self, key: str, value: Any) -> None:
        """Store one value (its own transaction)."""
        self.set_states({key: value})

    def set_states(self, values: dict[str, Any]) -> None:
        """Store several values in one transaction."""
        now = self.clock()
        rows = [(key, dumps_json(value), now) for key, value in values.items()]
        with immediate(self.conn):
            self.conn.executemany(
                "INSERT INTO live_state (key, value, updated) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " updated = excluded.updated", rows)

    def all_state(self) -> dict[str, Any]:
        """Every ``live_state`` value by key."""
        return {k: json.loads(v) for k, v in
                self.conn.execute("SELECT key, value FROM live_state").fetchall()}


def push_decision(decisions: Iterable[dict[str, Any]], decision: dict[str, Any],
                  keep: int = MAX_DECISIONS) -> list[dict[str, Any]]:
    """``decision`` in front of ``decisions``, at most ``keep`` of them (pure)."""
    return [decision, *list(decisions)][:keep]
