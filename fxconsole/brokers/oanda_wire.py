"""OANDA v20 wire formats: times, replies to value types, errors to :class:`BrokerError`.

Pure functions, no network. Reply shapes follow the v20 REST API: candles
(``{"candles": [{"time", "complete", "volume", "mid": {o, h, l, c}}]}``), prices
(``bids``/``asks``/``tradeable``), order replies (``orderFillTransaction``,
``orderCancelTransaction`` with ``reason``, ``orderRejectTransaction`` with
``rejectReason``; errors carry ``errorCode``/``errorMessage``), open positions and trades,
the account summary. Every message built here is redacted of the credentials.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from oandapyV20.exceptions import StreamTerminated, V20Error

from fxconsole.brokers.base import (
    Account,
    AuthError,
    Bar,
    BrokerError,
    BrokerTimeout,
    OrderResult,
    OrderState,
    Position,
    Quote,
)
from fxconsole.brokers.credentials import Credentials, redact
from fxconsole.market.candles import candle_prices

NS = 1_000_000_000
MAX_CANDLES = 5000  # OANDA's largest candles page
_UNIX = re.compile(r"^(\d+)(?:\.(\d{1,9}))?$")
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


# --- times ----------------------------------------------------------------------------

def parse_time(value: Any) -> int:
    """An OANDA DateTime (UNIX ``"1476717400.000000000"`` or RFC 3339) as ns UTC.

    Raises:
        ValueError: naming the value, if it is neither format.
    """
    text = str(value).strip()
    m = _UNIX.match(text)
    if m:
        return int(m[1]) * NS + int((m[2] or "").ljust(9, "0"))
    m = _RFC3339.match(text)
    if m:
        base = datetime.fromisoformat(m[1]).replace(tzinfo=UTC)
        if m[3] != "Z":
            sign = 1 if m[3][0] == "+" else -1
            base -= sign * timedelta(hours=int(m[3][1:3]), minutes=int(m[3][4:6]))
        return int(base.timestamp()) * NS + int((m[2] or "").ljust(9, "0"))
    raise ValueError(f"OANDA time {text!r} is neither UNIX seconds nor RFC 3339")


def format_unix(ns: int) -> str:
    """ns UTC as an OANDA UNIX DateTime: ``"1476717400.000000000"``."""
    seconds, frac = divmod(int(ns), NS)
    return f"{seconds}.{frac:09d}"


# --- replies --------------------------------------------------------------------------

def _num(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BrokerError(f"unexpected OANDA reply: {what} = {value!r} is not a number") from None
    if not math.isfinite(number):
        raise BrokerError(f"unexpected OANDA reply: {what} = {value!r} is not finite")
    return number


def _units(value: Any, what: str) -> int:
    return round(_num(value, what))


def parse_candles(body: dict[str, Any], what: str) -> tuple[list[Bar], int]:
    """The complete candles of a candles reply, oldest first, and the count skipped.

    Raises:
        BrokerError: if the reply has no ``candles`` list or a candle lacks prices/time.
    """
    candles = body.get("candles")
    if not isinstance(candles, list):
        raise BrokerError(f"unexpected OANDA reply to {what}: no 'candles' list")
    bars: list[Bar] = []
    skipped = 0
    for candle in candles:
        if not isinstance(candle, dict) or candle.get("complete", True) is False:
            skipped += 1
            continue
        try:
            ts = parse_time(candle.get("time"))
        except ValueError as exc:
            raise BrokerError(f"unexpected OANDA reply to {what}: {exc}") from None
        o, h, low, c = candle_prices(candle)
        if not all(math.isfinite(x) and x > 0 for x in (o, h, low, c)):
            raise BrokerError(f"unexpected OANDA reply to {what}: candle at "
                              f"{format_unix(ts)} has no valid mid or bid/ask prices")
        volume = int(_num(candle.get("volume", 0), "volume"))
        bars.append(Bar(ts, o, h, low, c, volume))
    bars.sort(key=lambda b: b.ts)
    return bars, skipped


def parse_price(price: dict[str, Any]) -> Quote:
    """A v20 ``ClientPrice`` (REST ``prices[]`` or a stream ``PRICE`` line) as a Quote."""
    bids, asks = price.get("bids") or [], price.get("asks") or []
    bid = bids[0].get("price") if bids else price.get("closeoutBid")
    ask = asks[0].get("price") if asks else price.get("closeoutAsk")
    tradeable = price.get("tradeable")
    if tradeable is None:
        tradeable = price.get("status", "tradeable") == "tradeable"
    try:
        ts = parse_time(price.get("time"))
    except ValueError as exc:
        raise BrokerError(f"unexpected OANDA price: {exc}") from None
    return Quote(ts, _num(bid, "bid"), _num(ask, "ask"), bool(tradeable))


def fill_result(client_id: str, fill: dict[str, Any]) -> OrderResult:
    """An ``ORDER_FILL`` transaction as a FILLED result."""
    price = fill.get("price") or fill.get("fullVWAP") or (fill.get("tradeOpened") or {}).get(
        "price")
    return OrderResult(
        client_id, OrderState.FILLED, units=_units(fill.get("units", 0), "units"),
        price=_num(price, "price"), pl=_num(fill.get("pl", 0), "pl"),
        order_id=str(fill.get("orderID", "")), transaction_id=str(fill.get("id", "")),
        ts=_time_or_zero(fill.get("time")),
    )


def cancel_result(client_id: str, cancel: dict[str, Any]) -> OrderResult:
    """An ``ORDER_CANCEL`` transaction as a CANCELLED result (reason e.g. MARKET_HALTED)."""
    return OrderResult(
        client_id, OrderState.CANCELLED, reason=str(cancel.get("reason", "")),
        order_id=str(cancel.get("orderID", "")), transaction_id=str(cancel.get("id", "")),
        ts=_time_or_zero(cancel.get("time")),
    )


def reject_result(client_id: str, status: int, body: dict[str, Any]) -> OrderResult:
    """A 4xx order reply (with or without ``orderRejectTransaction``) as REJECTED."""
    reject = body.get("orderRejectTransaction") or {}
    reason = str(reject.get("rejectReason") or body.get("errorCode") or body.get(
        "errorMessage") or f"HTTP {status}")
    return OrderResult(
        client_id, OrderState.REJECTED, reason=redact(reason),
        code=str(body.get("errorCode") or status), transaction_id=str(reject.get("id", "")),
        ts=_time_or_zero(reject.get("time")),
    )


def order_reply_result(client_id: str, reply: Any) -> OrderResult:
    """The outcome of a 201 OrderCreate reply; anything unrecognised is UNKNOWN."""
    if isinstance(reply, dict):
        try:
            if isinstance(reply.get("orderFillTransaction"), dict):
                return fill_result(client_id, reply["orderFillTransaction"])
            if isinstance(reply.get("orderCancelTransaction"), dict):
                return cancel_result(client_id, reply["orderCancelTransaction"])
            if isinstance(reply.get("orderRejectTransaction"), dict):
                return reject_result(client_id, 201, reply)
        except BrokerError as exc:
            return unknown_result(client_id, "unexpected reply", str(exc))
    return unknown_result(client_id, "unexpected reply",
                          "no fill, cancel or reject transaction in the reply")


def unknown_result(client_id: str, code: str, reason: str) -> OrderResult:
    """An order whose outcome is not known (resolve it with ``order_by_client_id``)."""
    return OrderResult(client_id, OrderState.UNKNOWN, code=code, reason=reason)


def _time_or_zero(value: Any) -> int:
    try:
        return parse_time(value) if value is not None else 0
    except ValueError:
        return 0


def parse_position(instrument: str, body: dict[str, Any]) -> Position:
    """The net position of ``instrument`` from an ``openPositions`` reply (flat if absent)."""
    for pos in body.get("positions") or []:
        if pos.get("instrument") != instrument:
            continue
        long, short = pos.get("long") or {}, pos.get("short") or {}
        lu = _units(long.get("units", 0), "long.units")
        su = _units(short.get("units", 0), "short.units")
        net = lu + su
        side = long if net > 0 else short
        avg = side.get("averagePrice") if net else None
        ids = tuple(str(t) for t in (*(long.get("tradeIDs") or ()),
                                     *(short.get("tradeIDs") or ())))
        return Position(instrument, net, _num(avg, "averagePrice") if avg is not None else None,
                        ids)
    return Position(instrument)


def trade_ids(instrument: str, body: dict[str, Any]) -> tuple[str, ...]:
    """The ids of the open trades of ``instrument`` in an ``openTrades`` reply."""
    return tuple(str(t.get("id")) for t in body.get("trades") or []
                 if t.get("instrument") == instrument)


def parse_account(body: dict[str, Any]) -> Account:
    """An ``AccountSummary`` reply as an Account (margin and counts in ``extra``)."""
    acc = body.get("account")
    if not isinstance(acc, dict):
        raise BrokerError("unexpected OANDA reply to account summary: no 'account' object")
    extra_keys = ("marginUsed", "marginAvailable", "openTradeCount", "openPositionCount",
                  "pendingOrderCount", "pl", "financing", "marginCloseoutPercent")
    return Account(
        currency=str(acc.get("currency", "")), balance=_num(acc.get("balance"), "balance"),
        nav=_num(acc.get("NAV", acc.get("balance")), "NAV"),
        unrealized_pl=_num(acc.get("unrealizedPL", 0), "unrealizedPL"),
        last_transaction_id=str(acc.get("lastTransactionID") or body.get(
            "lastTransactionID") or ""),
        extra={k: acc[k] for k in extra_keys if k in acc},
    )


# --- errors ---------------------------------------------------------------------------

def error_body(exc: V20Error) -> dict[str, Any]:
    """The JSON body of a v20 error reply ({} if it is not JSON)."""
    try:
        body = json.loads(exc.msg)
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _v20_error(exc: V20Error, what: str, creds: Credentials,
               retry_after: float | None) -> BrokerError:
    body = error_body(exc)
    detail = " ".join(str(body[k]) for k in ("errorCode", "errorMessage") if body.get(k))
    if not detail:
        detail = str(exc.msg)[:200]
    status = int(exc.code)
    message = redact(f"OANDA {what}: HTTP {status}: {detail}".rstrip(": "), creds)
    if status in (401, 403):
        return AuthError(message + " (check OANDA_TOKEN and OANDA_ACCOUNT)", status=status)
    err = BrokerError(message, status=status,
                      retriable=status == 429 or 500 <= status <= 599)
    err.retry_after = retry_after  # type: ignore[attr-defined]
    return err


def map_error(exc: BaseException, what: str, creds: Credentials,
              timeout: tuple[float, float], retry_after: float | None = None) -> BrokerError:
    """A redacted :class:`BrokerError` for any failure of an oandapyV20 request.

    HTTP 401/403 → :class:`AuthError`; 429 and 5xx → retriable; a (connect, read)
    timeout → retriable :class:`BrokerTimeout`; connection errors → retriable; a reply that
    is not JSON or has an unexpected status → not retriable.
    """
    if isinstance(exc, BrokerError):
        return exc
    if isinstance(exc, V20Error):
        return _v20_error(exc, what, creds, retry_after)
    if isinstance(exc, requests.ConnectTimeout):
        return BrokerTimeout(f"OANDA {what}: connect timed out after {timeout[0]:g} s",
                             retriable=True)
    if isinstance(exc, requests.Timeout):
        return BrokerTimeout(f"OANDA {what}: no reply within {timeout[1]:g} s (read timeout)",
                             retriable=True)
    if isinstance(exc, requests.RequestException | StreamTerminated | OSError):
        reason = redact(f"{type(exc).__name__}: {exc}", creds)
        return BrokerError(f"OANDA {what}: connection failed ({reason[:300]})", retriable=True)
    reason = redact(f"{type(exc).__name__}: {exc}", creds)
    return BrokerError(f"OANDA {what}: unexpected reply ({reason[:300]})")


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (delta-seconds form only; dates are ignored)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
