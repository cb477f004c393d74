"""Shared test support: ``tests/support`` on the import path (the fake OANDA v20 server,
the live-trading helpers), and fixtures for brokers talking to the fake server."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "support"))
# A Ray call outside ray.init must fail, not start (or join a stale address file's) cluster
os.environ["RAY_ENABLE_AUTO_CONNECT"] = "0"

from fake_v20 import FakeV20  # isort: skip

from fxconsole.brokers.credentials import Credentials
from fxconsole.brokers.oanda import OandaBroker
from fxconsole.config import OandaConfig

# Short timeouts and tiny backoffs keep the suite fast (no timing assertions anywhere).
FAST = OandaConfig(connect_timeout=1.0, read_timeout=0.6, stream_silence_seconds=0.5,
                   retries=3, backoff_seconds=0.01, backoff_cap_seconds=0.05)


@pytest.fixture
def fake_v20() -> Iterator[FakeV20]:
    """A running fake v20 server (``api_url``, ``stream_url``, ``token``, ``account``)."""
    server = FakeV20().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def oanda_config(fake_v20: FakeV20) -> OandaConfig:
    """A practice config pointed at the fake server, with short timeouts."""
    return replace(FAST, api_url=fake_v20.api_url, stream_url=fake_v20.stream_url)


@pytest.fixture
def credentials(fake_v20: FakeV20) -> Credentials:
    """The fake server's token and account."""
    return Credentials(fake_v20.token, fake_v20.account)


@pytest.fixture
def make_broker(oanda_config: OandaConfig, credentials: Credentials
                ) -> Iterator[Callable[..., OandaBroker]]:
    """Build brokers on the fake server (closed at the end); kwargs override config keys."""
    made: list[OandaBroker] = []

    def make(stream: bool = False, environ: dict[str, str] | None = None,
             **overrides: Any) -> OandaBroker:
        cfg = replace(oanda_config, **overrides)
        broker = OandaBroker(cfg, credentials, environ=environ or {}, stream=stream,
                             sleep=lambda s: None)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.close()
