"""The OANDA v20 broker, through oandapyV20.

Reads (candles, prices, positions, account, transactions, order look-ups) go through
:func:`~fxconsole.brokers.retry.call_read`; an order is sent exactly once and a timeout,
connection error or unexpected reply gives ``UNKNOWN`` (resolve it later with
:meth:`OandaBroker.order_by_client_id`). Every HTTP call has the (connect, read) timeout
of the config. Credentials never reach a log line, a repr or an exception message.

Base URLs: ``OANDA_API_URL`` / ``OANDA_STREAM_URL`` in the environment, else the config's
``oanda.api_url`` / ``oanda.stream_url``, else OANDA's for ``oanda.environment``.
oandapyV20's ``API`` takes only an environment *name* and builds every URL from its module
dict ``TRADING_ENVIRONMENTS[name]``; to point it elsewhere (a proxy, the fake v20 server of
the tests) we register a private name for the pair of URLs instead of overwriting
``practice``/``live`` (which other clients in the process may use) or patching the library.

Trading a live account needs two explicit opt-ins: ``oanda.allow_live = true`` in the
config and ``OANDA_ALLOW_LIVE=yes`` in the environment; the constructor refuses otherwise.
A URL override that points at OANDA's live hosts counts as live too (it also needs
``oanda.environment = "live"``), so an override cannot bypass the opt-ins. (A proxy in
front of the live hosts cannot be recognised; that is on whoever sets it up.)

The trader assumes a netting account (one net position per instrument): the first
position, account or order call reads the account summary and refuses a hedging account
(``hedgingEnabled: true``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Self
from urllib.parse import urlsplit

import oandapyV20.endpoints.accounts as accounts
import oandapyV20.endpoints.instruments as instruments
import oandapyV20.endpoints.orders as orders
import oandapyV20.endpoints.positions as positions
import oandapyV20.endpoints.pricing as pricing
import oandapyV20.endpoints.trades as trades
import oandapyV20.endpoints.transactions as transactions
import requests
from oandapyV20 import API
from oandapyV20.exceptions import V20Error
from oandapyV20.oandapyV20 import TRADING_ENVIRONMENTS

from fxconsole.brokers.base import (
    Account,
    AuthError,
    Bar,
    BrokerError,
    OrderRequest,
    OrderResult,
    OrderState,
    Position,
    Quote,
    instrument_name,
)
from fxconsole.brokers.credentials import Credentials, install_log_redaction
from fxconsole.brokers.oanda_stream import PriceStream, StreamStatus
from fxconsole.brokers.oanda_wire import (
    MAX_CANDLES,
    cancel_result,
    error_body,
    fill_result,
    format_unix,
    map_error,
    order_reply_result,
    parse_account,
    parse_candles,
    parse_position,
    parse_price,
    reject_result,
    retry_after_seconds,
    trade_ids,
    unknown_result,
)
from fxconsole.brokers.retry import call_read
from fxconsole.config import OandaConfig

logger = logging.getLogger(__name__)

ALLOW_LIVE_VAR = "OANDA_ALLOW_LIVE"
API_URL_VAR = "OANDA_API_URL"
STREAM_URL_VAR = "OANDA_STREAM_URL"
DATETIME_HEADERS = {"Accept-Datetime-Format": "UNIX"}
# OANDA's own URLs, copied before anyone could register a private environment.
DEFAULT_URLS = {k: dict(v) for k, v in TRADING_ENVIRONMENTS.items() if k in ("practice", "live")}


# OANDA's live (real money) hosts: a URL override to one of them is live.
LIVE_HOSTS = frozenset(urlsplit(u).hostname or "" for u in DEFAULT_URLS["live"].values())


def is_live_url(url: str) -> bool:
    """Whether ``url`` points at one of OANDA's live (real money) hosts."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return False
    return host.rstrip(".").lower() in LIVE_HOSTS


