"""SPEC §6 metrics against hand computations and plain-Python loops."""

from __future__ import annotations

import math
import random

import pytest

from fxconsole.trading.metrics import RollingTrades, max_drawdown, sqn, trade_metrics


def reference_drawdown(pips: list[float]) -> float:
    peak, equity, worst = 0.0, 0.0, 0.0
    for p in pips:
        equity += p
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
    return worst


def reference_sqn(pips: list[float]) -> float:
    n = len(pips)
    if n < 2:
        return 0.0
    mean = sum(pips) / n
    std = math.sqrt(sum((p - mean) ** 2 for p in pips) / (n - 1))
    return 0.0 if std == 0 else math.sqrt(min(n, 100)) * mean / std


def test_hand_computed() -> None:
    m = trade_metrics([10.0, -5.0, 20.0, -5.0])
    assert m.trades == 4 and m.expectancy == 5.0 and m.win_rate == 0.5
    assert m.profit_factor == 3.0 and m.avg_win == 15.0 and m.avg_loss == -5.0
    assert m.max_drawdown_pips == 5.0 and m.total_pips == 20.0
    assert m.sqn == pytest.approx(2 * 5.0 / math.sqrt(sum((x - 5) ** 2 for x in
                                                          (10, -5, 20, -5)) / 3))


def test_edge_cases() -> None:
    assert trade_metrics([]).trades == 0
    assert trade_metrics([3.0, 4.0]).profit_factor == math.inf
    assert sqn([1.0]) == 0.0 and sqn([2.0, 2.0]) == 0.0
    assert max_drawdown([-3.0, 1.0]) == 3.0  # the curve starts at 0 before the first trade
    assert trade_metrics([0.0]).win_rate == 0.0  # 0 pips is not a win


@pytest.mark.parametrize("seed", range(5))
def test_against_reference_loops(seed: int) -> None:
    rng = random.Random(seed)
    pips = [rng.gauss(0.5, 10) for _ in range(rng.randint(2, 400))]
    assert sqn(pips) == pytest.approx(reference_sqn(pips), rel=1e-12)
    assert max_drawdown(pips) == pytest.approx(reference_drawdown(pips), rel=1e-12)


def test_rolling_window() -> None:
    r = RollingTrades(window=3)
    r.extend([5.0, -1.0, 2.0, 4.0])
    assert r.total == 4 and r.total_wins == 3
    assert r.metrics().trades == 3 and r.metrics().expectancy == pytest.approx(5 / 3)
