"""The live worker: trades the run's deployed checkpoint through the configured broker.

The loop is :class:`fxconsole.live.engine.LiveTrader` (paper broker by default, OANDA
with ``live.broker = "oanda"``): warm-up and reconciliation at start, then one step per
poll. Commands: ``deploy CHECKPOINT`` (args ``{"checkpoint": ..., "force": true}``),
``pause-entries``, ``resume-entries`` (also releases the kill switch), ``kill-switch``
(stops entries; flattens if ``live.flatten_on_kill``) and ``flatten``. With
``live.auto_deploy`` (paper by default) the run's newest validated checkpoint is deployed
by itself (:mod:`fxconsole.live.auto_deploy`). Only one trader
runs per workspace (the ``data/live.lock`` file lock; ``fxconsole live`` takes it too).

The deploy gate (:mod:`fxconsole.ops.deploy_gate`): on an OANDA account the worker
trades only a validated checkpoint. A ``deploy`` of one that is not validated fails
(the command's result says why) unless its args carry ``"force": true``; a forced
deploy is recorded in ``deployed.json``'s metrics (``"forced": true``) and announced by a
warning event. At start, a deployed checkpoint that is neither validated nor
force-deployed for this OANDA environment trades nothing (an error event says why). The
paper broker trades anything, warning when it is not validated.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fxconsole.agents.checkpoints import RunCheckpoints, resolve_checkpoint
from fxconsole.agents.manifest import CheckpointError
from fxconsole.agents.registry import load_policy
from fxconsole.brokers.factory import make_broker
from fxconsole.live import auto_deploy
from fxconsole.live.auto_deploy import AutoDeployer
from fxconsole.live.engine import LiveTrader, check_history
from fxconsole.live.gate import checkpoint_gate, live_gate_sigma
from fxconsole.ops import deploy_gate
from fxconsole.ops.deploy_gate import DeployRefused, Verdict, recorded_force
from fxconsole.ops.lock import AlreadyRunning, SupervisorLock
from fxconsole.ops.runtime import CommandHandler, WorkerRuntime

logger = logging.getLogger(__name__)
LOCK_RETRY_SECONDS = 5.0
AUTO_DEPLOY_SECONDS = 5.0  # how often the validated tag is looked at (live.auto_deploy)


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
        load_deployed(rt, trader)
        rt.handlers.update(command_handlers(rt, trader))
        trader.start()
        interval = cfg.live.poll_seconds
        if cfg.live.broker == "paper":
            interval = min(interval, 1.0 / cfg.live.bars_per_second)
        auto = AutoDeployer() if auto_deploy.enabled(cfg.live.auto_deploy, cfg.live.broker) \
            else None
        next_auto = 0.0
        while not rt.stop.is_set():
            if auto is not None and time.monotonic() >= next_auto:
                next_auto = time.monotonic() + AUTO_DEPLOY_SECONDS
                _auto_deploy(rt, trader, auto)
            trader.step()
            rt.beat(trader.decided)
            rt.sleep(interval)
        trader.close()
    finally:
        broker.close()


def command_handlers(rt: WorkerRuntime, trader: LiveTrader) -> dict[str, CommandHandler]:
    """The live worker's commands, by verb, acting on ``trader``."""
    return {
        "deploy": lambda args: _deploy(rt, trader, args),
        "pause-entries": lambda args: trader.pause_entries(),
        "resume-entries": lambda args: trader.resume_entries(),
        "kill-switch": lambda args: trader.kill_switch(),
        "flatten": lambda args: trader.flatten(),
    }


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


def load_deployed(rt: WorkerRuntime, trader: LiveTrader) -> None:
    """Trade the run's ``deployed.json`` if there is one and the deploy gate lets it: an
    unusable one, or (on OANDA) one neither validated nor force-deployed for this OANDA
    environment, trades nothing, and an error event says why."""
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
    try:
        verdict = deploy_gate.check(
            rt.conn, rt.config, run=manifest.run, timesteps=manifest.timesteps,
            sha256=manifest.sha256, spec=f"{rt.run}/deployed",
            forced_before=recorded_force(manifest.metrics, rt.config),
            force_hint=f"`fxconsole ctl live deploy {rt.run}/deployed --force` trades it anyway")
    except DeployRefused as exc:
        logger.error("not trading the deployed checkpoint: %s", exc)
        rt.writer.event("error", deploy_gate.EVENT_KIND,
                        f"not trading the deployed checkpoint: {exc}",
                        {"sha256": manifest.sha256, "refused": True})
        rt.writer.flush()
        return
    if verdict.warning:
        _warn(rt, verdict)
    try:
        trader.gate_sigma_pips = checkpoint_gate(rt.config, rt.workspace, manifest.pinned)
    except ValueError as exc:
        logger.error("not trading the deployed checkpoint: %s", exc)
        rt.writer.event("error", "deploy", f"deployed checkpoint unusable: {exc}", {})
        return
    trader.policy, trader.deployed = actor, _label(manifest.run, manifest.timesteps,
                                                  manifest.model_file)
    logger.info("trading deployed checkpoint %s", manifest.model_file)


