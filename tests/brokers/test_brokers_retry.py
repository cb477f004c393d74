"""call_read: what is retried, how long it waits, what surfaces (a fake fn, no network)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fxconsole.brokers.base import AuthError, BrokerError, BrokerTimeout
from fxconsole.brokers.retry import RETRY_AFTER_MAX, backoff_delay, call_read, is_retriable


def failing(*errors: BrokerError, result: str = "ok") -> tuple[Callable[[], str], list[int]]:
    """A fn raising ``errors`` in turn, then returning ``result``; and its call counter."""
    calls = [0]

    def fn() -> str:
        calls[0] += 1
        if calls[0] <= len(errors):
            raise errors[calls[0] - 1]
        return result

    return fn, calls


def constant(value: float) -> Callable[[], float]:
    return lambda: value


def run(fn: Callable[[], str], retries: int = 4, rng: float = 0.5
        ) -> tuple[str, list[float]]:
    waits: list[float] = []
    out = call_read(fn, retries=retries, base=0.5, cap=4.0, sleep=waits.append,
                    rng=lambda: rng)
    return out, waits


@pytest.mark.parametrize("status", [429, 500, 502, 503, 599])
def test_429_and_5xx_are_retried_then_succeed(status: int) -> None:
    fn, calls = failing(BrokerError("x", status=status), BrokerError("x", status=status))
    out, waits = run(fn)
    assert out == "ok" and calls[0] == 3 and len(waits) == 2


def test_timeouts_and_connection_errors_are_retried() -> None:
    fn, calls = failing(BrokerTimeout("slow", retriable=True),
                        BrokerError("reset", retriable=True))
    assert run(fn)[0] == "ok" and calls[0] == 3


@pytest.mark.parametrize("status", [400, 404, 405, 409])
def test_other_4xx_are_not_retried(status: int) -> None:
    fn, calls = failing(BrokerError("bad", status=status))
    with pytest.raises(BrokerError) as info:
        run(fn)
    assert calls[0] == 1 and info.value.status == status


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_become_auth_errors_at_once(status: int) -> None:
    fn, calls = failing(BrokerError("no", status=status))
    with pytest.raises(AuthError) as info:
        run(fn)
    assert calls[0] == 1 and info.value.status == status and not info.value.retriable


def test_persistent_failure_raises_the_last_error_after_the_retries() -> None:
    errors = [BrokerError(f"e{i}", status=500) for i in range(10)]
    fn, calls = failing(*errors)
    waits: list[float] = []
    with pytest.raises(BrokerError, match="e3"):
        call_read(fn, retries=3, base=0.5, cap=4.0, sleep=waits.append, rng=lambda: 0.0)
    assert calls[0] == 4 and len(waits) == 3


def test_zero_retries_tries_once() -> None:
    fn, calls = failing(BrokerError("x", status=503))
    with pytest.raises(BrokerError):
        run(fn, retries=0)
    assert calls[0] == 1


def test_backoff_doubles_is_capped_and_jittered() -> None:
    fn, _ = failing(*[BrokerError("x", status=500) for _ in range(6)])
    _, waits = run(fn, retries=6, rng=1.0)  # the largest jitter: the nominal delay
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    _, low = run(failing(*[BrokerError("x", status=500) for _ in range(3)])[0], rng=0.0)
    assert low == [0.25, 0.5, 1.0]  # the smallest: half of it
    for attempt in range(8):
        for r in (0.0, 0.3, 0.99):
            d = backoff_delay(attempt, 0.5, 4.0, constant(r))
            nominal = min(4.0, 0.5 * 2 ** attempt)
            assert nominal / 2 <= d <= nominal


def test_retry_after_is_honoured_and_bounded() -> None:
    err = BrokerError("slow down", status=429)
    err.retry_after = 3.0  # type: ignore[attr-defined]
    huge = BrokerError("slow down", status=429)
    huge.retry_after = 10_000.0  # type: ignore[attr-defined]
    fn, _ = failing(err, huge)
    _, waits = run(fn, rng=0.0)
    assert waits == [3.0, RETRY_AFTER_MAX]


def test_is_retriable() -> None:
    assert is_retriable(BrokerError("x", status=429))
    assert is_retriable(BrokerTimeout("x"))
    assert is_retriable(BrokerError("x", retriable=True))
    assert not is_retriable(BrokerError("x", status=400))
    assert not is_retriable(BrokerError("x"))
    assert not is_retriable(AuthError("x", status=401, retriable=True))


class FakeClock:
    """A monotonic clock that the recorded sleeps (and attempts) advance."""

    def __init__(self, attempt: float = 0.0) -> None:
        self.now = 100.0
        self.attempt = attempt  # seconds each call of the read takes
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def slow(self, fn: Callable[[], str]) -> Callable[[], str]:
        def run() -> str:
            self.now += self.attempt
            return fn()
        return run


def test_the_deadline_stops_retrying_before_the_next_wait_would_pass_it() -> None:
    clock = FakeClock(attempt=1.0)
    fn, calls = failing(*[BrokerError(f"e{i}", status=503) for i in range(20)])
    with pytest.raises(BrokerError, match="e2"):
        call_read(clock.slow(fn), retries=10, base=2.0, cap=8.0, sleep=clock.sleep,
                  rng=constant(1.0), clock=clock, deadline=15.0)
    # fails at t=1 (wait 2), t=4 (wait 4), t=9: the next wait (8) would end at 17 > 15
    assert calls[0] == 3 and clock.waits == [2.0, 4.0]
    assert clock.now - 100.0 <= 15.0


def test_the_deadline_counts_the_time_of_the_next_attempt() -> None:
    clock = FakeClock(attempt=5.0)
    fn, calls = failing(*[BrokerTimeout(f"t{i}", retriable=True) for i in range(20)])
    with pytest.raises(BrokerTimeout):
        call_read(clock.slow(fn), retries=10, base=0.5, cap=8.0, sleep=clock.sleep,
                  rng=constant(1.0), clock=clock, deadline=12.0, attempt_seconds=5.0)
    # t=5 fail, wait 0.5, t=10.5 fail: another attempt would end at 16 > 12
    assert calls[0] == 2 and clock.waits == [0.5]
    assert clock.now - 100.0 <= 12.0


def test_retry_after_is_cut_to_the_time_left() -> None:
    clock = FakeClock()
    err = BrokerError("slow down", status=429)
    err.retry_after = 50.0  # type: ignore[attr-defined]
    fn, calls = failing(err)
    out = call_read(fn, retries=3, base=0.5, cap=4.0, sleep=clock.sleep, rng=constant(0.0),
                    clock=clock, deadline=20.0)
    assert out == "ok" and calls[0] == 2 and clock.waits == [20.0]
    # without a deadline the (bounded) Retry-After is honoured as before
    fn, _ = failing(err)
    waits: list[float] = []
    call_read(fn, retries=3, base=0.5, cap=4.0, sleep=waits.append, rng=constant(0.0))
    assert waits == [50.0]


def test_no_time_left_raises_the_error_at_once() -> None:
    clock = FakeClock(attempt=30.0)
    fn, calls = failing(BrokerError("e", status=500))
    with pytest.raises(BrokerError, match="^e$"):
        call_read(clock.slow(fn), retries=4, base=0.5, cap=4.0, sleep=clock.sleep,
                  clock=clock, deadline=30.0)
    assert calls[0] == 1 and clock.waits == []


def test_default_broker_timing_fits_the_heartbeat() -> None:
    """With the default config a read that keeps timing out ends within its deadline."""
    from fxconsole.config import OandaConfig

    cfg = OandaConfig()
    deadline = float(getattr(cfg, "read_deadline_seconds", 30.0))
    per_attempt = cfg.connect_timeout + cfg.read_timeout
    clock = FakeClock(attempt=per_attempt)
    fn, _ = failing(*[BrokerTimeout("t", retriable=True) for _ in range(50)])
    with pytest.raises(BrokerTimeout):
        call_read(clock.slow(fn), retries=cfg.retries, base=cfg.backoff_seconds,
                  cap=cfg.backoff_cap_seconds, sleep=clock.sleep, clock=clock,
                  deadline=deadline, attempt_seconds=per_attempt)
    assert clock.now - 100.0 <= max(deadline, per_attempt) < 60.0
