"""Risk limits: units, daily loss with the 17:00 New York day, orders per minute, prices."""

from __future__ import annotations

from datetime import datetime

import pytest

from fxconsole.brokers.base import Quote
from fxconsole.config import RiskConfig
from fxconsole.live import risk
from fxconsole.market.fxcalendar import NEW_YORK

MIN = 60 * 10**9
LIMITS = risk.RiskLimits(max_units=1, daily_loss_pips=50.0, daily_loss_ccy=0.0,
                         max_orders_per_minute=2, stale_price_seconds=30.0, stale_bar_periods=3.0)


def ny(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=NEW_YORK).timestamp()) * 10**9


WED = ny(2024, 3, 13, 10)  # a Wednesday morning in New York (summer time)


def fresh(now: int) -> Quote:
    return Quote(now - 10**9, 150.0, 150.02)


def codes(units: int, position: int, state: risk.RiskState, now: int = WED,
          quote: Quote | None = None, bar_ts: int | None = None) -> list[str]:
    q = fresh(now) if quote is None else quote
    bar = now - 2 * MIN if bar_ts is None else bar_ts
    return [v.code for v in LIMITS.check(units, position, state, now, q, bar, MIN)]


def test_a_normal_order_passes() -> None:
    assert codes(1, 0, risk.roll(risk.RiskState(), WED)) == []


def test_max_units() -> None:
    assert codes(2, 0, risk.RiskState()) == [risk.MAX_UNITS]
    assert codes(1, 1, risk.RiskState()) == [risk.MAX_UNITS]
    assert codes(-1, 1, risk.RiskState()) == []  # an exit


def test_trading_day_rolls_at_17_new_york() -> None:
    assert risk.trading_day_start(ny(2024, 3, 13, 16, 59)) == ny(2024, 3, 12, 17)
    assert risk.trading_day_start(ny(2024, 3, 13, 17)) == ny(2024, 3, 13, 17)
    # winter time too (17:00 New York = 22:00 UTC)
    assert risk.trading_day_start(ny(2024, 1, 10, 3)) == ny(2024, 1, 9, 17)


def test_daily_loss_trips_blocks_entries_not_exits_and_resets_next_day() -> None:
    state = risk.roll(risk.RiskState(), WED)
    state, tripped = risk.update(state, LIMITS, WED, realised_pips=-30.0, open_pips=-10.0)
    assert tripped == "" and codes(1, 0, state) == []
    state, tripped = risk.update(state, LIMITS, WED, open_pips=-25.0)
    assert tripped == "50 pips" and state.tripped_on(WED)
    # it stays tripped even when the open loss recovers
    state, tripped = risk.update(state, LIMITS, WED + MIN, open_pips=+40.0)
    assert tripped == "" and codes(1, 0, state, WED + MIN) == [risk.DAILY_LOSS]
    assert codes(-1, 1, state, WED + MIN) == []  # exits pass
    restored = risk.RiskState.from_dict(state.to_dict())  # what the trader persists
    assert restored == state
    tomorrow = ny(2024, 3, 13, 17, 1)
    rolled = risk.roll(restored, tomorrow)
    assert not rolled.tripped_on(tomorrow) and rolled.day_pips == 0.0
    assert codes(1, 0, rolled, tomorrow) == []


def test_daily_loss_in_account_currency() -> None:
    limits = risk.RiskLimits(daily_loss_pips=0.0, daily_loss_ccy=1000.0)
    _, tripped = risk.update(risk.RiskState(), limits, WED, realised_ccy=-1200.0)
    assert tripped.endswith("account currency")


def test_orders_per_minute_pass_exits() -> None:
    state = risk.roll(risk.RiskState(), WED)
    state = risk.record_order(state, WED - 50 * 10**9)
    state = risk.record_order(state, WED - 10 * 10**9)
    assert codes(1, 0, state) == [risk.ORDERS_PER_MINUTE]
    assert codes(-1, 1, state) == []
    assert codes(1, 0, state, WED + 11 * 10**9) == []  # the first one left the window
    assert risk.recent_orders(risk.roll(state, WED + 2 * MIN), WED + 2 * MIN) == 0


@pytest.mark.parametrize("units, position", [(1, 0), (-1, 1)])
def test_stale_or_untradeable_price_blocks_everything(units: int, position: int) -> None:
    state = risk.RiskState()
    old = Quote(WED - 31 * 10**9, 150.0, 150.02)
    assert codes(units, position, state, quote=old) == [risk.STALE_PRICE]
    halted = Quote(WED, 150.0, 150.02, tradeable=False)
    assert codes(units, position, state, quote=halted) == [risk.NOT_TRADEABLE]
    assert [v.code for v in LIMITS.check(units, position, state, WED, None, WED - MIN, MIN)
            ] == [risk.STALE_PRICE]


def test_stale_bar_blocks_entries_only() -> None:
    state = risk.RiskState()
    assert codes(1, 0, state, bar_ts=WED - 5 * MIN) == [risk.STALE_BAR]
    assert codes(-1, 1, state, bar_ts=WED - 5 * MIN) == []


@pytest.mark.parametrize("units, position", [(1, 0), (-1, 1)])
def test_weekend_blocks_everything(units: int, position: int) -> None:
    saturday = ny(2024, 3, 16, 12)
    friday_close = ny(2024, 3, 15, 17)
    for now in (saturday, friday_close):
        assert risk.MARKET_CLOSED in codes(units, position, risk.RiskState(), now)
    assert not risk.market_closed(ny(2024, 3, 17, 17))  # Sunday 17:00: open


def test_no_entries_in_the_last_hours_of_the_week_so_none_is_held_over_the_weekend() -> None:
    limits = risk.RiskLimits(week_close_minutes=360.0)

    def checked(units: int, position: int, now: int) -> list[str]:
        return [v.code for v in limits.check(units, position, risk.RiskState(), now,
                                             fresh(now), now - 2 * MIN, MIN)]

    friday_1059, friday_1101 = ny(2024, 3, 15, 10, 59), ny(2024, 3, 15, 11, 1)
    assert checked(1, 0, friday_1059) == []  # 6 h 1 min before the 17:00 close
    assert checked(1, 0, friday_1101) == [risk.WEEK_CLOSING]
    assert checked(-1, 0, ny(2024, 3, 15, 16, 59)) == [risk.WEEK_CLOSING]
    assert checked(-1, 1, ny(2024, 3, 15, 16, 59)) == []  # exits still go
    assert checked(1, 0, ny(2024, 3, 17, 17, 1)) == []  # Sunday's open: a new week
    # the default keeps entries session_bars (360) M1 bars away from the close
    assert risk.RiskLimits.from_config(RiskConfig()).week_close_minutes == 360.0
