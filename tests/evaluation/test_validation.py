"""Validation: the promotion rule, the evaluation on shared sessions, and the reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from fxconsole.agents.manifest import Manifest
from fxconsole.config import Config, ValidationConfig, with_overrides
from fxconsole.evaluation.backtest import random_policy
from fxconsole.evaluation.montecarlo import monte_carlo
from fxconsole.evaluation.report import fan, write_report
from fxconsole.evaluation.validate import evaluate, report_dict, verdict
from fxconsole.market.synth import synth_bars
from fxconsole.trading.market_data import MarketData
from fxconsole.trading.metrics import trade_metrics

CFG = Config()


@pytest.fixture(scope="module")
def data() -> MarketData:
    return MarketData.from_bars(synth_bars(years=0.1, seed=9), CFG.data)


class MomentumPolicy:
    """Buy on a strong 5-bar rise, sell on a fall, close when flat momentum (obs[3] = mm m5)."""

    observation_kind = "ppo"

    def __call__(self, obs: np.ndarray, legal: np.ndarray) -> np.ndarray:
        side = obs[:, 7]
        actions = np.zeros(obs.shape[0], dtype=np.int64)
        actions[(side == 0) & (obs[:, 3] > 0.8)] = 1
        actions[(side == 0) & (obs[:, 3] < 0.2)] = 2
        actions[(side != 0) & (np.abs(obs[:, 3] - 0.5) < 0.05)] = 3
        return actions


momentum_policy = MomentumPolicy()


@pytest.mark.parametrize(
    ("pips", "base", "p5_min", "validated", "fragment"),
    [
        ([5.0, 6.0, 4.0, 7.0] * 20, [-1.0, 1.0] * 20, 0.0, True, "sqn"),
        ([5.0, 6.0, 4.0, 7.0] * 20, [-1.0, 1.0] * 20, 1e6, False, "threshold"),
        ([-5.0, 1.0] * 20, [-1.0, 1.0] * 20, -1e9, False, "≤ random"),
        ([], [-1.0, 1.0], -1e9, False, "no trades"),
    ],
)
def test_verdict(pips: list[float], base: list[float], p5_min: float, validated: bool,
                 fragment: str) -> None:
    rule = ValidationConfig(p5_final_pips=p5_min)
    mc = monte_carlo(np.asarray(pips), runs=100, seed=1)
    v = verdict(trade_metrics(pips), {"random": trade_metrics(base),
                                      "flat": trade_metrics([])}, mc, rule)
    assert v.validated is validated
    assert any(fragment in r for r in v.reasons), v.reasons
    assert v.rule["p5_final_pips"] == p5_min


def test_without_the_baseline_rule_only_the_monte_carlo_counts() -> None:
    rule = ValidationConfig(beat_baselines=False, p5_final_pips=-1e9)
    mc = monte_carlo(np.asarray([-1.0, 2.0] * 30), runs=50, seed=0)
    v = verdict(trade_metrics([-1.0, 2.0] * 30), {"random": trade_metrics([9.0] * 60)}, mc, rule)
    assert v.validated and len(v.reasons) == 1


def test_evaluate_plays_everyone_on_the_same_sessions(data: MarketData) -> None:
    ev = evaluate(momentum_policy, data, CFG, runs=300, seed=4)
    assert ev.split == "validation" and ev.runs == 300
    sessions = {r.backtest.sessions for r in (ev.policy, *ev.baselines.values())}
    assert len(sessions) == 1
    assert ev.baselines["flat"].metrics.trades == 0
    assert ev.policy.metrics.trades > 0
    assert ev.monte_carlo.n_trades == ev.policy.metrics.trades
    again = evaluate(momentum_policy, data, CFG, runs=300, seed=4)
    assert again.monte_carlo.as_dict() == ev.monte_carlo.as_dict()
    assert evaluate(momentum_policy, data, CFG, split="test").split == "test"


def test_report_json_and_chart(data: MarketData, tmp_path: Path) -> None:
    ev = evaluate(random_policy(3), data, with_overrides(CFG, "validation", runs=50))
    manifest = Manifest(format=1, run="r", tag="latest", model_file="models/x.zip",
                        sha256="ab" * 32, timesteps=10, agent="ppo", config={},
                        feature_spec_version=1, observation_spec={}, created="now",
                        metrics={}, state={})
    report = report_dict(ev, manifest, tmp_path / "latest.json", 60)
    text = json.dumps(report, allow_nan=False)  # strict JSON: no NaN or ∞ anywhere
    for key in ("expectancy", "win_rate", "profit_factor", "avg_win", "avg_loss", "sqn",
                "max_drawdown_pips", "trades_per_day"):
        assert key in report["policy"] and key in report["baselines"]["flat"]
    assert report["baselines"]["flat"]["trades"] == 0
    assert set(report["monte_carlo"]["final_pips"]) == {"p5", "p25", "p50", "p75", "p95"}
    assert report["checkpoint"]["sha256"] == "ab" * 32 and report["seed"] == 0
    assert {"python", "numpy", "torch", "fxconsole"} <= set(report["versions"])
    assert report["verdict"]["validated"] is False and text
    files = write_report(report, ev, tmp_path / "out")
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(files["json"].read_text())
    assert saved["files"]["png"] == str(files["png"])
    assert not list((tmp_path / "out").glob(".tmp-*"))


def test_fan_percentiles_are_ordered_and_start_at_zero() -> None:
    pips = np.random.default_rng(0).normal(1.0, 5.0, 400)
    x, pct = fan(pips, runs=300, seed=2, points=50)
    mc = monte_carlo(pips, runs=300, seed=2)  # the same resamples: the fan ends on them
    np.testing.assert_allclose(pct[:, -1], [mc.final_pips[k] for k in
                                            ("p5", "p25", "p50", "p75", "p95")])
    assert x[0] == 0 and x[-1] == 400 and len(x) <= 50
    assert np.all(pct[:, 0] == 0.0)
    assert np.all(np.diff(pct, axis=0) >= 0)
    assert math.isclose(pct[2, -1], 400.0, rel_tol=0.5)  # median final ≈ N · mean


def test_non_finite_numbers_become_null() -> None:
    from fxconsole.evaluation.validate import _finite

    assert _finite({"a": [math.inf, 1.0], "b": math.nan}) == {"a": [None, 1.0], "b": None}
