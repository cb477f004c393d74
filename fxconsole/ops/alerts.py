"""Monitoring rules over the latest training metrics (pure), raised once until they clear.

The original system's rules: expectancy below −10 pips "training diverging", win rate
below 5 % "model collapse", fewer than half of the episodes trading "hold-only behaviour".
Worker FATAL and heartbeat gaps are raised by the supervisor as they happen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fxconsole.config import AlertsConfig

ALERT_KEYS = ("rollout/trades", "rollout/expectancy", "rollout/win_rate", "rollout/trade_ratio")


def active_alerts(latest: Mapping[str, float], cfg: AlertsConfig) -> dict[str, str]:
    """The rules that fire on these metric values: kind → message."""
    if latest.get("rollout/trades", 0.0) < cfg.min_trades:
        return {}
    fired: dict[str, str] = {}
    expectancy = latest.get("rollout/expectancy")
    if expectancy is not None and expectancy < cfg.expectancy_below:
        fired["training-diverging"] = (f"training diverging: expectancy {expectancy:+.2f} pips "
                                       f"< {cfg.expectancy_below:+.2f}")
    win_rate = latest.get("rollout/win_rate")
    if win_rate is not None and win_rate < cfg.win_rate_below:
        fired["model-collapse"] = (f"model collapse: win rate {win_rate:.1%} < "
                                   f"{cfg.win_rate_below:.0%}")
    ratio = latest.get("rollout/trade_ratio")
    if ratio is not None and ratio < cfg.trade_ratio_below:
        fired["hold-only"] = (f"hold-only behaviour: {ratio:.0%} of episodes trade "
                              f"(< {cfg.trade_ratio_below:.0%})")
    return fired


@dataclass
class AlertTracker:
    """Remembers which alerts are active so each is reported once until it clears."""

    active: set[str] = field(default_factory=set)

    def update(self, fired: Mapping[str, str]) -> tuple[dict[str, str], set[str]]:
        """Returns (newly raised kind → message, kinds that cleared)."""
        raised = {k: v for k, v in fired.items() if k not in self.active}
        cleared = self.active - set(fired)
        self.active = set(fired)
        return raised, cleared
