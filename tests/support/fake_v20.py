"""A fake OANDA v20 server on 127.0.0.1, enough of v20 for the real oandapyV20 client.

One ``ThreadingHTTPServer`` in a daemon thread on an ephemeral port serves both the REST
API and the pricing stream (``api_url == stream_url``). It keeps its own account (orders,
trades netted FIFO, transactions, balance), so reconciliation can be tested, requires
``Authorization: Bearer <token>`` (401 otherwise) and the account id in the path (403),
and logs every request it receives (``requests``).

Scripting (all thread-safe):

* ``queue_orders(*outcomes)``: outcomes of the next order POSTs, in order (default
  ``"fill"``): ``"fill"``, ``"cancel:MARKET_HALTED"``, ``"cancel:INSUFFICIENT_MARGIN"``
  (any ``cancel:REASON``), ``"reject"`` / ``"reject:REASON"`` (HTTP 400 with an
  ``orderRejectTransaction``), ``"unauthorized"`` (401), ``"server_error"`` (500, nothing
  recorded), ``"lost_reply"`` (the order is filled, then the reply stalls past the client's
  read timeout) and ``"lost_request"`` (stalls, nothing recorded).
* ``script(endpoint, *statuses, retry_after=None)``: the next requests to ``endpoint``
  (see ``ENDPOINTS``) answer these HTTP statuses in order; ``None`` passes one through.
  ``fail_always(endpoint, status)`` until ``clear_scripts()``.
* ``set_price(instrument, bid, ask, tradeable=True)``; the stream sends changes.
* ``stream_go_silent()``: open stream connections stop sending anything (no heartbeat)
  but stay open; ``stream_drop()``: open stream connections are cut mid-stream. New
  connections are healthy. ``heartbeat_seconds`` sets the heartbeat interval.
* ``now_ns``: the server clock (None: the real time); candles at or after it do not
  exist, the one containing it is ``complete: false``.
* ``release_stalls()``: let stalled handlers finish.
* ``hedging_enabled``: what the account summary reports as ``hedgingEnabled`` (default
  False: a netting account).

Orders honour ``positionFill``: ``"REDUCE_ONLY"`` only reduces the open position. An order
that would open or increase one (flat account, or the same side) is cancelled with
``REDUCE_ONLY_CANCEL_REASON``; one larger than the opposite position fills only the
units that close it. (OANDA documents REDUCE_ONLY as "only reduce an existing Position"
but its OrderCancelReason list has no reason for it, so the reason is the fake's own; the
broker passes any cancel reason through unchanged.)
"""

from __future__ import annotations

import itertools
import json
import math
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from fxconsole.market.fxcalendar import is_weekend
from fxconsole.timeutil import TIMEFRAME_SECONDS

NS = 1_000_000_000
MAX_COUNT = 5000
TOKEN = "f4k3t0k3n0a1b2c3d4e5f60718293a4b5c6d7e8f9-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
ACCOUNT = "101-004-7654321-001"
# The fake's cancel reason for a REDUCE_ONLY order that would open or grow a position.
REDUCE_ONLY_CANCEL_REASON = "POSITION_FILL_REDUCE_ONLY"
ENDPOINTS = ("candles", "pricing", "stream", "orders.create", "orders.get",
             "transactions.get", "transactions.sinceid", "openPositions", "openTrades",
             "summary")


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    endpoint: str
    path: str
    query: dict[str, str]
    body: Any = None
    authorized: bool = True


@dataclass
class Trade:
    id: str
    instrument: str
    units: int
    price: float
    open_time: int
    initial_units: int = 0


@dataclass
class _Script:
    statuses: deque[int | None] = field(default_factory=deque)
    always: int | None = None
    retry_after: float | None = None


def fmt_time(ns: int, unix: bool) -> str:
    """A v20 DateTime in the requested format."""
    seconds, frac = divmod(int(ns), NS)
    if unix:
        return f"{seconds}.{frac:09d}"
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + \
        f".{frac:09d}Z"


