"""Money safety of the live trader against the paper broker: positions changed behind its
back, exits sized by the journal, unknown outcomes, persisted flattens, redaction."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from live_support import (  # isort: skip
    Script, Sink, console, orders, paper, paper_orders, small_config,
)

from fxconsole.brokers.base import BrokerTimeout, OrderRequest, OrderResult, OrderState, Quote
from fxconsole.brokers.credentials import Credentials, register_secrets
from fxconsole.brokers.paper import PaperBroker
from fxconsole.config import Config
from fxconsole.live.engine import LiveTrader
from fxconsole.live.journal import FLATTEN_PENDING, HALTED, Journal
from fxconsole.live.risk import trading_day_start
from fxconsole.market.bars import Bars
from fxconsole.market.synth import synth_bars
from fxconsole.trading.core import BUY, CLOSE, HOLD

CFG = small_config()
INSTRUMENT = "GBP_JPY"


@pytest.fixture(scope="module")
def bars() -> Bars:
    return synth_bars(years=0.06, seed=21)


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    return console(tmp_path / "console.sqlite")


def start_row(bars: Bars) -> int:
    """A row two hours into a trading day, in the middle of a week."""
    for row in range(500, len(bars)):
        ts = int(bars.ts[row])
        weekday = (ts // (86_400 * 10**9) + 3) % 7  # 0: Monday
        if 1 <= weekday <= 3 and ts - trading_day_start(ts) > 2 * 3600 * 10**9:
            return row
    raise AssertionError("no weekday row")


def make_trader(conn: sqlite3.Connection, broker: PaperBroker, actor: Any,
                cfg: Config = CFG, **kw: Any) -> tuple[LiveTrader, Sink]:
    sink = Sink()
    trader = LiveTrader(broker, conn, actor, cfg, sink, run="t", deployed="script", **kw)
    trader.start()
    return trader, sink


def next_bar(trader: LiveTrader, broker: PaperBroker) -> None:
    broker.advance(1)
    trader.step()


def by_hand(broker: PaperBroker, units: int, name: str = "by-hand") -> None:
    """An order the trader does not know of (a manual close, a margin closeout)."""
    assert broker.market_order(OrderRequest(name, INSTRUMENT, units)).state is OrderState.FILLED


def halted(conn: sqlite3.Connection) -> dict[str, Any] | None:
    value: dict[str, Any] | None = Journal(conn, "t", "live", "paper").get_state(HALTED)
    return value


# --- the paper broker honours reduce_only ----------------------------------------------


def test_paper_reduce_only_never_opens_or_grows(conn: sqlite3.Connection, bars: Bars) -> None:
    broker = paper(conn, bars, 1000, CFG)
    flat = broker.market_order(OrderRequest("a", INSTRUMENT, -1, reduce_only=True))
    assert flat.state is OrderState.REJECTED and flat.reason == "REDUCE_ONLY"
    by_hand(broker, 2)
    grow = broker.market_order(OrderRequest("b", INSTRUMENT, 1, reduce_only=True))
    assert grow.state is OrderState.REJECTED and grow.reason == "REDUCE_ONLY"
    over = broker.market_order(OrderRequest("c", INSTRUMENT, -5, reduce_only=True))
    assert over.state is OrderState.FILLED and over.units == -2  # only the reducing part
    assert broker.position(INSTRUMENT).units == 0
    assert broker.order_by_client_id("c") == over
    assert [o[1:3] for o in paper_orders(conn)] == [(-1, "REJECTED"), (2, "FILLED"),
                                                    (1, "REJECTED"), (-2, "FILLED")]


# --- 1: a position changed behind the trader's back ------------------------------------


def test_a_close_after_an_outside_close_does_not_reverse(conn: sqlite3.Connection,
                                                         bars: Bars) -> None:
    broker = paper(conn, bars, start_row(bars), CFG)
    trader, sink = make_trader(conn, broker, Script([BUY, CLOSE]))
    trader.step()
    by_hand(broker, -1)  # closed outside (e.g. a margin closeout)
    next_bar(trader, broker)  # the policy's CLOSE
    assert broker.position(INSTRUMENT).units == 0  # not −1
    assert [o[1:] for o in orders(conn)] == [(1, "open", "FILLED"), (-1, "close", "REJECTED")]
    assert (halted(conn) or {}).get("kind") == "mismatch"
    assert "reconcile" in sink.kinds("error")


def test_an_entry_compares_positions_first(conn: sqlite3.Connection, bars: Bars) -> None:
    broker = paper(conn, bars, start_row(bars), CFG)
    trader, sink = make_trader(conn, broker, Script([HOLD, BUY]))
    trader.step()
    by_hand(broker, 1)  # opened outside while the trader is flat
    next_bar(trader, broker)  # the policy's BUY
    assert orders(conn) == [] and broker.position(INSTRUMENT).units == 1
    assert trader.decisions[0]["action"] == "HOLD"
    assert trader.decisions[0]["reason"].startswith("halted: position mismatch")
    assert "broker has +1" in (halted(conn) or {})["reason"]
    assert "reconcile" in sink.kinds("error")


def test_positions_are_compared_on_a_timer(conn: sqlite3.Connection, bars: Bars) -> None:
    now = [0.0]
    broker = paper(conn, bars, start_row(bars), CFG)
    trader, sink = make_trader(conn, broker, Script([BUY]), monotonic=lambda: now[0])
    trader.step()
    by_hand(broker, -1)
    now[0] += 30.0
    assert not trader.step() and halted(conn) is None  # not yet due
    now[0] += 31.0
    assert not trader.step()  # no new bar: the timer compares
    assert "broker has +0" in (halted(conn) or {})["reason"]
    assert sink.latest("live/halted") == 1.0 and sink.kinds("error") == ["reconcile"]
    now[0] += 61.0
    trader.step()  # still different: no new alert
    assert sink.kinds("error") == ["reconcile"]
    by_hand(broker, 1, "fixed-by-hand")  # the account is put back as the journal has it
    now[0] += 61.0
    trader.step()
    assert halted(conn) is None and "reconcile" in sink.kinds("info")


# --- 2: unknown outcomes -------------------------------------------------------------


class SlowLoss(PaperBroker):
    """The first order's reply times out long after it was sent (and never arrived)."""

    lost = 1
    hide = False  # the order filled, but the broker cannot find it by its client id
    clock_s: list[float]

    def market_order(self, request: OrderRequest) -> OrderResult:
        if self.lost:
            self.lost -= 1
            if self.hide:
                super().market_order(request)
            self.clock_s[0] += 40.0  # the read timeout
            raise BrokerTimeout("read timed out")
        return super().market_order(request)

    def order_by_client_id(self, client_id: str) -> OrderResult | None:
        return None if self.hide else super().order_by_client_id(client_id)


