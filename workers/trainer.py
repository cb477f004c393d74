"""The trainer: learns with the configured agent (``train.agent``), checkpoints, and obeys
checkpoint-now, pause, resume and rollback-to. Training continues until the worker is
stopped. For MuZero the trainer is the learner: the collectors self-play (it plays its
own episodes only when the pool has no collector)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from fxconsole.agents.base import TrainingHandle, TrainRequest
from fxconsole.agents.checkpoints import RunCheckpoints, resolve_checkpoint
from fxconsole.agents.manifest import CheckpointError, read_manifest
from fxconsole.agents.registry import get_agent
from fxconsole.ops.run_trades import RunTradesSink, training_sources
from fxconsole.ops.runtime import Reply, WorkerRuntime

logger = logging.getLogger(__name__)
PAUSED_KEY = "train/paused"


@dataclass
class TrainerControl:
    """Operator state between commands and the training loop."""

    paused: bool = False
    manual: list[Reply] = field(default_factory=list)  # checkpoint-now, answered on save
    rollback_to: str | None = None
    left_control: float | None = None  # when the control hook last returned (monotonic)
    warned_slow: bool = False
    paused_written: bool = False  # train/paused = 1 (and train/fps = 0) written


def main(rt: WorkerRuntime) -> None:
    """Train in an endless sequence of ``train.timesteps`` chunks, resuming each time."""
    ctl = TrainerControl()
    ws = rt.workspace
    rt.deferred["checkpoint-now"] = ctl.manual.append
    rt.handlers.update({
        "pause": lambda args: _set_paused(ctl, True),
        "resume": lambda args: _set_paused(ctl, False),
        "rollback-to": lambda args: _rollback(rt, ctl, args),
    })
    agent = get_agent(rt.config.train.agent)
    sources = training_sources(rt.config.train.agent, rt.config.collectors)
    sink = RunTradesSink(rt.writer, rt.conn, rt.run, sources)  # counted over the whole run
    resume = _initial_resume(rt)
    if resume is not None:  # a restarted worker (or supervisor) continues the run
        text, data = describe_resume(rt, resume)
        rt.writer.event("info", "resume", f"{rt.run}: resuming from {text}", data)
    while not rt.stop.is_set():
        rt.beat(force=True)
        ctl.left_control = None  # the set-up of a chunk is no update
        if resume is not None:
            logger.info("resuming from %s", describe_resume(rt, resume)[0])
        try:
            agent.train(TrainRequest(rt.config, ws, sink, run=rt.run, resume=resume,
                                     control=lambda cb: _control(rt, ctl, cb),
                                     self_play=rt.config.collectors == 0))
        except CheckpointError as exc:  # e.g. a rollback target that cannot be loaded
            logger.error("cannot resume from %s: %s", resume, exc)
            rt.writer.event("error", "rollback", f"cannot resume from {resume}: {exc}", {})
            resume = _initial_resume(rt)
            continue
        if ctl.rollback_to is not None:
            resume, ctl.rollback_to = ctl.rollback_to, None
            text, data = describe_resume(rt, resume)
            rt.writer.event("info", "rollback", f"{rt.run}: rolled back; resuming from {text}",
                            data)
        else:
            resume = f"{rt.run}/latest"


def describe_resume(rt: WorkerRuntime, spec: str) -> tuple[str, dict[str, Any]]:
    """What a resume continues from, for people and for an event's data.

    A pointer such as ``main/latest`` or ``main/rollback`` moves; the text names its step
    and the immutable model file it points at now.

    Args:
        rt: The worker (its workspace's checkpoints).
        spec: What the trainer resumes from (``RUN/TAG`` or a manifest path).

    Returns:
        ``("main/rollback: 750,000 timesteps, models/….zip", {...})``; an unreadable
        checkpoint is named with the error (the training then reports it too).
    """
    try:
        path = resolve_checkpoint(spec, rt.workspace.checkpoints_dir)
        m = read_manifest(path)
    except (CheckpointError, OSError) as exc:
        return f"{spec} (unreadable: {exc})", {"checkpoint": spec}
    data = {"checkpoint": spec, "run": m.run, "tag": m.tag, "timesteps": m.timesteps,
            "model_file": m.model_file, "sha256": m.sha256}
    return f"{spec}: {m.timesteps:,} timesteps, {m.model_file}", data


def _initial_resume(rt: WorkerRuntime) -> str | None:
    latest = rt.workspace.checkpoints_dir / rt.run / "latest.json"
    return f"{rt.run}/latest" if latest.exists() else None


def _control(rt: WorkerRuntime, ctl: TrainerControl, cb: TrainingHandle) -> bool:
    """Called every training step: progress, commands, pause, save, stop."""
    _check_update_time(rt, ctl)
    rt.beat(cb.num_timesteps, {"paused": ctl.paused})
    _save_if_requested(ctl, cb)
    if ctl.paused and not ctl.paused_written:  # no steps: steps/s reads 0, not its last
        rt.writer.write(cb.num_timesteps, {"train/fps": 0.0, PAUSED_KEY: 1.0})
        ctl.paused_written = True
    while ctl.paused and not rt.stop.is_set() and ctl.rollback_to is None:
        rt.beat(cb.num_timesteps, {"paused": True}, force=True)  # the console shows it
        rt.sleep(0.2)
        _save_if_requested(ctl, cb)
    if ctl.paused_written and not ctl.paused:
        rt.writer.write(cb.num_timesteps, {PAUSED_KEY: 0.0})
        ctl.paused_written = False
    ctl.left_control = time.monotonic()
    return not rt.stop.is_set() and ctl.rollback_to is None


def _check_update_time(rt: WorkerRuntime, ctl: TrainerControl) -> None:
    """Warn once when the time between two steps (an SB3 update, a MuZero learner chunk)
    exceeds half of ``supervisor.stopwaitsecs``: a SIGTERM is obeyed only after the update,
    so a stop could be SIGKILLed before its final save."""
    if ctl.left_control is None or ctl.warned_slow:
        return
    gap = time.monotonic() - ctl.left_control
    limit = rt.config.supervisor.stopwaitsecs
    if gap > limit / 2:
        ctl.warned_slow = True
        message = (f"a training update took {gap:.1f} s, more than half of "
                   f"supervisor.stopwaitsecs = {limit:g} s: a stop during an update may be "
                   "killed before it saves; raise supervisor.stopwaitsecs")
        logger.warning(message)
        rt.writer.event("warning", "slow-update", message, {"seconds": round(gap, 3)})


def _save_if_requested(ctl: TrainerControl, cb: TrainingHandle) -> None:
    """Save a manual checkpoint for the checkpoint-now commands received, then answer
    them with its name (one save answers every request of the same step)."""
    if not ctl.manual:
        return
    replies = list(ctl.manual)
    ctl.manual.clear()  # the same list: the command handler appends to it
    try:
        manifest = cb.save_manual()
    except (CheckpointError, OSError) as exc:  # a full disk must not end the training
        logger.exception("checkpoint-now failed")
        for reply in replies:
            reply.fail(f"checkpoint-now failed: {exc}")
        return
    for reply in replies:
        reply.done(f"saved {manifest.run}/{manifest.tag} at {manifest.timesteps:,} timesteps "
                   "(kept until its manifest is deleted)")


def _set_paused(ctl: TrainerControl, paused: bool) -> str:
    ctl.paused = paused
    return "paused" if paused else "resumed"


def _rollback(rt: WorkerRuntime, ctl: TrainerControl, args: dict[str, Any]) -> str:
    """Pin the target now (as ``rollback``), so neither gc nor the final save of the
    current chunk can move it, then stop the chunk and resume from it."""
    path = resolve_checkpoint(str(args.get("checkpoint", "")), rt.workspace.checkpoints_dir)
    run_dir = rt.workspace.checkpoints_dir / rt.run
    if path.parent == run_dir:
        manifest = RunCheckpoints(run_dir).hold("rollback", path)
        ctl.rollback_to = f"{rt.run}/rollback"
    else:
        manifest = read_manifest(path)
        ctl.rollback_to = str(path)
    ctl.paused = False
    return f"training will resume from {manifest.run} @ {manifest.timesteps:,}"
