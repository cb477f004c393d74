"""The live trader against the paper broker: the environment's numbers, limits, switches,
reconciliation and unknown order outcomes."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from live_support import (  # isort: skip
    Script, Sink, console, orders, paper, paper_orders, small_config,
)

from fxconsole.brokers.base import BrokerTimeout, OrderRequest, OrderResult, Quote
from fxconsole.brokers.paper import PaperBroker
from fxconsole.config import Config
from fxconsole.live.engine import LiveTrader
from fxconsole.live.journal import HALTED, KILL_SWITCH, RISK, Journal
from fxconsole.live.risk import market_closed, trading_day_start
from fxconsole.market.bars import Bars
from fxconsole.market.synth import synth_bars
from fxconsole.trading.core import BUY, CLOSE, HOLD, SELL
from fxconsole.trading.env import TradingEnv
from fxconsole.trading.market_data import MarketData

MIN = 60 * 10**9
CFG = small_config()


@pytest.fixture(scope="module")
def bars() -> Bars:
    return synth_bars(years=0.06, seed=21)


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    return console(tmp_path / "console.sqlite")


def make_trader(conn: sqlite3.Connection, broker: PaperBroker, actor: Any,
                cfg: Config = CFG, gate: float = -math.inf) -> tuple[LiveTrader, Sink]:
    sink = Sink()
    trader = LiveTrader(broker, conn, actor, cfg, sink, run="t", deployed="script",
                        gate_sigma_pips=gate)
    trader.start()
    return trader, sink


def play(trader: LiveTrader, broker: PaperBroker, bars: int) -> None:
    """Decide the first bar, then ``bars - 1`` more, one bar at a time."""
    trader.step()
    for _ in range(bars - 1):
        broker.advance(1)
        trader.step()


def weekday_start(bars: Bars, at_least: int = 500) -> int:
    """A row on a Tuesday-to-Thursday, far from a weekend and a day roll."""
    for row in range(at_least, len(bars)):
        day = trading_day_start(int(bars.ts[row]))
        if (int(bars.ts[row]) - day) > 2 * 3600 * 10**9 and 1 <= (
                np.datetime64(int(bars.ts[row]), "ns").astype("datetime64[D]").astype(int)
                + 3) % 7 <= 3:
            return row
    raise AssertionError("no weekday row")


@pytest.mark.parametrize("gating", [False, True])
def test_trades_and_observations_equal_the_env(conn: sqlite3.Connection, bars: Bars,
                                               gating: bool) -> None:
    cfg = small_config(env={"gating": gating})
    data = MarketData.from_bars(bars, cfg.data)
    env = TradingEnv(split="train", data=data, config=cfg)
    gate = env.gate_sigma_pips if gating else -math.inf
    start = int(env.starts[len(env.starts) // 3])
    if gating:  # entries on every bar until one passes the gate
        actions = [BUY if k % 60 < 30 else CLOSE for k in range(env.session_bars - 1)] + [HOLD]
    else:
        script_at = {5: BUY, 10: BUY, 40: CLOSE, 45: CLOSE, 50: SELL, 120: CLOSE, 200: BUY,
                     300: CLOSE}
        actions = [script_at.get(k, HOLD) for k in range(env.session_bars)]
    obs, _ = env.reset(options={"start_index": start})
    env_obs, env_trades = [obs], []
    for action in actions:
        obs, _, _, _, info = env.step(action)
        env_obs.append(obs)
        if "trade" in info:
            env_trades.append({k: v for k, v in info["trade"].items() if "index" not in k})
    broker = paper(conn, bars, start, cfg)
    script = Script(actions)
    trader, sink = make_trader(conn, broker, script, cfg, gate)
    play(trader, broker, env.session_bars)
    assert len(script.seen) == env.session_bars
    for k, seen in enumerate(script.seen):
        np.testing.assert_array_equal(seen, env_obs[k], err_msg=f"bar {k}")
    assert sink.closed == env_trades and len(env_trades) >= 3
    account = broker.account()
    total = sum(t["pips"] for t in env_trades)
    assert account.extra["realised_pips"] == pytest.approx(total, abs=1e-9)
    assert sink.latest("live/realised_pips") == pytest.approx(total)
    assert sink.latest("live/fills") == 2 * len(env_trades)
    assert sink.latest("live/slippage_pips") == 0.0
    assert sink.latest("live/decisions") == env.session_bars
    assert [o[2] for o in orders(conn)] == ["open", "close"] * len(env_trades)
    assert (info["gated"] > 0) == gating  # with gating on, the gate did block entries
    assert all(o[3] == "FILLED" for o in orders(conn))
    decisions = Journal(conn, "t", "live", "paper").get_state("decisions")
    assert len(decisions) == 20 and decisions[0]["action"] == "HOLD"


class WindowScript(Script):
    """A Script of the MuZero observation kind: it keeps the windows and positions."""

    observation_kind = "muzero"

    def __call__(self, obs: Any, legal: np.ndarray) -> np.ndarray:
        self.windows = [*getattr(self, "windows", []), (obs.temporal[0].copy(),
                                                         obs.static[0].copy())]
        return super().__call__(obs.static, legal)


def test_a_muzero_policy_sees_the_envs_window_and_the_legal_actions(
        conn: sqlite3.Connection, bars: Bars) -> None:
    cfg = small_config()
    data = MarketData.from_bars(bars, cfg.data)
    env = TradingEnv(split="train", data=data, config=cfg, observation="muzero")
    start = int(env.starts[len(env.starts) // 2])
    actions = [{3: BUY, 30: CLOSE, 40: SELL}.get(k, HOLD) for k in range(60)]
    obs, _ = env.reset(options={"start_index": start})
    env_obs = [obs]
    for action in actions[:-1]:
        obs, *_ = env.step(action)
        env_obs.append(obs)
    script = WindowScript(actions)
    trader, sink = make_trader(conn, paper(conn, bars, start, cfg), script, cfg)
    play(trader, trader.broker, len(actions))  # type: ignore[arg-type]
    assert len(script.windows) == len(actions)
    for k, (temporal, static) in enumerate(script.windows):
        np.testing.assert_array_equal(temporal, env_obs[k]["temporal"], err_msg=f"bar {k}")
        np.testing.assert_array_equal(static, env_obs[k]["static"], err_msg=f"bar {k}")
        flat = static[0] == 0
        assert script.legal[k].tolist() == [True, flat, flat, not flat]
    assert [t["side"] for t in sink.closed] == ["long"] and not trader.tracker.flat


def test_a_muzero_policy_needs_the_history_of_its_window(conn: sqlite3.Connection,
                                                          bars: Bars) -> None:
    short = small_config(live={"history_bars": 240 + 60 + 30})  # one bar short
    broker = paper(conn, bars, 1000, short)
    with pytest.raises(ValueError, match=r"live.history_bars = 330 is too short.*331"):
        LiveTrader(broker, conn, WindowScript([]), short, Sink())
    trader = LiveTrader(broker, conn, None, short, Sink())
    with pytest.raises(ValueError, match="too short for a MuZero policy"):
        trader.deploy(WindowScript([]), "mz")
    assert trader.policy is None  # nothing changed
    assert trader.deploy(Script([]), "ppo") == "deployed ppo"  # PPO needs only 300


def test_forced_close_after_a_session_of_bars(conn: sqlite3.Connection, bars: Bars) -> None:
    cfg = small_config(data={"session_bars": 12})
    broker = paper(conn, bars, weekday_start(bars), cfg)
    trader, sink = make_trader(conn, broker, Script([SELL]), cfg)
    play(trader, broker, 14)
    assert len(sink.closed) == 1
    trade = sink.closed[0]
    assert trade["forced"] and trade["bars_held"] == 11 and trade["side"] == "short"
    assert [o[2] for o in orders(conn)] == ["open", "forced_close"]


def test_weekend_idles_without_orders(conn: sqlite3.Connection, bars: Bars) -> None:
    gaps = np.flatnonzero(np.diff(bars.ts) > 86_400 * 10**9)
    friday = next(int(r) for r in gaps if market_closed(int(bars.ts[r]) + MIN))
    broker = paper(conn, bars, friday, CFG)
    trader, sink = make_trader(conn, broker, Script(lambda k: BUY))
    assert trader.step()  # the week's last bar: decided, but the market is closed
    assert orders(conn) == [] and not trader.step() and not trader.step()
    last = trader.decisions[0]
    assert last["action"] == "HOLD" and "market is closed" in last["reason"]
    broker.advance(1)  # Sunday 17:00: the week opens
    assert trader.step()
    assert [o[3] for o in orders(conn)] == ["FILLED"]
    assert "risk" not in sink.kinds("warning")  # a closed market is no alert


def test_daily_loss_trips_and_survives_a_restart(tmp_path: Path, bars: Bars) -> None:
    cfg = small_config(risk={"daily_loss_pips": 1.0})
    start = weekday_start(bars)
    while (bars.close[start + 1] - bars.close[start]) / 0.01 >= 2.0:
        start += 1
    path = tmp_path / "console.sqlite"
    conn = console(path)
    broker = paper(conn, bars, start, cfg)
    trader, sink = make_trader(conn, broker, Script([BUY, CLOSE, BUY, BUY]), cfg)
    play(trader, broker, 3)
    assert len(sink.closed) == 1 and sink.closed[0]["pips"] <= -2.0
    assert "risk" in sink.kinds("error")
    assert trader.decisions[0]["reason"].startswith("risk: daily loss limit")
    assert sink.latest("live/risk_tripped") == 1.0
    trader.close()
    broker.close()
    # a new process on the same database: still tripped
    conn2 = console(path)
    broker2 = paper(conn2, bars, start, cfg)
    trader2, sink2 = make_trader(conn2, broker2, Script(lambda k: BUY), cfg)
    assert sink2.latest("live/risk_tripped") == 1.0
    broker2.advance(1)
    assert trader2.step()
    assert trader2.decisions[0]["reason"].startswith("risk: daily loss limit")
    assert len(orders(conn2)) == 2
    # the next trading day (17:00 New York) lifts it
    tripped_day = Journal(conn2, "t", "live", "paper").get_state(RISK)["tripped_day"]
    row = broker2.cursor
    while trading_day_start(int(bars.ts[row]) + MIN) == tripped_day or market_closed(
            int(bars.ts[row]) + MIN):
        row += 1
    broker2.advance(row - broker2.cursor)
    assert trader2.step()
    assert trader2.decisions[0]["action"] == "BUY" and len(orders(conn2)) == 3
    assert sink2.latest("live/risk_tripped") == 0.0


@pytest.mark.parametrize("flatten", [True, False])
def test_kill_switch(conn: sqlite3.Connection, bars: Bars, flatten: bool) -> None:
    cfg = small_config(live={"flatten_on_kill": flatten})
    broker = paper(conn, bars, weekday_start(bars), cfg)
    trader, sink = make_trader(conn, broker, Script(lambda k: BUY), cfg)
    play(trader, broker, 2)
    assert sink.latest("live/position") == 1.0
    assert "kill switch on" in trader.kill_switch()
    assert Journal(conn, "t", "live", "paper").get_state(KILL_SWITCH) is True
    play(trader, broker, 3)
    if flatten:
        assert broker.position("GBP_JPY").units == 0 and len(sink.closed) == 1
        assert [o[2] for o in orders(conn)] == ["open", "flatten"]
        assert trader.decisions[0]["reason"] == "kill switch engaged"
    else:
        assert broker.position("GBP_JPY").units == 1 and sink.closed == []
    assert sink.latest("live/kill_switch") == 1.0
    # the switch persists across a restart, and resuming releases it
    trader2, _ = make_trader(conn, broker, Script(lambda k: BUY), cfg)
    assert trader2.sw.kill_switch
    trader2.resume_entries()
    broker.advance(1)
    trader2.step()
    assert broker.position("GBP_JPY").units == 1


class FrozenClock(PaperBroker):
    """Bars keep coming while the broker's clock stands still (many bars in a minute)."""

    frozen = 0

    def now(self) -> int:
        self.frozen = self.frozen or super().now()
        return self.frozen

    def quote(self, instrument: str) -> Quote:
        return dataclasses.replace(super().quote(instrument), ts=self.now())


