"""``fxconsole train``: train a policy with a live progress line and a final summary."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from rich import box
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fxconsole import numfmt
from fxconsole.agents.sinks import FanoutSink, JsonlSink
from fxconsole.cli.common import CliError, Context, UsageError
from fxconsole.cli.output import make_console
from fxconsole.config import AGENTS, Config, ConfigError, with_overrides

if TYPE_CHECKING:
    from fxconsole.agents.base import RunStart, TrainResult

console = make_console(highlight=True)


def add_parser(sub: Any) -> None:
    """Register ``train``."""
    p = sub.add_parser("train", help="train a policy and write checkpoints")
    p.add_argument("--agent", choices=AGENTS, default=None,
                   help="learning agent (default: train.agent)")
    p.add_argument("--timesteps", type=int, help="timesteps to train (config train.timesteps; "
                   "with --duration: no step limit unless given)")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="stop after this much training time (saving latest), or at "
                   "--timesteps if that comes first")
    p.add_argument("--run", help="run name (default: new, or the resumed run's)")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue from a checkpoint: RUN, RUN/TAG, a manifest or a folder")
    p.add_argument("--n-envs", type=int,
                   help="environments per process (ppo.n_envs; MuZero: muzero.envs)")
    p.add_argument("--seed", type=int, help="random seed (config ppo.seed / muzero.seed)")
    p.add_argument("--collectors", type=int, default=0, metavar="N",
                   help="MuZero: self-play processes beside the learner (0: the learner "
                   "plays its own episodes)")
    p.set_defaults(handler=_train)


class ProgressSink:
    """Shows training progress: a live bar on a terminal, plain lines otherwise."""

    def __init__(self, total: int, start: int, duration: float | None = None) -> None:
        self.start = start
        self.total = total
        self.duration = duration  # a time-bound run's bar shows seconds, not steps
        self.began = time.monotonic()
        self.live = console.is_terminal
        count = ("{task.completed:,.0f}/{task.total:,.0f} s" if duration is not None
                 else "{task.completed:,}/{task.total:,}")
        self.bar = Progress(BarColumn(), TextColumn(count), TimeElapsedColumn(),
                            TextColumn("{task.description}"), console=console,
                            disable=not self.live)
        self.task = self.bar.add_task("", total=duration if duration is not None else total)
        self.bar.start()

    def write(self, step: int, values: dict[str, float]) -> None:
        """Render one progress update."""
        line = progress_line(values)
        done: float = min(step - self.start, self.total)
        if self.duration is not None:
            done = min(time.monotonic() - self.began, self.duration)
        if self.live:
            if self.duration is not None:
                line = f"{step - self.start:,} timesteps · {line}"
            self.bar.update(self.task, completed=done, description=line)
        else:
            print(f"{step:,} timesteps · {line}", flush=True)

    def trades(self, step: int, trades: list[dict[str, Any]]) -> None:
        """Trades are not shown on the progress line."""

    def close(self) -> None:
        """Stop the live bar."""
        self.bar.stop()


def progress_line(values: dict[str, float]) -> str:
    """The progress line of a metrics snapshot: MuZero's (episodes/h, loss terms) or PPO's."""
    trades = (f"trades {numfmt.count(values.get('rollout/trades', 0))} · win "
              f"{numfmt.pct(values.get('rollout/win_rate'))} · exp "
              f"{numfmt.signed(values.get('rollout/expectancy'))} pips")
    if "train/episodes_per_hour" in values:
        losses = " ".join(f"{name[0] if name != 'afterstate_value' else 'q'} "
                          f"{values[f'train/{name}_loss']:.2f}"
                          for name in ("policy", "value", "reward", "chance",
                                       "afterstate_value")
                          if f"train/{name}_loss" in values)
        return (f"{values['train/episodes_per_hour']:,.0f} episodes/h · "
                f"{values.get('train/updates_per_s', 0):.1f} updates/s · {trades} · "
                f"trade ratio {values.get('rollout/trade_ratio', 0):.0%}"
                + (f" · loss {losses}" if losses else ""))
    return (f"{values.get('train/fps', 0):,.0f} steps/s · {trades} · phase "
            f"{values.get('train/phase', 1):.0f} w {values.get('train/loser_weight', 0):.2f}")


class RunSinks:
    """The sinks of one run, opened once its folder is known: JSONL files and progress."""

    def __init__(self, total: int, duration: float | None = None) -> None:
        self.total = total
        self.duration = duration
        self.fan = FanoutSink()

    def open(self, run_dir: Path, start: int) -> None:
        """Start writing to the run folder and showing progress."""
        self.fan.sinks = [JsonlSink(run_dir), ProgressSink(self.total, start, self.duration)]

    def write(self, step: int, values: dict[str, float]) -> None:
        """Forward metrics."""
        self.fan.write(step, values)

    def trades(self, step: int, trades: list[dict[str, Any]]) -> None:
        """Forward closed trades."""
        self.fan.trades(step, trades)

    def close(self) -> None:
        """Close every sink."""
        self.fan.close()


def _gate_note(cfg: Config) -> str:
    if not cfg.env.gating:
        return "gating off"
    if cfg.env.gate_sigma_pips == 0:
        return f"calibrated: quantile {cfg.env.gate_quantile} of σ20 over train-session bars"
    return "configured (env.gate_sigma_pips)"


def _config_for(ctx: Context, args: argparse.Namespace) -> Config:
    overrides = {k: v for k, v in (("n_envs", args.n_envs), ("seed", args.seed)) if v is not None}
    try:
        cfg = with_overrides(ctx.config, "ppo", **overrides) if overrides else ctx.config
        mz = {k: v for k, v in (("envs", args.n_envs), ("seed", args.seed)) if v is not None}
        if mz:
            cfg = with_overrides(cfg, "muzero", **mz)
        return with_overrides(cfg, "train", agent=args.agent) if args.agent else cfg
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def _resumed_agent(ctx: Context, args: argparse.Namespace, cfg: Config) -> Config:
    """With ``--resume`` the checkpoint's agent trains on (``--agent``, if given, must be it)."""
    if args.resume is None:
        return cfg
    from fxconsole.agents.checkpoints import CheckpointError, resolve_checkpoint
    from fxconsole.agents.manifest import read_manifest

    try:
        agent = read_manifest(resolve_checkpoint(args.resume, ctx.workspace.checkpoints_dir)).agent
    except CheckpointError as exc:
        raise CliError(str(exc)) from None
    if args.agent is not None and args.agent != agent:
        raise CliError(f"--resume {args.resume} is a {agent} checkpoint: it cannot continue "
                       f"as --agent {args.agent}")
    if agent not in AGENTS:
        raise CliError(f"--resume {args.resume}: unknown agent {agent!r}; allowed: "
                       f"{', '.join(AGENTS)}")
    return with_overrides(cfg, "train", agent=agent)


