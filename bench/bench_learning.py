"""Learning is real? PPO variants on synthetic bars with a planted signal, judged by §6.4.

For each ``--signal`` (default 1 and 3) the script synthesises GBPJPY-like M1 bars into a
temporary workspace and prints the baselines on the validation split (always flat,
random, the momentum rule of SPEC §6.2). It then trains every variant in its own run on
the same bars:

- ``ppo``: the defaults (``ppo.mask_actions = false``, ``env.reward = amddp1``);
- ``ppo-masked``: ``ppo.mask_actions = true`` (sb3-contrib's MaskablePPO);
- ``ppo-masked-mtm``: masked, with ``env.reward = mtm``;
- ``tuned``: the defaults with the ``--tuned`` parameters (a tuned winner); not run, and
  printed as such, without ``--tuned``.

``--set`` applies to every variant (a variant's own keys win). Every periodic checkpoint
(every ``--every`` timesteps) is backtested on the validation split (trades, trades per
session, win rate, expectancy, total pips, SQN), then validated by the real promotion
path (:func:`fxconsole.ops.promotion.validate_and_promote`, recorded in the workspace's
console database), in timestep order: ``K`` of the deflated SQN counts the run's
checkpoints validated so far, so it grows along the run (intended: that is SPEC §6.3's
``K``). Printed per checkpoint: SQN, DSR, K, whether validation passed, whether the test
exam passed (= validated), and the failed checks. Per variant: training steps/s and the
wall time from the start of its training call to the ``created`` time of the first
checkpoint that is validated (training time only: validations run after training). A
compact summary per signal ends the output: variant × checkpoint SQN/DSR and that time.
Prints figures; asserts nothing.

    .venv/bin/python bench/bench_learning.py [--signal 1,3] [--timesteps 2000000]
        [--every 250000] [--years 1.5] [--seed 0] [--variants ppo,ppo-masked,...]
        [--set ppo.gamma=0.999] [--tuned ppo.ent_coef=0.02,ppo.net_arch=256,256]
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.ppo.train import train_ppo
from fxconsole.agents.registry import load_policy
from fxconsole.agents.sinks import MemorySink
from fxconsole.config import Config, with_overrides
from fxconsole.evaluation.backtest import (
    MomentumPolicy,
    flat_policy,
    random_policy,
    run_backtest,
)
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore
from fxconsole.ops.db import connect
from fxconsole.ops.promotion import validate_and_promote
from fxconsole.trading.market_data import MarketData, load_market_data
from fxconsole.trading.metrics import trade_metrics
from fxconsole.workspace import Workspace

logger = logging.getLogger("bench_learning")

# variant → its own overrides (section, key, value), applied after --set.
VARIANTS: dict[str, tuple[tuple[str, str, Any], ...]] = {
    "ppo": (("ppo", "mask_actions", False), ("env", "reward", "amddp1")),
    "ppo-masked": (("ppo", "mask_actions", True),),
    "ppo-masked-mtm": (("ppo", "mask_actions", True), ("env", "reward", "mtm")),
    "tuned": (),
}
SUMMARY_MARKS = (250_000, 500_000, 1_000_000, 2_000_000)
HEADER = (f"{'policy':<30} {'trades':>7} {'/sess':>6} {'win':>6} {'exp pips':>9} "
          f"{'total pips':>11} {'SQN':>6}")


@dataclass
class CheckpointRow:
    """One periodic checkpoint of a variant: its backtest and its §6.4 outcome."""

    timesteps: int
    created: datetime
    sqn: float = float("nan")
    dsr: float = float("nan")
    k: int = 0
    validation_passed: bool = False
    validated: bool = False
    error: str = ""


@dataclass
class VariantResult:
    """What one variant's run produced (or why it was not run)."""

    name: str
    not_run: str = ""
    rows: list[CheckpointRow] = field(default_factory=list)
    started: datetime | None = None
    timesteps: int = 0
    steps_per_s: float = 0.0

    def first_validated(self) -> str:
        """Wall time from the run's start to the first validated checkpoint's ``created``."""
        if self.not_run:
            return f"not run: {self.not_run}"
        for r in self.rows:
            if r.validated and self.started is not None:
                secs = (r.created - self.started).total_seconds()
                return f"{secs:,.0f} s ({secs / 60:.1f} min) @ {r.timesteps:,}"
        return f"none within {self.timesteps:,} steps"