def test_orders_per_minute_let_exits_through(conn: sqlite3.Connection, bars: Bars) -> None:
    cfg = small_config(risk={"max_orders_per_minute": 3})
    base = paper(conn, bars, weekday_start(bars), cfg)
    broker = FrozenClock(conn, base.bars, base.instrument, base.pip, 4.0, None)
    trader, sink = make_trader(conn, broker, Script([BUY, CLOSE, BUY, CLOSE, BUY]), cfg)
    play(trader, broker, 5)
    assert [o[1] for o in orders(conn)] == [1, -1, 1, -1]
    assert trader.decisions[0]["reason"].startswith("risk: 4 orders in the last minute")
    assert "risk" in sink.kinds("warning")


class StaleQuotes(PaperBroker):
    def quote(self, instrument: str) -> Quote:
        q = super().quote(instrument)
        return dataclasses.replace(q, ts=q.ts - 10 * MIN)


def test_stale_price_blocks_orders(conn: sqlite3.Connection, bars: Bars) -> None:
    base = paper(conn, bars, weekday_start(bars), CFG)
    broker = StaleQuotes(conn, base.bars, base.instrument, base.pip, 4.0, None)
    trader, _ = make_trader(conn, broker, Script(lambda k: BUY))
    play(trader, broker, 2)
    assert orders(conn) == []
    assert "the price is 600 s old" in trader.decisions[0]["reason"]