def parse_time(text: str) -> int:
    """A v20 DateTime (UNIX or RFC 3339) as ns."""
    text = unquote(text).strip()
    if text.replace(".", "", 1).isdigit():
        sec, _, frac = text.partition(".")
        return int(sec) * NS + int(frac.ljust(9, "0")[:9])
    base, _, frac = text.rstrip("Z").partition(".")
    when = datetime.fromisoformat(base).replace(tzinfo=UTC)
    return int(when.timestamp()) * NS + int(frac.ljust(9, "0")[:9] or 0)


def synthetic_mid(ts: int, period_s: int) -> tuple[float, float, float, float, int]:
    """Deterministic mid OHLC and volume of the candle opening at ``ts``."""
    def level(t: int) -> float:
        m = t / (60 * NS)
        return 150.0 + 1.5 * math.sin(m / 300.0) + 0.2 * math.sin(m / 7.3)

    o, c = round(level(ts), 3), round(level(ts + period_s * NS), 3)
    k = (ts // NS) * 2654435761 % 1000
    h = round(max(o, c) + 0.002 + k / 100_000, 3)
    low = round(min(o, c) - 0.002 - (999 - k) / 100_000, 3)
    return o, h, low, c, 1 + (ts // NS // 60) % 50


class V20Error(Exception):
    """Answer the current request with this status and body."""

    def __init__(self, status: int, body: dict[str, Any],
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class FakeV20:
    """The fake server. ``start()`` it (the fixture does), ``close()`` it at the end."""

    def __init__(self, token: str = TOKEN, account: str = ACCOUNT) -> None:
        self.token = token
        self.account = account
        self.currency = "GBP"
        self.now_ns: int | None = None
        self.heartbeat_seconds = 0.05
        self.stall_seconds = 10.0
        self.sinceid_limit = 1000
        self.positions_include_trade_ids = True
        self.hedging_enabled = False
        self.requests: list[Received] = []
        self.stream_connections = 0
        self._lock = threading.RLock()
        self._orders_queue: deque[str] = deque()
        self._scripts: dict[str, _Script] = {}
        self._prices: dict[str, tuple[float, float, bool, int]] = {}
        self._price_version = itertools.count(1)
        self._silence_gen = 0
        self._drop_gen = 0
        self._stall = threading.Event()
        self._closing = threading.Event()
        self._ids = itertools.count(1)
        self.transactions: list[dict[str, Any]] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.client_ids: dict[str, str] = {}
        self.trades: list[Trade] = []
        self.balance = 100_000.0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.set_price("GBP_JPY", 187.500, 187.530)

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeV20:
        """Listen on 127.0.0.1, an ephemeral port."""
        fake = self

        class Handler(_Handler):
            server_fake = fake

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={
            "poll_interval": 0.05}, name="fake-v20", daemon=True)
        self._thread.start()
        return self

    @property
    def api_url(self) -> str:
        """REST base URL."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def stream_url(self) -> str:
        """Stream base URL (the same server)."""
        return self.api_url

    def close(self) -> None:
        """Stop serving; wake stalled and streaming handlers."""
        self._closing.set()
        self._stall.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- scripting -------------------------------------------------------------------

    def clock(self) -> int:
        """The server's now, ns."""
        return self.now_ns if self.now_ns is not None else time.time_ns()

    def queue_orders(self, *outcomes: str) -> None:
        """Outcomes of the next order POSTs (see the module docstring)."""
        with self._lock:
            self._orders_queue.extend(outcomes)

    def script(self, endpoint: str, *statuses: int | None,
               retry_after: float | None = None) -> None:
        """The next requests to ``endpoint`` answer ``statuses`` (None: pass through)."""
        assert endpoint in ENDPOINTS, endpoint
        with self._lock:
            s = self._scripts.setdefault(endpoint, _Script())
            s.statuses.extend(statuses)
            s.retry_after = retry_after

    def fail_always(self, endpoint: str, status: int) -> None:
        """Every request to ``endpoint`` answers ``status`` until ``clear_scripts()``."""
        assert endpoint in ENDPOINTS, endpoint
        with self._lock:
            self._scripts.setdefault(endpoint, _Script()).always = status

    def clear_scripts(self) -> None:
        """Forget every scripted failure."""
        with self._lock:
            self._scripts.clear()

    def set_price(self, instrument: str, bid: float, ask: float, tradeable: bool = True) -> None:
        """The current price of ``instrument`` (streamed to subscribers)."""
        with self._lock:
            self._prices[instrument] = (bid, ask, tradeable, next(self._price_version))

    def stream_go_silent(self) -> None:
        """Open stream connections send nothing more (not even heartbeats)."""
        with self._lock:
            self._silence_gen += 1

    def stream_drop(self) -> None:
        """Open stream connections are cut without the closing chunk."""
        with self._lock:
            self._drop_gen += 1

    def release_stalls(self) -> None:
        """Let stalled order handlers finish."""
        self._stall.set()

    def count(self, endpoint: str, method: str | None = None) -> int:
        """Requests received for ``endpoint``."""
        with self._lock:
            return sum(1 for r in self.requests if r.endpoint == endpoint
                       and (method is None or r.method == method))

    def received(self, endpoint: str) -> list[Received]:
        """The requests received for ``endpoint``, in order."""
        with self._lock:
            return [r for r in self.requests if r.endpoint == endpoint]

    def net_units(self, instrument: str) -> int:
        """The account's net position."""
        with self._lock:
            return sum(t.units for t in self.trades if t.instrument == instrument)

    # --- internals used by the handler -----------------------------------------------

    def _scripted(self, endpoint: str) -> tuple[int | None, float | None]:
        with self._lock:
            s = self._scripts.get(endpoint)
            if s is None:
                return None, None
            if s.statuses:
                return s.statuses.popleft(), s.retry_after
            return s.always, s.retry_after

    def _next_id(self) -> str:
        return str(next(self._ids))

    def price_obj(self, instrument: str, unix: bool) -> dict[str, Any]:
        with self._lock:
            bid, ask, tradeable, _ = self._prices.get(instrument, (150.0, 150.03, True, 0))
        return {
            "type": "PRICE", "instrument": instrument, "time": fmt_time(self.clock(), unix),
            "tradeable": tradeable, "status": "tradeable" if tradeable else "non-tradeable",
            "bids": [{"price": f"{bid:.3f}", "liquidity": 1_000_000}],
            "asks": [{"price": f"{ask:.3f}", "liquidity": 1_000_000}],
            "closeoutBid": f"{bid:.3f}", "closeoutAsk": f"{ask:.3f}",
        }

    def price_version(self, instrument: str) -> int:
        with self._lock:
            return self._prices.get(instrument, (0.0, 0.0, True, 0))[3]

    # candles

    def candles(self, instrument: str, q: dict[str, str], unix: bool) -> dict[str, Any]:
        gran = q.get("granularity", "S5")
        if gran not in TIMEFRAME_SECONDS:
            raise V20Error(400, {"errorMessage": f"Invalid value specified for 'granularity': "
                                 f"{gran}"})
        period = TIMEFRAME_SECONDS[gran] * NS
        now = self.clock()
        frm = parse_time(q["from"]) if "from" in q else None
        to = parse_time(q["to"]) if "to" in q else None
        if frm is not None and to is not None and "count" in q:
            raise V20Error(400, {"errorMessage": "Cannot specify 'count' with both 'from' and "
                                 "'to'"})
        count = int(q.get("count", 500))
        if not 1 <= count <= MAX_COUNT:
            raise V20Error(400, {"errorMessage": "Invalid value specified for 'count'. Count "
                                 f"must be an integer and in the range [1, {MAX_COUNT}]"})
        if to is not None and to > now:
            raise V20Error(400, {"errorMessage": "Invalid value specified for 'to'. Time is in "
                                 "the future"})
        if frm is not None and to is not None:
            if to < frm:
                raise V20Error(400, {"errorMessage": "'to' is before 'from'"})
            if (to - frm) // period > MAX_COUNT:
                raise V20Error(400, {"errorMessage": "Maximum value for 'count' exceeded"})
        times = self._candle_times(period, now, frm, to, count)
        if frm is not None and q.get("includeFirst", "true") == "false":
            times = [t for t in times if t != frm]
        out = []
        for t in times:
            o, h, low, c, v = synthetic_mid(t, period // NS)
            out.append({"complete": t + period <= now, "volume": v,
                        "time": fmt_time(t, unix),
                        "mid": {"o": f"{o:.3f}", "h": f"{h:.3f}", "l": f"{low:.3f}",
                                "c": f"{c:.3f}"}})
        return {"instrument": instrument, "granularity": gran, "candles": out}

    @staticmethod
    def _trading(ts: list[int]) -> list[int]:
        if not ts:
            return []
        arr = np.asarray(ts, dtype=np.int64)
        return [int(t) for t in arr[~is_weekend(arr)]]

    def _candle_times(self, period: int, now: int, frm: int | None, to: int | None,
                      count: int) -> list[int]:
        last = (now // period) * period  # the candle containing now (incomplete)
        if frm is not None:
            first = -(-frm // period) * period
            stop = min(last, to) if to is not None else last
            n = count if to is None else MAX_COUNT
            out: list[int] = []
            a = first
            while a <= stop and len(out) < n:
                chunk = list(range(a, min(stop, a + 4 * n * period) + 1, period))
                out.extend(self._trading(chunk))
                a = chunk[-1] + period
            return out[:n]
        hi = min(last, (to // period) * period) if to is not None else last
        out = []
        b = hi
        span = 4 * count * period
        while len(out) < count and b > 0:
            chunk = list(range(max(b - span, 0), b + 1, period))
            out = self._trading(chunk) + out
            b = chunk[0] - period
        return out[-count:]

    # account

    def _tx(self, kind: str, **fields: Any) -> dict[str, Any]:
        tx = {"id": self._next_id(), "type": kind, "accountID": self.account,
              "time": fmt_time(self.clock(), True), "userID": 1234567, **fields}
        self.transactions.append(tx)
        return tx

    def _fill(self, order: dict[str, Any], instrument: str, units: int) -> dict[str, Any]:
        bid, ask, _, _ = self._prices.get(instrument, (150.0, 150.03, True, 0))
        price = ask if units > 0 else bid
        remaining, pl = units, 0.0
        closed: list[dict[str, Any]] = []
        reduced: dict[str, Any] | None = None
        for trade in [t for t in self.trades if t.instrument == instrument]:
            if remaining == 0 or (trade.units > 0) == (remaining > 0):
                continue
            take = min(abs(trade.units), abs(remaining))
            sign = 1 if trade.units > 0 else -1
            trade_pl = (price - trade.price) * take * sign
            pl += trade_pl
            trade.units -= sign * take
            remaining += sign * take
            entry = {"tradeID": trade.id, "units": str(-sign * take),
                     "realizedPL": f"{trade_pl:.4f}", "price": f"{price:.3f}"}
            if trade.units == 0:
                closed.append(entry)
            else:
                reduced = entry
        self.trades = [t for t in self.trades if t.units != 0]
        self.balance += pl
        fill_id = self._next_id()
        opened = None
        if remaining:
            self.trades.append(Trade(fill_id, instrument, remaining, price, self.clock(),
                                     remaining))
            opened = {"tradeID": fill_id, "units": str(remaining), "price": f"{price:.3f}"}
        fill = {"id": fill_id, "type": "ORDER_FILL", "accountID": self.account,
                "time": fmt_time(self.clock(), True), "orderID": order["id"],
                "clientOrderID": order["clientExtensions"]["id"], "instrument": instrument,
                "units": str(units), "price": f"{price:.3f}", "fullVWAP": f"{price:.3f}",
                "pl": f"{pl:.4f}", "financing": "0.0000", "commission": "0.0000",
                "accountBalance": f"{self.balance:.4f}", "reason": "MARKET_ORDER"}
        if opened:
            fill["tradeOpened"] = opened
        if closed:
            fill["tradesClosed"] = closed
        if reduced:
            fill["tradeReduced"] = reduced
        self.transactions.append(fill)
        order.update(state="FILLED", fillingTransactionID=fill_id,
                     filledTime=fill["time"])
        return fill

    def create_order(self, body: Any, outcome: str) -> tuple[int, dict[str, Any]]:
        """Apply one order POST; (status, reply)."""
        spec = body.get("order") if isinstance(body, dict) else None
        if not isinstance(spec, dict) or spec.get("type") != "MARKET":
            raise V20Error(400, {"errorCode": "INVALID_ORDER", "errorMessage":
                                 "order body must be a MARKET order"})
        instrument = str(spec.get("instrument"))
        units = int(spec.get("units", "0"))
        client_id = str((spec.get("clientExtensions") or {}).get("id", ""))
        with self._lock:
            create = self._tx("MARKET_ORDER", instrument=instrument, units=str(units),
                              timeInForce=spec.get("timeInForce"),
                              positionFill=spec.get("positionFill"),
                              clientExtensions=spec.get("clientExtensions"),
                              reason="CLIENT_ORDER")
            reject_reason = None
            if outcome.startswith("reject"):
                reject_reason = outcome.partition(":")[2] or "UNITS_INVALID"
            elif client_id in self.client_ids:
                reject_reason = "CLIENT_ORDER_ID_ALREADY_EXISTS"
            elif units == 0 or spec.get("timeInForce") != "FOK":
                reject_reason = "UNITS_INVALID" if units == 0 else "TIME_IN_FORCE_INVALID"
            if reject_reason is not None:
                self.transactions.remove(create)
                reject = self._tx("MARKET_ORDER_REJECT", instrument=instrument,
                                  units=str(units), rejectReason=reject_reason,
                                  clientExtensions=spec.get("clientExtensions"))
                return 400, {"orderRejectTransaction": reject,
                             "relatedTransactionIDs": [reject["id"]],
                             "lastTransactionID": reject["id"],
                             "errorCode": reject_reason,
                             "errorMessage": f"The order was rejected: {reject_reason}"}
            position_fill = str(spec.get("positionFill") or "DEFAULT")
            order = {"id": create["id"], "createTime": create["time"], "type": "MARKET",
                     "instrument": instrument, "units": str(units), "timeInForce": "FOK",
                     "positionFill": position_fill, "state": "PENDING",
                     "clientExtensions": spec.get("clientExtensions") or {}}
            self.orders[order["id"]] = order
            if client_id:
                self.client_ids[client_id] = order["id"]
            reply: dict[str, Any] = {"orderCreateTransaction": create}
            cancel_reason = None
            if outcome.startswith("cancel"):
                cancel_reason = outcome.partition(":")[2] or "MARKET_HALTED"
            elif position_fill == "REDUCE_ONLY":
                held = sum(t.units for t in self.trades if t.instrument == instrument)
                if held == 0 or (held > 0) == (units > 0):  # would open or increase
                    cancel_reason = REDUCE_ONLY_CANCEL_REASON
                else:  # never past flat
                    units = max(-abs(held), min(abs(held), units))
            if cancel_reason is not None:
                cancel = self._tx("ORDER_CANCEL", orderID=order["id"],
                                  clientOrderID=client_id, reason=cancel_reason)
                order.update(state="CANCELLED", cancellingTransactionID=cancel["id"],
                             cancelledTime=cancel["time"])
                reply["orderCancelTransaction"] = cancel
            else:
                reply["orderFillTransaction"] = self._fill(order, instrument, units)
            ids = [create["id"],
                   *(t["id"] for k, t in reply.items() if k != "orderCreateTransaction")]
            reply.update(relatedTransactionIDs=ids, lastTransactionID=ids[-1])
            return 201, reply

    def positions_body(self) -> dict[str, Any]:
        with self._lock:
            out = []
            for inst in sorted({t.instrument for t in self.trades}):
                sides: dict[str, dict[str, Any]] = {}
                for name, pick in (("long", lambda u: u > 0), ("short", lambda u: u < 0)):
                    ts = [t for t in self.trades if t.instrument == inst and pick(t.units)]
                    units = sum(t.units for t in ts)
                    side: dict[str, Any] = {"units": str(units), "pl": "0.0000",
                                            "unrealizedPL": "0.0000"}
                    if units:
                        side["averagePrice"] = f"{sum(t.price * t.units for t in ts) / units:.5f}"
                        if self.positions_include_trade_ids:
                            side["tradeIDs"] = [t.id for t in ts]
                    sides[name] = side
                out.append({"instrument": inst, **sides, "pl": "0.0000",
                            "unrealizedPL": "0.0000"})
            return {"positions": out, "lastTransactionID": self.last_id()}

    def trades_body(self) -> dict[str, Any]:
        with self._lock:
            return {"trades": [{"id": t.id, "instrument": t.instrument, "price": f"{t.price:.3f}",
                                "openTime": fmt_time(t.open_time, True),
                                "initialUnits": str(t.initial_units),
                                "currentUnits": str(t.units), "state": "OPEN",
                                "realizedPL": "0.0000", "unrealizedPL": "0.0000"}
                               for t in self.trades],
                    "lastTransactionID": self.last_id()}

    def summary_body(self) -> dict[str, Any]:
        with self._lock:
            return {"account": {"id": self.account, "currency": self.currency,
                                "balance": f"{self.balance:.4f}", "NAV": f"{self.balance:.4f}",
                                "unrealizedPL": "0.0000", "pl": "0.0000",
                                "marginUsed": "0.0000", "marginAvailable": f"{self.balance:.4f}",
                                "openTradeCount": len(self.trades),
                                "openPositionCount": len({t.instrument for t in self.trades}),
                                "hedgingEnabled": self.hedging_enabled,
                                "lastTransactionID": self.last_id()},
                    "lastTransactionID": self.last_id()}

    def last_id(self) -> str:
        return self.transactions[-1]["id"] if self.transactions else "0"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: with Nagle on, the body waits ~40 ms for the
    # client's delayed ACK on every request
    disable_nagle_algorithm = True
    server_fake: FakeV20

    def log_message(self, format: str, *args: Any) -> None:  # silence http.server
        return

    # routing

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _route(self, method: str, parts: list[str]) -> str:
        if parts[:2] == ["v3", "instruments"] and len(parts) == 4 and parts[3] == "candles":
            return "candles"
        if parts[:2] != ["v3", "accounts"] or len(parts) < 4:
            return ""
        rest = parts[3:]
        table = {("pricing",): "pricing", ("pricing", "stream"): "stream",
                 ("transactions", "sinceid"): "transactions.sinceid",
                 ("openPositions",): "openPositions", ("openTrades",): "openTrades",
                 ("summary",): "summary"}
        if tuple(rest) in table:
            return table[tuple(rest)]
        if rest == ["orders"] and method == "POST":
            return "orders.create"
        if len(rest) == 2 and rest[0] == "orders":
            return "orders.get"
        if len(rest) == 2 and rest[0] == "transactions":
            return "transactions.get"
        return ""

    def _dispatch(self, method: str) -> None:
        fake = self.server_fake
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = None
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        endpoint = self._route(method, parts)
        authorized = self.headers.get("Authorization") == f"Bearer {fake.token}"
        with fake._lock:
            fake.requests.append(Received(method, endpoint, url.path, query, body, authorized))
        unix = self.headers.get("Accept-Datetime-Format", "RFC3339") == "UNIX"
        try:
            if not endpoint:
                raise V20Error(404, {"errorMessage": f"no such endpoint {method} {url.path}"})
            if not authorized:
                raise V20Error(401, {"errorMessage": "Insufficient authorization to perform "
                                     "request."})
            if parts[1] == "accounts" and parts[2] != fake.account:
                raise V20Error(403, {"errorMessage": "The provided request was forbidden."})
            status, retry_after = fake._scripted(endpoint)
            if status is not None:
                headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
                raise V20Error(status, {"errorMessage": f"scripted HTTP {status}"}, headers)
            if endpoint == "stream":
                self._stream(query.get("instruments", "").split(","), unix)
                return
            status, reply = self._handle(endpoint, parts, query, body, unix)
        except V20Error as exc:
            self._send(exc.status, exc.body, exc.headers)
            return
        self._send(status, reply)

    def _handle(self, endpoint: str, parts: list[str], q: dict[str, str], body: Any,
                unix: bool) -> tuple[int, Any]:
        fake = self.server_fake
        if endpoint == "candles":
            return 200, fake.candles(parts[2], q, unix)
        if endpoint == "pricing":
            names = [n for n in q.get("instruments", "").split(",") if n]
            return 200, {"time": fmt_time(fake.clock(), unix),
                         "prices": [fake.price_obj(n, unix) for n in names]}
        if endpoint == "orders.create":
            return self._order(body)
        if endpoint == "orders.get":
            return self._order_details(parts[4])
        if endpoint == "transactions.get":
            with fake._lock:
                for tx in fake.transactions:
                    if tx["id"] == parts[4]:
                        return 200, {"transaction": tx, "lastTransactionID": fake.last_id()}
            raise V20Error(404, {"errorCode": "NO_SUCH_TRANSACTION",
                                 "errorMessage": "The Transaction specified does not exist"})
        if endpoint == "transactions.sinceid":
            if "id" not in q:
                raise V20Error(400, {"errorMessage": "Missing required parameter 'id'"})
            with fake._lock:
                txs = [t for t in fake.transactions if int(t["id"]) > int(q["id"])]
                return 200, {"transactions": txs[:fake.sinceid_limit],
                             "lastTransactionID": fake.last_id()}
        if endpoint == "openPositions":
            return 200, fake.positions_body()
        if endpoint == "openTrades":
            return 200, fake.trades_body()
        return 200, fake.summary_body()

    def _order(self, body: Any) -> tuple[int, Any]:
        fake = self.server_fake
        with fake._lock:
            outcome = fake._orders_queue.popleft() if fake._orders_queue else "fill"
        if outcome == "unauthorized":
            raise V20Error(401, {"errorMessage": "Insufficient authorization to perform "
                                 "request."})
        if outcome == "server_error":
            raise V20Error(500, {"errorMessage": "Internal server error"})
        if outcome == "lost_request":
            fake._stall.wait(fake.stall_seconds)
            raise V20Error(503, {"errorMessage": "gave up"})
        status, reply = fake.create_order(body, "fill" if outcome == "lost_reply" else outcome)
        if outcome == "lost_reply":
            fake._stall.wait(fake.stall_seconds)
        return status, reply

    def _order_details(self, spec: str) -> tuple[int, Any]:
        fake = self.server_fake
        with fake._lock:
            order_id = fake.client_ids.get(spec[1:]) if spec.startswith("@") else spec
            order = fake.orders.get(order_id or "")
            if order is None:
                raise V20Error(404, {"errorCode": "NO_SUCH_ORDER",
                                     "errorMessage": "The Order specified does not exist",
                                     "lastTransactionID": fake.last_id()})
            return 200, {"order": dict(order), "lastTransactionID": fake.last_id()}

    # replies

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the client gave up (timed out) meanwhile
            self.close_connection = True

    def _chunk(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\n"
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, instruments: list[str], unix: bool) -> None:
        fake = self.server_fake
        with fake._lock:
            fake.stream_connections += 1
            silence_gen, drop_gen = fake._silence_gen, fake._drop_gen
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            sent: dict[str, int] = {}
            last_beat = 0.0
            while not fake._closing.is_set():
                with fake._lock:
                    silent = fake._silence_gen != silence_gen
                    dropped = fake._drop_gen != drop_gen
                if dropped:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if not silent:
                    for inst in instruments:
                        version = fake.price_version(inst)
                        if sent.get(inst) != version:
                            self._chunk(fake.price_obj(inst, unix))
                            sent[inst] = version
                    if time.monotonic() - last_beat >= fake.heartbeat_seconds:
                        self._chunk({"type": "HEARTBEAT", "time": fmt_time(fake.clock(), unix)})
                        last_beat = time.monotonic()
                fake._closing.wait(0.01)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            return
