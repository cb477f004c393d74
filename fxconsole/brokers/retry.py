"""Retrying broker *reads* with capped, jittered exponential backoff (orders never).

Pure logic: the caller turns transport errors into :class:`BrokerError` (with ``status``,
``retriable`` and optionally ``retry_after``), :func:`call_read` decides what to retry.
Retried: HTTP 429, every 5xx, timeouts and connection errors (``retriable=True``).
Not retried: other 4xx. HTTP 401/403 always surface as :class:`AuthError`.

A read may also have a total ``deadline``: retries stop once the next wait (plus the time
one attempt may take) would pass it, and a Retry-After is cut to the time left, so a read
cannot block much longer than the supervisor's heartbeat allows.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from fxconsole.brokers.base import AuthError, BrokerError, BrokerTimeout

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_AFTER_MAX = 60.0  # never wait longer than this for a Retry-After header


def is_retriable(exc: BrokerError) -> bool:
    """Whether a read that failed with ``exc`` may be tried again."""
    if isinstance(exc, AuthError) or exc.status in (401, 403):
        return False
    if exc.retriable or isinstance(exc, BrokerTimeout):
        return True
    return exc.status is not None and (exc.status == 429 or 500 <= exc.status <= 599)


def backoff_delay(attempt: int, base: float, cap: float,
                  rng: Callable[[], float] = random.random) -> float:
    """The wait before retry ``attempt`` (0-based): ``min(cap, base·2^attempt)``, jittered.

    "Equal jitter": half the capped delay plus a random part of the other half, so a
    retry never comes sooner than half the nominal delay and clients do not stampede.
    """
    nominal = min(cap, base * (2.0 ** attempt))
    return nominal / 2.0 + nominal / 2.0 * rng()


def _as_auth_error(exc: BrokerError) -> AuthError:
    err = AuthError(str(exc), status=exc.status, retriable=False)
    err.__dict__.update({k: v for k, v in exc.__dict__.items() if k not in err.__dict__})
    return err


def call_read(
    fn: Callable[[], T], *, retries: int, base: float, cap: float,
    sleep: Callable[[float], None] = time.sleep, rng: Callable[[], float] = random.random,
    what: str = "read", deadline: float | None = None, attempt_seconds: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``fn`` and retry it on retriable :class:`BrokerError` up to ``retries`` times.

    Args:
        fn: the read; raises :class:`BrokerError` on failure.
        retries: retries after the first attempt (0: try once).
        base: first delay, seconds (doubles per retry).
        cap: largest delay, seconds.
        sleep: how to wait (tests pass a recorder).
        rng: uniform [0, 1) source for the jitter.
        what: the read's name for log lines (must not hold secrets).
        deadline: seconds from the first attempt by which the read must be over (None: no
            limit). No retry is made when its wait plus ``attempt_seconds`` would end past
            it; a Retry-After longer than the time left is cut to the time left.
        attempt_seconds: how long one attempt may take (the request timeouts), so that the
            last retry also ends within the deadline.
        clock: monotonic seconds (tests pass a fake).

    Returns:
        What ``fn`` returned.

    Raises:
        AuthError: on HTTP 401/403, at once.
        BrokerError: a non-retriable error at once, or the last error after ``retries``
            or when the deadline leaves no room for another attempt.
    """
    start = clock()
    attempt = 0
    while True:
        try:
            return fn()
        except BrokerError as exc:
            if exc.status in (401, 403) and not isinstance(exc, AuthError):
                raise _as_auth_error(exc) from None
            if not is_retriable(exc) or attempt >= retries:
                raise
            delay = backoff_delay(attempt, base, cap, rng)
            left = (float("inf") if deadline is None
                    else deadline - (clock() - start) - attempt_seconds)
            retry_after = getattr(exc, "retry_after", None)
            if isinstance(retry_after, int | float) and retry_after > 0:
                delay = max(delay, min(float(retry_after), RETRY_AFTER_MAX, left))
            if delay > left:
                logger.warning("%s failed (%s); no retry: the %g s deadline would pass",
                               what, exc, deadline)
                raise
            attempt += 1
            logger.warning("%s failed (%s); retry %d/%d in %.2f s", what, exc, attempt,
                           retries, delay)
            sleep(delay)
