"""Issue 17 defect 12 (the pure part): `status`'s metrics grouped by namespace in reading
order, every value formatted one way (no `1.51e+06` beside `4,030`), undefined as "—"."""

from __future__ import annotations

import math

from fxconsole.ops.metric_groups import grouped_metrics, metric_text


def test_groups_in_reading_order_names_sorted() -> None:
    metrics = {"val/sqn": 1.2, "train/timesteps": 1_510_000.0, "live/position": 0.0,
               "rollout/trades": 4030.0, "train/fps": 812.4, "rollout/win_rate": 0.523,
               "zeta": 1.0, "replay/size": 20000.0}
    groups = grouped_metrics(metrics)
    assert [g for g, _ in groups] == ["train", "rollout", "replay", "val", "live", "other"]
    assert groups[0] == ("train", [("fps", "812.40"), ("timesteps", "1,510,000")])
    assert groups[1] == ("rollout", [("trades", "4,030"), ("win_rate", "52.3%")])


def test_values_are_formatted_by_what_they_are() -> None:
    assert metric_text("rollout/expectancy", -7921.3) == "-7,921.30"
    assert metric_text("train/approx_kl", 0.000312) == "0.000312"
    assert metric_text("live/kill_switch", 1.0) == "yes"
    assert metric_text("rollout/sqn", math.nan) == "—"
    assert metric_text("rollout/win_rate", None) == "—"
    assert metric_text("train/learning_rate", 3e-06) == "3.0e-06"