def test_reconcile_mismatch_halts_until_flattened(conn: sqlite3.Connection, bars: Bars) -> None:
    broker = paper(conn, bars, weekday_start(bars), CFG)
    broker.market_order(OrderRequest("by-hand", "GBP_JPY", -1))  # not in the journal
    trader, sink = make_trader(conn, broker, Script(lambda k: BUY))
    assert "reconcile" in sink.kinds("error")
    halted = Journal(conn, "t", "live", "paper").get_state(HALTED)
    assert halted["kind"] == "mismatch" and "broker has -1" in halted["reason"]
    play(trader, broker, 2)
    assert orders(conn) == [] and trader.decisions[0]["reason"].startswith("halted")
    assert sink.latest("live/halted") == 1.0
    # a restart does not assume anything either
    trader, sink = make_trader(conn, broker, Script(lambda k: BUY))
    assert sink.latest("live/halted") == 1.0
    trader.flatten()
    broker.advance(1)
    trader.step()  # flattens first, then trades the new bar again
    assert [o[2:] for o in orders(conn)] == [("flatten", "FILLED"), ("open", "FILLED")]
    assert Journal(conn, "t", "live", "paper").get_state(HALTED) is None
    assert broker.position("GBP_JPY").units == 1
    assert "reconcile" in sink.kinds("info")


