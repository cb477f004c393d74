"""``fxconsole live``: trade in the foreground (paper by default), printing what happens.

The same trader as the ``live`` worker (:class:`fxconsole.live.engine.LiveTrader`), on
the workspace's console database: the order journal, the switches and the paper account
are shared with the worker, and only one of the two may run at a time
(``data/live.lock``). Ctrl-C or SIGTERM stops after the current step.

The deploy gate (:mod:`fxconsole.ops.deploy_gate`) applies as in the worker: an OANDA
account trades only a validated checkpoint — the one of ``--checkpoint``, else the run's
deployed one — unless ``--force`` (or, for the deployed one, a force recorded in its
pointer for this OANDA environment); a forced or unvalidated one is announced by a
warning, printed and stored as an event.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from collections.abc import Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from fxconsole.cli.common import CliError, Context
from fxconsole.cli.output import make_console
from fxconsole.config import Config, ConfigError, with_overrides

if TYPE_CHECKING:
    from fxconsole.ops.deploy_gate import Verdict

console = make_console()
STATUS_SECONDS = 10.0
NOTEWORTHY = ("risk", "halted", "forced", "kill switch", "entries paused")


def add_parser(sub: Any) -> None:
    """Register ``live``."""
    p = sub.add_parser("live", help="trade in the foreground: paper broker (default) or OANDA")
    p.add_argument("--broker", choices=("paper", "oanda"), help="broker (config live.broker)")
    p.add_argument("--checkpoint", metavar="CKPT",
                   help="checkpoint to trade: RUN, RUN/TAG, a manifest or a folder "
                        "(default: the run's deployed checkpoint, else hold)")
    p.add_argument("--run", help="run name in the journal (config supervisor.run)")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="stop after this many seconds")
    p.add_argument("--force", action="store_true",
                   help="trade on an OANDA account a checkpoint that is not validated "
                        "(skips the promotion rule; recorded as a warning event)")
    p.set_defaults(handler=run_live)


class PrintingSink:
    """Forwards to the console database's writer and prints events and closed trades."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def write(self, step: int, values: Mapping[str, float]) -> None:
        """Metrics go to the database only."""
        self.writer.write(step, values)

    def trades(self, step: int, trades: list[dict[str, Any]]) -> None:
        """Print and store closed trades."""
        for t in trades:
            console.print(f"  trade closed: {t['side']} {t['entry_price']:.3f} → "
                          f"{t['exit_price']:.3f}  {t['pips']:+.1f} pips  "
                          f"({t['bars_held']} bars{', forced' if t['forced'] else ''})")
        self.writer.trades(step, trades)

    def event(self, level: str, kind: str, message: str,
              data: Mapping[str, Any] | None = None) -> None:
        """Print and store an event."""
        style = {"error": "bold red", "warning": "yellow"}.get(level, "dim")
        console.print(f"[{style}]{level}[/] {kind}: {escape(message)}")
        self.writer.event(level, kind, message, data)


def _print_decision(decision: Any) -> None:
    """Print orders and refusals (risk, halts); routine holds stay quiet."""
    if decision.action == "HOLD" and not decision.reason.startswith(NOTEWORTHY):
        return
    order = ""
    if decision.client_id:
        price = "" if decision.fill_price is None else f" @ {decision.fill_price:.3f}"
        order = f"  {decision.state}{price}  {decision.client_id}"
    console.print(f"{decision.to_dict()['bar_ts']}  close {decision.price:.3f}  policy "
                  f"{decision.policy:<5} → {decision.action:<5} {escape(decision.reason)}{order}")


def _print_status(trader: Any) -> None:
    m = trader.metrics()
    last = trader.decisions[0] if trader.decisions else {}
    console.print(f"[dim]{last.get('bar_ts', '-')}  position {m['live/position']:+.0f}  "
                  f"unrealised {m['live/unrealised_pips']:+.1f}  realised "
                  f"{m['live/realised_pips']:+.1f} pips  trades {m['live/trades']:,.0f}  "
                  f"decisions {m['live/decisions']:,.0f}[/]")