def slow_loss(conn: sqlite3.Connection, bars: Bars, hide: bool) -> tuple[SlowLoss, list[float]]:
    base = paper(conn, bars, start_row(bars), CFG)
    broker = SlowLoss(conn, base.bars, base.instrument, base.pip, 4.0, None)
    broker.clock_s, broker.hide = [1e9], hide
    return broker, broker.clock_s


def test_unknown_grace_counts_from_the_unknown_outcome(conn: sqlite3.Connection,
                                                       bars: Bars) -> None:
    cfg = small_config(live={"unknown_grace_seconds": 30.0})
    broker, clock = slow_loss(conn, bars, hide=False)
    trader, _ = make_trader(conn, broker, Script(lambda k: BUY), cfg, clock=lambda: clock[0])
    trader.step()
    assert [o[3] for o in orders(conn)] == ["UNKNOWN"]
    clock[0] += 5.0  # 45 s after it was sent, 5 s after it became UNKNOWN
    next_bar(trader, broker)
    assert [o[3] for o in orders(conn)] == ["UNKNOWN"]  # still waiting: no new orders
    assert not trader.reconciled
    clock[0] += 26.0
    next_bar(trader, broker)
    assert [o[3] for o in orders(conn)] == ["NOT_FOUND", "FILLED"]
    assert broker.position(INSTRUMENT).units == 1


def test_a_not_found_order_that_did_fill_halts(conn: sqlite3.Connection, bars: Bars) -> None:
    broker, clock = slow_loss(conn, bars, hide=True)
    trader, sink = make_trader(conn, broker, Script(lambda k: BUY), clock=lambda: clock[0])
    trader.step()
    next_bar(trader, broker)  # grace 0 in the tests' config: NOT_FOUND, then compared
    assert [o[3] for o in orders(conn)] == ["NOT_FOUND"]
    assert "broker has +1" in (halted(conn) or {})["reason"]
    assert broker.position(INSTRUMENT).units == 1 and "reconcile" in sink.kinds("error")


# --- 3: exits sized by the journal, not by live.units -----------------------------------