def check_live_opt_in(config: OandaConfig, environ: Mapping[str, str],
                      urls: tuple[str, ...] = ()) -> None:
    """Refuse the live environment unless both opt-ins are given.

    Args:
        config: the ``[oanda]`` section (environment and ``allow_live``).
        environ: the environment (``OANDA_ALLOW_LIVE``).
        urls: the resolved REST and stream base URLs; one on OANDA's live hosts makes
            this live whatever ``config.environment`` says.

    Raises:
        BrokerError: naming exactly what is missing.
    """
    live_urls = [u for u in urls if is_live_url(u)]
    if config.environment != "live" and not live_urls:
        return
    missing = []
    if config.environment != "live":
        missing.append('oanda.environment = "live" in the config')
    if not config.allow_live:
        missing.append("oanda.allow_live = true in the config")
    if environ.get(ALLOW_LIVE_VAR, "").strip().lower() != "yes":
        missing.append(f"{ALLOW_LIVE_VAR}=yes in the environment")
    if missing:
        why = ""
        if live_urls:
            hosts = sorted({urlsplit(u.strip()).hostname or "" for u in live_urls})
            why = f" (the URL override points at {', '.join(hosts)})"
        raise BrokerError("refusing to trade the OANDA live environment (real money)"
                          f"{why}: it needs {' and '.join(missing)}")


def resolve_urls(config: OandaConfig, environ: Mapping[str, str]) -> tuple[str, str]:
    """The API and stream base URLs: environment override, else config, else OANDA's."""
    default = DEFAULT_URLS[config.environment]
    api = (environ.get(API_URL_VAR) or config.api_url or default["api"]).strip().rstrip("/")
    stream = (environ.get(STREAM_URL_VAR) or config.stream_url
              or default["stream"]).strip().rstrip("/")
    return api, stream


def resolve_environment(config: OandaConfig, environ: Mapping[str, str]) -> tuple[str, str, str]:
    """The oandapyV20 environment name to use, and its API and stream base URLs.

    Registers a private ``TRADING_ENVIRONMENTS`` entry when the URLs differ from OANDA's
    (see the module docstring for why).
    """
    default = DEFAULT_URLS[config.environment]
    api, stream = resolve_urls(config, environ)
    if (api, stream) == (default["api"], default["stream"]):
        return config.environment, api, stream
    digest = hashlib.sha256(f"{api}|{stream}".encode()).hexdigest()[:12]
    name = f"fxconsole-{config.environment}-{digest}"
    TRADING_ENVIRONMENTS[name] = {"api": api, "stream": stream}
    return name, api, stream


