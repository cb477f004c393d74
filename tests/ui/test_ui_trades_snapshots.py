"""Snapshots of the trades view, a trade's detail view and the Live panel's P/L and
equity curve, at 80×24 and 160×48."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from test_ui_trades import trade
from ui_support import T0, Store, wait_for

from fxconsole.ui.app import FxConsoleApp
from fxconsole.ui.screens.detail import DetailScreen
from fxconsole.ui.widgets.equity import LiveEquity
from fxconsole.ui.widgets.trades import TradesTable

SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])


@pytest.fixture
def trades(store: Store) -> Store:
    trade(store, "train", "long", 12.5, T0 - 400, 45)
    trade(store, "train", "short", -30.25, T0 - 200, 190, forced=True)
    trade(store, "collect", "short", 4.0, T0 - 100, 8, worker="collector-1")
    trade(store, "live", "long", -8.0, T0 - 20 * 60, 30, worker="live")
    return store


async def first_snapshot(pilot: Any) -> None:
    await wait_for(pilot, lambda: pilot.app.snapshot is not None, what="the first snapshot")
    await pilot.pause(0.2)


async def trades_view(pilot: Any) -> None:
    await first_snapshot(pilot)
    await pilot.press("7")
    table = pilot.app.screen.query_one(TradesTable)
    await wait_for(pilot, lambda: table.row_count == 7, what="the trades")
    await pilot.pause(0.2)


async def trade_view(pilot: Any) -> None:
    await trades_view(pilot)
    await pilot.press("down", "enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DetailScreen)
                   and pilot.app.screen.loaded, what="the trade")
    await pilot.pause(0.2)


async def live_pnl(pilot: Any) -> None:
    await first_snapshot(pilot)
    await pilot.press("4")
    equity = pilot.app.screen.query_one(LiveEquity)
    await wait_for(pilot, lambda: equity.data is not None, what="the live P/L")
    await pilot.pause(0.3)


@SIZES
@pytest.mark.parametrize("view", ["trades", "trade", "live"])
def test_trades_views(snap_compare: Callable[..., bool], make_app: Callable[..., FxConsoleApp],
                      trades: Store, view: str, size: tuple[int, int]) -> None:
    run_before = {"trades": trades_view, "trade": trade_view, "live": live_pnl}[view]
    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
