"""The paper broker: plays bars at a fixed pace and fills at the bar close (SPEC §4 costs).

Its clock is a replay cursor over :class:`~fxconsole.brokers.paper_bars.PaperBars`: the
cursor moves one bar every ``1 / bars_per_second`` seconds of its (injected) clock, or by
:meth:`PaperBroker.advance` in tests. Only bars up to the cursor exist for
:meth:`~PaperBroker.candles`; :meth:`~PaperBroker.now` is the cursor bar's close time; the
quote is that bar's close (bid = ask, always tradeable). A market order fills at once at
that close; a reduce-only order (an exit) fills only the part that reduces the position
and is rejected (``REDUCE_ONLY``) if nothing would be reduced. Costs follow SPEC §4: an
entry's fill reports ``cost_pips`` = the spread and its ``pl`` is minus the spread's
value; an exit costs nothing and realises the price move.
So the realised pips of a round trip equal the environment's trade pips.

The account (position, average price, balance in the quote currency, realised pips, the
cursor) lives in ``paper_account`` and every order in ``paper_orders``, each fill in one
transaction: a restarted paper broker continues the same account and answers
:meth:`~PaperBroker.order_by_client_id` for orders filled before a crash.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fxconsole.brokers.base import (
    Account,
    Bar,
    BrokerError,
    OrderRequest,
    OrderResult,
    OrderState,
    Position,
    Quote,
)
from fxconsole.brokers.paper_bars import PaperBars
from fxconsole.sqlitetx import immediate
from fxconsole.timeutil import ns_to_seconds, seconds_to_ns

logger = logging.getLogger(__name__)

PERSIST_SECONDS = 1.0  # the cursor is saved at most this often between fills
_ORDER_COLUMNS = "transaction_id, client_id, instrument, units, state, price, cost_pips, pl, " \
                 "reason, ts"


@dataclass(frozen=True)
class _Fill:
    """A fill's costs and the account after it."""

    cost_pips: float
    pl: float
    units: int
    avg_price: float | None
    realised_pips: float


