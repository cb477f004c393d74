"""Where am I: the PAPER / PRACTICE / LIVE banner, times with their zone (ui.timezone),
the 17:00 New York roll of the trading day, replayed paper bars and their year."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from ui_support import T0, Store, fake_probe, screen_text, wait_for

from fxconsole.config import Config, with_overrides
from fxconsole.ui import where
from fxconsole.ui.app import FxConsoleApp
from fxconsole.ui.widgets.live import decision_bars, decisions_title

SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_mode_comes_from_the_broker_and_the_oanda_environment() -> None:
    assert where.trading_mode("paper", "live") == "PAPER"
    assert where.trading_mode("oanda", "practice") == "PRACTICE"
    assert where.trading_mode("oanda", "live") == "LIVE"
    bars = [{"bar_ts": "2023-11-14T22:29:00Z"}, {"bar_ts": "2023-11-14T22:28:00Z"}]
    assert where.where("paper", None, "replay", bars).label == "PAPER replay 2023"
    assert where.where("paper", None, "synth", bars).label == "PAPER"
    assert where.where("oanda", "live", "replay", bars).label == "LIVE"


def test_the_trading_day_rolls_at_17_new_york_in_winter_and_in_summer() -> None:
    # EST (UTC-5): 17:00 New York is 22:00 UTC; EDT (UTC-4): 21:00 UTC
    assert where.trading_day(at("2023-11-14T21:59:00")).isoformat() == "2023-11-14"
    assert where.trading_day(at("2023-11-14T22:00:00")).isoformat() == "2023-11-15"
    assert where.trading_day(at("2023-07-14T20:59:00")).isoformat() == "2023-07-14"
    assert where.trading_day(at("2023-07-14T21:00:00")).isoformat() == "2023-07-15"
    assert where.next_roll(at("2023-11-14T12:00:00")) == at("2023-11-14T22:00:00")
    assert where.next_roll(at("2023-11-14T22:00:00")) == at("2023-11-15T22:00:00")


def test_roll_marks_flag_the_first_bar_of_each_trading_day() -> None:
    times = [at("2023-11-14T22:01:00"), at("2023-11-14T22:00:00"), at("2023-11-14T21:59:00"),
             at("2023-11-14T21:58:00")]  # newest first
    assert where.roll_marks(times) == [False, True, False, False]
    bars = decision_bars([{"bar_ts": t.isoformat()} for t in times], "UTC")
    assert bars == ["11-14 22:01", "11-14 22:00 ◆", "11-14 21:59", "11-14 21:58"]
    assert decision_bars([{"bar_ts": "2023-11-14T22:00:00Z"}], "Europe/Berlin") == \
        ["11-14 23:00"]


def test_times_name_their_zone() -> None:
    assert where.clock(T0) == "22:13 UTC"
    assert where.clock(T0, "America/New_York") == "17:13 EST"
    assert where.clock(T0, "Asia/Kolkata") == "03:43 IST"
    title = decisions_title([{"bar_ts": "2023-11-14T22:00:00Z"}], "Europe/London", T0,
                            replay=True)
    assert "(bar times GMT)" in title and "REPLAY 2023" in title
    assert "◆ day roll 17:00 New York" in title


def app_for(store: Store, config: Config) -> FxConsoleApp:
    return FxConsoleApp(store.ws, config, clock=lambda: T0, probe=fake_probe, interval=0.25)


async def first_line(app: FxConsoleApp, pilot: Any) -> str:
    await wait_for(pilot, lambda: app.snapshot is not None, what="the first snapshot")
    await pilot.pause(0.1)
    return screen_text(app).splitlines()[0]


@SIZES
async def test_the_banner_says_paper_and_the_time_in_its_zone(store: Store,
                                                              size: tuple[int, int]) -> None:
    config = with_overrides(Config(), "ui", timezone="America/New_York")
    app = app_for(store, config)
    async with app.run_test(size=size) as pilot:
        line = await first_line(app, pilot)
        assert line.startswith("  PAPER ")
        if size[0] >= 120:  # wide: what paper replays, and the clock in New York time
            assert line.startswith("  PAPER replay 2023 ") and "17:13 EST" in line
        else:
            assert "PAPER replay" not in line


@SIZES
@pytest.mark.parametrize(("environment", "word"), [("practice", "PRACTICE"), ("live", "LIVE")])
async def test_the_banner_says_practice_or_live_on_oanda(
        store: Store, size: tuple[int, int], environment: str, word: str) -> None:
    config = with_overrides(with_overrides(Config(), "live", broker="oanda"), "oanda",
                            environment=environment)
    store.live_state({"broker": {"name": "oanda", "instrument": "GBP_JPY"}})
    app = app_for(store, config)
    async with app.run_test(size=size) as pilot:
        assert (await first_line(app, pilot)).startswith(f"  {word} ")


@SIZES
async def test_the_live_panel_marks_replay_and_the_roll(store: Store,
                                                        size: tuple[int, int]) -> None:
    store.live_state({"decisions": [
        {"bar_ts": "2023-11-14T22:01:00Z", "price": 187.5, "policy": "HOLD", "action": "HOLD",
         "reason": "policy"},
        {"bar_ts": "2023-11-14T22:00:00Z", "price": 187.5, "policy": "HOLD", "action": "HOLD",
         "reason": "policy"},
        {"bar_ts": "2023-11-14T21:59:00Z", "price": 187.4, "policy": "BUY", "action": "BUY",
         "reason": "policy"}]})
    app = app_for(store, Config())
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, what="the first snapshot")
        await pilot.press("4")
        await pilot.pause(0.2)
        app.screen.query_one("#live-panel").scroll_end(animate=False)  # 80×24: below
        await wait_for(pilot, lambda: "22:00 ◆" in screen_text(app), what="the roll mark")
        text = screen_text(app)
        assert "11-14 22:00 ◆" in text and "11-14 21:59 " in text
        assert "REPLAY 2023" in text and "(bar times UTC)" in text
        app.screen.query_one("#live-panel").scroll_home(animate=False)
        await wait_for(pilot, lambda: "today 11-15" in screen_text(app),
                       what="the trading day")  # T0 is 22:13 UTC: after the roll, 11-15


def test_a_wrong_zone_is_refused_naming_the_key() -> None:
    from fxconsole.config import ConfigError, load_config
    with pytest.raises(ConfigError, match="ui.timezone"):
        load_config(environ={"FXCONSOLE_UI__TIMEZONE": "Mars/Olympus"})


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_snapshot_live_panel_where(snap_compare: Callable[..., bool],
                                   make_app: Callable[..., FxConsoleApp],
                                   size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        await wait_for(pilot, lambda: pilot.app.snapshot is not None, what="the first snapshot")
        await pilot.press("4")
        await pilot.pause(0.3)

    assert snap_compare(make_app(), terminal_size=size, run_before=settle)