def _check_collectors(cfg: Config, collectors: int) -> None:
    if collectors < 0 or collectors > 16:
        raise UsageError(f"--collectors {collectors}: allowed 0 … 16")
    if collectors and cfg.train.agent != "muzero":
        raise UsageError("--collectors: only the muzero agent has self-play collectors "
                       f"(agent is {cfg.train.agent}; add --agent muzero)")


def _train(ctx: Context, args: argparse.Namespace) -> int:
    from fxconsole.agents.base import TrainRequest
    from fxconsole.agents.checkpoints import CheckpointError
    from fxconsole.agents.registry import get_agent

    cfg = _resumed_agent(ctx, args, _config_for(ctx, args))
    _check_collectors(cfg, args.collectors)
    if args.timesteps is not None and args.timesteps < 1:
        raise UsageError(f"--timesteps {args.timesteps}: must be ≥ 1")
    if not ctx.workspace.market_db.exists():
        raise CliError(f"no market data in {ctx.workspace.root}: run `fxconsole data synth` "
                       "first")
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise UsageError(f"--duration {args.duration}: must be a number of seconds > 0")
    timesteps = args.timesteps
    if timesteps is None and args.duration is not None:
        from fxconsole.agents.base import UNLIMITED_TIMESTEPS

        timesteps = UNLIMITED_TIMESTEPS  # the clock ends it
    sinks = RunSinks(timesteps or cfg.train.timesteps, args.duration)
    stop = {"requested": False}
    deadline = {"at": math.inf}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True
        console.print("stopping: saving latest (press Ctrl-C again to abort)")

    def on_start(run: RunStart) -> None:
        start = run.start_timesteps
        what = f"resuming from {args.resume} at {start:,} timesteps" if args.resume else "new run"
        console.print(f"run {run.run} ({what}, agent {cfg.train.agent}) → {run.run_dir}")
        console.print(f"gate threshold σ20 = {run.gate_sigma_pips:.3f} pips "
                      f"({_gate_note(cfg)})")
        sinks.open(run.run_dir, start)
        if args.duration is not None:
            deadline["at"] = time.monotonic() + args.duration
            console.print(f"training for {args.duration:,.0f} s")

    def go_on(handle: object) -> bool:
        return not stop["requested"] and time.monotonic() < deadline["at"]

    previous = signal.signal(signal.SIGINT, on_signal)
    try:
        result = get_agent(cfg.train.agent).train(TrainRequest(
            cfg, ctx.workspace, sinks, timesteps, args.run, args.resume,
            control=go_on, on_start=on_start, collectors=args.collectors,
            self_play=args.collectors == 0))
    except (CheckpointError, LookupError, ValueError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from None
    finally:
        signal.signal(signal.SIGINT, previous)
        sinks.close()
    _summary(result)
    return 0


def _summary(result: TrainResult) -> None:
    m, r = result.metrics, result.rolling
    fps = (result.timesteps - result.start_timesteps) / max(result.seconds, 1e-9)
    table = Table(title=f"run {result.run}", show_header=False, box=box.SIMPLE)
    rows = [
        ("timesteps", f"{result.start_timesteps:,} → {result.timesteps:,}"),
        ("time", f"{result.seconds:.1f} s ({fps:,.0f} steps/s)"),
        ("trades (run total)", f"{m.get('rollout/trades', 0):,.0f}"),
        (f"last {r.trades} trades", f"win {numfmt.pct(r.win_rate)} · exp "
         f"{numfmt.signed(r.expectancy)} pips · avg win {numfmt.signed(r.avg_win)} / loss "
         f"{numfmt.signed(r.avg_loss)} · SQN {numfmt.signed(r.sqn)}"),
        ("gate threshold", f"{result.gate_sigma_pips:.3f} pips σ20"
         + (f" · gate rate {m['rollout/gate_rate']:.1%}" if "rollout/gate_rate" in m else "")),
    ]
    if "train/episodes" in m:  # MuZero
        rows.append(("self-play", f"{m['train/episodes']:,.0f} episodes · "
                     f"{m.get('train/updates', 0):,.0f} updates · replay "
                     f"{m.get('replay/size', 0):,.0f} transitions "
                     f"({m.get('replay/in_trade', 0):.0%} in a trade)"))
    else:
        rows.append(("weighting", f"phase {m.get('train/phase', 1):.0f} · loser weight "
                     f"{m.get('train/loser_weight', 0):.2f}"))
    rows += [
        ("checkpoints", str(result.run_dir)),
        ("resume with", f"fxconsole train --resume {result.run}"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    sys.stdout.flush()