def test_an_exit_closes_what_the_journal_holds(conn: sqlite3.Connection, bars: Bars) -> None:
    broker = paper(conn, bars, start_row(bars), CFG)
    trader, _ = make_trader(conn, broker, Script([BUY]))
    trader.step()
    bigger = small_config(risk={"max_units": 2}, live={"units": 2})
    trader2, sink2 = make_trader(conn, broker, Script([CLOSE, BUY]), bigger)  # a restart
    assert sink2.latest("live/position") == 1.0
    next_bar(trader2, broker)
    assert [o[1:3] for o in orders(conn)] == [(1, "open"), (-1, "close")]
    assert broker.position(INSTRUMENT).units == 0 and len(sink2.closed) == 1
    next_bar(trader2, broker)  # entries use live.units
    assert orders(conn)[-1][1:3] == (2, "open") and sink2.latest("live/position") == 2.0


# --- 4, 5: the operator's flatten ------------------------------------------------------


def test_a_flatten_request_survives_a_restart(conn: sqlite3.Connection, bars: Bars) -> None:
    broker = paper(conn, bars, start_row(bars), CFG)
    trader, _ = make_trader(conn, broker, Script([BUY]))
    trader.step()
    trader.flatten()
    journal = Journal(conn, "t", "live", "paper")
    assert journal.get_state(FLATTEN_PENDING) is True
    trader2, _ = make_trader(conn, broker, Script([]))  # restarted before the next step
    assert trader2.flatten_pending
    next_bar(trader2, broker)
    assert [o[2:] for o in orders(conn)] == [("open", "FILLED"), ("flatten", "FILLED")]
    assert broker.position(INSTRUMENT).units == 0
    assert journal.get_state(FLATTEN_PENDING) is False and not trader2.flatten_pending


def test_a_flatten_of_a_mismatch_books_no_trade(conn: sqlite3.Connection, bars: Bars) -> None:
    broker = paper(conn, bars, start_row(bars), CFG)
    trader, sink = make_trader(conn, broker, Script([BUY]))
    trader.step()
    by_hand(broker, -2)  # the broker is short 1, the journal believes long 1
    trader, sink = make_trader(conn, broker, Script([]))  # a restart: the mismatch halts
    assert (halted(conn) or {}).get("kind") == "mismatch"
    trader.flatten()
    next_bar(trader, broker)
    assert [o[1:] for o in orders(conn)] == [(1, "open", "FILLED"), (1, "flatten", "FILLED")]
    assert broker.position(INSTRUMENT).units == 0 and halted(conn) is None
    assert sink.closed == [] and sink.latest("live/trades") == 0.0
    assert trader.tracker.flat and sink.latest("live/position") == 0.0


# --- 6, 7: redaction, the clock of the stale checks ------------------------------------


class Leaky(PaperBroker):
    secret = ""

    def market_order(self, request: OrderRequest) -> OrderResult:
        raise RuntimeError(f"POST /v3/accounts failed with Bearer {self.secret}")


def test_an_unknown_outcome_reason_is_redacted(conn: sqlite3.Connection, bars: Bars) -> None:
    token = "tok-" + "9f3e" * 8
    register_secrets(Credentials(token, "101-004-1234567-001"))
    base = paper(conn, bars, start_row(bars), CFG)
    broker = Leaky(conn, base.bars, base.instrument, base.pip, 4.0, None)
    broker.secret = token
    trader, _ = make_trader(conn, broker, Script([BUY]))
    trader.step()
    reason = conn.execute("SELECT reason FROM orders").fetchone()[0]
    assert token not in reason and reason.startswith("RuntimeError: POST")


class SlowQuote(PaperBroker):
    """A quote that takes ten bars to come (the broker's clock moves meanwhile)."""

    slow = False

    def quote(self, instrument: str) -> Quote:
        quote = super().quote(instrument)
        if self.slow:
            self.advance(10)
        return quote


def test_stale_checks_read_the_clock_after_the_quote(conn: sqlite3.Connection,
                                                     bars: Bars) -> None:
    base = paper(conn, bars, start_row(bars), CFG)
    broker = SlowQuote(conn, base.bars, base.instrument, base.pip, 4.0, None)
    trader, _ = make_trader(conn, broker, Script([BUY]))
    broker.slow = True
    trader.step()
    assert orders(conn) == []
    assert trader.decisions[0]["reason"].startswith("risk: ")
    assert not math.isnan(trader.decisions[0]["price"])