def parse_value(cfg: Config, section: str, key: str, text: str) -> Any:
    """``text`` as the type of ``cfg.section.key`` (``true`` / ``false`` for a bool).

    Raises:
        AttributeError: an unknown section or key.
    """
    current = getattr(getattr(cfg, section), key)
    if isinstance(current, bool):
        return text.strip().lower() == "true"
    return type(current)(text)


def split_assignments(items: Sequence[str]) -> list[str]:
    """``["a.b=1,c.d=2"]`` → ``["a.b=1", "c.d=2"]``; a piece without ``=`` continues the
    previous value (``ppo.net_arch=256,256``)."""
    out: list[str] = []
    for item in items:
        for piece in item.split(","):
            if "=" in piece or not out:
                out.append(piece.strip())
            else:
                out[-1] += "," + piece.strip()
    return [o for o in out if o]


def apply_assignments(cfg: Config, assignments: Sequence[str]) -> Config:
    """``cfg`` with every ``SECTION.KEY=VALUE`` applied through ``with_overrides``."""
    for item in assignments:
        key, _, text = item.partition("=")
        section, _, name = key.strip().partition(".")
        cfg = with_overrides(cfg, section, **{name: parse_value(cfg, section, name, text)})
    return cfg


def variant_config(base: Config, name: str, tuned: Sequence[str], sets: Sequence[str]
                   ) -> Config:
    """The config a variant trains with: base (with --set), its own keys, --tuned."""
    cfg = base
    for section, key, value in VARIANTS[name]:
        if any(s.startswith(f"{section}.{key}=") for s in sets):
            print(f"  note: {name} sets {section}.{key} = {value} over --set")
        cfg = with_overrides(cfg, section, **{key: value})
    if name == "tuned":
        cfg = apply_assignments(cfg, tuned)
    return cfg


def row(name: str, pips: np.ndarray, sessions: int) -> str:
    """One printed backtest row.

    Args:
        name: the policy's label.
        pips: pips of each closed trade.
        sessions: sessions played (for trades per session).
    """
    m = trade_metrics(pips)
    return (f"{name:<30} {m.trades:>7,} {m.trades / max(sessions, 1):>6.2f} "
            f"{m.win_rate:>6.1%} {m.expectancy:>+9.2f} {m.total_pips:>+11.0f} {m.sqn:>6.2f}")


def print_baselines(data: MarketData, cfg: Config, seed: int) -> int:
    """Print the validation-split baselines; return the number of sessions.

    Args:
        data: the workspace's market data.
        cfg: the base configuration.
        seed: seed of the random baseline.
    """
    flat = run_backtest(flat_policy(), data, "validation", cfg)
    n = flat.sessions
    print(f"\nvalidation split: {n} non-overlapping sessions of {cfg.data.session_bars} bars")
    print(HEADER)
    print(row("always flat", flat.pips, n))
    print(row(f"random (seed {seed})", run_backtest(random_policy(seed), data, "validation",
                                                    cfg).pips, n))
    print(row("momentum rule", run_backtest(MomentumPolicy(), data, "validation", cfg).pips,
              n))
    return n


