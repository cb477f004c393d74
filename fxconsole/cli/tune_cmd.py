"""``fxconsole tune``: run a tuning study, show its trials, apply its winner."""

from __future__ import annotations

import argparse
import math
import signal
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from rich import box
from rich.table import Table

from fxconsole.cli.common import CliError, Context, UsageError
from fxconsole.cli.output import make_console

if TYPE_CHECKING:
    from fxconsole.tuning.study import TrialRow

console = make_console(highlight=True)


def add_parser(sub: Any) -> None:
    """Register ``tune``."""
    p = sub.add_parser("tune", help="tune PPO with Optuna; every trial counts in K")
    p.add_argument("--agent", choices=("ppo",), default="ppo", help="agent to tune")
    p.add_argument("--study", help="study name (config tune.study); resumes if it exists")
    p.add_argument("--trials", type=int,
                   help="finished trials the study should have (config tune.trials)")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="training time of each trial (config tune.trial_seconds)")
    p.add_argument("--reports", type=int,
                   help="validations per trial, each a pruning point (config tune.reports)")
    p.add_argument("--seed", type=int, help="sampler seed (config tune.seed)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--show", action="store_true", help="print the study's trials")
    what.add_argument("--apply", action="store_true",
                      help="write the winner's parameters into the config file")
    p.add_argument("--trial", type=int, help="with --apply: this trial, not the winner")
    p.set_defaults(handler=_tune)


def _tune(ctx: Context, args: argparse.Namespace) -> int:
    from fxconsole.tuning.study import check_study_name

    t = ctx.config.tune
    for name, default in (("study", t.study), ("trials", t.trials),
                          ("duration", t.trial_seconds), ("reports", t.reports),
                          ("seed", t.seed)):
        if getattr(args, name) is None:
            setattr(args, name, default)

    try:
        check_study_name(args.study)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.show:
        return _show(ctx, args.study)
    if args.apply:
        return _apply(ctx, args.study, args.trial)
    if args.trial is not None:
        raise UsageError("--trial goes with --apply")
    return _run(ctx, args)


def _run(ctx: Context, args: argparse.Namespace) -> int:
    from fxconsole.ops.db import connect
    from fxconsole.tuning.study import STORAGE_FILE, Interrupted, StudyRunner, TuneRequest

    if args.trials < 1:
        raise UsageError(f"--trials {args.trials}: must be ≥ 1")
    if not (math.isfinite(args.duration) and args.duration > 0):
        raise UsageError(f"--duration {args.duration}: must be a number of seconds > 0")
    if args.reports < 1:
        raise UsageError(f"--reports {args.reports}: must be ≥ 1")
    if not ctx.workspace.market_db.exists():
        raise CliError(f"no market data in {ctx.workspace.root}: run `fxconsole data synth` "
                       "first")
    stop = {"requested": False}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True
        console.print("stopping: the running trial saves latest and is re-run on resume "
                      "(Ctrl-C again to abort)")

    request = TuneRequest(ctx.config, ctx.workspace, args.study, args.trials, args.duration,
                          args.reports, args.seed, args.agent)
    console.print(f"study {args.study}: {args.trials} trials of {args.duration:,.0f} s, "
                  f"{args.reports} validations each → {ctx.workspace.root / STORAGE_FILE}")
    conn = connect(ctx.workspace.console_db)
    previous = signal.signal(signal.SIGINT, on_signal)
    try:
        trials = StudyRunner(request, conn, stop=lambda: stop["requested"],
                             on_trial=_print_trial).run()
    except Interrupted:
        console.print(f"study {args.study} interrupted: `fxconsole tune --study "
                      f"{args.study} --trials {args.trials}` resumes it")
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
        conn.close()
    console.print(_table(args.study, trials))
    _print_winner(args.study, trials)
    return 0


def _print_trial(row: TrialRow) -> None:
    console.print(row.describe())


def _rows(ctx: Context, study: str) -> list[TrialRow]:
    from fxconsole.tuning.study import STORAGE_FILE, open_study, rows

    if not (ctx.workspace.root / STORAGE_FILE).exists():
        raise CliError(f"no tuning studies in {ctx.workspace.root}: run `fxconsole tune` "
                       "first")
    try:
        return rows(open_study(ctx.workspace, study, create=False))
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from None


def _show(ctx: Context, study: str) -> int:
    trials = _rows(ctx, study)
    console.print(_table(study, trials))
    _print_winner(study, trials)
    return 0


def _table(study: str, trials: list[TrialRow]) -> Table:
    from fxconsole.tuning.space import short_params

    table = Table(title=f"study {study}: {len(trials)} trials", box=box.SIMPLE_HEAD)
    for name in ("#", "state", "SQN", "time", "parameters"):
        table.add_column(name, justify="right" if name in ("#", "SQN", "time") else "left")
    for t in trials:
        table.add_row(str(t.number), t.state.lower(),
                      "—" if t.value is None else f"{t.value:+.2f}",
                      "—" if t.seconds is None else f"{t.seconds:,.0f} s",
                      short_params(t.params) + (f" · {t.note}" if t.note else ""))
    return table


def _print_winner(study: str, trials: list[TrialRow]) -> None:
    from fxconsole.tuning.study import winner

    best = winner(trials)
    finished = sum(t.state in ("COMPLETE", "PRUNED") for t in trials)
    if best is None:
        console.print("no winner yet: no complete trial with enough validation trades")
        return
    console.print(f"winner: trial {best.number}, validation SQN {best.value:+.2f}, one of "
                  f"{finished} finished trials — its checkpoints are judged with every "
                  f"trial's in K (deflated SQN); `fxconsole tune --study {study} --apply` "
                  "writes its parameters")


def _apply(ctx: Context, study: str, number: int | None) -> int:
    from fxconsole.config import ConfigError, load_config
    from fxconsole.fsutil import atomic_write
    from fxconsole.tuning.space import by_section
    from fxconsole.tuning.study import winner
    from fxconsole.tuning.toml_edit import TomlEditError, set_values

    trials = _rows(ctx, study)
    if number is None:
        chosen = winner(trials)
        if chosen is None:
            raise CliError(f"study {study} has no complete trial with enough validation "
                           "trades to apply")
    else:
        chosen = next((t for t in trials if t.number == number), None)
        if chosen is None or chosen.state != "COMPLETE":
            raise CliError(f"study {study}: trial {number} is not a complete trial; complete "
                           f"ones: {[t.number for t in trials if t.state == 'COMPLETE']}")
    path = ctx.config_path or ctx.workspace.config_file
    values = by_section(chosen.params)
    values.setdefault("validation", {})["tuning_study"] = study
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    comment = f"tuned: study {study} trial {chosen.number}, validation SQN {chosen.value:+.2f}" \
              f" ({stamp})"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        edited = set_values(text, values, comment)
    except TomlEditError as exc:
        raise CliError(f"{path}: {exc}") from None
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        trial_file = Path(tmp) / path.name
        trial_file.write_text(edited, encoding="utf-8")
        try:
            load_config(trial_file, environ={})
        except ConfigError as exc:
            raise CliError(f"{path}: the tuned values do not make a valid config: {exc}"
                           ) from None
    atomic_write(path, edited.encode())
    if chosen.value is not None and chosen.value <= 0:
        console.print(f"note: trial {chosen.number}'s validation SQN is {chosen.value:+.2f}: "
                      "the best of the study loses; train and validate before trusting it")
    console.print(f"{path}: wrote trial {chosen.number}'s parameters "
                  f"({', '.join(sorted(chosen.params))}) and validation.tuning_study = "
                  f"{study!r}")
    return 0