class OandaBroker:
    """The :class:`~fxconsole.brokers.base.Broker` protocol on OANDA v20.

    Args:
        config: the ``[oanda]`` config section.
        credentials: token and account id.
        environ: the environment for the URL overrides and the live opt-in
            (default ``os.environ``).
        clock: :meth:`now` (ns UTC).
        stream: keep quotes fresh from the pricing stream (else every quote is a request).

    Raises:
        BrokerError: the live environment (or a URL on OANDA's live hosts) without both
            opt-ins.
    """

    name = "oanda"

    def __init__(self, config: OandaConfig, credentials: Credentials, *,
                 environ: Mapping[str, str] | None = None,
                 clock: Callable[[], int] = time.time_ns, stream: bool = True,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        env = os.environ if environ is None else environ
        check_live_opt_in(config, env, resolve_urls(config, env))
        install_log_redaction(credentials)
        self._cfg = config
        self._creds = credentials
        self._clock = clock
        self._sleep = sleep
        self.environment, self.api_url, self.stream_url = resolve_environment(config, env)
        self._timeout = (config.connect_timeout, config.read_timeout)
        self._tls = threading.local()
        self._lock = threading.RLock()
        self._api = self._new_api(self._timeout)
        self._netting_checked = False  # the account was seen to be a netting account
        self._stream: PriceStream | None = None
        if stream:
            silence = (config.connect_timeout, config.stream_silence_seconds)
            self._stream = PriceStream(
                lambda: self._new_api(silence, hook=False), credentials,
                silence=config.stream_silence_seconds, base=config.backoff_seconds,
                cap=config.backoff_cap_seconds, timeout=silence,
            )
        logger.info("OANDA broker: environment %s, account %r", config.environment,
                    credentials)

    def __repr__(self) -> str:
        return f"OandaBroker(environment={self._cfg.environment!r}, {self._creds!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing --------------------------------------------------------------------

    def _new_api(self, timeout: tuple[float, float], hook: bool = True) -> API:
        api = API(access_token=self._creds.token, environment=self.environment,
                  headers=dict(DATETIME_HEADERS), request_params={"timeout": timeout})
        if hook:
            api.client.hooks["response"].append(self._remember_retry_after)
        return api

    def _remember_retry_after(self, response: requests.Response, *args: Any,
                              **kwargs: Any) -> None:
        self._tls.retry_after = retry_after_seconds(response.headers.get("Retry-After"))

    def _request(self, endpoint: Any, what: str) -> Any:
        """One request; every failure becomes a redacted BrokerError (no chained cause)."""
        self._tls.retry_after = None
        error: BrokerError | None = None
        try:
            with self._lock:
                reply = self._api.request(endpoint)
        except Exception as exc:
            error = map_error(exc, what, self._creds, self._timeout,
                              getattr(self._tls, "retry_after", None))
        if error is not None:
            raise error
        return reply

    def _read(self, make: Callable[[], Any], what: str) -> dict[str, Any]:
        """A read with retries (a fresh endpoint object per attempt)."""
        cfg = self._cfg
        reply = call_read(lambda: self._request(make(), what), retries=cfg.retries,
                          base=cfg.backoff_seconds, cap=cfg.backoff_cap_seconds,
                          sleep=self._sleep, what=f"OANDA {what}",
                          deadline=float(cfg.read_deadline_seconds),
                          attempt_seconds=cfg.connect_timeout + cfg.read_timeout)
        if not isinstance(reply, dict):
            raise BrokerError(f"unexpected OANDA reply to {what}: not a JSON object")
        return reply

    @property
    def _account_id(self) -> str:
        return self._creds.account

    def _check_netting(self, summary: dict[str, Any]) -> None:
        """Refuse a hedging account (the trader assumes one net position per instrument).

        Raises:
            BrokerError: the account summary reports ``hedgingEnabled: true``.
        """
        acc = summary.get("account")
        if isinstance(acc, dict) and acc.get("hedgingEnabled") in (True, "true", "True"):
            raise BrokerError(
                "refusing to trade an OANDA account with hedging enabled "
                "(hedgingEnabled: true): the trader assumes a netting account with one net "
                "position per instrument; use an account without hedging", retriable=False)
        self._netting_checked = True

    def _ensure_netting(self) -> None:
        """Check the account once (on the first position, account or order call)."""
        if not self._netting_checked:
            self._check_netting(self._read(
                lambda: accounts.AccountSummary(self._account_id), "account summary"))

    # --- Broker protocol -------------------------------------------------------------

    def now(self) -> int:
        """The clock, ns UTC."""
        return self._clock()

    def candles(self, instrument: str, granularity: str, count: int) -> list[Bar]:
        """The newest ``count`` complete mid bars, oldest first (paged beyond 5000)."""
        if count < 1:
            raise ValueError(f"count = {count}; allowed: 1 or more")
        inst = instrument_name(instrument)
        what = f"candles {inst} {granularity}"
        got: dict[int, Bar] = {}
        to: int | None = None
        while len(got) < count:
            params: dict[str, Any] = {"granularity": granularity, "price": "M",
                                      "count": min(count - len(got) + 1, MAX_CANDLES)}
            if to is not None:
                params["to"] = format_unix(to)
            body = self._read(partial(instruments.InstrumentsCandles, inst, params=params),
                              what)
            bars, _ = parse_candles(body, what)
            older = [b for b in bars if to is None or b.ts < to]
            if not older:
                break
            got.update((b.ts, b) for b in older)
            to = min(b.ts for b in older)
            if len(body.get("candles") or ()) < params["count"]:
                break  # the history ends here
        return [got[ts] for ts in sorted(got)][-count:]

    def fetch_candles(self, instrument: str, granularity: str, start_ns: int,
                      end_ns: int | None = None, count: int | None = None,
                      ) -> tuple[list[Bar], int | None]:
        """One page of complete mid candles from ``start_ns`` (for downloads).

        Args:
            instrument: ``GBPJPY`` or ``GBP_JPY``.
            granularity: ``M1``, ``M5``, … ``D``.
            start_ns: first candle time (inclusive), ns UTC.
            end_ns: last candle time; the window may hold at most 5000 periods. If None,
                ``count`` candles from ``start_ns``.
            count: candles wanted when ``end_ns`` is None (1..5000, default 5000).

        Returns:
            (complete candles with ``ts >= start_ns``, oldest first; the time of the last
            complete candle, or None if there is none).

        Raises:
            ValueError: ``count`` out of range.
            BrokerError: the request failed (after retries); AuthError on 401/403.
        """
        inst = instrument_name(instrument)
        what = f"candles {inst} {granularity}"
        params: dict[str, Any] = {"granularity": granularity, "price": "M",
                                  "from": format_unix(start_ns)}
        if end_ns is not None:
            params["to"] = format_unix(end_ns)
        else:
            n = MAX_CANDLES if count is None else count
            if not 1 <= n <= MAX_CANDLES:
                raise ValueError(f"count = {n}; allowed: 1..{MAX_CANDLES} (OANDA's page limit)")
            params["count"] = n
        body = self._read(lambda: instruments.InstrumentsCandles(inst, params=params), what)
        bars, skipped = parse_candles(body, what)
        if skipped:
            logger.debug("%s: skipped %d incomplete candle(s)", what, skipped)
        bars = [b for b in bars if b.ts >= start_ns]
        return bars, (bars[-1].ts if bars else None)

    def subscribe(self, *instrument: str) -> None:
        """Start streaming prices of these instruments now (quote() also subscribes)."""
        if self._stream is not None:
            self._stream.subscribe(instrument_name(i) for i in instrument)

    def quote(self, instrument: str) -> Quote:
        """The streamed quote if the stream is fresh, else a pricing request."""
        inst = instrument_name(instrument)
        if self._stream is not None:
            self._stream.subscribe([inst])
            streamed = self._stream.quote(inst)
            if streamed is not None:
                return streamed
        what = f"pricing {inst}"
        body = self._read(lambda: pricing.PricingInfo(self._account_id,
                                                      params={"instruments": inst}), what)
        for price in body.get("prices") or []:
            if price.get("instrument") == inst:
                return parse_price(price)
        raise BrokerError(f"OANDA {what}: no price for {inst} in the reply")

    def stream_status(self) -> StreamStatus | None:
        """The pricing stream's state (None without a stream)."""
        return None if self._stream is None else self._stream.status()

    def market_order(self, request: OrderRequest) -> OrderResult:
        """Send a FOK market order once; never retried.

        Returns:
            FILLED, CANCELLED (with the reason, e.g. MARKET_HALTED), REJECTED (HTTP 4xx
            with the reject reason / error code) or UNKNOWN (timeout, connection error,
            5xx, unexpected reply).

        Raises:
            AuthError: HTTP 401/403 (the order was not accepted).
            BrokerError: the account is a hedging account, or its summary could not be
                read for that first check (the order was not sent).
        """
        inst = instrument_name(request.instrument)
        if request.units == 0:
            raise ValueError(f"order {request.client_id}: units must not be 0")
        self._ensure_netting()  # raises before anything is sent
        body = {"order": {
            "type": "MARKET", "instrument": inst, "units": str(int(request.units)),
            "timeInForce": "FOK",
            # REDUCE_ONLY: an exit never opens or grows a position (OANDA cancels it)
            "positionFill": "REDUCE_ONLY" if request.reduce_only else "DEFAULT",
            "clientExtensions": {"id": request.client_id},
        }}
        result = self._send_order(request.client_id, orders.OrderCreate(self._account_id,
                                                                         data=body))
        level = logging.INFO if result.state is OrderState.FILLED else logging.WARNING
        logger.log(level, "order %s %s %+d: %s%s%s", request.client_id, inst, request.units,
                   result.state.value, f" at {result.price}" if result.price else "",
                   f" ({result.code} {result.reason})".rstrip() if result.reason else "")
        return result

    def _send_order(self, client_id: str, endpoint: Any) -> OrderResult:
        auth: AuthError | None = None
        try:
            with self._lock:
                reply = self._api.request(endpoint)
        except V20Error as exc:
            status = int(exc.code)
            if status in (401, 403):
                err = map_error(exc, "order create", self._creds, self._timeout)
                auth = err if isinstance(err, AuthError) else AuthError(str(err), status=status)
            elif 400 <= status < 500:
                return reject_result(client_id, status, error_body(exc))
            else:
                return unknown_result(client_id, str(status), f"HTTP {status} reply")
        except requests.Timeout:
            return unknown_result(client_id, "timeout",
                                  f"no reply within {self._timeout[1]:g} s")
        except requests.RequestException as exc:
            return unknown_result(client_id, "connection", type(exc).__name__)
        except ValueError as exc:  # an unexpected status or a body that is not JSON
            return unknown_result(client_id, "unexpected reply", type(exc).__name__)
        if auth is not None:
            raise auth
        return order_reply_result(client_id, reply)

    def order_by_client_id(self, client_id: str) -> OrderResult | None:
        """The outcome of an order we sent; None if OANDA does not know it (yet).

        A filled order gets its fill (price, units, P/L) from the filling transaction, a
        cancelled one its reason; a still pending one is UNKNOWN.
        """
        what = "order details"
        try:
            body = self._read(lambda: orders.OrderDetails(self._account_id,
                                                          orderID=f"@{client_id}"), what)
        except BrokerError as exc:
            if exc.status == 404:
                return None
            raise
        order = body.get("order") or {}
        state = str(order.get("state", ""))
        if state == "FILLED" and order.get("fillingTransactionID"):
            tx = self._transaction(str(order["fillingTransactionID"]))
            return fill_result(client_id, tx)
        if state == "CANCELLED":
            tx_id = order.get("cancellingTransactionID")
            tx = self._transaction(str(tx_id)) if tx_id else {}
            result = cancel_result(client_id, tx)
            if not result.order_id:
                result = OrderResult(client_id, OrderState.CANCELLED, reason=result.reason,
                                     order_id=str(order.get("id", "")))
            return result
        return OrderResult(client_id, OrderState.UNKNOWN, order_id=str(order.get("id", "")),
                           code=state, reason=f"order is {state or 'in an unknown state'}")

    def _transaction(self, transaction_id: str) -> dict[str, Any]:
        body = self._read(lambda: transactions.TransactionDetails(
            self._account_id, transactionID=transaction_id), "transaction details")
        tx = body.get("transaction")
        if not isinstance(tx, dict):
            raise BrokerError("unexpected OANDA reply to transaction details: no 'transaction'")
        return tx

    def position(self, instrument: str) -> Position:
        """Net units, average price and trade ids of the open position (flat: 0 units)."""
        inst = instrument_name(instrument)
        self._ensure_netting()
        body = self._read(lambda: positions.OpenPositions(self._account_id), "open positions")
        pos = parse_position(inst, body)
        if pos.units and not pos.trade_ids:
            tbody = self._read(lambda: trades.OpenTrades(self._account_id), "open trades")
            pos = Position(pos.instrument, pos.units, pos.avg_price, trade_ids(inst, tbody))
        return pos

    def account(self) -> Account:
        """Balance, NAV, unrealised P/L and the last transaction id."""
        body = self._read(lambda: accounts.AccountSummary(self._account_id), "account summary")
        self._check_netting(body)
        return parse_account(body)

    def transactions_since(self, transaction_id: str) -> list[dict[str, Any]]:
        """Every transaction after ``transaction_id``, oldest first (paged).

        The transactions are OANDA's, except that ``accountID`` is removed (so that they
        can be journaled or logged without the account id).
        """
        out: list[dict[str, Any]] = []
        since = str(transaction_id)
        while True:
            body = self._read(partial(transactions.TransactionsSinceID, self._account_id,
                                      params={"id": since}), "transactions since id")
            page = [{k: v for k, v in t.items() if k != "accountID"}
                    for t in body.get("transactions") or [] if isinstance(t, dict)]
            out.extend(page)
            last = str(body.get("lastTransactionID", ""))
            if not page or str(page[-1].get("id")) in (last, since):
                return out
            since = str(page[-1].get("id"))

    def close(self) -> None:
        """Stop the pricing stream and close connections."""
        if self._stream is not None:
            self._stream.close()
        with self._lock:
            self._api.close()