def judge(path: Path, cfg: Config, ws: Workspace, conn: sqlite3.Connection,
          r: CheckpointRow) -> str:
    """Validate one checkpoint by the promotion path; fill ``r``; return its line.

    Args:
        path: the checkpoint's manifest.
        cfg: the variant's configuration.
        ws: the workspace.
        conn: the console database.
        r: the row to fill.
    """
    try:
        out = validate_and_promote(str(path), cfg, ws, conn, chart=False)
    except (ValueError, LookupError, OSError) as exc:  # CheckpointError is a ValueError
        r.error = f"{type(exc).__name__}: {exc}"
        return f"    validation error: {r.error}"
    rep = out.report
    v = rep["verdict"]
    r.sqn, r.dsr, r.k = rep["policy"]["sqn"], rep["deflated"]["dsr"], rep["deflated"]["k"]
    r.validation_passed, r.validated = bool(v["validation_passed"]), bool(out.validated)
    exam = rep.get("stages", {}).get("test")
    test = (f"test exam {'PASS' if v['test_passed'] else 'fail'} (exp "
            f"{exam['policy']['expectancy']:+.2f}, DSR {exam['deflated']['dsr']:.3f}, "
            f"K={exam['deflated']['k']})" if exam else "test exam: not taken")
    failed = [c["name"] for c in v["checks"] if not c["passed"]]
    return (f"    §6.4 @ {r.timesteps:,}: SQN {r.sqn:+.2f}  DSR {r.dsr:.3f}  K={r.k}  "
            f"validation {'PASS' if r.validation_passed else 'fail'}  {test}  → "
            f"{'VALIDATED' if r.validated else 'not validated'}  "
            f"[{rep['seconds']['total']:.1f} s]"
            + (f"\n      failed: {'; '.join(failed)}" if failed else ""))


def run_variant(name: str, cfg: Config, ws: Workspace, conn: sqlite3.Connection,
                data: MarketData, sessions: int, timesteps: int, extra: str = ""
                ) -> VariantResult:
    """Train one variant, backtest and validate each periodic checkpoint in order.

    Args:
        name: the variant (also its run name).
        cfg: its configuration.
        ws: the workspace.
        conn: the console database.
        data: the market data (for the backtests).
        sessions: validation sessions (for trades per session).
        timesteps: timesteps to train.
        extra: more of its configuration to print (the tuned parameters).
    """
    res = VariantResult(name)
    print(f"\n== {name}: ppo.mask_actions={str(cfg.ppo.mask_actions).lower()}, "
          f"env.reward={cfg.env.reward}" + (f", {extra}" if extra else ""))
    res.started = datetime.now(UTC)
    t0 = time.monotonic()
    result = train_ppo(cfg, ws, MemorySink(), timesteps=timesteps, run=name)
    took = time.monotonic() - t0
    steps = result.timesteps - result.start_timesteps
    res.timesteps, res.steps_per_s = result.timesteps, steps / result.seconds
    print(f"trained {result.timesteps:,} timesteps in {took:.0f} s: "
          f"{res.steps_per_s:,.0f} steps/s in learn() incl. checkpoint saves, "
          f"{steps / took:,.0f} steps/s for the whole call; gate "
          f"{result.gate_sigma_pips:.3f} pips")
    print(HEADER)
    store = RunCheckpoints(result.run_dir)
    for m in store.list():
        if not m.tag.startswith("periodic"):
            continue
        path = result.run_dir / f"{m.tag}.json"
        r = CheckpointRow(m.timesteps, datetime.fromisoformat(m.created))
        _, policy = load_policy(path)
        bt = run_backtest(policy, data, "validation", cfg)
        print(row(f"{name} @ {m.timesteps:,}", bt.pips, sessions)
              + (f"  ({bt.invalid_actions:,} invalid)" if bt.invalid_actions else ""))
        print(judge(path, cfg, ws, conn, r))
        res.rows.append(r)
    print(f"first validated: {res.first_validated()}")
    return res


