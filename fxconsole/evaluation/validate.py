"""Validate a checkpoint: backtest it and two baselines, Monte Carlo, verdict (SPEC §6).

The computation is pure given a policy and market data (:func:`evaluate`); loading the
checkpoint and writing reports are kept at the edges (:func:`validate_checkpoint`,
``evaluation.report``).
"""

from __future__ import annotations

import dataclasses
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from fxconsole import numfmt
from fxconsole.agents.manifest import Manifest
from fxconsole.config import Config, ValidationConfig
from fxconsole.evaluation.backtest import (
    BacktestResult,
    Policy,
    backtest_starts,
    flat_policy,
    momentum_policy,
    play_spreads,
    random_policy,
    run_backtest,
)
from fxconsole.evaluation.deflated import DeflatedResult, sharpe
from fxconsole.evaluation.montecarlo import MonteCarloResult, monte_carlo
from fxconsole.evaluation.sizing import SizingResult, safe_f_car25
from fxconsole.timeutil import timeframe_seconds
from fxconsole.trading.market_data import MarketData
from fxconsole.trading.metrics import TradeMetrics, trade_metrics

REPORT_FORMAT = 2
BASELINES = ("random", "flat", "momentum")
STRESS_SPREADS = (1.5, 2.0)  # SPEC §6.2: the checkpoint replayed at these × spread_pips
PACKAGES = ("fxconsole", "numpy", "numba", "torch", "stable_baselines3", "gymnasium", "duckdb")


@dataclass(frozen=True)
class PolicyResult:
    """One policy's backtest and its metrics."""

    name: str
    backtest: BacktestResult
    metrics: TradeMetrics


@dataclass(frozen=True)
class Check:
    """One check of the promotion rule, with its numbers and whether it passed."""

    name: str
    value: float
    op: str  # ">" or "≥"
    threshold: float
    passed: bool

    @property
    def text(self) -> str:
        """E.g. ``"sqn +1.234 > random baseline -0.500: pass"`` (one number format,
        thousands separators, "—" for an undefined value)."""
        sign = self.op if self.passed else {">": "≤", "≥": "<"}[self.op]
        name, _, against = self.name.partition(f" {self.op} ")
        return (f"{name} {numfmt.signed(self.value, 3)} {sign} {against} "
                f"{numfmt.signed(self.threshold, 3)}: {'pass' if self.passed else 'FAIL'}")


def check(name: str, value: float, op: str, threshold: float) -> Check:
    """A :class:`Check` of ``value op threshold`` (NaN fails)."""
    passed = value > threshold if op == ">" else value >= threshold
    return Check(name, float(value), op, float(threshold), bool(passed))


@dataclass(frozen=True)
class Verdict:
    """Whether a stage of the promotion rule passed, and every check's numbers."""

    validated: bool
    checks: list[Check]
    rule: dict[str, Any]
    reasons: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.reasons:
            object.__setattr__(self, "reasons", [c.text for c in self.checks])

    def as_dict(self) -> dict[str, Any]:
        """Plain data: each check with ``name``, ``value``, ``op``, ``threshold``,
        ``passed`` and its ``text``."""
        return {"validated": self.validated,
                "checks": [{**asdict(c), "text": c.text} for c in self.checks],
                "reasons": list(self.reasons), "rule": dict(self.rule)}


@dataclass(frozen=True)
class Evaluation:
    """Everything a backtest of one split computed (no I/O, no verdict).

    ``baselines`` and ``stress`` are empty for a test examination (its checks need only
    the checkpoint's trades).
    """

    split: str
    policy: PolicyResult
    baselines: dict[str, PolicyResult]
    stress: dict[str, PolicyResult]
    monte_carlo: MonteCarloResult
    runs: int
    seed: int
    sizing: SizingResult | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def sr(self) -> float:
        """The per-trade Sharpe ratio of SPEC §6.3."""
        return sharpe(self.policy.backtest.pips)


def play(name: str, policy: Policy, data: MarketData, split: str, cfg: Config) -> PolicyResult:
    """Backtest one policy and summarise its trades."""
    bt = run_backtest(policy, data, split, cfg)
    return PolicyResult(name, bt, trade_metrics(bt.pips))


def stress_name(multiple: float) -> str:
    """``"spread ×1.5"``."""
    return f"spread ×{multiple:g}"


