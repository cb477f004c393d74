"""The paper broker: play, fills at the close with SPEC §4 costs, a persistent account."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from live_support import console, paper, small_config  # isort: skip

from fxconsole.brokers.base import OrderRequest, OrderState
from fxconsole.brokers.paper import PaperBroker
from fxconsole.brokers.paper_bars import PaperBars
from fxconsole.market.bars import Bars
from fxconsole.market.synth import synth_bars

CFG = small_config()


@pytest.fixture(scope="module")
def bars() -> Bars:
    return synth_bars(years=0.02, seed=3)


def test_only_played_bars_exist(tmp_path: Path, bars: Bars) -> None:
    broker = paper(console(tmp_path / "c.sqlite"), bars, 1000, CFG)
    got = broker.candles("GBP_JPY", "M1", 5)
    assert [b.ts for b in got] == bars.ts[996:1001].tolist()
    assert broker.now() == int(bars.ts[1000]) + 60 * 10**9
    quote = broker.quote("GBP_JPY")
    assert quote.bid == quote.ask == bars.close[1000] and quote.tradeable
    assert quote.ts == broker.now()
    broker.advance(3)
    assert broker.candles("GBP_JPY", "M1", 1)[0].ts == int(bars.ts[1003])


def test_round_trip_costs_follow_the_spec(tmp_path: Path, bars: Bars) -> None:
    broker = paper(console(tmp_path / "c.sqlite"), bars, 1000, CFG)
    entry = broker.market_order(OrderRequest("a", "GBP_JPY", -1))
    assert entry.state is OrderState.FILLED and entry.price == bars.close[1000]
    assert entry.cost_pips == 4.0 and entry.pl == pytest.approx(-0.04)
    assert broker.position("GBP_JPY").units == -1
    broker.advance(7)
    exit_ = broker.market_order(OrderRequest("b", "GBP_JPY", 1))
    assert exit_.price == bars.close[1007] and exit_.cost_pips == 0.0
    env_pips = (bars.close[1000] - bars.close[1007]) / 0.01 - 4.0  # SPEC §4, a short
    account = broker.account()
    assert account.extra["realised_pips"] == pytest.approx(env_pips, abs=1e-9)
    assert account.balance == pytest.approx(env_pips * 0.01, abs=1e-9)
    assert account.currency == "JPY" and broker.position("GBP_JPY").units == 0


def test_a_restart_continues_the_account(tmp_path: Path, bars: Bars) -> None:
    path = tmp_path / "c.sqlite"
    broker = paper(console(path), bars, 1000, CFG)
    broker.advance(5)
    filled = broker.market_order(OrderRequest("fx-1", "GBP_JPY", 1))
    again = paper(console(path), bars, 1000, CFG)  # a new process on the same database
    assert again.cursor == 1005
    assert again.position("GBP_JPY").units == 1
    assert again.order_by_client_id("fx-1") == filled
    assert again.order_by_client_id("fx-unknown") is None
    # the same client id is never filled twice
    assert again.market_order(OrderRequest("fx-1", "GBP_JPY", 1)) == filled
    assert again.position("GBP_JPY").units == 1
    assert [t["client_id"] for t in again.transactions_since("0")] == ["fx-1"]


def test_rejects(tmp_path: Path, bars: Bars) -> None:
    broker = paper(console(tmp_path / "c.sqlite"), bars, 1000, CFG)
    result = broker.market_order(OrderRequest("z", "GBP_JPY", 0))
    assert result.state is OrderState.REJECTED and result.units == 0
    assert broker.position("GBP_JPY").units == 0


def test_play_follows_the_clock(tmp_path: Path, bars: Bars) -> None:
    now = [0.0]
    played = dataclasses.replace(PaperBars.replay(bars, "test", 0.7, 0.85), key="clock")
    broker = PaperBroker(console(tmp_path / "c.sqlite"), played, "GBP_JPY", 0.01,
                         bars_per_second=4.0, clock=lambda: now[0])
    start = played.start
    assert start == int(np.searchsorted(bars.ts, bars.ts[0] + int(
        (bars.ts[-1] - bars.ts[0]) * 0.85)))
    now[0] = 1.0
    assert broker.cursor == start + 4


def test_synthetic_bars_continue_deterministically() -> None:
    a = PaperBars.synthetic("GBPJPY", "M1", 400, seed=1, start="2024-01-07")
    b = PaperBars.synthetic("GBPJPY", "M1", 400, seed=1, start="2024-01-07")
    n = len(a)
    last = a.bar(n - 1)
    first_new = a.bar(n)  # extends with a chunk opening at the previous close
    assert first_new.ts > last.ts and first_new.open == pytest.approx(last.close)
    b.ensure(n + 10)
    np.testing.assert_array_equal(a.ts[:n + 10], b.ts[:n + 10])
    np.testing.assert_array_equal(a.close[:n + 10], b.close[:n + 10])
    assert np.all(np.diff(a.ts) > 0)
