"""Validate a checkpoint: backtest it and two baselines, Monte Carlo, verdict (SPEC §6).

The computation is pure given a policy and market data (:func:`evaluate`); loading the
checkpoint and writing reports are kept at the edges (:func:`validate_checkpoint`,
``evaluation.report``).
"""

from __future__ import annotations

import math
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from fxconsole.agents.manifest import Manifest
from fxconsole.config import Config, ValidationConfig
from fxconsole.evaluation.backtest import (
    BacktestResult,
    Policy,
    flat_policy,
    random_policy,
    run_backtest,
)
from fxconsole.evaluation.montecarlo import MonteCarloResult, monte_carlo
from fxconsole.trading.market_data import MarketData
from fxconsole.trading.metrics import TradeMetrics, trade_metrics

REPORT_FORMAT = 1
BASELINES = ("random", "flat")
PACKAGES = ("fxconsole", "numpy", "numba", "torch", "stable_baselines3", "gymnasium", "duckdb")


@dataclass(frozen=True)
class PolicyResult:
    """One policy's backtest and its metrics."""

    name: str
    backtest: BacktestResult
    metrics: TradeMetrics


@dataclass(frozen=True)
class Verdict:
    """Whether the checkpoint passes the promotion rule, and why (or why not)."""

    validated: bool
    reasons: list[str]
    rule: dict[str, Any]


@dataclass(frozen=True)
class Evaluation:
    """Everything a validation computed (no I/O)."""

    split: str
    policy: PolicyResult
    baselines: dict[str, PolicyResult]
    monte_carlo: MonteCarloResult
    verdict: Verdict
    runs: int
    seed: int
    seconds: dict[str, float] = field(default_factory=dict)


def play(name: str, policy: Policy, data: MarketData, split: str, cfg: Config) -> PolicyResult:
    """Backtest one policy and summarise its trades."""
    bt = run_backtest(policy, data, split, cfg)
    return PolicyResult(name, bt, trade_metrics(bt.pips))


def verdict(policy: TradeMetrics, baselines: dict[str, TradeMetrics], mc: MonteCarloResult,
            rule: ValidationConfig) -> Verdict:
    """Apply the promotion rule; every check contributes a reason, passed or failed."""
    reasons: list[str] = []
    ok = True
    if rule.beat_baselines:
        for name, base in baselines.items():
            for key in ("sqn", "expectancy"):
                mine, theirs = getattr(policy, key), getattr(base, key)
                passed = mine > theirs
                ok &= passed
                reasons.append(f"{key} {mine:+.3f} {'>' if passed else '≤'} {name} "
                               f"baseline {theirs:+.3f}")
    p5 = mc.final_pips["p5"]
    passed = p5 > rule.p5_final_pips
    ok &= passed
    reasons.append(f"Monte Carlo p5 final pips {p5:+.1f} {'>' if passed else '≤'} "
                   f"threshold {rule.p5_final_pips:+.1f}")
    if policy.trades == 0:
        ok = False
        reasons.append("no trades on the split")
    return Verdict(ok, reasons, asdict(rule))


def evaluate(policy: Policy, data: MarketData, cfg: Config, split: str | None = None,
             runs: int | None = None, seed: int | None = None) -> Evaluation:
    """Backtest ``policy`` and the baselines on the same sessions; Monte Carlo; verdict.

    Raises:
        ValueError: if the split has no sessions.
    """
    vcfg = cfg.validation
    split = split or vcfg.split
    runs = vcfg.runs if runs is None else runs
    seed = vcfg.seed if seed is None else seed
    mine = play("checkpoint", policy, data, split, cfg)
    baselines = {
        "random": play("random", random_policy(seed), data, split, cfg),
        "flat": play("flat", flat_policy(), data, split, cfg),
    }
    mc = monte_carlo(mine.backtest.pips, runs=runs, seed=seed)
    base_metrics = {k: v.metrics for k, v in baselines.items()}
    return Evaluation(split, mine, baselines, mc, verdict(mine.metrics, base_metrics, mc, vcfg),
                      runs, seed)


def software_versions() -> dict[str, str]:
    """Versions of Python and the packages the numbers depend on."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def _finite(value: Any) -> Any:
    """JSON has no ∞ or NaN: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def report_dict(ev: Evaluation, manifest: Manifest, manifest_path: Path,
                period_seconds: int) -> dict[str, Any]:
    """The JSON report: every number, the checkpoint's identity, split, seed, versions.

    ``trades_per_day`` counts days of bars played (sessions × bars × period).
    """

    def summary(result: PolicyResult) -> dict[str, Any]:
        bt = result.backtest
        days = bt.sessions * bt.steps * period_seconds / 86_400
        return {**result.metrics.as_dict(), "trades_per_day": result.metrics.trades / days,
                "sessions": bt.sessions, "gated": bt.gated,
                "invalid_actions": bt.invalid_actions}

    return _finite({
        "format": REPORT_FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "checkpoint": {"manifest": str(manifest_path), "run": manifest.run,
                       "tag": manifest.tag, "model_file": manifest.model_file,
                       "sha256": manifest.sha256, "timesteps": manifest.timesteps},
        "split": ev.split,
        "runs": ev.runs,
        "seed": ev.seed,
        "policy": summary(ev.policy),
        "baselines": {k: summary(v) for k, v in ev.baselines.items()},
        "monte_carlo": ev.monte_carlo.as_dict(),
        "verdict": asdict(ev.verdict),
        "versions": software_versions(),
    })
