"""The validator: validates each new candidate and periodic checkpoint (and on command any
checkpoint) through the promotion (SPEC §6.4): validation, the one test exam, ``best``
and ``validated`` from the recorded verdicts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fxconsole.agents.checkpoints import RunCheckpoints, resolve_checkpoint
from fxconsole.agents.manifest import CheckpointError, Manifest, read_manifest
from fxconsole.ops.promotion import (
    PIN_TAG,
    ValidationOutcome,
    new_checkpoints,
    release_pin,
    release_stale_pins,
    validate_and_promote,
    validation_event,
    validation_metrics,
)
from fxconsole.ops.runtime import WorkerRuntime
from fxconsole.ops.validations import validated_shas

logger = logging.getLogger(__name__)


def main(rt: WorkerRuntime) -> None:
    """Loop: validate what is new in the run folder, then whatever was asked for."""
    asked: list[str] = []
    rt.handlers["validate"] = lambda args: _enqueue(asked, args)
    run_dir = rt.workspace.checkpoints_dir / rt.run
    release_stale_pins(run_dir)
    done = validated_shas(rt.conn, rt.run)
    while not rt.stop.is_set():
        rt.beat(len(done))
        todo = [m for m in new_checkpoints(run_dir, done)]
        todo += [m for m in (_resolve(rt, spec) for spec in asked) if m is not None]
        asked.clear()
        for manifest in todo:
            if rt.stop.is_set():
                break
            done.add(manifest.sha256)
            with rt.keepalive(len(done)):
                validate_one(rt, run_dir, manifest)
            rt.beat(len(done), force=True)
        rt.sleep(rt.config.workers.validator_poll)


def validate_one(rt: WorkerRuntime, run_dir: Path, manifest: Manifest) -> None:
    """Pin the checkpoint as ``validating`` (gc keeps its model), validate, record.

    Any failure is logged and recorded as an event; the worker goes on.
    """
    try:
        pinned = RunCheckpoints(manifest_dir(rt, manifest, run_dir)).point(PIN_TAG, manifest)
    except CheckpointError as exc:  # pruned and gc'd since it was listed: nothing to validate
        logger.info("not validating %s: %s", manifest.model_file, exc)
        return
    folder = manifest_dir(rt, manifest, run_dir)
    try:
        spec = str(folder / f"{pinned.tag}.json")
        record(rt, validate_and_promote(spec, rt.config, rt.workspace, rt.conn))
    except Exception as exc:  # one bad checkpoint must not stop the validator
        logger.exception("validation of %s failed", manifest.model_file)
        rt.writer.event("error", "validation",
                        f"validation of {manifest.run} @ {manifest.timesteps:,} failed: {exc}",
                        {})
    finally:
        release_pin(folder, PIN_TAG, pinned.sha256)


def manifest_dir(rt: WorkerRuntime, manifest: Manifest, default: Path) -> Path:
    """The run folder a manifest belongs to."""
    return rt.workspace.checkpoints_dir / manifest.run if manifest.run else default


def _resolve(rt: WorkerRuntime, spec: str) -> Manifest | None:
    try:
        return read_manifest(resolve_checkpoint(spec, rt.workspace.checkpoints_dir))
    except CheckpointError as exc:
        rt.writer.event("error", "validation", f"cannot validate {spec}: {exc}", {})
        return None


def _enqueue(asked: list[str], args: dict[str, Any]) -> str:
    spec = str(args.get("checkpoint", ""))
    if not spec:
        raise ValueError("validate needs a checkpoint (RUN, RUN/TAG or a manifest path)")
    asked.append(spec)
    return f"{spec} queued for validation"


def record(rt: WorkerRuntime, out: ValidationOutcome) -> None:
    """Metrics and an event of a validation (its rows are recorded by the promotion)."""
    r = out.report
    rt.writer.write(r["checkpoint"]["timesteps"], validation_metrics(r))
    message, data = validation_event(r, out.best)
    rt.writer.event("info", "validation", message, data)