def _deploy(rt: WorkerRuntime, trader: LiveTrader, args: dict[str, Any]) -> str:
    """The ``deploy`` command: point ``deployed`` at the checkpoint and trade it.

    Args:
        rt: the worker.
        trader: its trader.
        args: ``checkpoint`` (as ``fxconsole ctl`` takes it) and ``force`` (``true``:
            deploy to an OANDA account although the checkpoint is not validated).

    Returns:
        The command's result (says so when the checkpoint is not validated).

    Raises:
        CheckpointError, ValueError: a checkpoint that cannot be traded (another run, a
            mismatching or missing file, too short a history).
        DeployRefused: an OANDA account and a checkpoint that is not validated, unforced.
    """
    spec = str(args.get("checkpoint", ""))
    path = resolve_checkpoint(spec, rt.workspace.checkpoints_dir)
    if path.parent.name != rt.run:
        raise ValueError(f"{path} belongs to run {path.parent.name!r}; live trades run "
                         f"{rt.run!r}: deploy one of its checkpoints")
    # Hold it first: the trainer may move `latest` and gc its model while this loads.
    store = RunCheckpoints(path.parent)
    held = store.hold("deploying", path)
    try:
        manifest, actor = load_policy(path.parent / f"{held.tag}.json")
        check_history(actor, rt.config)
        verdict = deploy_gate.check(rt.conn, rt.config, run=manifest.run,
                                    timesteps=manifest.timesteps, sha256=manifest.sha256,
                                    spec=spec, force=args.get("force") is True)
        gate = checkpoint_gate(rt.config, rt.workspace, manifest.pinned)
        store.point("deployed", manifest, verdict.pointer_metrics())
    finally:  # `deployed` holds its model now (or the deploy failed): the pin's job is done
        store.release("deploying", held.sha256)
    result = trader.deploy(actor, _label(manifest.run, manifest.timesteps, manifest.model_file),
                           gate)
    if verdict.warning:
        _warn(rt, verdict)
        result += (f"; {'FORCED: ' if verdict.forced else ''}not validated "
                   f"({verdict.status})")
    return result


def _auto_deploy(rt: WorkerRuntime, trader: LiveTrader, auto: AutoDeployer) -> None:
    """Deploy the run's newest validated checkpoint if it is new (``live.auto_deploy``)."""
    store = RunCheckpoints(rt.workspace.checkpoints_dir / rt.run)
    try:
        validated, deployed = store.manifest("validated"), store.manifest("deployed")
    except CheckpointError as exc:
        logger.warning("auto-deploy: %s", exc)
        return
    if validated is None or not auto.due(validated.sha256,
                                         deployed.sha256 if deployed else None):
        return
    try:
        result = _deploy(rt, trader, {"checkpoint": f"{rt.run}/validated"})
    except (CheckpointError, ValueError, DeployRefused) as exc:
        logger.error("auto-deploy of %s failed: %s", validated.model_file, exc)
        rt.writer.event("error", "deploy", f"auto-deploy of {rt.run} @ "
                        f"{validated.timesteps:,} failed: {exc}", {"auto": True})
        rt.writer.flush()
        return
    logger.info("auto-deploy: %s", result)
    rt.writer.event("info", "deploy", f"auto-deployed the newest validated checkpoint: "
                    f"{result}", {"auto": True, "sha256": validated.sha256})
    rt.writer.flush()


def _warn(rt: WorkerRuntime, verdict: Verdict) -> None:
    """Log and record (at once) that an unvalidated checkpoint trades."""
    logger.warning("%s", verdict.warning)
    rt.writer.event("warning", deploy_gate.EVENT_KIND, verdict.warning, verdict.event_data())
    rt.writer.flush()


def _label(run: str, timesteps: int, model_file: str) -> str:
    return f"{run} @ {timesteps:,} ({model_file})"
