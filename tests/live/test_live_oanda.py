"""The live trader end to end on the real :class:`OandaBroker` against the fake v20 server.

The fake's clock (``now_ns``) is the broker's and the trader's clock, so a bar completes
when a test moves it on a minute; its candles are synthetic and deterministic. The policy
is a script of actions by decided bar. Nothing leaves 127.0.0.1 and nothing is timed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fake_v20 import TOKEN, FakeV20, synthetic_mid  # isort: skip
from live_support import Script, Sink, console  # isort: skip

from fxconsole.brokers.base import AuthError
from fxconsole.brokers.credentials import Credentials
from fxconsole.brokers.oanda import OandaBroker
from fxconsole.config import Config, OandaConfig, with_overrides
from fxconsole.live import execution
from fxconsole.live.engine import LiveTrader
from fxconsole.live.journal import HALTED, TOTALS, Journal
from fxconsole.trading.core import BUY, CLOSE, HOLD

NS = 10**9
MIN = 60 * NS
INSTRUMENT = "GBP_JPY"
HALF_SPREAD = 0.015
GRACE = 90.0  # live.unknown_grace_seconds: between one and two bars


def utc_ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * NS


WEDNESDAY = utc_ns("2024-03-13T14:00:30")  # mid-session, far from a day roll or a weekend
SATURDAY = utc_ns("2024-03-16T12:00:30")


def make_config() -> Config:
    """A short feature window (40 + 60 rows of history suffice), no gating."""
    cfg = with_overrides(Config(), "data", mm_window=40)
    cfg = with_overrides(cfg, "live", broker="oanda", history_bars=120,
                         unknown_grace_seconds=GRACE)
    return with_overrides(cfg, "env", gating=False).validated()


CFG = make_config()


def at(actions: dict[int, int]) -> Script:
    """A policy playing ``actions`` by decision number (HOLD otherwise)."""
    return Script(lambda k: actions.get(k, HOLD))


class Crash(BaseException):
    """The process dies (what SIGKILL at a fault point would do, in-process)."""


class Live:
    """One fake v20 server, its clock, and traders on one console database."""

    def __init__(self, fake: FakeV20, oanda: OandaConfig, path: Path, start: int) -> None:
        self.fake, self.path = fake, path
        self.oanda = dataclasses.replace(oanda, api_url=fake.api_url,
                                         stream_url=fake.stream_url)
        self.creds = Credentials(fake.token, fake.account)
        self.brokers: list[OandaBroker] = []
        self.conns: list[sqlite3.Connection] = []
        self.set_clock(start)

    def set_clock(self, now: int) -> None:
        """Move the server's clock; the price follows the newest complete bar."""
        self.fake.now_ns = now
        close = synthetic_mid((now // MIN - 1) * MIN, 60)[3]
        self.fake.set_price(INSTRUMENT, close - HALF_SPREAD, close + HALF_SPREAD)

    def advance(self, minutes: int = 1) -> None:
        assert self.fake.now_ns is not None
        self.set_clock(self.fake.now_ns + minutes * MIN)

    def clock(self) -> float:
        return self.fake.clock() / NS

    def broker(self) -> OandaBroker:
        broker = OandaBroker(self.oanda, self.creds, environ={}, clock=self.fake.clock,
                             stream=False, sleep=lambda s: None)
        self.brokers.append(broker)
        return broker

    def conn(self) -> sqlite3.Connection:
        conn = console(self.path)
        self.conns.append(conn)
        return conn

    def trader(self, actor: Any, cfg: Config = CFG) -> tuple[LiveTrader, Sink]:
        """A new trader (a new process: its own broker and connection), not started."""
        sink = Sink()
        trader = LiveTrader(self.broker(), self.conn(), actor, cfg, sink, run="t",
                            deployed="script", clock=self.clock)
        return trader, sink

    def journal(self) -> list[dict[str, Any]]:
        """Every journaled order, oldest first."""
        conn = self.conn()
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT client_id, units, purpose, state, filled_units, fill_price,"
                            " reason, code FROM orders ORDER BY id").fetchall()
        return [dict(r) for r in rows]

    def states(self) -> list[str]:
        return [o["state"] for o in self.journal()]

    def posts(self) -> list[dict[str, Any]]:
        """The ``order`` of every order POST the server received."""
        return [r.body["order"] for r in self.fake.received("orders.create")]

    def close(self) -> None:
        for broker in self.brokers:
            broker.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def live(fake_v20: FakeV20, oanda_config: OandaConfig, tmp_path: Path) -> Iterator[Live]:
    harness = Live(fake_v20, oanda_config, tmp_path / "console.sqlite", WEDNESDAY)
    yield harness
    harness.close()


@pytest.fixture
def crash_after_send(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    """``arm(True)``: the next order 'kills' the process after it was sent (the trader's
    own ``FXCONSOLE_FAULT=after-send`` hook, with SIGKILL turned into :class:`Crash`)."""
    real_kill = os.kill

    def kill(pid: int, sig: int) -> None:
        if pid == os.getpid() and sig == signal.SIGKILL:
            raise Crash
        real_kill(pid, sig)

    monkeypatch.setattr(execution.os, "kill", kill)

    def arm(on: bool) -> None:
        if on:
            monkeypatch.setenv(execution.FAULT_ENV, "after-send")
        else:
            monkeypatch.delenv(execution.FAULT_ENV, raising=False)

    return arm


def test_warm_up_reconcile_and_a_round_trip(live: Live) -> None:
    script = at({0: BUY, 3: CLOSE})
    trader, sink = live.trader(script)
    assert trader.start()
    warm = live.fake.received("candles")[0]
    assert warm.query["granularity"] == "M1" and warm.query["price"] == "M"
    assert int(warm.query["count"]) >= CFG.live.history_bars
    assert len(trader.features) == CFG.live.history_bars - 1  # the newest is decided next
    assert live.fake.count("openPositions") >= 1  # reconciled: flat == flat
    assert sink.latest("live/halted") == 0.0 and sink.latest("live/position") == 0.0
    assert ("info", "broker", "oanda: connected") in sink.events

    assert trader.step()  # the newest complete bar: BUY
    assert len(script.seen) == 1  # warm: the policy was asked
    [post] = live.posts()
    [order] = live.journal()
    assert post["type"] == "MARKET" and post["timeInForce"] == "FOK"
    assert post["units"] == "1" and post["instrument"] == INSTRUMENT
    assert post["clientExtensions"]["id"] == order["client_id"]
    assert order["client_id"].startswith("fx-t-")
    ask = float(live.fake.price_obj(INSTRUMENT, True)["asks"][0]["price"])
    assert (order["state"], order["filled_units"], order["fill_price"]) == ("FILLED", 1, ask)
    assert trader.decisions[0]["fill_price"] == ask
    assert sink.latest("live/position") == 1.0 and live.fake.net_units(INSTRUMENT) == 1
    assert sink.latest("live/fills") == 1.0

    assert not trader.step()  # no new bar, nothing sent
    for _ in range(3):
        live.advance()
        assert trader.step()
    assert [p["units"] for p in live.posts()] == ["1", "-1"]
    assert [(o["purpose"], o["state"]) for o in live.journal()] == [
        ("open", "FILLED"), ("close", "FILLED")]
    assert live.fake.net_units(INSTRUMENT) == 0 and sink.latest("live/position") == 0.0
    [trade] = sink.closed
    assert trade["side"] == "long" and trade["bars_held"] == 3
    assert sink.latest("live/trades") == 1.0
    assert sink.latest("live/realised_pips") == pytest.approx(trade["pips"])
    assert sink.latest("live/today_pips") == pytest.approx(trade["pips"])
    assert sink.kinds("error") == [] and sink.kinds("warning") == []


@pytest.mark.parametrize("outcome", ["lost_reply", "lost_request"])
def test_a_lost_reply_stops_orders_until_resolved(live: Live, outcome: str) -> None:
    live.fake.queue_orders(outcome)
    if outcome == "lost_reply":
        live.fake.script("orders.get", 404)  # filled, but not visible at once
    trader, sink = live.trader(Script(lambda k: BUY))
    assert trader.start()
    trader.step()  # sends; the reply never comes (read timeout)
    live.fake.release_stalls()
    [order] = live.journal()
    assert order["state"] == "UNKNOWN" and order["code"] == "timeout"
    assert "order" in sink.kinds("warning")
    assert sink.latest("live/halted") == 1.0 and sink.latest("live/unresolved") == 1.0

    live.advance()  # 60 s < the grace: not found yet, still unresolved
    assert trader.step()
    assert len(live.posts()) == 1  # the policy said BUY: no order while unresolved
    assert trader.decisions[0]["reason"] == "halted: orders unresolved"
    assert live.states() == ["UNKNOWN"]

    live.advance()  # resolved by its client id
    assert trader.step()
    lookups = [r.path for r in live.fake.received("orders.get")]
    assert lookups and all(p.endswith(f"/orders/@{order['client_id']}") for p in lookups)
    ask = float(live.fake.price_obj(INSTRUMENT, True)["asks"][0]["price"])
    if outcome == "lost_reply":  # found filled: recorded, never re-sent
        [resolved] = live.journal()
        fill = next(t for t in live.fake.transactions if t["type"] == "ORDER_FILL")
        assert resolved["state"] == "FILLED" and resolved["filled_units"] == 1
        assert resolved["fill_price"] == float(fill["price"])
        assert len(live.posts()) == 1
        assert trader.decisions[0]["reason"] == "invalid: BUY while in a position"
    else:  # never arrived: NOT_FOUND after the grace, and this bar trades
        assert live.states() == ["NOT_FOUND", "FILLED"]
        posts = live.posts()
        assert len(posts) == 2
        assert posts[0]["clientExtensions"]["id"] != posts[1]["clientExtensions"]["id"]
        assert live.journal()[1]["fill_price"] == ask
    assert live.fake.net_units(INSTRUMENT) == 1 and sink.latest("live/position") == 1.0
    assert sink.latest("live/halted") == 0.0 and sink.latest("live/unresolved") == 0.0
    live.advance()
    trader.step()
    assert len(live.posts()) == (1 if outcome == "lost_reply" else 2)


def test_a_crash_between_send_and_record_is_resolved_not_resent(
    live: Live, crash_after_send: Callable[[bool], None]
) -> None:
    trader, _ = live.trader(Script(lambda k: BUY))
    assert trader.start()
    crash_after_send(True)
    with pytest.raises(Crash):
        trader.step()  # filled at the broker, the process dies before recording it
    crash_after_send(False)
    assert live.states() == ["SENT"] and live.fake.net_units(INSTRUMENT) == 1

    trader2, sink2 = live.trader(Script(lambda k: BUY))  # a new process, same database
    assert trader2.start()
    [order] = live.journal()
    fill = next(t for t in live.fake.transactions if t["type"] == "ORDER_FILL")
    assert order["state"] == "FILLED" and order["fill_price"] == float(fill["price"])
    assert ("info", "order", f"order {order['client_id']} resolved: FILLED") in sink2.events
    assert "reconcile" not in sink2.kinds("error")
    assert Journal(live.conn(), "t", "live", "oanda").get_state(HALTED) is None
    assert sink2.latest("live/position") == 1.0 and sink2.latest("live/halted") == 0.0
    assert trader2.tracker.side == 1
    for _ in range(3):
        live.advance()
        assert trader2.step()
    assert len(live.posts()) == 1  # never a second order
    assert trader2.decisions[0]["reason"] == "invalid: BUY while in a position"


def test_a_position_the_journal_does_not_know_halts_entries(live: Live) -> None:
    live.fake.create_order({"order": {"type": "MARKET", "instrument": INSTRUMENT, "units": "-1",
                                      "timeInForce": "FOK",
                                      "clientExtensions": {"id": "by-hand"}}}, "fill")
    trader, sink = live.trader(Script(lambda k: BUY))
    trader.start()
    assert "reconcile" in sink.kinds("error")
    halted = Journal(live.conn(), "t", "live", "oanda").get_state(HALTED)
    assert halted["kind"] == "mismatch" and "the broker has -1" in halted["reason"]
    assert sink.latest("live/halted") == 1.0
    for _ in range(3):
        trader.step()
        live.advance()
    assert live.posts() == [] and live.journal() == []
    assert trader.decisions[0]["reason"].startswith("halted: position mismatch")
    assert live.fake.net_units(INSTRUMENT) == -1


def test_cancelled_and_rejected_orders(live: Live) -> None:
    live.fake.queue_orders("cancel:MARKET_HALTED", "reject:INSUFFICIENT_MARGIN")
    trader, sink = live.trader(Script(lambda k: BUY))
    assert trader.start()
    trader.step()
    live.advance()
    trader.step()
    cancelled, rejected = live.journal()
    assert (cancelled["state"], cancelled["reason"]) == ("CANCELLED", "MARKET_HALTED")
    assert (rejected["state"], rejected["reason"]) == ("REJECTED", "INSUFFICIENT_MARGIN")
    assert rejected["code"] == "INSUFFICIENT_MARGIN"
    assert cancelled["filled_units"] == 0 and rejected["filled_units"] == 0
    assert live.fake.net_units(INSTRUMENT) == 0 and sink.latest("live/position") == 0.0
    assert sink.latest("live/rejects") == 2.0 and sink.latest("live/fills") == 0.0
    warned = [m for lv, k, m in sink.events if lv == "warning" and k == "order"]
    assert any("CANCELLED: MARKET_HALTED" in m for m in warned)
    assert any("REJECTED: INSUFFICIENT_MARGIN" in m for m in warned)
    live.advance()  # refused orders block nothing: the next bar trades
    trader.step()
    assert live.states() == ["CANCELLED", "REJECTED", "FILLED"]
    assert sink.latest("live/position") == 1.0


@pytest.mark.parametrize("where", ["order", "read"])
def test_refused_credentials_stop_trading(live: Live, where: str,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("oandapyV20", "urllib3", "requests", "fxconsole"):
        caplog.set_level(logging.DEBUG, logger=name)
    trader, sink = live.trader(Script(lambda k: BUY))
    if where == "read":
        live.fake.script("candles", 401)
        with pytest.raises(AuthError):
            trader.start()
    else:
        assert trader.start()
        live.fake.queue_orders("unauthorized")
        with pytest.raises(AuthError):
            trader.step()
        [order] = live.journal()
        assert order["state"] == "UNKNOWN" and order["reason"] == "credentials refused"
    assert "broker" in sink.kinds("error")
    assert trader.metrics()["live/connected"] == 0.0
    live.fake.token = "revoked-" + TOKEN  # the token stays refused
    for _ in range(2):
        live.advance()
        with pytest.raises(AuthError):
            trader.step()
    assert len(live.posts()) == (1 if where == "order" else 0)
    assert live.fake.net_units(INSTRUMENT) == 0
    errors = [m for lv, k, m in sink.events if lv == "error"]
    assert any("HTTP 401" in m for m in errors)
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "performing request" in logged  # the HTTP client's logging was on
    texts = [logged, *(m for _, _, m in sink.events), *(str(o) for o in live.journal())]
    for secret in (live.fake.token, live.fake.account, TOKEN):
        assert all(secret not in text for text in texts)


def test_no_orders_on_a_saturday(fake_v20: FakeV20, oanda_config: OandaConfig,
                                 tmp_path: Path) -> None:
    live = Live(fake_v20, oanda_config, tmp_path / "console.sqlite", SATURDAY)
    try:
        trader, sink = live.trader(Script(lambda k: BUY))
        assert trader.start()
        assert trader.step()  # Friday's last bar, decided on Saturday: the market is closed
        assert trader.decisions[0]["policy"] == "BUY"
        assert trader.decisions[0]["action"] == "HOLD"
        assert "the market is closed" in trader.decisions[0]["reason"]
        before = len(live.fake.received("candles"))
        for _ in range(5):
            live.advance(7)
            assert not trader.step()  # no bar completes in the weekend
        assert live.posts() == [] and live.journal() == []
        polls = live.fake.received("candles")[before:]
        assert len(polls) == 5 and all(int(p.query["count"]) <= 5 for p in polls)
        assert sink.kinds("warning") == [] and sink.kinds("error") == []
    finally:
        live.close()


def run_round_trip(live: Live, close_lost: str = "",
                   crash_after_send: Callable[[bool], None] | None = None,
                   ) -> tuple[LiveTrader, Sink, list[dict[str, Any]]]:
    """BUY on the first bar, CLOSE on the fourth, two more bars.

    ``close_lost``: "crash": the process dies right after sending the close and a new one
    starts on the same database; "reply": the close's reply is lost and the fill shows a
    bar later. Returns the last trader, its sink and the trades every process reported.
    """
    trader, sink = live.trader(at({0: BUY, 3: CLOSE}))
    sinks = [sink]
    assert trader.start()
    trader.step()
    for k in range(1, 6):
        live.advance()
        if k == 3 and close_lost == "crash":
            assert crash_after_send is not None
            crash_after_send(True)
            with pytest.raises(Crash):
                trader.step()
            crash_after_send(False)
            assert live.states() == ["FILLED", "SENT"]
            trader, sink = live.trader(at({}))
            sinks.append(sink)
            assert trader.start()
            continue
        if k == 3 and close_lost == "reply":
            live.fake.queue_orders("lost_reply")
            live.fake.script("orders.get", 404)
        trader.step()
        if k == 3 and close_lost == "reply":
            live.fake.release_stalls()  # (released stalls stay released)
            assert live.states() == ["FILLED", "UNKNOWN"]
        if k == 4 and close_lost == "reply":
            assert live.states() == ["FILLED", "UNKNOWN"] and sink.closed == []
    return trader, sink, [t for s in sinks for t in s.closed]


@pytest.mark.parametrize("close_lost", ["crash", "reply"])
def test_a_close_resolved_late_reports_its_trade_once(
    live: Live, oanda_config: OandaConfig, tmp_path: Path,
    crash_after_send: Callable[[bool], None], close_lost: str,
) -> None:
    reference = Live(FakeV20().start(), oanda_config, tmp_path / "reference.sqlite", WEDNESDAY)
    try:
        _, ref_sink, ref_trades = run_round_trip(reference)
    finally:
        reference.close()
        reference.fake.close()
    [expected] = ref_trades
    assert expected["bars_held"] == 3
    trader, sink, trades = run_round_trip(live, close_lost, crash_after_send)
    # the same trade as without the loss (exit on the close's bar), reported once
    assert trades == [expected]
    assert live.states() == ["FILLED", "FILLED"] and len(live.posts()) == 2
    assert live.fake.net_units(INSTRUMENT) == 0 and trader.tracker.flat
    for key in ("live/trades", "live/realised_pips", "live/today_pips"):
        assert sink.latest(key) == pytest.approx(ref_sink.latest(key)), key
    assert sink.latest("live/today_pips") == pytest.approx(expected["pips"])
    totals = Journal(live.conn(), "t", "live", "oanda").get_state(TOTALS)
    assert totals["trades"] == 1 and totals["realised_pips"] == pytest.approx(expected["pips"])
    # a new process finds nothing left to resolve and counts nothing again
    trader3, sink3 = live.trader(at({}))
    assert trader3.start()
    assert sink3.closed == [] and sink3.latest("live/trades") == 1.0
    assert sink3.latest("live/today_pips") == pytest.approx(expected["pips"])


def test_a_close_filled_yesterday_does_not_count_today(
    fake_v20: FakeV20, oanda_config: OandaConfig, tmp_path: Path,
    crash_after_send: Callable[[bool], None],
) -> None:
    # the trading day rolls at 17:00 New York, 21:00 UTC in March
    live = Live(fake_v20, oanda_config, tmp_path / "console.sqlite",
                utc_ns("2024-03-13T20:56:30"))
    try:
        trader, _ = live.trader(at({0: BUY, 3: CLOSE}))
        assert trader.start()
        trader.step()
        for _ in range(2):
            live.advance()
            trader.step()
        live.advance()  # 20:59:30: the close is sent and filled, then the process dies
        crash_after_send(True)
        with pytest.raises(Crash):
            trader.step()
        crash_after_send(False)
        live.advance(2)  # 21:01:30: a new trading day
        trader2, sink2 = live.trader(at({}))
        assert trader2.start()
        [trade] = sink2.closed
        assert live.states() == ["FILLED", "FILLED"]
        assert sink2.latest("live/trades") == 1.0
        assert sink2.latest("live/realised_pips") == pytest.approx(trade["pips"])
        assert sink2.latest("live/today_pips") == 0.0  # yesterday's
    finally:
        live.close()
