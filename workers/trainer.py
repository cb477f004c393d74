"""The trainer: learns with PPO, checkpoints, and obeys checkpoint-now, pause, resume and
rollback-to. Training continues until the worker is stopped."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fxconsole.agents.checkpoints import resolve_checkpoint
from fxconsole.agents.ppo.callback import TrainingCallback
from fxconsole.agents.ppo.train import train_ppo
from fxconsole.ops.runtime import WorkerRuntime

logger = logging.getLogger(__name__)


@dataclass
class TrainerControl:
    """Operator state between commands and the training loop."""

    paused: bool = False
    save_requested: bool = False
    rollback_to: str | None = None


def main(rt: WorkerRuntime) -> None:
    """Train in an endless sequence of ``train.timesteps`` chunks, resuming each time."""
    ctl = TrainerControl()
    ws = rt.workspace
    rt.handlers.update({
        "checkpoint-now": lambda args: _request(ctl, "save_requested"),
        "pause": lambda args: _set_paused(ctl, True),
        "resume": lambda args: _set_paused(ctl, False),
        "rollback-to": lambda args: _rollback(ctl, args, ws.checkpoints_dir),
    })
    resume = _initial_resume(rt)
    while not rt.stop.is_set():
        rt.beat(force=True)
        train_ppo(rt.config, ws, rt.writer, run=rt.run, resume=resume,
                  control=lambda cb: _control(rt, ctl, cb))
        if ctl.rollback_to is not None:
            resume, ctl.rollback_to = ctl.rollback_to, None
            rt.writer.event("info", "rollback", f"{rt.run}: resuming from {resume}", {})
        else:
            resume = f"{rt.run}/latest"


def _initial_resume(rt: WorkerRuntime) -> str | None:
    latest = rt.workspace.checkpoints_dir / rt.run / "latest.json"
    return f"{rt.run}/latest" if latest.exists() else None


def _control(rt: WorkerRuntime, ctl: TrainerControl, cb: TrainingCallback) -> bool:
    """Called every training step: heartbeat, commands, pause, save, stop."""
    rt.beat(cb.num_timesteps)
    while ctl.paused and not rt.stop.is_set() and ctl.rollback_to is None:
        rt.sleep(0.2)
    if ctl.save_requested:
        ctl.save_requested = False
        cb.save_now()
    return not rt.stop.is_set() and ctl.rollback_to is None


def _request(ctl: TrainerControl, flag: str) -> str:
    setattr(ctl, flag, True)
    return "checkpoint will be saved at the next step"


def _set_paused(ctl: TrainerControl, paused: bool) -> str:
    ctl.paused = paused
    return "paused" if paused else "resumed"


def _rollback(ctl: TrainerControl, args: dict[str, Any], checkpoints_dir: Any) -> str:
    target = str(args.get("checkpoint", ""))
    path = resolve_checkpoint(target, checkpoints_dir)  # fails now, not in the loop
    ctl.rollback_to = str(path)
    ctl.paused = False
    return f"training will resume from {path}"
