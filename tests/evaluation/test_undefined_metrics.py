"""Issue 17 defect 10: always-flat (no trades) has no win rate, profit factor or SQN:
they are undefined — null in JSON, "—" on screen — not 0.0 %, 0.00 and +0.00."""

from __future__ import annotations

import json
import math

from rich.console import Console

from fxconsole.cli.validate_cmd import _table
from fxconsole.trading.metrics import rolling_record, trade_metrics


def test_no_trades_leaves_the_ratios_undefined() -> None:
    d = trade_metrics([]).as_dict()
    assert d["trades"] == 0 and d["total_pips"] == 0.0 and d["max_drawdown_pips"] == 0.0
    for key in ("expectancy", "win_rate", "profit_factor", "avg_win", "avg_loss", "sqn"):
        assert d[key] is None, key
    assert json.loads(json.dumps(d, allow_nan=False))["sqn"] is None


def test_one_trade_or_equal_trades_have_no_sqn() -> None:
    assert math.isnan(trade_metrics([3.0]).sqn) and math.isnan(trade_metrics([2.0, 2.0]).sqn)
    only_wins = trade_metrics([3.0, 4.0])
    assert only_wins.profit_factor == math.inf and math.isnan(only_wins.avg_loss)
    assert rolling_record(trade_metrics([])) == {"rolling_sqn": None, "rolling_trades": 0.0,
                                                 "rolling_expectancy": None,
                                                 "rolling_win_rate": None}


def test_the_validation_table_shows_a_dash_for_the_flat_baseline() -> None:
    flat = {**trade_metrics([]).as_dict(), "trades_per_day": 0.0}
    mine = {**trade_metrics([10.0, -5.0, 20.0]).as_dict(), "trades_per_day": 1.5}
    console = Console(width=120, record=True, color_system=None)
    console.print(_table("t", {"checkpoint": mine, "flat": flat}))
    lines = console.export_text().splitlines()

    def row(label: str) -> list[str]:
        return next(line for line in lines if line.strip().startswith(label)).split()[-2:]

    assert row("win rate") == ["66.7%", "—"]
    assert row("profit factor") == ["6.00", "—"]
    assert row("SQN") == ["+1.15", "—"]
    assert row("trades ") == ["3", "0"]