def _config(ctx: Context, args: argparse.Namespace) -> Config:
    try:
        return with_overrides(ctx.config, "live", broker=args.broker) if args.broker \
            else ctx.config
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def _actor(ctx: Context, cfg: Config, spec: str | None, run: str,
           force: bool) -> tuple[Any, str, Verdict | None, dict[str, Any]]:
    """The policy to trade (refusing a checkpoint that does not fit, or that the deploy
    gate refuses), its label, the gate's verdict (None: nothing to trade) and its pin."""
    from fxconsole.agents.checkpoints import resolve_checkpoint
    from fxconsole.agents.manifest import CheckpointError
    from fxconsole.agents.registry import load_policy
    from fxconsole.live.engine import check_history
    from fxconsole.ops import deploy_gate
    from fxconsole.ops.db import connect

    checkpoints = ctx.workspace.checkpoints_dir
    deployed = spec is None
    if spec is None:
        if not (checkpoints / run / "deployed.json").exists():
            return None, "", None, {}
        spec = f"{run}/deployed"
    try:
        manifest, actor = load_policy(resolve_checkpoint(spec, checkpoints))
        check_history(actor, cfg)
    except (CheckpointError, ValueError) as exc:
        raise CliError(f"checkpoint {spec} refused: {exc}") from None
    conn = connect(ctx.workspace.console_db)
    try:
        verdict = deploy_gate.check(
            conn, cfg, run=manifest.run, timesteps=manifest.timesteps,
            sha256=manifest.sha256, spec=spec, force=force,
            forced_before=deployed and deploy_gate.recorded_force(manifest.metrics, cfg))
    except deploy_gate.DeployRefused as exc:
        raise CliError(str(exc)) from None
    finally:
        conn.close()
    return (actor, f"{manifest.run} @ {manifest.timesteps:,} ({manifest.model_file})", verdict,
            manifest.pinned)


def run_live(ctx: Context, args: argparse.Namespace) -> int:
    """Trade until Ctrl-C, SIGTERM or ``--duration``."""
    from fxconsole.ops.lock import AlreadyRunning, SupervisorLock

    cfg = _config(ctx, args)
    run = args.run or cfg.supervisor.run
    ctx.workspace.ensure()
    actor, label, verdict, pinned = _actor(ctx, cfg, args.checkpoint, run, args.force)
    lock = SupervisorLock(ctx.workspace.live_lock)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        raise CliError(f"another live trader (pid {exc.pid}) holds {exc.path}: stop it first "
                       "(the supervisor's worker: `fxconsole ctl stop live`)") from None
    try:
        return _trade(ctx, cfg, run, actor, label, verdict, args.duration, pinned)
    finally:
        lock.release()


def _trade(ctx: Context, cfg: Config, run: str, actor: Any, label: str,
           verdict: Verdict | None, duration: float | None,
           pinned: dict[str, Any] | None = None) -> int:
    from fxconsole.brokers.base import BrokerError
    from fxconsole.brokers.factory import make_broker
    from fxconsole.live.engine import LiveTrader
    from fxconsole.live.gate import checkpoint_gate
    from fxconsole.ops.db import connect
    from fxconsole.ops.deploy_gate import EVENT_KIND
    from fxconsole.ops.writer import MetricsWriter

    conn = connect(ctx.workspace.console_db)
    try:
        gate = checkpoint_gate(cfg, ctx.workspace, pinned or {})
        broker = make_broker(cfg, ctx.workspace, conn)
    except (OSError, LookupError, ValueError, BrokerError) as exc:
        conn.close()
        raise CliError(f"cannot start the {cfg.live.broker} broker: {exc}") from None
    writer = MetricsWriter(conn, run, "live", source="live")
    sink = PrintingSink(writer)
    trader = LiveTrader(broker, conn, actor, cfg, sink, run=run, worker="live",
                        gate_sigma_pips=gate, deployed=label,
                        observer=_print_decision)
    console.print(f"live: {broker.name} broker, {trader.instrument} {cfg.data.timeframe}, "
                  f"{'trading ' + label if actor else 'no checkpoint: holding'}; Ctrl-C stops")
    if verdict is not None and verdict.warning:
        sink.event("warning", EVENT_KIND, verdict.warning, verdict.event_data())
        writer.flush()
    stop = _stop_on_signals()
    interval = cfg.live.poll_seconds
    if cfg.live.broker == "paper":
        interval = min(interval, 1.0 / cfg.live.bars_per_second)
    deadline = None if duration is None else time.monotonic() + duration
    next_status = time.monotonic() + STATUS_SECONDS
    try:
        trader.start()
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            trader.step()
            if time.monotonic() >= next_status:
                next_status += STATUS_SECONDS
                _print_status(trader)
            stop.wait(interval)
        trader.close()
        m = trader.metrics()
    finally:
        writer.close()
        broker.close()
        conn.close()
    console.print(f"stopped: {m['live/decisions']:,.0f} decisions, {m['live/trades']:,.0f} "
                  f"trades, {m['live/realised_pips']:+.1f} pips realised, position "
                  f"{m['live/position']:+.0f}")
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stop
