"""``fxconsole backtest`` and ``fxconsole validate``: evaluate a checkpoint on a split."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from fxconsole import numfmt
from fxconsole.cli.common import CliError, Context, UsageError
from fxconsole.cli.output import make_console

console = make_console(highlight=True)
SPLIT_CHOICES = ("validation", "test")
Fmt = Callable[[Any], str]
STRESS_ROWS: tuple[tuple[str, str, Fmt], ...] = (
    ("expectancy (pips)", "expectancy", numfmt.signed), ("SQN", "sqn", numfmt.signed),
    ("trades", "trades", numfmt.count))
METRIC_ROWS: tuple[tuple[str, str, Fmt], ...] = (  # undefined (null) figures read "—"
    ("trades", "trades", numfmt.count),
    ("trades per day", "trades_per_day", lambda v: numfmt.num(v, 2)),
    ("win rate", "win_rate", numfmt.pct),
    ("expectancy (pips)", "expectancy", numfmt.signed),
    ("profit factor", "profit_factor", lambda v: numfmt.num(v, 2)),
    ("average win", "avg_win", numfmt.signed),
    ("average loss", "avg_loss", numfmt.signed),
    ("SQN", "sqn", numfmt.signed),
    ("max drawdown (pips)", "max_drawdown_pips", lambda v: numfmt.num(v, 1)),
    ("total pips", "total_pips", lambda v: numfmt.signed(v, 1)),
)


def add_parser(sub: Any) -> None:
    """Register ``backtest`` and ``validate``."""
    bt = sub.add_parser("backtest", help="play a checkpoint over a split's sessions")
    bt.add_argument("checkpoint", help="RUN, RUN/TAG, a manifest .json or a run folder")
    bt.add_argument("--split", choices=SPLIT_CHOICES,
                    help="default: validation (test: plays the test split without recording "
                         "an examination; it is looked at once, by validation)")
    bt.add_argument("--trades-out", type=Path, metavar="FILE.csv", help="write the trades")
    bt.set_defaults(handler=_backtest)

    va = sub.add_parser("validate", help="validation split: baselines, cost stress, Monte "
                        "Carlo, deflated SQN, sizing; then the one test exam; the verdict")
    va.add_argument("checkpoint", help="RUN, RUN/TAG, a manifest .json or a run folder")
    va.add_argument("--check", action="store_true",
                    help="for scripts: exit 1 unless the checkpoint is VALIDATED")
    va.add_argument("--runs", type=int, help="Monte Carlo resamples (config validation.runs)")
    va.add_argument("--seed", type=int, help="seed (config validation.seed)")
    va.add_argument("--json", action="store_true", help="print the JSON report instead")
    va.add_argument("--report-dir", type=Path, metavar="DIR",
                    help="default: checkpoints/<run>/reports/<timesteps>-<sha>-<split>/")
    va.add_argument("--no-chart", action="store_true", help="skip the PNG chart")
    va.set_defaults(handler=_validate)


def _errors() -> tuple[type[BaseException], ...]:
    from fxconsole.agents.manifest import CheckpointError

    return (CheckpointError, LookupError, ValueError, OSError)


def _backtest(ctx: Context, args: argparse.Namespace) -> int:
    from fxconsole.evaluation.runner import backtest_checkpoint
    from fxconsole.trading.metrics import trade_metrics

    try:
        ckpt, result = backtest_checkpoint(args.checkpoint, ctx.config, ctx.workspace,
                                           args.split, args.trades_out)
    except _errors() as exc:
        raise CliError(str(exc)) from None
    if result.split == "test":
        console.print("[yellow]note:[/] this plays the test split; it is not recorded as an "
                      "examination, and a checkpoint chosen by looking at it is no longer "
                      "judged on unseen bars")
    for note in ckpt.notes:
        console.print(f"[yellow]note:[/] {note}", soft_wrap=True)
    m = trade_metrics(result.pips).as_dict()
    table = _table(f"backtest {ckpt.manifest.run} @ {ckpt.manifest.timesteps:,} on "
                   f"{result.split} ({result.sessions} sessions)", {"checkpoint": m})
    console.print(table)
    if args.trades_out:
        console.print(f"wrote {len(result.trades):,} trades to {args.trades_out}")
    return 0


def _validate(ctx: Context, args: argparse.Namespace) -> int:
    from fxconsole.ops.db import connect
    from fxconsole.ops.promotion import validate_and_promote

    if args.runs is not None and args.runs < 1:
        raise UsageError(f"--runs {args.runs}: must be ≥ 1")
    try:
        conn = connect(ctx.workspace.console_db)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot open {ctx.workspace.console_db}: {exc}") from None
    try:
        out = validate_and_promote(args.checkpoint, ctx.config, ctx.workspace, conn,
                                   runs=args.runs, seed=args.seed, report_dir=args.report_dir,
                                   chart=not args.no_chart)
    except _errors() as exc:
        raise CliError(str(exc)) from None
    finally:
        conn.close()
    code = 1 if args.check and not out.validated else 0
    if args.json:
        print(json.dumps(out.report, indent=2))
        return code
    print_report(out.report, out.best)
    return code


def print_report(r: dict[str, Any], best: bool) -> None:
    """The validation report as terminal tables, checks and the verdict."""
    ck = r["checkpoint"]
    for note in r.get("notes", []):
        console.print(f"[yellow]note:[/] {note}", soft_wrap=True)
    played = r["played"]
    console.print(f"played {played['first_bar']} → {played['last_bar']} "
                  f"({played['sessions']} sessions) at {r['costs']['spread_pips']:g} pips "
                  "spread" + _pinned_line(r.get("pinned")), soft_wrap=True)
    columns = {"checkpoint": r["policy"], **r["baselines"]}
    console.print(_table(f"{ck['run']} @ {ck['timesteps']:,} timesteps — {r['split']}",
                         columns))
    console.print(_stress(r))
    console.print(_monte_carlo(r["monte_carlo"]))
    console.print(_deflated_and_sizing(r))
    exam = r.get("stages", {}).get("test")
    if exam:
        when = "now" if exam.get("examined_now") else "before (not looked at again)"
        p = exam["policy"]
        console.print(f"test exam, taken {when}: {numfmt.count(p['trades'])} trades, "
                      f"expectancy {numfmt.signed(p['expectancy'])} pips, SQN "
                      f"{numfmt.signed(p['sqn'])}, DSR {numfmt.num(exam['deflated']['dsr'], 3)}"
                      f" (K={exam['deflated']['k']}) on "
                      f"{exam['played']['first_bar']} → {exam['played']['last_bar']}")
    v = r["verdict"]
    console.print(("[bold green]VALIDATED[/]" if v["validated"] else "[bold red]NOT VALIDATED[/]")
                  + (" · now the run's best" if best else ""))
    for c in v["checks"]:
        mark = "[green]✓[/]" if c["passed"] else "[red]✗[/]"
        console.print(f"  {mark} {c['text']}")
    if v["validation_passed"] and not exam:
        console.print("  · not examined on the test split")
    elif not v["validation_passed"]:
        console.print("  · the test split was not looked at: validation failed")
    files = r.get("files", {})
    if files:
        folder = Path(next(iter(files.values()))).parent
        names = ", ".join(Path(p).name for p in files.values())
        console.print(f"report: {folder}/ ({names})", soft_wrap=True)


def _pinned_line(pin: dict[str, Any] | None) -> str:
    if not pin:
        return " · [yellow]not pinned[/]"
    iso = pin["iso"]
    return (f" · pinned: train {iso['t0']} → {iso['b1']}, validation → {iso['b2']}, "
            f"gate σ20 {pin['gate_sigma_pips']:.2f} pips")


def _stress(r: dict[str, Any]) -> Table:
    columns = {f"{r['costs']['spread_pips']:g} pips": r["policy"],
               **{f"{name} ({v['spread_pips']:g})": v for name, v in r["stress"].items()}}
    table = Table(title="cost stress: the checkpoint at a wider spread", box=box.SIMPLE_HEAD)
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    for label, key, fmt in STRESS_ROWS:
        table.add_row(label, *(_cell(fmt, c.get(key)) for c in columns.values()))
    return table


def _deflated_and_sizing(r: dict[str, Any]) -> Table:
    d, s = r["deflated"], r.get("sizing") or {}
    table = Table(title="selection and sizing", box=box.SIMPLE_HEAD, show_header=False)
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("Sharpe per trade (SR)", numfmt.signed(d["sr"], 4))
    table.add_row(f"expected max SR of K={d['k']} (SR0)", numfmt.signed(d["sr0"], 4))
    table.add_row("deflated SQN (DSR)", numfmt.num(d["dsr"], 3))
    if s:
        table.add_row("safe-f (fraction of equity)", numfmt.num(s["safe_f"], 3))
        car = s["car25"]
        table.add_row("CAR25 (compound annual return)",
                      numfmt.UNDEFINED if car is None else ("+" if car > 0 else "")
                      + numfmt.pct(car))
    return table


def _cell(fmt: Fmt, value: Any) -> str:
    return fmt(value)


def _table(title: str, columns: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    for label, key, fmt in METRIC_ROWS:
        if all(key in c for c in columns.values()):
            table.add_row(label, *(_cell(fmt, c[key]) for c in columns.values()))
    return table


def _monte_carlo(mc: dict[str, Any]) -> Table:
    table = Table(title=f"Monte Carlo: {mc['runs']:,} resamples of {mc['n_trades']:,} trades",
                  box=box.SIMPLE_HEAD)
    for col in ("", "p5", "p25", "p50", "p75", "p95"):
        table.add_column(col, justify="right" if col else "left")
    finals = mc["final_pips"]
    table.add_row("final pips", *(numfmt.signed(finals[k], 0)
                                  for k in ("p5", "p25", "p50", "p75", "p95")))
    dd = mc["max_drawdown"]
    table.add_row("max drawdown", "", "", numfmt.num(dd["p50"], 0), "",
                  numfmt.num(dd["p95"], 0))
    table.add_row("P(final < 0)", "", "", numfmt.pct(mc["prob_below_zero"]), "", "")
    return table