def evaluate(policy: Policy, data: MarketData, cfg: Config, split: str | None = None,
             runs: int | None = None, seed: int | None = None, *,
             exam: bool = False) -> Evaluation:
    """Backtest ``policy``, the baselines and the cost stress on the same sessions; Monte
    Carlo; Bandy's sizing. With ``exam``, the checkpoint and its Monte Carlo only.

    Raises:
        ValueError: if the split has no sessions.
    """
    vcfg = cfg.validation
    split = split or vcfg.split
    runs = vcfg.runs if runs is None else runs
    seed = vcfg.seed if seed is None else seed
    clock = [time.perf_counter()]

    def lap() -> float:
        clock.append(time.perf_counter())
        return round(clock[-1] - clock[-2], 3)

    if exam:
        mine = play("checkpoint", policy, data, split, cfg)
        mc = monte_carlo(mine.backtest.pips, runs=runs, seed=seed)
        return Evaluation(split, mine, {}, {}, mc, runs, seed, seconds={"checkpoint": lap()})
    # the checkpoint and its cost stress in one lockstep batch
    starts = backtest_starts(data.split_starts(split), cfg.data.session_bars)
    spreads = [cfg.env.spread_pips * m for m in (1.0, *STRESS_SPREADS)]
    played = play_spreads(policy, data, starts, cfg, split, spreads)
    mine = PolicyResult("checkpoint", played[0], trade_metrics(played[0].pips))
    stress = {stress_name(m): PolicyResult(stress_name(m), bt, trade_metrics(bt.pips))
              for m, bt in zip(STRESS_SPREADS, played[1:], strict=True)}
    mc = monte_carlo(mine.backtest.pips, runs=runs, seed=seed)
    seconds = {"checkpoint_and_stress": lap()}
    baselines = {
        "random": play("random", random_policy(seed), data, split, cfg),
        "flat": play("flat", flat_policy(), data, split, cfg),
        "momentum": play("momentum", momentum_policy(), data, split, cfg),
    }
    seconds["baselines"] = lap()
    sizing = position_sizing(mine, data, cfg, seed)
    seconds["sizing"] = lap()
    return Evaluation(split, mine, baselines, stress, mc, runs, seed, sizing, seconds)


def position_sizing(result: PolicyResult, data: MarketData, cfg: Config,
                    seed: int) -> SizingResult:
    """SPEC §6.5's safe-f and CAR25 from a backtest's trades."""
    bt = result.backtest
    entries = np.asarray([t["entry_price"] for t in bt.trades], dtype=np.float64)
    days = bt.sessions * bt.steps * timeframe_seconds(data.timeframe) / 86_400
    v = cfg.validation
    return safe_f_car25(bt.pips, entries, data.pip, trades_per_day=len(bt.trades) / days
                        if days else 0.0, years=v.sizing_years, max_dd=v.sizing_max_drawdown,
                        runs=v.sizing_runs, seed=seed)


def baseline_bar(value: float) -> float:
    """What a checkpoint must beat for a baseline's figure: the figure, or 0 when it is
    undefined (the flat baseline trades never: it earns 0, its SQN does not exist)."""
    return value if math.isfinite(value) else 0.0


def validation_verdict(ev: Evaluation, deflated: DeflatedResult,
                       rule: ValidationConfig) -> Verdict:
    """SPEC §6.4's validation stage: beat random and flat (SQN and expectancy), Monte
    Carlo p5 final pips above the threshold, DSR at least ``min_dsr``."""
    checks: list[Check] = []
    mine = ev.policy.metrics
    if rule.beat_baselines:
        for name in ("random", "flat"):
            theirs = ev.baselines[name].metrics
            for key in ("sqn", "expectancy"):
                checks.append(check(f"{key} > {name} baseline", getattr(mine, key), ">",
                                    baseline_bar(getattr(theirs, key))))
    checks.append(check("Monte Carlo p5 final pips > threshold",
                        ev.monte_carlo.final_pips["p5"], ">", rule.p5_final_pips))
    checks.append(check(f"deflated SQN (K={deflated.k}) ≥ threshold", deflated.dsr, "≥",
                        rule.min_dsr))
    checks.append(check("trades > none", mine.trades, ">", 0))
    return Verdict(all(c.passed for c in checks), checks, asdict(rule))


def exam_verdict(ev: Evaluation, deflated: DeflatedResult, rule: ValidationConfig) -> Verdict:
    """SPEC §6.4's test examination: expectancy above ``test_expectancy`` and the test
    DSR at least ``min_dsr``."""
    checks = [check("test expectancy > threshold", ev.policy.metrics.expectancy, ">",
                    rule.test_expectancy),
              check(f"test deflated SQN (K={deflated.k}) ≥ threshold", deflated.dsr, "≥",
                    rule.min_dsr)]
    return Verdict(all(c.passed for c in checks), checks, asdict(rule))


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