class PaperBroker:
    """A :class:`~fxconsole.brokers.base.Broker` over played bars and a SQLite account."""

    name = "paper"

    def __init__(self, conn: sqlite3.Connection, bars: PaperBars, instrument: str, pip: float,
                 spread_pips: float = 4.0, bars_per_second: float | None = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Open (or create) the paper account of ``instrument`` and resume its cursor.

        Args:
            conn: the console database connection (schema version ≥ 2).
            bars: the bars to play.
            instrument: OANDA-style name, e.g. ``GBP_JPY``.
            pip: the pip size.
            spread_pips: the entry cost (SPEC §4).
            bars_per_second: play speed; None: the cursor moves only by :meth:`advance`.
            clock: monotonic seconds that drive play.
        """
        self.conn, self.bars, self.instrument = conn, bars, instrument
        self.pip, self.spread_pips = float(pip), float(spread_pips)
        self.bars_per_second = bars_per_second
        self.clock = clock
        self.currency = instrument.split("_")[-1]
        self._base_cursor = self._load_cursor()
        self._base_clock = clock()
        self._offset = 0  # bars added by advance()
        self._cursor = self._base_cursor
        self._saved_cursor = self._base_cursor
        self._saved_at = clock()

    # --- play -----------------------------------------------------------------------

    def _load_cursor(self) -> int:
        row = self.conn.execute("SELECT cursor, source FROM paper_account WHERE instrument = ?",
                                (self.instrument,)).fetchone()
        if row is None:
            with immediate(self.conn):
                self.conn.execute(
                    "INSERT INTO paper_account (instrument, cursor, source, updated)"
                    " VALUES (?, ?, ?, ?)",
                    (self.instrument, self.bars.start, self.bars.key, time.time()))
            return self.bars.start
        cursor, source = int(row[0]), str(row[1])
        if source != self.bars.key:
            logger.warning("paper account %s played other bars (%s); starting %s at row %d",
                           self.instrument, source or "none", self.bars.key, self.bars.start)
            self._save_cursor(self.bars.start)
            return self.bars.start
        logger.info("paper account %s resumes at row %d", self.instrument, cursor)
        return cursor

    def _save_cursor(self, cursor: int) -> None:
        with immediate(self.conn):
            self.conn.execute(
                "UPDATE paper_account SET cursor = ?, source = ?, clock = ?, updated = ?"
                " WHERE instrument = ?",
                (cursor, self.bars.key, ns_to_seconds(self._now_at(cursor)), time.time(),
                 self.instrument))
        self._saved_cursor, self._saved_at = cursor, self.clock()

    def _sync(self) -> int:
        """Move the cursor to where play is now; save it now and then."""
        played = 0
        if self.bars_per_second is not None:
            played = math.floor((self.clock() - self._base_clock) * self.bars_per_second)
        cursor = self._base_cursor + self._offset + max(0, played)
        if cursor != self._cursor:
            self.bars.ensure(cursor)
            self._cursor = cursor
            if self.clock() - self._saved_at >= PERSIST_SECONDS:
                self._save_cursor(cursor)
        return self._cursor

    def advance(self, bars: int = 1) -> int:
        """Move play ``bars`` bars on (tests, or a manual pace); return the cursor."""
        self._offset += int(bars)
        return self._sync()

    @property
    def cursor(self) -> int:
        """The row of the newest complete bar."""
        return self._sync()

    def _now_at(self, cursor: int) -> int:
        return int(self.bars.ts[cursor]) + self.bars.period_ns

    # --- Broker ---------------------------------------------------------------------

    def now(self) -> int:
        """The close time (ns UTC) of the newest played bar."""
        return self._now_at(self._sync())

    def candles(self, instrument: str, granularity: str, count: int) -> list[Bar]:
        """The newest ``count`` played bars, oldest first."""
        self._check(instrument)
        if granularity != self.bars.timeframe:
            raise BrokerError(f"paper broker plays {self.bars.timeframe} bars, not {granularity}")
        return self.bars.window(self._sync(), int(count))

    def quote(self, instrument: str) -> Quote:
        """The newest played close as bid and ask, stamped with :meth:`now`."""
        self._check(instrument)
        cursor = self._sync()
        close = float(self.bars.close[cursor])
        return Quote(self._now_at(cursor), close, close, True)

    def market_order(self, request: OrderRequest) -> OrderResult:
        """Fill at the newest close (an order with a known client id returns its outcome)."""
        known = self.order_by_client_id(request.client_id)
        if known is not None:
            logger.warning("paper order %s already known: %s", request.client_id, known.state)
            return known
        cursor = self._sync()
        now = self._now_at(cursor)
        if request.instrument != self.instrument or request.units == 0:
            reason = "UNITS_ZERO" if request.units == 0 else "INSTRUMENT_NOT_TRADED"
            return self._store(request, OrderState.REJECTED, None, None, reason, now, cursor)
        units = self._reducing(request) if request.reduce_only else request.units
        if units == 0:
            return self._store(request, OrderState.REJECTED, None, None, "REDUCE_ONLY", now,
                               cursor)
        price = float(self.bars.close[cursor])
        fill = self._fill(units, price)
        return self._store(request, OrderState.FILLED, price, fill, "", now, cursor, units)

    def _reducing(self, request: OrderRequest) -> int:
        """The part of a reduce-only order that reduces the position (0: none)."""
        held = self._account()[0]
        if held == 0 or (request.units > 0) == (held > 0):
            return 0
        return max(-abs(held), min(abs(held), request.units))

    def _fill(self, units: int, price: float) -> _Fill:
        """The account after a fill of ``units`` at ``price`` (SPEC §4 costs)."""
        held, avg, _balance, realised = self._account()
        cost = pl = pips = 0.0
        new_avg = avg
        closing = min(abs(units), abs(held)) if held and (units > 0) != (held > 0) else 0
        if closing:
            direction = 1 if held > 0 else -1
            move = (price - (avg or price)) * direction
            pips += move / self.pip
            pl += move * closing
        opening = abs(units) - closing
        after = held + units
        if opening:
            cost = self.spread_pips
            pips -= self.spread_pips
            pl -= self.spread_pips * self.pip * opening
            kept = abs(held) - closing
            new_avg = price if kept == 0 else ((avg or price) * kept + price * opening) / (
                kept + opening)
        return _Fill(cost, pl, after, None if after == 0 else new_avg, realised + pips)

    def _store(self, request: OrderRequest, state: OrderState, price: float | None,
               fill: _Fill | None, reason: str, now: int, cursor: int,
               units: int = 0) -> OrderResult:
        cost, pl = (fill.cost_pips, fill.pl) if fill else (0.0, 0.0)
        stored = units if fill is not None else request.units  # reduce-only: the part filled
        with immediate(self.conn):
            cur = self.conn.execute(
                f"INSERT INTO paper_orders ({_ORDER_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?)",
                (request.client_id, request.instrument, stored, state.value, price, cost,
                 pl, reason, ns_to_seconds(now)))
            tx = int(cur.lastrowid or 0)
            if fill is not None:
                self.conn.execute(
                    "UPDATE paper_account SET units = ?, avg_price = ?, balance = balance + ?,"
                    " realised_pips = ?, cursor = ?, clock = ?, last_transaction = ?,"
                    " updated = ? WHERE instrument = ?",
                    (fill.units, fill.avg_price, fill.pl, fill.realised_pips, cursor,
                     ns_to_seconds(now), tx, time.time(), self.instrument))
            else:
                self.conn.execute("UPDATE paper_account SET last_transaction = ?, updated = ?"
                                  " WHERE instrument = ?", (tx, time.time(), self.instrument))
        self._saved_cursor, self._saved_at = cursor, self.clock()
        filled = stored if fill is not None else 0
        return OrderResult(request.client_id, state, filled, price, cost, pl, str(tx), str(tx),
                           reason, "", now)

    def order_by_client_id(self, client_id: str) -> OrderResult | None:
        """The outcome of a paper order, or None if it was never received."""
        row = self.conn.execute(f"SELECT {_ORDER_COLUMNS} FROM paper_orders WHERE client_id = ?",
                                (client_id,)).fetchone()
        if row is None:
            return None
        tx, cid, _instrument, units, state, price, cost, pl, reason, ts = row
        filled = int(units) if state == OrderState.FILLED.value else 0
        return OrderResult(cid, OrderState(state), filled, price, float(cost), float(pl),
                           str(tx), str(tx), str(reason), "", seconds_to_ns(ts) or 0)

    def _account(self) -> tuple[int, float | None, float, float]:
        row = self.conn.execute(
            "SELECT units, avg_price, balance, realised_pips FROM paper_account"
            " WHERE instrument = ?", (self.instrument,)).fetchone()
        return int(row[0]), row[1], float(row[2]), float(row[3])

    def position(self, instrument: str) -> Position:
        """The paper position (net units, average entry price)."""
        if instrument != self.instrument:
            return Position(instrument)
        units, avg, _, _ = self._account()
        return Position(instrument, units, avg if units else None)

    def account(self) -> Account:
        """Balance (realised, in the quote currency), NAV and unrealised P/L at the close."""
        units, avg, balance, realised = self._account()
        close = float(self.bars.close[self._sync()])
        unrealised = (close - avg) * units if units and avg is not None else 0.0
        last = self.conn.execute("SELECT last_transaction FROM paper_account WHERE"
                                 " instrument = ?", (self.instrument,)).fetchone()[0]
        return Account(self.currency, balance, balance + unrealised, unrealised, str(last),
                       {"realised_pips": realised, "cursor": self._cursor})

    def transactions_since(self, transaction_id: str) -> list[dict[str, Any]]:
        """Paper orders after ``transaction_id``, oldest first, as dicts."""
        after = int(transaction_id or 0)
        rows = self.conn.execute(
            f"SELECT {_ORDER_COLUMNS} FROM paper_orders WHERE transaction_id > ?"
            " ORDER BY transaction_id", (after,)).fetchall()
        names = [c.strip() for c in _ORDER_COLUMNS.split(",")]
        return [dict(zip(names, row, strict=True)) for row in rows]

    def close(self) -> None:
        """Save the cursor."""
        if self._cursor != self._saved_cursor:
            self._save_cursor(self._cursor)

    def _check(self, instrument: str) -> None:
        if instrument != self.instrument:
            raise BrokerError(f"paper broker trades {self.instrument}, not {instrument}")
