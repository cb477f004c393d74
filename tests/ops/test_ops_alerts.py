"""Alert rules fire on thresholds and are reported once until they clear."""

from __future__ import annotations

import pytest

from fxconsole.config import AlertsConfig
from fxconsole.ops.alerts import AlertTracker, active_alerts

CFG = AlertsConfig()
HEALTHY = {"rollout/trades": 500.0, "rollout/expectancy": 1.0, "rollout/win_rate": 0.4,
           "rollout/trade_ratio": 0.9}


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"rollout/expectancy": -10.5}, "training-diverging"),
        ({"rollout/win_rate": 0.04}, "model-collapse"),
        ({"rollout/trade_ratio": 0.3}, "hold-only"),
    ],
)
def test_each_rule(change: dict[str, float], kind: str) -> None:
    assert active_alerts(HEALTHY, CFG) == {}
    fired = active_alerts({**HEALTHY, **change}, CFG)
    assert list(fired) == [kind]


def test_no_alerts_before_enough_trades() -> None:
    assert active_alerts({**HEALTHY, "rollout/trades": 10, "rollout/win_rate": 0.0}, CFG) == {}


def test_tracker_reports_once_until_cleared() -> None:
    t = AlertTracker()
    bad = active_alerts({**HEALTHY, "rollout/win_rate": 0.01}, CFG)
    assert t.update(bad) == (bad, set())
    assert t.update(bad) == ({}, set())
    assert t.update({}) == ({}, {"model-collapse"})
    assert t.update(bad) == (bad, set())
