"""The broker interface the live worker trades through, and its value types.

Two implementations: :mod:`.paper` (default; replays stored bars, fills at the bar close
with SPEC §4 costs) and :mod:`.oanda` (OANDA v20 through oandapyV20). Prices are mid
prices unless a field says bid/ask; units are signed (+ long / buy, − short / sell);
timestamps are UNIX nanoseconds UTC (bars: the bar's open time).

An order is sent once. ``market_order`` never retries: a timeout or an unexpected reply
returns status ``UNKNOWN``, which the caller resolves later with ``order_by_client_id`` or
``transactions_since`` (a fresh order may take a moment to become visible).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class OrderState(StrEnum):
    """Life of an order in the journal: INTENT is committed before the request is sent."""

    INTENT = "INTENT"  # journaled, not (known to be) sent
    SENT = "SENT"  # request on the wire, no reply recorded yet
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"  # accepted then cancelled by the broker (e.g. MARKET_HALTED)
    REJECTED = "REJECTED"  # refused (HTTP 400 or an OrderReject transaction)
    UNKNOWN = "UNKNOWN"  # sent, outcome not known (timeout, unexpected reply)
    NOT_FOUND = "NOT_FOUND"  # resolved: the broker never received it


FINAL_STATES = frozenset({OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED,
                          OrderState.NOT_FOUND})


class BrokerError(Exception):
    """A broker call failed. ``retriable`` says whether a read may be tried again."""

    def __init__(self, message: str, *, status: int | None = None,
                 retriable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retriable = retriable


class AuthError(BrokerError):
    """Credentials refused (HTTP 401/403): never retried; the worker stops trading."""


class BrokerTimeout(BrokerError):
    """A (connect, read) timeout fired."""


@dataclass(frozen=True)
class Bar:
    """One complete mid-price bar."""

    ts: int  # open time, ns UTC
    open: float
    high: float
    low: float
    close: float
    volume: int = 0


@dataclass(frozen=True)
class Quote:
    """The latest price: bid, ask, whether the instrument is tradeable now."""

    ts: int  # ns UTC of the price
    bid: float
    ask: float
    tradeable: bool = True

    @property
    def mid(self) -> float:
        """Mid price."""
        return (self.bid + self.ask) / 2.0


@dataclass(frozen=True)
class OrderRequest:
    """A market order: ``units`` signed, ``client_id`` unique (our idempotency key).

    ``reduce_only``: an exit; the broker must only reduce an open position, never open
    or grow one (OANDA ``positionFill: REDUCE_ONLY``), so an exit sent against a position
    that changed behind our back cannot open a new one.
    """

    client_id: str
    instrument: str
    units: int
    reduce_only: bool = False


@dataclass(frozen=True)
class OrderResult:
    """What became of an order (from its reply, or resolved later)."""

    client_id: str
    state: OrderState
    units: int = 0  # filled units, signed
    price: float | None = None  # average fill price
    cost_pips: float = 0.0  # costs not in ``price`` (the paper broker's SPEC §4 spread)
    pl: float = 0.0  # realised P/L of the fill in account currency
    order_id: str = ""
    transaction_id: str = ""
    reason: str = ""  # cancel / reject reason, e.g. MARKET_HALTED, INSUFFICIENT_MARGIN
    code: str = ""  # HTTP status or error code of a reject / failure
    ts: int = 0  # fill / cancel time, ns UTC


@dataclass(frozen=True)
class Position:
    """Net open position in one instrument (0 units: flat)."""

    instrument: str
    units: int = 0
    avg_price: float | None = None
    trade_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Account:
    """Account summary in the account's currency."""

    currency: str
    balance: float
    nav: float
    unrealized_pl: float
    last_transaction_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Broker(Protocol):
    """What the live trader needs from a broker. Calls may raise :class:`BrokerError`."""

    name: str

    def now(self) -> int:
        """The broker's clock, ns UTC (the paper broker's replay clock)."""

    def candles(self, instrument: str, granularity: str, count: int) -> list[Bar]:
        """The newest ``count`` complete bars, oldest first (incomplete bars skipped)."""

    def quote(self, instrument: str) -> Quote:
        """The latest price (from the pricing stream or a pricing request)."""

    def market_order(self, request: OrderRequest) -> OrderResult:
        """Send a FOK market order once; a timeout or unexpected reply gives UNKNOWN."""

    def order_by_client_id(self, client_id: str) -> OrderResult | None:
        """The outcome of an order we sent, or None if the broker does not know it (yet)."""

    def position(self, instrument: str) -> Position:
        """The net open position (from open positions and trades)."""

    def account(self) -> Account:
        """The account summary."""

    def transactions_since(self, transaction_id: str) -> list[dict[str, Any]]:
        """Raw transactions after ``transaction_id``, oldest first."""

    def close(self) -> None:
        """Release connections and threads."""


def instrument_name(symbol: str) -> str:
    """OANDA's instrument name of a six-letter symbol: ``GBPJPY`` → ``GBP_JPY``.

    Raises:
        ValueError: if ``symbol`` is not six letters (nor already ``XXX_YYY``).
    """
    s = symbol.strip().upper()
    if len(s) == 7 and s[3] == "_" and (s[:3] + s[4:]).isalpha():
        return s
    if len(s) != 6 or not s.isalpha():
        raise ValueError(f"symbol {symbol!r} is not a currency pair like 'GBPJPY' or 'GBP_JPY'")
    return f"{s[:3]}_{s[3:]}"
