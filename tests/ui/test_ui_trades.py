"""The trades view (panel 7) and the Live panel's P/L by trading day and equity curve."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from ui_support import RUN, T0, Store, screen_text, wait_for

from fxconsole.ops.db import transaction
from fxconsole.ui.app import FxConsoleApp
from fxconsole.ui.screens.detail import DetailScreen
from fxconsole.ui.widgets.equity import LiveEquity
from fxconsole.ui.widgets.trades import TradesPanel, TradesTable

MakeApp = Callable[..., FxConsoleApp]


def trade(store: Store, source: str, side: str, pips: float, exit_ts: float,
          minutes: float, worker: str = "trainer", forced: bool = False) -> None:
    with transaction(store.conn):
        store.conn.execute(
            "INSERT INTO trades (ts, run, worker, source, side, entry_ts, exit_ts, entry_price,"
            " exit_price, pips, max_dd, bars_held, forced, timesteps)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 187.5, 187.6, ?, 3.5, ?, ?, 1200000)",
            (exit_ts, RUN, worker, source, side, exit_ts - minutes * 60, exit_ts, pips,
             round(minutes), int(forced)))


@pytest.fixture
def trades(store: Store) -> Store:
    trade(store, "train", "long", 12.5, T0 - 400, 45)
    trade(store, "train", "short", -30.25, T0 - 200, 190, forced=True)
    trade(store, "collect", "short", 4.0, T0 - 100, 8, worker="collector-1")
    return store


async def trades_shown(pilot: Any, count: int) -> TradesTable:
    table = pilot.app.screen.query_one(TradesTable)
    await wait_for(pilot, lambda: table.row_count == count, what=f"{count} trades")
    await pilot.pause()
    return table  # type: ignore[no-any-return]


async def test_trades_view_lists_every_source_and_filters_by_source(
        make_app: MakeApp, trades: Store) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, what="the first snapshot")
        await pilot.press("7")
        table = await trades_shown(pilot, 6)  # 2 training, 1 collector, 3 live
        text = screen_text(app)
        assert "Trades of main: all sources, 6 · times UTC" in text
        assert re.search(r"11-14 22:10 +train +short +11-14 19:00 +3h 10m +190 +-30.2", text)
        await pilot.press("f")  # training only
        table = await trades_shown(pilot, 2)
        assert {t.source for t in table.trades.values()} == {"train"}
        assert "Trades of main: training, 2" in screen_text(app)
        await pilot.press("f")
        await trades_shown(pilot, 1)
        await pilot.press("f")
        await trades_shown(pilot, 3)
        assert "live" in screen_text(app)
        await pilot.press("f", "f")  # backtests (none), then every source again
        await trades_shown(pilot, 6)


async def test_trades_sort_by_pips_search_and_open(make_app: MakeApp, trades: Store) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, what="the first snapshot")
        await pilot.press("7")
        table = await trades_shown(pilot, 6)
        for _ in range(7):  # to the pips column, ascending
            await pilot.press("o")
        pips = [table.trades[key].pips for key in table.shown_keys]
        assert pips == sorted(pips) and "pips ▲" in screen_text(app)
        await pilot.press("slash", *"forced", "enter")  # the search sees the forced flag
        await wait_for(pilot, lambda: table.row_count == 1, what="the forced trade")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.loaded,
                       what="the trade's detail")
        await pilot.pause()
        text = screen_text(app)
        assert "Trade #" in text and "train short" in text and "-30.2" in text
        assert "3h 10m, 190 bars" in text and "yes (closed by" in text
        assert "2023-11-14 19:00:00 UTC at 187.500" in text  # entry


async def test_live_panel_has_pnl_by_trading_day_and_equity(make_app: MakeApp,
                                                            store: Store) -> None:
    # Tuesday's trading day (before the 22:00 UTC roll) and last week: not today
    trade(store, "live", "long", -8.0, T0 - 20 * 60, 30, worker="live")
    trade(store, "live", "long", 100.0, T0 - 5 * 86_400, 30, worker="live")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, what="the first snapshot")
        await pilot.press("4")
        equity = app.screen.query_one(LiveEquity)
        await wait_for(pilot, lambda: equity.data is not None, what="the live P/L")
        await pilot.pause()
        text = screen_text(app)
        # today = the three trades after 17:00 New York (22:00 UTC); the week adds Tuesday's
        assert "today (Wed 11-15) +29.6 pips, 3 trades" in text
        assert "this week +21.6 pips, 4 trades" in text
        assert "Tue 11-14 -8.0  Wed 11-15 +29.6" in text
        assert "equity: cumulative live pips +121.6 over 5 trades" in text
        assert "●" in text  # the curve
        # a new live trade: read again, without waiting for anything else
        store.live_trade("short", 10.0, ts=T0 - 2)
        await wait_for(pilot, lambda: "4 trades   this week" in screen_text(app)
                       or "+39.6 pips, 4 trades" in screen_text(app), what="the new trade")


async def test_trades_view_reads_only_while_shown(make_app: MakeApp, trades: Store) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, what="the first snapshot")
        await pilot.pause(0.6)
        panel = app.screen.query_one(TradesPanel)
        assert panel.pages_read == 0  # hidden: nothing read
        await pilot.press("7")
        await trades_shown(pilot, 6)
        assert panel.pages_read >= 1
