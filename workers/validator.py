"""The validator: validates each new candidate (and on command any checkpoint), records
the verdict, and lets validation SQN choose the run's best checkpoint."""

from __future__ import annotations

import logging
from typing import Any

from fxconsole.agents.checkpoints import RunCheckpoints, resolve_checkpoint
from fxconsole.agents.manifest import CheckpointError, read_manifest
from fxconsole.evaluation.runner import ValidationOutcome, validate_checkpoint
from fxconsole.ops.runtime import WorkerRuntime
from fxconsole.ops.validations import record_validation, validated_shas

logger = logging.getLogger(__name__)


def main(rt: WorkerRuntime) -> None:
    """Loop: when ``candidate.json`` points at a model not yet validated, validate it."""
    queue: list[str] = []
    rt.handlers["validate"] = lambda args: _enqueue(queue, args)
    candidate = rt.workspace.checkpoints_dir / rt.run / "candidate.json"
    done = validated_shas(rt.conn, rt.run)
    while not rt.stop.is_set():
        rt.beat(len(done))
        if candidate.exists():
            manifest = read_manifest(candidate)
            if manifest.sha256 not in done:
                done.add(manifest.sha256)
                queue.append(str(candidate))
        while queue and not rt.stop.is_set():
            spec = queue.pop(0)
            try:
                record(rt, validate_checkpoint(pin(rt, spec), rt.config, rt.workspace))
            except (ValueError, LookupError, OSError, CheckpointError) as exc:
                logger.error("validation of %s failed: %s", spec, exc)
                rt.writer.event("error", "validation", f"validation of {spec} failed: {exc}", {})
            rt.beat(len(done), force=True)
        rt.sleep(rt.config.workers.validator_poll)


def pin(rt: WorkerRuntime, spec: str) -> str:
    """Point the run's ``validating`` tag at the checkpoint so gc keeps its model."""
    path = resolve_checkpoint(spec, rt.workspace.checkpoints_dir)
    pinned = RunCheckpoints(path.parent).point("validating", read_manifest(path))
    return str(path.parent / f"{pinned.tag}.json")


def _enqueue(queue: list[str], args: dict[str, Any]) -> str:
    spec = str(args.get("checkpoint", ""))
    if not spec:
        raise ValueError("validate needs a checkpoint (RUN, RUN/TAG or a manifest path)")
    queue.append(spec)
    return f"{spec} queued for validation"


def record(rt: WorkerRuntime, out: ValidationOutcome) -> None:
    """Store the verdict as a validations row, metrics and an event."""
    r = out.report
    p, ck = r["policy"], r["checkpoint"]
    record_validation(rt.conn, r)
    rt.writer.write(ck["timesteps"], {"val/sqn": p["sqn"] or 0.0,
                                      "val/expectancy": p["expectancy"],
                                      "val/win_rate": p["win_rate"],
                                      "val/trades": float(p["trades"]),
                                      "val/validated": float(r["verdict"]["validated"])})
    verdict = "VALIDATED" if r["verdict"]["validated"] else "not validated"
    best = " (new best)" if out.best else ""
    rt.writer.event("info", "validation",
                    f"{ck['run']} @ {ck['timesteps']:,}: {verdict}, SQN {p['sqn']:+.2f}, "
                    f"expectancy {p['expectancy']:+.2f} pips{best}", {"report": r["files"]})