@dataclass(frozen=True)
class Stage:
    """One stage of SPEC §6.4 as judged: its evaluation, deflated SQN and verdict."""

    evaluation: Evaluation
    deflated: DeflatedResult
    verdict: Verdict


def stage_dict(stage: Stage, period_seconds: int) -> dict[str, Any]:
    """A stage as plain data: the split, what was played, every figure, the verdict."""
    ev = stage.evaluation

    def summary(result: PolicyResult) -> dict[str, Any]:
        bt = result.backtest
        days = bt.sessions * bt.steps * period_seconds / 86_400
        return {**result.metrics.as_dict(),
                "trades_per_day": result.metrics.trades / days if days else 0.0,
                "sessions": bt.sessions, "gated": bt.gated,
                "invalid_actions": bt.invalid_actions}

    bt = ev.policy.backtest
    return _finite({
        "split": ev.split,
        "played": {"first_bar": bt.played[0], "last_bar": bt.played[1],
                   "sessions": bt.sessions},
        "policy": summary(ev.policy),
        "baselines": {k: summary(v) for k, v in ev.baselines.items()},
        "stress": {k: {"spread_pips": None, **summary(v)} for k, v in ev.stress.items()},
        "monte_carlo": ev.monte_carlo.as_dict(),
        "deflated": stage.deflated.as_dict(),
        "sizing": ev.sizing.as_dict() if ev.sizing is not None else None,
        "verdict": stage.verdict.as_dict(),
    })


def report_dict(validation: Stage, manifest: Manifest, manifest_path: Path,
                period_seconds: int, cfg: Config, *, exam: dict[str, Any] | None,
                validated: bool, pinned: dict[str, Any] | None,
                notes: list[str] | None = None) -> dict[str, Any]:
    """The JSON report: the checkpoint's identity, what it is pinned to, the costs, the
    validation stage, the test examination (or why there was none), the final verdict.

    Args:
        validation: the validation stage.
        manifest, manifest_path: the checkpoint.
        period_seconds: the bar period (``trades_per_day`` counts days of bars played).
        cfg: the configuration played (the checkpoint's pinned env).
        exam: the test stage's :func:`stage_dict` (``"examined_now"`` says whether this
            validation looked at the test split) or None when not examined.
        validated: the final verdict (validation passed and the exam passed).
        pinned: the checkpoint's pin (``Pin.to_dict``), None for an unpinned one.
        notes: warnings for the reader (config values the pin overrode, no pin).
    """
    stage = stage_dict(validation, period_seconds)
    for multiple, name in zip(STRESS_SPREADS, stage["stress"], strict=False):
        stage["stress"][name]["spread_pips"] = cfg.env.spread_pips * multiple
    top = {k: stage[k] for k in ("policy", "baselines", "stress", "monte_carlo", "deflated",
                                 "sizing", "played")}
    return _finite({
        "format": REPORT_FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "checkpoint": {"manifest": str(manifest_path), "run": manifest.run,
                       "tag": manifest.tag, "model_file": manifest.model_file,
                       "sha256": manifest.sha256, "timesteps": manifest.timesteps,
                       "agent": manifest.agent},
        "pinned": pinned,
        "costs": {"spread_pips": cfg.env.spread_pips,
                  "stress_spread_pips": [cfg.env.spread_pips * m for m in STRESS_SPREADS]},
        "env": dataclasses.asdict(cfg.env),
        "notes": list(notes or []),
        "split": validation.evaluation.split,
        "runs": validation.evaluation.runs,
        "seed": validation.evaluation.seed,
        **top,
        "verdict": {**stage["verdict"], "validated": validated,
                    "checks": stage["verdict"]["checks"] + (exam["verdict"].get("checks", [])
                                                           if exam else []),
                    "reasons": stage["verdict"]["reasons"] + (exam["verdict"].get("reasons", [])
                                                             if exam else []),
                    "validation_passed": validation.verdict.validated,
                    "test_passed": bool(exam and exam["verdict"]["validated"])},
        "stages": {"validation": stage, **({"test": exam} if exam else {})},
        "k": {"validation": validation.deflated.k,
              "test": exam["deflated"]["k"] if exam else None},
        "versions": software_versions(),
    })