def summary(results: list[VariantResult], signal: float) -> None:
    """The compact table: variant × checkpoint SQN/DSR, and the first-validated time.

    Args:
        results: every variant, run or not.
        signal: the signal strength (for the title).
    """
    found = sorted({r.timesteps for v in results for r in v.rows})
    marks = [t for t in SUMMARY_MARKS if t in found] or found
    print(f"\nsummary, signal {signal:g}: SQN/DSR on validation per checkpoint "
          "(K grows along each run); first validated = training wall time to it")
    print(f"{'variant':<16}" + "".join(f"{t:>16,}" for t in marks) + "   first validated")
    for v in results:
        if v.not_run:
            print(f"{v.name:<16}" + f"   {v.first_validated()}")
            continue
        by_t = {r.timesteps: r for r in v.rows}
        cells = []
        for t in marks:
            r = by_t.get(t)
            cells.append("—" if r is None else "error" if r.error else
                         f"{r.sqn:+.2f}/{r.dsr:.2f}{'*' if r.validated else ''}")
        print(f"{v.name:<16}" + "".join(f"{c:>16}" for c in cells)
              + f"   {v.first_validated()}")
    print("(* validated: passed validation and the test exam)")


def bench_signal(signal: float, args: argparse.Namespace, variants: list[str]) -> None:
    """Synthesise one signal's bars, print baselines, run every variant, summarise.

    Args:
        signal: ``synth.signal``.
        args: the parsed command line.
        variants: the variants asked for.
    """
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp)).ensure()
        cfg = with_overrides(Config(), "synth", years=args.years, signal=signal, seed=3)
        cfg = with_overrides(cfg, "train", periodic_every=args.every, keep_periodic=1000,
                             latest_every=args.every)
        cfg = with_overrides(cfg, "ppo", seed=args.seed)
        cfg = apply_assignments(cfg, args.set)
        with MarketStore(ws.market_db) as store:
            s = synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
        print(f"\n######## signal {signal:g}: {s.rows_stored:,} bars ({args.years:g} years), "
              f"sessions {s.build.sessions}")
        data = load_market_data(ws.market_db, cfg.data.symbol, cfg.data.timeframe)
        sessions = print_baselines(data, cfg, args.seed)
        tuned = split_assignments(args.tuned)
        conn = connect(ws.console_db)
        results: list[VariantResult] = []
        try:
            for name in VARIANTS:
                if name not in variants:
                    results.append(VariantResult(name, not_run="not in --variants"))
                elif name == "tuned" and not tuned:
                    results.append(VariantResult(name, not_run="no --tuned given"))
                else:
                    vcfg = variant_config(cfg, name, tuned, args.set)
                    extra = ", ".join(tuned) if name == "tuned" else ""
                    results.append(run_variant(name, vcfg, ws, conn, data, sessions,
                                               args.timesteps, extra))
        finally:
            conn.close()
        summary(results, signal)


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signal", action="append", default=[],
                        help="synth.signal, repeatable or a comma list (default 1,3)")
    parser.add_argument("--timesteps", type=int, default=2_000_000)
    parser.add_argument("--every", type=int, default=250_000, help="checkpoint interval")
    parser.add_argument("--years", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma list of {', '.join(VARIANTS)} (default all)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config key for every variant (repeatable)")
    parser.add_argument("--tuned", action="append", default=[],
                        metavar="SECTION.KEY=VALUE,...",
                        help="a tuned winner's parameters: adds the variant 'tuned'")
    return parser.parse_args()


def main() -> None:
    """Run the benchmark."""
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    signals = [float(p) for item in (args.signal or ["1,3"]) for p in item.split(",") if p]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; allowed: {', '.join(VARIANTS)}")
    print(f"bench_learning: signals {signals}, {args.timesteps:,} timesteps, checkpoint "
          f"every {args.every:,}, {args.years:g} years, seed {args.seed}, variants "
          f"{', '.join(variants)}" + (f"; --set {', '.join(args.set)}" if args.set else "")
          + (f"; --tuned {', '.join(split_assignments(args.tuned))}" if args.tuned else ""))
    started = time.monotonic()
    for signal in signals:
        bench_signal(signal, args, variants)
    print(f"\ntotal wall time {time.monotonic() - started:,.0f} s")


if __name__ == "__main__":
    main()
