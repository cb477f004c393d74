"""Validation: the promotion rule, the evaluation on shared sessions, and the reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from fxconsole.agents.manifest import Manifest
from fxconsole.config import Config, ValidationConfig, with_overrides
from fxconsole.evaluation.backtest import (
    BacktestResult,
    random_policy,
    run_backtest,
)
from fxconsole.evaluation.backtest import (
    MomentumPolicy as MomentumRule,
)
from fxconsole.evaluation.deflated import deflated_sqn
from fxconsole.evaluation.montecarlo import monte_carlo
from fxconsole.evaluation.report import fan, write_report
from fxconsole.evaluation.validate import (
    Evaluation,
    PolicyResult,
    Stage,
    check,
    evaluate,
    exam_verdict,
    report_dict,
    validation_verdict,
)
from fxconsole.market.features import FEATURE_NAMES
from fxconsole.market.synth import synth_bars
from fxconsole.trading.market_data import MarketData
from fxconsole.trading.metrics import trade_metrics

CFG = Config()


@pytest.fixture(scope="module")
def data() -> MarketData:
    return MarketData.from_bars(synth_bars(years=0.1, seed=9), CFG.data)


class FiveBarPolicy:
    """Buy on a strong 5-bar rise, sell on a fall, close when flat momentum (obs[3] = mm m5)."""

    observation_kind = "ppo"

    def __call__(self, obs: np.ndarray, legal: np.ndarray) -> np.ndarray:
        side = obs[:, 7]
        actions = np.zeros(obs.shape[0], dtype=np.int64)
        actions[(side == 0) & (obs[:, 3] > 0.8)] = 1
        actions[(side == 0) & (obs[:, 3] < 0.2)] = 2
        actions[(side != 0) & (np.abs(obs[:, 3] - 0.5) < 0.05)] = 3
        return actions


momentum_policy = FiveBarPolicy()


def result(name: str, pips: list[float]) -> PolicyResult:
    trades = [{"pips": p, "entry_price": 150.0} for p in pips]
    return PolicyResult(name, BacktestResult("validation", 4, 360, trades, 0, 0),
                        trade_metrics(pips))


def evaluation(pips: list[float], base: list[float]) -> Evaluation:
    return Evaluation("validation", result("checkpoint", pips),
                      {"random": result("random", base), "flat": result("flat", [])}, {},
                      monte_carlo(np.asarray(pips), runs=100, seed=1), 100, 1)


GOOD = [5.0, 6.0, 4.0, 7.0] * 20


@pytest.mark.parametrize(
    ("pips", "base", "p5_min", "k", "variance", "validated", "failed"),
    [
        (GOOD, [-1.0, 1.0] * 20, 0.0, 1, 0.0, True, None),
        (GOOD, [-1.0, 1.0] * 20, 1e6, 1, 0.0, False, "Monte Carlo p5 final pips"),
        ([-5.0, 1.0] * 20, [-1.0, 1.0] * 20, -1e9, 1, 0.0, False, "sqn > random baseline"),
        ([], [-1.0, 1.0], -1e9, 1, 0.0, False, "trades"),
        # 1,000 checkpoints whose SRs vary by 100: an SR of 3.2 is what luck alone gives
        (GOOD, [-1.0, 1.0] * 20, 0.0, 1000, 100.0, False, "deflated SQN (K=1000)"),
    ],
)
def test_validation_verdict(pips: list[float], base: list[float], p5_min: float, k: int,
                            variance: float, validated: bool, failed: str | None) -> None:
    rule = ValidationConfig(p5_final_pips=p5_min)
    ev = evaluation(pips, base)
    v = validation_verdict(ev, deflated_sqn(np.asarray(pips), k, variance), rule)
    assert v.validated is validated
    assert len(v.checks) == 7 and len(v.reasons) == 7
    fails = [c for c in v.checks if not c.passed]
    if failed is None:
        assert not fails and all(r.endswith(": pass") for r in v.reasons)
    else:
        assert any(c.name.startswith(failed) for c in fails), v.reasons
        assert any(r.endswith(": FAIL") for r in v.reasons)
    assert v.rule["p5_final_pips"] == p5_min and v.rule["min_dsr"] == 0.95
    plain = v.as_dict()
    assert {"name", "value", "op", "threshold", "passed", "text"} <= set(plain["checks"][0])


def test_a_check_carries_its_numbers() -> None:
    c = check("sqn > random baseline", 1.5, ">", -0.25)
    assert (c.value, c.threshold, c.passed) == (1.5, -0.25, True)
    assert c.text == "sqn +1.500 > random baseline -0.250: pass"
    assert check("dsr ≥ threshold", 0.9, "≥", 0.95).text == "dsr +0.900 < threshold +0.950: FAIL"
    assert check("x ≥ t", 0.95, "≥", 0.95).passed
    assert not check("x > t", math.nan, ">", 0.0).passed


def test_without_the_baseline_rule_the_baselines_are_not_checked() -> None:
    rule = ValidationConfig(beat_baselines=False, p5_final_pips=-1e9, min_dsr=0.0)
    ev = evaluation([-1.0, 2.0] * 30, [9.0] * 60)
    v = validation_verdict(ev, deflated_sqn(ev.policy.backtest.pips, 1, 0.0), rule)
    assert v.validated and not any("baseline" in c.name for c in v.checks)


@pytest.mark.parametrize(("pips", "validated"), [(GOOD, True), ([1.0, -1.2] * 40, False),
                                                 ([0.5, 0.4, -0.3, 0.2] * 2, False)])
def test_exam_verdict(pips: list[float], validated: bool) -> None:
    ev = evaluation(pips, [])
    v = exam_verdict(ev, deflated_sqn(np.asarray(pips), 1, 0.0), ValidationConfig())
    assert v.validated is validated
    assert [c.name.split(" (")[0] for c in v.checks] == ["test expectancy > threshold",
                                                          "test deflated SQN"]


def test_evaluate_plays_everyone_on_the_same_sessions(data: MarketData) -> None:
    ev = evaluate(momentum_policy, data, CFG, runs=300, seed=4)
    assert ev.split == "validation" and ev.runs == 300
    assert set(ev.baselines) == {"random", "flat", "momentum"}
    sessions = {r.backtest.sessions for r in (ev.policy, *ev.baselines.values(),
                                              *ev.stress.values())}
    assert len(sessions) == 1
    assert ev.baselines["flat"].metrics.trades == 0
    assert ev.policy.metrics.trades > 0
    assert ev.monte_carlo.n_trades == ev.policy.metrics.trades
    again = evaluate(momentum_policy, data, CFG, runs=300, seed=4)
    assert again.monte_carlo.as_dict() == ev.monte_carlo.as_dict()
    assert ev.sizing is not None and ev.sizing.as_dict() == again.sizing.as_dict()
    exam = evaluate(momentum_policy, data, CFG, split="test", exam=True)
    assert exam.split == "test" and not exam.baselines and not exam.stress


def test_the_cost_stress_replays_the_same_trades_at_a_wider_spread(data: MarketData) -> None:
    """The test policy ignores the position's pips, so only the spread changes: each trade
    loses exactly the extra spread."""
    ev = evaluate(momentum_policy, data, CFG, runs=20)
    base = ev.policy.backtest.pips
    for name, extra in (("spread ×1.5", 2.0), ("spread ×2", 4.0)):
        stressed = ev.stress[name].backtest
        assert [t["entry_ts"] for t in stressed.trades] == \
            [t["entry_ts"] for t in ev.policy.backtest.trades]
        np.testing.assert_allclose(stressed.pips, base - extra, atol=1e-9)


def test_the_momentum_baseline_follows_its_rule(data: MarketData) -> None:
    bt = run_backtest(MomentumRule(), data, "validation", CFG)
    assert bt.trades
    m60 = data.features[:, FEATURE_NAMES.index("momentum_60_pips")]
    for t in bt.trades:
        entry = t["entry_index"]
        assert t["side"] == ("long" if m60[entry] > 0 else "short"), t
        assert t["bars_held"] == 60 or t["forced"], t


def test_report_json_and_chart(data: MarketData, tmp_path: Path) -> None:
    cfg = with_overrides(CFG, "validation", runs=50)
    ev = evaluate(random_policy(3), data, cfg)
    stage = Stage(ev, deflated_sqn(ev.policy.backtest.pips, 3, 0.01),
                  validation_verdict(ev, deflated_sqn(ev.policy.backtest.pips, 3, 0.01),
                                     cfg.validation))
    manifest = Manifest(format=1, run="r", tag="latest", model_file="models/x.zip",
                        sha256="ab" * 32, timesteps=10, agent="ppo", config={},
                        feature_spec_version=1, observation_spec={}, created="now",
                        metrics={}, state={})
    report = report_dict(stage, manifest, tmp_path / "latest.json", 60, cfg, exam=None,
                         validated=False, pinned=None, notes=["unpinned"])
    text = json.dumps(report, allow_nan=False)  # strict JSON: no NaN or ∞ anywhere
    for key in ("expectancy", "win_rate", "profit_factor", "avg_win", "avg_loss", "sqn",
                "max_drawdown_pips", "trades_per_day"):
        assert key in report["policy"] and key in report["baselines"]["momentum"]
    assert report["baselines"]["flat"]["trades"] == 0
    assert set(report["monte_carlo"]["final_pips"]) == {"p5", "p25", "p50", "p75", "p95"}
    assert report["checkpoint"]["sha256"] == "ab" * 32 and report["seed"] == 0
    assert {"python", "numpy", "torch", "fxconsole"} <= set(report["versions"])
    assert report["verdict"]["validated"] is False and text
    assert report["k"] == {"validation": 3, "test": None} and report["deflated"]["k"] == 3
    assert report["costs"] == {"spread_pips": 4.0, "stress_spread_pips": [6.0, 8.0]}
    assert [v["spread_pips"] for v in report["stress"].values()] == [6.0, 8.0]
    assert report["played"]["first_bar"] < report["played"]["last_bar"]
    assert {"safe_f", "car25"} <= set(report["sizing"])
    assert report["notes"] == ["unpinned"] and report["pinned"] is None
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
