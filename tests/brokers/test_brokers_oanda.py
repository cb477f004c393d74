"""OandaBroker against the fake v20 server, through the real oandapyV20 client."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from itertools import pairwise
from typing import Any

import pytest
import requests

from fake_v20 import REDUCE_ONLY_CANCEL_REASON, FakeV20, fmt_time  # isort: skip

from fxconsole.brokers.base import AuthError, BrokerError, BrokerTimeout, OrderRequest, OrderState
from fxconsole.brokers.credentials import Credentials
from fxconsole.brokers.oanda import OandaBroker, check_live_opt_in, is_live_url
from fxconsole.brokers.oanda_stream import StreamStatus
from fxconsole.config import OandaConfig

MakeBroker = Callable[..., OandaBroker]
NS = 1_000_000_000
MIN = 60 * NS
# Wednesday 2024-01-10 12:00:30 UTC: the 12:00 M1 candle is still forming.
WEDNESDAY_NOON = 1_704_888_000 * NS


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


# --- orders ---------------------------------------------------------------------------

def test_fill_sends_a_fok_market_order_once(fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    broker = make_broker()
    result = broker.market_order(OrderRequest("cid-1", "GBPJPY", 1000))
    assert result.state is OrderState.FILLED
    assert result.units == 1000 and result.price == pytest.approx(187.530)
    assert result.order_id and result.transaction_id and result.ts > 0
    (post,) = fake_v20.received("orders.create")
    assert post.body == {"order": {
        "type": "MARKET", "instrument": "GBP_JPY", "units": "1000", "timeInForce": "FOK",
        "positionFill": "DEFAULT", "clientExtensions": {"id": "cid-1"}}}
    assert fake_v20.net_units("GBP_JPY") == 1000
    sell = broker.market_order(OrderRequest("cid-2", "GBP_JPY", -1000))
    assert sell.state is OrderState.FILLED and sell.units == -1000
    assert sell.price == pytest.approx(187.500) and sell.pl == pytest.approx(-30.0)
    assert fake_v20.net_units("GBP_JPY") == 0


def test_reduce_only_exit_never_opens_or_grows_a_position(fake_v20: FakeV20,
                                                          make_broker: MakeBroker) -> None:
    broker = make_broker()
    # an exit against a flat account: cancelled by the server, nothing opened
    flat = broker.market_order(OrderRequest("x-flat", "GBPJPY", -1000, reduce_only=True))
    (post,) = fake_v20.received("orders.create")
    assert post.body["order"]["positionFill"] == "REDUCE_ONLY"
    assert flat.state is OrderState.CANCELLED and flat.reason == REDUCE_ONLY_CANCEL_REASON
    assert flat.units == 0 and fake_v20.net_units("GBP_JPY") == 0
    assert broker.position("GBPJPY").units == 0
    resolved = broker.order_by_client_id("x-flat")
    assert resolved is not None and resolved.state is OrderState.CANCELLED
    # an entry is DEFAULT; a reduce-only order on the same side would grow it: cancelled
    assert broker.market_order(OrderRequest("in", "GBPJPY", 1000)).state is OrderState.FILLED
    assert fake_v20.received("orders.create")[-1].body["order"]["positionFill"] == "DEFAULT"
    grow = broker.market_order(OrderRequest("x-grow", "GBPJPY", 500, reduce_only=True))
    assert grow.state is OrderState.CANCELLED and fake_v20.net_units("GBP_JPY") == 1000
    # an exit larger than the position closes it and goes no further
    out = broker.market_order(OrderRequest("x-out", "GBPJPY", -1500, reduce_only=True))
    assert out.state is OrderState.FILLED and out.units == -1000
    assert fake_v20.net_units("GBP_JPY") == 0 and broker.position("GBPJPY").units == 0


@pytest.mark.parametrize("reason", ["MARKET_HALTED", "INSUFFICIENT_MARGIN"])
def test_cancel_gives_cancelled_with_the_reason(fake_v20: FakeV20, make_broker: MakeBroker,
                                                reason: str) -> None:
    fake_v20.queue_orders(f"cancel:{reason}")
    broker = make_broker()
    result = broker.market_order(OrderRequest("cid-c", "GBPJPY", 5))
    assert result.state is OrderState.CANCELLED and result.reason == reason
    assert result.units == 0 and result.price is None and result.order_id
    assert fake_v20.net_units("GBP_JPY") == 0
    resolved = broker.order_by_client_id("cid-c")
    assert resolved is not None and resolved.state is OrderState.CANCELLED
    assert resolved.reason == reason


def test_400_reject_gives_rejected_with_the_reason(fake_v20: FakeV20,
                                                  make_broker: MakeBroker) -> None:
    fake_v20.queue_orders("reject:UNITS_LIMIT_EXCEEDED")
    broker = make_broker()
    result = broker.market_order(OrderRequest("cid-r", "GBPJPY", 10**9))
    assert result.state is OrderState.REJECTED
    assert result.reason == "UNITS_LIMIT_EXCEEDED" and result.code == "UNITS_LIMIT_EXCEEDED"
    assert result.transaction_id
    assert broker.order_by_client_id("cid-r") is None  # a rejected order never existed


def test_a_reused_client_id_is_rejected_by_the_server(fake_v20: FakeV20,
                                                     make_broker: MakeBroker) -> None:
    broker = make_broker()
    assert broker.market_order(OrderRequest("same", "GBPJPY", 1)).state is OrderState.FILLED
    again = broker.market_order(OrderRequest("same", "GBPJPY", 1))
    assert again.state is OrderState.REJECTED
    assert again.reason == "CLIENT_ORDER_ID_ALREADY_EXISTS"
    assert fake_v20.net_units("GBP_JPY") == 1


def test_401_on_an_order_raises_auth_error(fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    fake_v20.queue_orders("unauthorized")
    broker = make_broker()
    with pytest.raises(AuthError) as info:
        broker.market_order(OrderRequest("cid-a", "GBPJPY", 1))
    assert info.value.status == 401 and fake_v20.count("orders.create") == 1
    assert fake_v20.token not in str(info.value)


def test_wrong_token_on_reads_raises_auth_error_without_retrying(
        fake_v20: FakeV20, oanda_config: OandaConfig) -> None:
    broker = OandaBroker(oanda_config, Credentials("wrong-token-123456", fake_v20.account),
                         environ={}, stream=False, sleep=lambda s: None)
    try:
        with pytest.raises(AuthError, match="HTTP 401"):
            broker.account()
        assert fake_v20.count("summary") == 1
    finally:
        broker.close()


def test_5xx_on_an_order_is_unknown_and_not_resent(fake_v20: FakeV20,
                                                   make_broker: MakeBroker) -> None:
    fake_v20.queue_orders("server_error")
    result = make_broker().market_order(OrderRequest("cid-5", "GBPJPY", 1))
    assert result.state is OrderState.UNKNOWN and result.code == "500"
    assert fake_v20.count("orders.create") == 1


def test_lost_reply_gives_unknown_once_then_resolves_to_the_fill(
        fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    fake_v20.queue_orders("lost_reply")
    broker = make_broker()
    result = broker.market_order(OrderRequest("cid-lost", "GBPJPY", 700))
    assert result.state is OrderState.UNKNOWN and result.code == "timeout"
    assert fake_v20.count("orders.create") == 1  # never re-sent
    assert fake_v20.net_units("GBP_JPY") == 700  # yet the server filled it
    resolved = broker.order_by_client_id("cid-lost")
    assert resolved is not None and resolved.state is OrderState.FILLED
    assert resolved.units == 700 and resolved.price == pytest.approx(187.530)
    assert resolved.transaction_id and resolved.order_id
    assert broker.position("GBPJPY").units == 700
    fake_v20.release_stalls()
    assert fake_v20.count("orders.create") == 1


def test_lost_request_gives_unknown_then_not_found(fake_v20: FakeV20,
                                                  make_broker: MakeBroker) -> None:
    fake_v20.queue_orders("lost_request")
    broker = make_broker()
    result = broker.market_order(OrderRequest("cid-gone", "GBPJPY", 3))
    assert result.state is OrderState.UNKNOWN
    assert broker.order_by_client_id("cid-gone") is None
    assert fake_v20.count("orders.create") == 1


def test_connection_refused_order_is_unknown_and_read_fails_cleanly(
        fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    broker = make_broker(retries=1)
    broker._netting_checked = True  # as after startup (no kept-alive connection here)
    fake_v20.close()
    result = broker.market_order(OrderRequest("cid-x", "GBPJPY", 1))
    assert result.state is OrderState.UNKNOWN and result.code == "connection"
    with pytest.raises(BrokerError) as info:
        broker.account()
    assert info.value.retriable and "connection failed" in str(info.value)
    assert fake_v20.account not in str(info.value)


def test_a_hedging_account_is_refused(fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    fake_v20.hedging_enabled = True
    broker = make_broker()
    for call in (lambda: broker.position("GBPJPY"), broker.account,
                 lambda: broker.market_order(OrderRequest("h1", "GBPJPY", 1))):
        with pytest.raises(BrokerError, match="hedging enabled") as info:
            call()
        assert not info.value.retriable and fake_v20.account not in str(info.value)
    assert fake_v20.count("orders.create") == 0 and fake_v20.count("openPositions") == 0


def test_a_netting_account_is_checked_once(fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    broker = make_broker()
    broker.market_order(OrderRequest("n1", "GBPJPY", 1))  # the first call checks
    broker.position("GBPJPY")
    broker.market_order(OrderRequest("n2", "GBPJPY", -1))
    assert fake_v20.count("summary") == 1
    assert fake_v20.received("summary")[0].path.endswith("/summary")


def test_a_dead_server_on_the_first_order_raises_without_sending(
        fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    broker = make_broker(retries=0)
    fake_v20.close()
    with pytest.raises(BrokerError, match="account summary"):
        broker.market_order(OrderRequest("d1", "GBPJPY", 1))
    assert fake_v20.count("orders.create") == 0


# --- reads and retries ----------------------------------------------------------------

def test_429_then_success(fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    waits: list[float] = []
    fake_v20.script("summary", 429, retry_after=0.25)
    broker = make_broker()
    broker._sleep = waits.append  # record the waits instead of sleeping
    account = broker.account()
    assert account.currency == "GBP" and account.balance == pytest.approx(100_000.0)
    assert fake_v20.count("summary") == 2
    assert waits and waits[0] >= 0.25  # the Retry-After header was honoured


def test_500_on_a_read_is_retried_then_succeeds(fake_v20: FakeV20,
                                               make_broker: MakeBroker) -> None:
    fake_v20.script("openPositions", 500, 503)
    assert make_broker().position("GBPJPY").units == 0
    assert fake_v20.count("openPositions") == 3


def test_persistent_500_raises_after_the_retries(fake_v20: FakeV20,
                                                make_broker: MakeBroker) -> None:
    fake_v20.fail_always("summary", 500)
    with pytest.raises(BrokerError) as info:
        make_broker(retries=2).account()
    assert info.value.status == 500 and not isinstance(info.value, AuthError)
    assert fake_v20.count("summary") == 3


def test_a_read_timeout_is_a_retried_broker_timeout(fake_v20: FakeV20,
                                                   make_broker: MakeBroker) -> None:
    fake_v20.queue_orders("lost_reply")
    broker = make_broker()
    broker.market_order(OrderRequest("cid-t", "GBPJPY", 1))  # stalls one handler only
    assert broker.account().last_transaction_id  # later reads are unaffected


def test_404_on_a_read_is_not_retried(fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    assert make_broker().order_by_client_id("never-sent") is None
    assert fake_v20.count("orders.get") == 1


# --- candles --------------------------------------------------------------------------

def test_candles_skip_the_incomplete_one(fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    fake_v20.now_ns = WEDNESDAY_NOON + 30 * NS
    bars = make_broker().candles("GBPJPY", "M1", 10)
    assert len(bars) == 10
    assert bars[-1].ts == WEDNESDAY_NOON - MIN  # 12:00 is still forming
    assert [b.ts for b in bars] == [WEDNESDAY_NOON - (10 - i) * MIN for i in range(10)]
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in bars)
    (req,) = fake_v20.received("candles")
    assert req.query["price"] == "M" and req.query["count"] == "11"


def test_candles_page_back_beyond_5000(fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    fake_v20.now_ns = WEDNESDAY_NOON + 30 * NS
    bars = make_broker().candles("GBPJPY", "M1", 6000)
    ts = [b.ts for b in bars]
    assert len(ts) == 6000 and ts == sorted(set(ts)) and ts[-1] == WEDNESDAY_NOON - MIN
    steps = [b - a for a, b in pairwise(ts)]
    assert sum(s != MIN for s in steps) == 1  # every minute but the weekend closure
    assert max(steps) == 48 * 3600 * NS + MIN  # Fri 22:00 → Sun 22:00 UTC (winter)
    assert fake_v20.count("candles") == 2
    assert all(int(r.query["count"]) <= 5000 for r in fake_v20.received("candles"))


def test_fetch_candles_window_and_limits(fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    fake_v20.now_ns = WEDNESDAY_NOON
    broker = make_broker()
    start = WEDNESDAY_NOON - 3 * 3600 * NS
    bars, last = broker.fetch_candles("GBPJPY", "M1", start, end_ns=start + 100 * MIN)
    assert bars[0].ts == start and last == bars[-1].ts and len(bars) in (100, 101)
    bars, last = broker.fetch_candles("GBPJPY", "M1", start, count=30)
    assert len(bars) == 30 and last == start + 29 * MIN
    with pytest.raises(ValueError, match=r"1\.\.5000"):
        broker.fetch_candles("GBPJPY", "M1", start, count=5001)
    with pytest.raises(BrokerError, match="HTTP 400"):  # more than 5000 periods in a window
        broker.fetch_candles("GBPJPY", "M1", start - 6000 * MIN, end_ns=start)


def test_the_fake_refuses_count_over_5000(fake_v20: FakeV20) -> None:
    reply = requests.get(f"{fake_v20.api_url}/v3/instruments/GBP_JPY/candles",
                         params={"granularity": "M1", "count": "5001"},
                         headers={"Authorization": f"Bearer {fake_v20.token}"}, timeout=5)
    assert reply.status_code == 400 and "count" in reply.json()["errorMessage"]
    anonymous = requests.get(f"{fake_v20.api_url}/v3/instruments/GBP_JPY/candles", timeout=5)
    assert anonymous.status_code == 401


# --- positions, account, transactions -------------------------------------------------

def test_position_nets_fills_and_falls_back_to_open_trades(
        fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    broker = make_broker()
    assert broker.position("GBPJPY").units == 0
    broker.market_order(OrderRequest("p1", "GBPJPY", 100))
    fake_v20.set_price("GBP_JPY", 188.000, 188.040)
    broker.market_order(OrderRequest("p2", "GBPJPY", 100))
    pos = broker.position("GBPJPY")
    assert pos.units == 200 and pos.avg_price == pytest.approx((187.53 + 188.04) / 2)
    assert len(pos.trade_ids) == 2
    fake_v20.positions_include_trade_ids = False
    assert broker.position("GBPJPY").trade_ids == pos.trade_ids
    assert fake_v20.count("openTrades") == 1
    broker.market_order(OrderRequest("p3", "GBPJPY", -250))
    short = broker.position("GBPJPY")
    assert short.units == -50 and short.avg_price == pytest.approx(188.000)


def test_account_and_transactions_since(fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    broker = make_broker()
    first = broker.account().last_transaction_id
    for i in range(3):
        broker.market_order(OrderRequest(f"t{i}", "GBPJPY", 1))
    fake_v20.sinceid_limit = 2  # force paging
    txs = broker.transactions_since(first)
    assert [t["type"] for t in txs] == ["MARKET_ORDER", "ORDER_FILL"] * 3
    assert not any("accountID" in t for t in txs)
    ids = [int(t["id"]) for t in txs]
    assert ids == sorted(set(ids)) and str(ids[-1]) == broker.account().last_transaction_id
    assert broker.transactions_since(str(ids[-1])) == []


# --- pricing and the stream -----------------------------------------------------------

def test_quote_without_stream_uses_pricing(fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    fake_v20.set_price("GBP_JPY", 190.100, 190.125, tradeable=False)
    quote = make_broker().quote("GBPJPY")
    assert (quote.bid, quote.ask, quote.tradeable) == (190.100, 190.125, False)
    assert quote.mid == pytest.approx(190.1125)
    assert fake_v20.count("pricing") == 1 and fake_v20.count("stream") == 0


def test_stream_quotes_then_goes_silent_then_reconnects(
        fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    # Slower reconnects and two refused reconnects keep the stale period easy to observe.
    broker = make_broker(stream=True, backoff_seconds=0.3, backoff_cap_seconds=0.6)
    broker.quote("GBPJPY")  # no stream quote yet: a pricing request, and subscribe
    wait_until(lambda: not _status(broker).stale)
    fake_v20.set_price("GBP_JPY", 188.200, 188.230)
    wait_until(lambda: broker.quote("GBPJPY").bid == 188.200)
    pricing_before = fake_v20.count("pricing")
    fake_v20.script("stream", 503, 503)
    fake_v20.stream_go_silent()
    wait_until(lambda: _status(broker).stale)  # marked stale meanwhile
    quote = broker.quote("GBPJPY")  # falls back to a pricing request
    assert quote.bid == 188.200 and fake_v20.count("pricing") > pricing_before
    wait_until(lambda: fake_v20.count("stream") >= 4 and not _status(broker).stale)
    assert _status(broker).reconnects >= 1
    fake_v20.set_price("GBP_JPY", 188.300, 188.330)
    wait_until(lambda: broker.quote("GBPJPY").bid == 188.300)


def test_stream_drop_reconnects(fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    broker = make_broker(stream=True)
    broker.subscribe("GBPJPY")
    wait_until(lambda: not _status(broker).stale)
    fake_v20.stream_drop()
    wait_until(lambda: fake_v20.stream_connections >= 2 and not _status(broker).stale
               and _status(broker).reconnects >= 1)
    assert "pricing stream" in _status(broker).last_error  # why the last connection ended
    assert broker.quote("GBPJPY").bid == pytest.approx(187.500)


def test_stream_refused_then_recovers(fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    fake_v20.script("stream", 503, 503)
    broker = make_broker(stream=True)
    broker.subscribe("GBPJPY")
    wait_until(lambda: not _status(broker).stale)
    assert fake_v20.count("stream") >= 3


def _status(broker: OandaBroker) -> StreamStatus:
    status = broker.stream_status()
    assert status is not None
    return status


# --- configuration --------------------------------------------------------------------

def test_live_needs_both_opt_ins() -> None:
    live = OandaConfig(environment="live")
    with pytest.raises(BrokerError) as info:
        check_live_opt_in(live, {})
    assert "oanda.allow_live = true" in str(info.value)
    assert "OANDA_ALLOW_LIVE=yes" in str(info.value)
    with pytest.raises(BrokerError) as info:
        check_live_opt_in(replace(live, allow_live=True), {"OANDA_ALLOW_LIVE": "no"})
    assert "OANDA_ALLOW_LIVE=yes in the environment" in str(info.value)
    assert "allow_live = true" not in str(info.value)
    with pytest.raises(BrokerError, match="oanda.allow_live = true in the config$"):
        check_live_opt_in(live, {"OANDA_ALLOW_LIVE": "yes"})
    check_live_opt_in(replace(live, allow_live=True), {"OANDA_ALLOW_LIVE": "yes"})
    check_live_opt_in(OandaConfig(), {})  # practice needs nothing


@pytest.mark.parametrize("urls", [
    {"api_url": "https://api-fxtrade.oanda.com"},
    {"stream_url": "https://STREAM-FXTRADE.oanda.com./"},
    {"env": {"OANDA_API_URL": "https://api-fxtrade.oanda.com/"}},
    {"env": {"OANDA_STREAM_URL": "https://stream-fxtrade.oanda.com:443"}},
])
def test_a_live_url_override_needs_the_live_opt_ins(credentials: Credentials,
                                                    urls: dict[str, Any]) -> None:
    env = dict(urls.pop("env", {}))
    practice = OandaConfig(**urls)  # environment = practice, no opt-in
    with pytest.raises(BrokerError) as info:
        OandaBroker(practice, credentials, environ=env, stream=False)
    msg = str(info.value)
    assert "refusing to trade the OANDA live environment" in msg and "fxtrade" in msg
    assert 'oanda.environment = "live"' in msg and "oanda.allow_live = true" in msg
    assert "OANDA_ALLOW_LIVE=yes" in msg and credentials.token not in msg
    # even both opt-ins are not enough while the config says practice
    with pytest.raises(BrokerError, match='needs oanda.environment = "live" in the config$'):
        OandaBroker(replace(practice, allow_live=True), credentials,
                    environ={**env, "OANDA_ALLOW_LIVE": "yes"}, stream=False)
    live = replace(practice, environment="live", allow_live=True)
    with pytest.raises(BrokerError, match="OANDA_ALLOW_LIVE=yes in the environment$"):
        OandaBroker(live, credentials, environ=env, stream=False)
    OandaBroker(live, credentials, environ={**env, "OANDA_ALLOW_LIVE": "yes"},
                stream=False).close()  # every opt-in given: allowed (no request made)


def test_live_hosts_are_recognised() -> None:
    for url in ("https://api-fxtrade.oanda.com", "https://stream-fxtrade.oanda.com/v3",
                "http://API-FXTRADE.OANDA.COM.:443"):
        assert is_live_url(url), url
    for url in ("https://api-fxpractice.oanda.com", "http://127.0.0.1:8080", "",
                "https://api-fxtrade.oanda.com.evil.example", "not a url"):
        assert not is_live_url(url), url
    check_live_opt_in(OandaConfig(), {}, ("https://api-fxpractice.oanda.com",
                                          "https://stream-fxpractice.oanda.com"))
    with pytest.raises(BrokerError):
        check_live_opt_in(OandaConfig(), {}, ("http://127.0.0.1:1",
                                              "https://stream-fxtrade.oanda.com"))


def test_live_broker_refused_in_the_constructor(fake_v20: FakeV20, oanda_config: OandaConfig,
                                               credentials: Credentials) -> None:
    live = replace(oanda_config, environment="live")
    with pytest.raises(BrokerError, match="refusing to trade the OANDA live environment"):
        OandaBroker(live, credentials, environ={}, stream=False)
    broker = OandaBroker(replace(live, allow_live=True), credentials,
                         environ={"OANDA_ALLOW_LIVE": "yes"}, stream=False)
    try:
        assert broker.account().currency == "GBP"  # the URL override still applies
    finally:
        broker.close()


def test_environment_urls_override_the_config(fake_v20: FakeV20, oanda_config: OandaConfig,
                                              credentials: Credentials) -> None:
    bogus = replace(oanda_config, api_url="http://127.0.0.1:9", stream_url="http://127.0.0.1:9")
    env = {"OANDA_API_URL": fake_v20.api_url + "/", "OANDA_STREAM_URL": fake_v20.stream_url}
    broker = OandaBroker(bogus, credentials, environ=env, stream=False)
    try:
        assert broker.api_url == fake_v20.api_url and broker.environment.startswith("fxconsole-")
        assert broker.account().balance > 0
    finally:
        broker.close()
    default = OandaBroker(OandaConfig(), credentials, environ={}, stream=False)
    assert default.environment == "practice"
    assert default.api_url == "https://api-fxpractice.oanda.com"
    default.close()


def test_times_are_read_in_both_formats(fake_v20: FakeV20) -> None:
    from fxconsole.brokers.oanda_wire import format_unix, parse_time

    ts = 1_704_888_000_123_456_789
    assert parse_time(fmt_time(ts, True)) == ts == parse_time(fmt_time(ts, False))
    assert parse_time(format_unix(ts)) == ts
    assert parse_time("2024-01-10T13:00:00.5+01:00") == 1_704_888_000_500_000_000
    with pytest.raises(ValueError, match="neither"):
        parse_time("yesterday")


# --- secrets --------------------------------------------------------------------------

def test_token_and_account_never_leak(fake_v20: FakeV20, make_broker: MakeBroker,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("oandapyV20", "urllib3", "requests", "fxconsole"):
        caplog.set_level(logging.DEBUG, logger=name)  # restored after the test
    secrets = (fake_v20.token, fake_v20.account)
    texts: list[str] = []
    broker = make_broker(stream=True, retries=1)
    texts.append(repr(broker))
    broker.quote("GBPJPY")
    wait_until(lambda: not _status(broker).stale)
    broker.market_order(OrderRequest("s1", "GBPJPY", 1))
    fake_v20.queue_orders("reject", "cancel:MARKET_HALTED", "lost_reply", "unauthorized")
    for i in range(3):
        texts.append(repr(broker.market_order(OrderRequest(f"s{i + 2}", "GBPJPY", 1))))
    fake_v20.fail_always("summary", 500)
    fake_v20.script("openPositions", 401)
    fake_v20.stream_drop()
    for call in (lambda: broker.market_order(OrderRequest("s9", "GBPJPY", 1)), broker.account,
                 lambda: broker.position("GBPJPY"), lambda: broker.order_by_client_id("nope")):
        try:
            texts.append(repr(call()))
        except BrokerError as exc:
            texts.append(str(exc) + repr(exc) + "".join(traceback.format_exception(exc)))
    wait_until(lambda: _status(broker).reconnects >= 1)
    texts.append(repr(_status(broker)))
    fake_v20.close()
    try:
        broker.account()
    except BrokerError as exc:
        assert isinstance(exc, BrokerError | BrokerTimeout)
        texts.append(str(exc) + "".join(traceback.format_exception(exc)))
    broker.close()
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "performing request" in logged and "127.0.0.1" in logged  # logging was on
    for secret in secrets:
        assert secret not in logged
        for text in texts:
            assert secret not in text


def test_close_ends_the_stream_thread_while_the_stream_is_silent(
        fake_v20: FakeV20, make_broker: MakeBroker) -> None:
    # a long silence limit: without an interrupt the reader would block for 30 s
    broker = make_broker(stream=True, stream_silence_seconds=30.0)
    broker.subscribe("GBPJPY")
    wait_until(lambda: not _status(broker).stale)
    fake_v20.stream_go_silent()
    time.sleep(0.2)  # the reader is now blocked on a silent connection
    stream = broker._stream
    assert stream is not None and stream._thread is not None
    started = time.monotonic()
    broker.close()
    assert time.monotonic() - started < 2.5
    stream._thread.join(2.0)
    assert not stream._thread.is_alive() and not _status(broker).running
    assert fake_v20.stream_connections == 1  # it did not reconnect after close()
