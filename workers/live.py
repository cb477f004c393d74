"""The live worker: trades the run's deployed checkpoint through the configured broker.

The loop is :class:`fxconsole.live.engine.LiveTrader` (paper broker by default, OANDA
with ``live.broker = "oanda"``): warm-up and reconciliation at start, then one step per
poll. Commands: ``deploy CHECKPOINT``, ``pause-entries``, ``resume-entries`` (also
releases the kill switch), ``kill-switch`` (stops entries; flattens if
``live.flatten_on_kill``) and ``flatten``. Only one trader runs per workspace (the
``data/live.lock`` file lock; ``fxconsole live`` takes it too).
"""

from __future__ import annotations

import logging
from typing import Any

from fxconsole.agents.checkpoints import RunCheckpoints, resolve_checkpoint
from fxconsole.agents.manifest import CheckpointError
from fxconsole.agents.registry import load_policy
from fxconsole.brokers.factory import make_broker
from fxconsole.live.engine import LiveTrader, check_history
from fxconsole.live.gate import live_gate_sigma
from fxconsole.ops.lock import AlreadyRunning, SupervisorLock
from fxconsole.ops.runtime import WorkerRuntime

logger = logging.getLogger(__name__)
LOCK_RETRY_SECONDS = 5.0


def main(rt: WorkerRuntime) -> None:
    """Trade until told to stop."""
    lock = _take_lock(rt)
    if lock is None:
        return
    try:
        _trade(rt)
    finally:
        lock.release()


def _trade(rt: WorkerRuntime) -> None:
    cfg = rt.config
    try:
        gate = live_gate_sigma(cfg, rt.workspace)
        broker = make_broker(cfg, rt.workspace, rt.conn)
    except Exception as exc:
        rt.writer.event("error", "broker", f"cannot start the {cfg.live.broker} broker: {exc}")
        rt.writer.flush()
        raise
    try:
        trader = LiveTrader(broker, rt.conn, None, cfg, rt.writer, run=rt.run, worker=rt.name,
                            gate_sigma_pips=gate)
        _load_deployed(rt, trader)
        rt.handlers.update({
            "deploy": lambda args: _deploy(rt, trader, args),
            "pause-entries": lambda args: trader.pause_entries(),
            "resume-entries": lambda args: trader.resume_entries(),
            "kill-switch": lambda args: trader.kill_switch(),
            "flatten": lambda args: trader.flatten(),
        })
        trader.start()
        interval = cfg.live.poll_seconds
        if cfg.live.broker == "paper":
            interval = min(interval, 1.0 / cfg.live.bars_per_second)
        while not rt.stop.is_set():
            trader.step()
            rt.beat(trader.decided)
            rt.sleep(interval)
        trader.close()
    finally:
        broker.close()


def _take_lock(rt: WorkerRuntime) -> SupervisorLock | None:
    """The workspace's live-trading lock; waits (beating) while another trader holds it."""
    lock = SupervisorLock(rt.workspace.live_lock)
    told = False
    while not rt.stop.is_set():
        try:
            return lock.acquire()
        except AlreadyRunning as exc:
            if not told:
                rt.writer.event("error", "live", f"another live trader (pid {exc.pid}) holds "
                                f"{exc.path}: waiting for it to stop", {"pid": exc.pid})
                told = True
            rt.sleep(LOCK_RETRY_SECONDS)
    return None


def _load_deployed(rt: WorkerRuntime, trader: LiveTrader) -> None:
    """Trade the run's ``deployed.json`` if there is one; an unusable one trades nothing."""
    path = rt.workspace.checkpoints_dir / rt.run / "deployed.json"
    if not path.exists():
        return
    try:
        manifest, actor = load_policy(path)
        check_history(actor, rt.config)
    except (CheckpointError, ValueError) as exc:
        logger.error("not trading the deployed checkpoint: %s", exc)
        rt.writer.event("error", "deploy", f"deployed checkpoint unusable: {exc}", {})
        return
    trader.policy, trader.deployed = actor, _label(manifest.run, manifest.timesteps,
                                                  manifest.model_file)
    logger.info("trading deployed checkpoint %s", manifest.model_file)


def _deploy(rt: WorkerRuntime, trader: LiveTrader, args: dict[str, Any]) -> str:
    path = resolve_checkpoint(str(args.get("checkpoint", "")), rt.workspace.checkpoints_dir)
    if path.parent.name != rt.run:
        raise ValueError(f"{path} belongs to run {path.parent.name!r}; live trades run "
                         f"{rt.run!r}: deploy one of its checkpoints")
    manifest, actor = load_policy(path)
    RunCheckpoints(path.parent).point("deployed", manifest)
    return trader.deploy(actor, _label(manifest.run, manifest.timesteps, manifest.model_file))


def _label(run: str, timesteps: int, model_file: str) -> str:
    return f"{run} @ {timesteps:,} ({model_file})"
