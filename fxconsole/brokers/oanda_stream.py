"""The OANDA pricing stream in a daemon thread: latest quotes, heartbeats, reconnects.

The stream is read with a read timeout of ``stream_silence_seconds``: a stream that
stays silent that long (no price, no heartbeat — OANDA sends one every 5 s) raises in the
reader and is reconnected, as is one that drops or ends. Between the failure and the next
message of a new connection the stream is *stale*: :meth:`PriceStream.quote` returns
None then, and the broker falls back to a pricing request.

:meth:`PriceStream.close` shuts the open streaming response's socket down, which wakes a
reader blocked on a silent stream at once (closing the session alone does not: the
connection being read is not in its pool).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import oandapyV20.endpoints.pricing as pricing
import requests
from oandapyV20 import API

from fxconsole.brokers.base import AuthError, BrokerError, Quote
from fxconsole.brokers.credentials import Credentials
from fxconsole.brokers.oanda_wire import map_error, parse_price
from fxconsole.brokers.retry import backoff_delay

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamStatus:
    """What the pricing stream is doing."""

    running: bool  # the reader thread is alive
    connected: bool  # a connection has delivered a message and not failed since
    stale: bool  # not connected, or silent for longer than the silence limit
    reconnects: int  # connections that failed or ended and were retried
    last_message_age: float | None  # seconds since the last price or heartbeat
    last_error: str  # the last failure, redacted ("" if none)
    instruments: tuple[str, ...]


class PriceStream:
    """Latest prices of subscribed instruments from ``PricingStream``, kept fresh.

    Args:
        make_api: builds a fresh oandapyV20 API whose read timeout is the silence limit.
        credentials: the account to stream for (and secrets to redact).
        silence: seconds without any message after which the stream is stale.
        base: first reconnect delay, seconds (doubles, jittered).
        cap: largest reconnect delay, seconds.
        timeout: the (connect, read) timeout, for error messages.
    """

    def __init__(self, make_api: Callable[[], API], credentials: Credentials, *,
                 silence: float, base: float, cap: float,
                 timeout: tuple[float, float]) -> None:
        self._make_api = make_api
        self._creds = credentials
        self._silence = silence
        self._base, self._cap = base, cap
        self._timeout = timeout
        self._lock = threading.Lock()
        self._instruments: set[str] = set()
        self._quotes: dict[str, Quote] = {}
        self._last_message: float | None = None
        self._connected = False
        self._resubscribe = False
        self._reconnects = 0
        self._last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._api: API | None = None  # the open connection's session (under the lock)
        self._response: requests.Response | None = None  # its streaming response

    # --- public ----------------------------------------------------------------------

    def subscribe(self, instruments: Iterable[str]) -> None:
        """Stream these instruments too (starts the thread, or reconnects with them)."""
        with self._lock:
            new = set(instruments) - self._instruments
            if not new:
                return
            self._instruments |= new
            self._resubscribe = self._thread is not None
            start = self._thread is None and not self._stop.is_set()
            if start:
                self._thread = threading.Thread(target=self._run, name="oanda-pricing-stream",
                                                daemon=True)
        if start and self._thread is not None:
            self._thread.start()

    def quote(self, instrument: str) -> Quote | None:
        """The latest streamed quote, or None if the stream is stale or has none yet."""
        with self._lock:
            if self._is_stale():
                return None
            return self._quotes.get(instrument)

    def status(self) -> StreamStatus:
        """A snapshot of the stream's state."""
        with self._lock:
            age = None if self._last_message is None else time.monotonic() - self._last_message
            return StreamStatus(
                running=self._thread is not None and self._thread.is_alive(),
                connected=self._connected, stale=self._is_stale(),
                reconnects=self._reconnects, last_message_age=age,
                last_error=self._last_error, instruments=tuple(sorted(self._instruments)),
            )

    def close(self, timeout: float = 2.0) -> None:
        """Stop the reader thread: interrupt the open stream and wait up to ``timeout``."""
        with self._lock:
            self._stop.set()
            api, response = self._api, self._response
        if response is not None:
            _interrupt(response)
        if api is not None:
            try:
                api.close()
            except Exception:  # closing a session another thread reads from: best effort
                logger.debug("closing the pricing stream session failed", exc_info=True)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # --- reader thread ---------------------------------------------------------------

    def _is_stale(self) -> bool:
        if not self._connected or self._last_message is None:
            return True
        return time.monotonic() - self._last_message > self._silence

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            got_message = self._connect_once()
            if self._stop.is_set():
                break
            if got_message:
                attempt = 0
            with self._lock:
                self._reconnects += 1
                error = self._last_error
            delay = backoff_delay(attempt, self._base, self._cap, random.random)
            attempt += 1
            logger.warning("pricing stream: %s; reconnecting in %.2f s (reconnect %d)",
                           error or "stream ended", delay, self._reconnects)
            self._stop.wait(delay)
        with self._lock:
            self._connected = False

    def _connect_once(self) -> bool:
        """Read one connection until it fails, ends or must resubscribe."""
        with self._lock:
            instruments = ",".join(sorted(self._instruments))
            self._resubscribe = False
        got = False
        api = self._make_api()
        api.client.hooks["response"].append(self._remember_response)
        with self._lock:  # close() sees this session (or we see close()'s stop)
            stopped = self._stop.is_set()
            if not stopped:
                self._api, self._response = api, None
        if stopped:
            api.close()
            return False
        endpoint = pricing.PricingStream(self._creds.account,
                                         params={"instruments": instruments})
        error = "stream ended"
        try:
            for message in api.request(endpoint):
                if self._stop.is_set():
                    break
                self._on_message(message)
                got = True
                if self._resubscribe:
                    error = "instruments changed"
                    break
        except Exception as exc:  # every failure ends this connection; the loop reconnects
            err = map_error(exc, "pricing stream", self._creds, self._timeout)
            error = str(err)
            if isinstance(err, AuthError) or (isinstance(err, BrokerError)
                                              and err.status in (401, 403)):
                logger.error("pricing stream: %s", err)
        finally:
            with self._lock:
                self._connected = False
                self._last_error = error
                self._api, self._response = None, None
            try:
                api.close()
            except Exception:
                logger.debug("closing the pricing stream session failed", exc_info=True)
        return got

    def _remember_response(self, response: requests.Response, *args: Any,
                           **kwargs: Any) -> None:
        """requests' response hook: keep the streaming response so close() can cut it."""
        with self._lock:
            self._response = response
            stopped = self._stop.is_set()
        if stopped:
            _interrupt(response)

    def _on_message(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        now = time.monotonic()
        quote: Quote | None = None
        if kind == "PRICE":
            try:
                quote = parse_price(message)
            except BrokerError as exc:
                logger.warning("pricing stream: ignored a price: %s", exc)
        with self._lock:
            self._last_message = now
            self._connected = True
            if quote is not None:
                self._quotes[str(message.get("instrument", ""))] = quote


def _interrupt(response: requests.Response) -> None:
    """Shut a streaming response's socket down (wakes a blocked reader), then close it."""
    raw = getattr(response, "raw", None)
    try:
        shutdown = getattr(raw, "shutdown", None)  # urllib3 >= 2.3
        if shutdown is not None:
            shutdown()
    except Exception:  # already released or closed: nothing to wake
        logger.debug("shutting the pricing stream socket down failed", exc_info=True)
    try:
        response.close()
    except Exception:
        logger.debug("closing the pricing stream response failed", exc_info=True)
