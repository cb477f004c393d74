"""``fxconsole backtest`` and ``fxconsole validate``: evaluate a checkpoint on a split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from fxconsole.cli.common import CliError, Context

console = Console()
SPLIT_CHOICES = ("validation", "test")
METRIC_ROWS = (
    ("trades", "trades", "{:,.0f}"),
    ("trades per day", "trades_per_day", "{:.2f}"),
    ("win rate", "win_rate", "{:.1%}"),
    ("expectancy (pips)", "expectancy", "{:+.2f}"),
    ("profit factor", "profit_factor", "{:.2f}"),
    ("average win", "avg_win", "{:+.2f}"),
    ("average loss", "avg_loss", "{:+.2f}"),
    ("SQN", "sqn", "{:+.2f}"),
    ("max drawdown (pips)", "max_drawdown_pips", "{:,.1f}"),
    ("total pips", "total_pips", "{:+,.1f}"),
)


def add_parser(sub: Any) -> None:
    """Register ``backtest`` and ``validate``."""
    bt = sub.add_parser("backtest", help="play a checkpoint over a split's sessions")
    bt.add_argument("checkpoint", help="RUN, RUN/TAG, a manifest .json or a run folder")
    bt.add_argument("--split", choices=SPLIT_CHOICES, help="default: config validation.split")
    bt.add_argument("--trades-out", type=Path, metavar="FILE.csv", help="write the trades")
    bt.set_defaults(handler=_backtest)

    va = sub.add_parser("validate", help="backtest + baselines + Monte Carlo + verdict")
    va.add_argument("checkpoint", help="RUN, RUN/TAG, a manifest .json or a run folder")
    va.add_argument("--split", choices=SPLIT_CHOICES, help="default: config validation.split")
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
    m = trade_metrics(result.pips).as_dict()
    table = _table(f"backtest {ckpt.manifest.run} @ {ckpt.manifest.timesteps:,} on "
                   f"{result.split} ({result.sessions} sessions)", {"checkpoint": m})
    console.print(table)
    if args.trades_out:
        console.print(f"wrote {len(result.trades):,} trades to {args.trades_out}")
    return 0


def _validate(ctx: Context, args: argparse.Namespace) -> int:
    from fxconsole.evaluation.runner import validate_checkpoint

    if args.runs is not None and args.runs < 1:
        raise CliError(f"--runs {args.runs}: must be ≥ 1")
    try:
        out = validate_checkpoint(args.checkpoint, ctx.config, ctx.workspace, args.split,
                                  args.runs, args.seed, args.report_dir, not args.no_chart)
    except _errors() as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(out.report, indent=2))
        return 0
    r = out.report
    ck = r["checkpoint"]
    columns = {"checkpoint": r["policy"], **r["baselines"]}
    console.print(_table(f"{ck['run']} @ {ck['timesteps']:,} timesteps — {r['split']} "
                         f"({r['policy']['sessions']} sessions)", columns))
    console.print(_monte_carlo(r["monte_carlo"]))
    v = r["verdict"]
    console.print(("[bold green]VALIDATED[/]" if v["validated"] else "[bold red]NOT VALIDATED[/]")
                  + (" · now the run's best" if out.best else ""))
    for reason in v["reasons"]:
        console.print(f"  · {reason}")
    folder = next(iter(out.files.values())).parent
    names = ", ".join(p.name for p in out.files.values())
    console.print(f"report: {folder}/ ({names})", soft_wrap=True)
    return 0


def _cell(fmt: str, value: Any) -> str:
    return "∞" if value is None else fmt.format(value)


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
    table.add_row("final pips", *(f"{finals[k]:+,.0f}" for k in ("p5", "p25", "p50", "p75",
                                                                   "p95")))
    dd = mc["max_drawdown"]
    table.add_row("max drawdown", "", "", f"{dd['p50']:,.0f}", "", f"{dd['p95']:,.0f}")
    table.add_row("P(final < 0)", "", "", f"{mc['prob_below_zero']:.1%}", "", "")
    return table