class Flaky(PaperBroker):
    """The order's reply is lost: after filling it (``fill``) or before it arrives."""

    fill = True
    lost = 1

    def market_order(self, request: OrderRequest) -> OrderResult:
        if self.lost:
            self.lost -= 1
            if self.fill:
                super().market_order(request)
            raise BrokerTimeout("read timed out")
        return super().market_order(request)


@pytest.mark.parametrize("filled", [True, False])
def test_unknown_outcome_is_resolved_not_resent(conn: sqlite3.Connection, bars: Bars,
                                                filled: bool) -> None:
    base = paper(conn, bars, weekday_start(bars), CFG)
    broker = Flaky(conn, base.bars, base.instrument, base.pip, 4.0, None)
    broker.fill = filled
    trader, sink = make_trader(conn, broker, Script(lambda k: BUY))
    trader.step()
    assert [o[3] for o in orders(conn)] == ["UNKNOWN"]
    assert "order" in sink.kinds("warning")
    broker.advance(1)
    trader.step()  # resolves first, then decides the new bar
    states = [o[3] for o in orders(conn)]
    if filled:
        assert states == ["FILLED"]  # found at the broker: recorded, never re-sent
        assert len(paper_orders(conn)) == 1
    else:
        assert states == ["NOT_FOUND", "FILLED"]  # never arrived: the next bar trades
    assert broker.position("GBP_JPY").units == 1
    assert sink.latest("live/position") == 1.0 and not math.isnan(trader.tracker.unrealised)


def test_paused_entries_let_exits_through(conn: sqlite3.Connection, bars: Bars) -> None:
    broker = paper(conn, bars, weekday_start(bars), CFG)
    trader, sink = make_trader(conn, broker, Script([BUY, HOLD, CLOSE, SELL]))
    trader.step()
    assert trader.pause_entries() == "entries paused"
    play(trader, broker, 4)
    assert [o[2] for o in orders(conn)] == ["open", "close"]
    assert trader.decisions[0]["reason"] == "entries paused"
    assert sink.latest("live/entries_paused") == 1.0 and len(sink.closed) == 1


def test_holds_without_a_model_until_one_is_deployed(conn: sqlite3.Connection,
                                                       bars: Bars) -> None:
    broker = paper(conn, bars, weekday_start(bars), CFG)
    trader, sink = make_trader(conn, broker, None)
    trader.step()
    assert trader.decisions[0]["reason"] == "no model deployed" and orders(conn) == []
    assert sink.latest("live/deployed") == 0.0
    assert trader.deploy(Script(lambda k: SELL), "run @ 1") == "deployed run @ 1"
    broker.advance(1)
    trader.step()
    assert [o[1:] for o in orders(conn)] == [(-1, "open", "FILLED")]
    assert sink.latest("live/deployed") == 1.0 and sink.latest("live/position") == -1.0
