"""Validate a checkpoint and promote it (SPEC §6.3, §6.4): the one path the CLI and the
validator worker share.

1. Load the checkpoint as pinned and evaluate it on the validation split (outside any
   lock: it takes seconds).
2. Under the run's lock: read the run's earlier validations from the console database
   (``K``, ``V``), deflate the SQN, judge and record the validation.
3. If it passed and the checkpoint was never examined: evaluate it on the test split,
   deflate against the run's earlier examinations, judge and record the examination. A
   checkpoint examined before keeps its recorded exam: the test split is looked at once.
4. Still under the lock: ``best`` and ``validated`` follow from the database (the highest
   validation SQN with enough trades; the newest validated checkpoint), then the report
   is written.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fxconsole import numfmt
from fxconsole.agents.checkpoints import (
    MANUAL_PREFIX,
    PIN_PATTERN,
    RunCheckpoints,
    is_pointer_tag,
)
from fxconsole.agents.manifest import CheckpointError, Manifest
from fxconsole.config import Config
from fxconsole.evaluation.deflated import DeflatedResult, deflated_sqn, k_and_variance
from fxconsole.evaluation.report import write_report
from fxconsole.evaluation.runner import (
    CheckpointContext,
    LoadedCheckpoint,
    default_report_dir,
    load_checkpoint,
)
from fxconsole.evaluation.validate import (
    Evaluation,
    Stage,
    evaluate,
    exam_verdict,
    report_dict,
    stage_dict,
    validation_verdict,
)
from fxconsole.ops.validations import (
    family_runs,
    family_srs,
    is_validated,
    record_validation,
    stage_rows,
)
from fxconsole.timeutil import timeframe_seconds
from fxconsole.workspace import Workspace

logger = logging.getLogger(__name__)
PIN_TAG = "validating"  # the pointer holding a checkpoint while it is validated


class SplitRefused(ValueError):
    """A validation was asked for on the test split: it is examined once, by promotion."""


@dataclass(frozen=True)
class ValidationOutcome:
    """What a validation computed, recorded and wrote."""

    checkpoint: LoadedCheckpoint
    evaluation: Evaluation
    report: dict[str, Any]
    files: dict[str, Path]
    best: bool
    validated: bool


def validate_and_promote(
    spec: str, cfg: Config, ws: Workspace, conn: sqlite3.Connection, *,
    runs: int | None = None, seed: int | None = None, report_dir: Path | None = None,
    chart: bool = True, split: str | None = None,
) -> ValidationOutcome:
    """Validate a checkpoint, examine it on the test split if it passed, record both,
    point ``best`` and ``validated``, write the report.

    Raises:
        SplitRefused: ``split = "test"``.
        CheckpointError, PinError, LookupError, OSError: the checkpoint or its data.
        ValueError: a split without sessions.
    """
    if split not in (None, "validation"):
        raise SplitRefused(
            f"split {split!r}: validation runs on the validation split; the test split is "
            "examined once, automatically, when a checkpoint passes validation (SPEC §6.4). "
            "`fxconsole backtest --split test` plays it without recording an examination")
    started = time.perf_counter()
    ckpt = load_checkpoint(spec, cfg, ws)
    loaded = time.perf_counter()
    ev = evaluate(ckpt.policy, ckpt.data, ckpt.config, "validation", runs, seed)
    evaluated = time.perf_counter()
    ctx = ckpt.context

    def examine() -> Evaluation:
        return evaluate(ckpt.policy, ckpt.data, ckpt.config, "test", runs, seed, exam=True)

    out = promote(conn, ctx, ev, examine, report_dir=report_dir, chart=chart,
                  seconds={"load": round(loaded - started, 3),
                           "evaluate": round(evaluated - loaded, 3)}, started=started)
    return ValidationOutcome(ckpt, ev, out.report, out.files, out.best, out.validated)


@dataclass(frozen=True)
class Promotion:
    """What :func:`promote` recorded and wrote."""

    report: dict[str, Any]
    files: dict[str, Path]
    best: bool
    validated: bool


def needs_exam(conn: sqlite3.Connection, manifest: Manifest, ev: Evaluation,
               config: Config) -> bool:
    """Whether recording ``ev`` now would examine the checkpoint on the test split (it
    passes validation and was never examined): a caller evaluating elsewhere (a Ray
    validator actor) evaluates the test split first, then calls :func:`promote`."""
    if not _judge(conn, manifest, ev, "validation", config.validation).verdict.validated:
        return False
    return conn.execute("SELECT 1 FROM validations WHERE run = ? AND sha256 = ?"
                        " AND split = 'test' LIMIT 1",
                        (manifest.run, manifest.sha256)).fetchone() is None


def promote(conn: sqlite3.Connection, ctx: CheckpointContext, ev: Evaluation,
            examine: Callable[[], Evaluation], *, report_dir: Path | None = None,
            chart: bool = True, seconds: dict[str, float] | None = None,
            started: float | None = None) -> Promotion:
    """Record a validation evaluated already, examine (``examine()``, called at most once,
    under the lock) if it passed and was never examined, point ``best`` and ``validated``,
    write the report. The part the local validator and the Ray driver share: every write
    happens here, in the caller's process.

    Args:
        conn: the console database.
        ctx: the checkpoint's context (its manifest file must be in its run folder).
        ev: its evaluation on the validation split.
        examine: its evaluation on the test split (``ValueError``: not examined now).
        report_dir: where the report goes (default: the run's reports folder).
        chart: write chart.png.
        seconds: timings to report (load, evaluate…).
        started: ``time.perf_counter()`` at the start, for the total.
    """
    started = time.perf_counter() if started is None else started
    m, rule = ctx.manifest, ctx.config.validation
    period = timeframe_seconds(ctx.timeframe)
    store = RunCheckpoints(ctx.path.parent)
    folder = report_dir or default_report_dir(ctx, "validation")
    report_json = folder / "report.json"
    notes = list(ctx.notes)
    with store.locked():
        validation = _judge(conn, m, ev, "validation", rule)
        record_validation(conn, _row_report(m, validation, period, report_json))
        exam = None
        if validation.verdict.validated:
            try:
                exam = _examine(conn, m, ctx.config, examine, period, report_json)
            except ValueError as exc:  # no test sessions (yet): examined when there are
                logger.warning("%s @ %d not examined: %s", m.run, m.timesteps, exc)
                notes.append(f"not examined on the test split: {exc}")
        validated = bool(exam and exam["verdict"]["validated"])
        best = _point_best(conn, store, m, rule.min_trades)
        _point_validated(conn, store)
        named, named_path = immutable_identity(store, m, ctx.path)
        report = report_dict(validation, named, named_path, period, ctx.config, exam=exam,
                             validated=validated,
                             pinned=ctx.pin.to_dict() if ctx.pin else None,
                             notes=notes)
        if named_path != ctx.path:  # loaded through a pointer (e.g. the validator's pin)
            report["checkpoint"]["loaded_from"] = str(ctx.path)
        report["best"] = best
        report["seconds"] = {**(seconds or {}), **ev.seconds,
                             "total": round(time.perf_counter() - started, 3)}
        files = write_report(report, ev, folder, chart)
    report["files"] = {kind: str(path) for kind, path in files.items()}
    return Promotion(report, files, best, validated)


def immutable_identity(store: RunCheckpoints, m: Manifest, path: Path) -> tuple[Manifest, Path]:
    """The manifest a report should name for the model ``m`` loaded from ``path``.

    A pointer tag (``validating``, ``best``, …) is moved or deleted later, so a report
    naming it would point elsewhere tomorrow. For a pointer, this is a manifest of the
    same model under its own name: a ``periodic-…`` or ``manual-…`` one (never rewritten)
    if there is one, else ``candidate``/``latest``; the pointer itself only when no other
    manifest has that model. The model file and sha256 name it exactly either way.

    Args:
        store: The run's checkpoints.
        m: The loaded manifest.
        path: Its file.

    Returns:
        ``(manifest, its file)``.
    """
    if not is_pointer_tag(m.tag):
        return m, path
    same = [x for x in store.list() if x.sha256 == m.sha256 and not is_pointer_tag(x.tag)]
    if not same:
        return m, path
    named = min(same, key=lambda x: (not x.tag.startswith(("periodic-", MANUAL_PREFIX)), x.tag))
    return named, store.run_dir / f"{named.tag}.json"


def _judge(conn: sqlite3.Connection, m: Manifest, ev: Evaluation, split: str,
           rule: Any) -> Stage:
    """Deflate the SQN against the run's other checkpoints on ``split`` and judge."""
    deflated = _deflate(conn, m, ev, split)
    verdict = validation_verdict(ev, deflated, rule) if split == "validation" \
        else exam_verdict(ev, deflated, rule)
    return Stage(ev, deflated, verdict)


def _deflate(conn: sqlite3.Connection, m: Manifest, ev: Evaluation, split: str
             ) -> DeflatedResult:
    study = str(m.config.get("validation", {}).get("tuning_study", ""))
    others = family_srs(conn, family_runs(conn, m.run, [study]), split, m.sha256)
    k, variance = k_and_variance([*others, ev.sr])
    return deflated_sqn(ev.policy.backtest.pips, k, variance)


def _row_report(m: Manifest, stage: Stage, period: int, report_json: Path) -> dict[str, Any]:
    """What ``record_validation`` needs: the checkpoint, one stage, the report's path."""
    return {"checkpoint": {"run": m.run, "sha256": m.sha256, "timesteps": m.timesteps},
            "split": stage.evaluation.split, "stage": stage_dict(stage, period),
            "files": {"json": str(report_json)}}


def _examine(conn: sqlite3.Connection, m: Manifest, config: Config,
             examine: Callable[[], Evaluation], period: int, report_json: Path
             ) -> dict[str, Any]:
    """The test examination: recorded before (then reused), or taken now and recorded."""
    earlier = conn.execute(
        "SELECT ts, validated, summary FROM validations WHERE run = ? AND sha256 = ?"
        " AND split = 'test' ORDER BY ts, id LIMIT 1", (m.run, m.sha256)).fetchone()
    if earlier is not None:
        stage = json.loads(earlier[2]).get("stage") or {}
        logger.info("%s @ %d was examined on the test split before: not looked at again",
                    m.run, m.timesteps)
        return {**stage, "examined_now": False, "examined_at": float(earlier[0]),
                "verdict": {**stage.get("verdict", {}), "validated": bool(earlier[1])}}
    tev = examine()
    exam = _judge(conn, m, tev, "test", config.validation)
    row = _row_report(m, exam, period, report_json)
    record_validation(conn, row)
    logger.info("%s @ %d examined on the test split: %s", m.run, m.timesteps,
                "passed" if exam.verdict.validated else "failed")
    return {**row["stage"], "examined_now": True, "examined_at": time.time()}


def _point_best(conn: sqlite3.Connection, store: RunCheckpoints, m: Manifest,
                min_trades: int) -> bool:
    """Point ``best`` at the highest validation SQN with ``min_trades`` (SPEC §6); True if
    that is ``m``. Call under the run lock."""
    rows = [r for r in stage_rows(conn, m.run, "validation").values()
            if r.trades >= min_trades and r.sqn is not None]  # None: SQN undefined
    by_sha = _manifests_by_sha(store)
    rows = [r for r in rows if r.sha256 in by_sha]  # models gone: cannot be pointed at
    if not rows:
        return False
    top = max(rows, key=lambda r: (r.sqn, r.timesteps))
    current = store.manifest("best")
    if current is None or current.sha256 != top.sha256:
        try:
            store.point("best", by_sha[top.sha256], {"validation_sqn": top.sqn,
                                                     "validation_trades": top.trades})
        except CheckpointError as exc:
            logger.warning("cannot point best at %s: %s", top.sha256[:12], exc)
            return False
    return top.sha256 == m.sha256


def _point_validated(conn: sqlite3.Connection, store: RunCheckpoints) -> None:
    """Point ``validated`` at the newest validated checkpoint of the run (by timesteps)."""
    candidates = [mf for sha, mf in _manifests_by_sha(store).items()
                  if is_validated(conn, sha)]
    if not candidates:
        return
    newest = max(candidates, key=lambda mf: (mf.timesteps, mf.created))
    current = store.manifest("validated")
    if current is None or current.sha256 != newest.sha256:
        try:
            store.point("validated", newest)
        except CheckpointError as exc:
            logger.warning("cannot point validated at %s: %s", newest.model_file, exc)


def _manifests_by_sha(store: RunCheckpoints) -> dict[str, Manifest]:
    """One manifest per model whose file still exists (not the pointer tags)."""
    out: dict[str, Manifest] = {}
    for mf in store.list():
        if (store.run_dir / mf.model_file).is_file() and \
                (mf.sha256 not in out or is_pointer_tag(out[mf.sha256].tag)):
            out[mf.sha256] = mf
    return out


def validation_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The ``val/…`` metrics of a validation report (an undefined figure: NaN, so NULL)."""
    p = report["policy"]
    nan = math.nan
    return {"val/sqn": nan if p["sqn"] is None else p["sqn"],
            "val/expectancy": nan if p["expectancy"] is None else p["expectancy"],
            "val/win_rate": nan if p["win_rate"] is None else p["win_rate"],
            "val/trades": float(p["trades"]),
            "val/dsr": nan if report["deflated"]["dsr"] is None else report["deflated"]["dsr"],
            "val/validated": float(report["verdict"]["validated"])}


def validation_event(report: dict[str, Any], best: bool) -> tuple[str, dict[str, Any]]:
    """The ``validation`` event's message and data of a validation report."""
    r = report
    p, ck, v = r["policy"], r["checkpoint"], r["verdict"]
    verdict = ("VALIDATED" if v["validated"] else "passed validation, failed the test exam"
               if v["validation_passed"] else "not validated")
    new_best = " (new best)" if best else ""
    return (f"{ck['run']} @ {numfmt.count(ck['timesteps'])} ({ck['tag']}, "
            f"{ck['model_file']}): {verdict}, SQN {numfmt.signed(p['sqn'])}, "
            f"expectancy {numfmt.signed(p['expectancy'])} pips, DSR "
            f"{numfmt.num(r['deflated']['dsr'], 2)}{new_best}",
            {"report": r["files"], "validated": bool(v["validated"]), "tag": ck["tag"],
             "model_file": ck["model_file"], "sha256": ck["sha256"],
             "timesteps": ck["timesteps"]})


def new_checkpoints(run_dir: Path, done: set[str]) -> list[Manifest]:
    """The run's candidate and periodic checkpoints not validated yet, newest first."""
    if not run_dir.is_dir():
        return []
    fresh: dict[str, Manifest] = {}
    for m in RunCheckpoints(run_dir).list():
        if (m.tag == "candidate" or m.tag.startswith("periodic-")) and m.sha256 not in done:
            fresh[m.sha256] = m
    return sorted(fresh.values(), key=lambda m: -m.timesteps)


def release_stale_pins(run_dir: Path) -> int:
    """Release the validation pins (``validating``, a validator actor's ``validating-N``)
    a validator or driver killed mid-validation left: nothing holds them now.

    Returns:
        How many were released.
    """
    if not run_dir.is_dir():
        return 0
    stale = [m for m in RunCheckpoints(run_dir).list()
             if m.tag == PIN_TAG or PIN_PATTERN.fullmatch(m.tag)]
    return sum(release_pin(run_dir, m.tag, m.sha256) for m in stale)


def release_pin(folder: Path, tag: str, sha256: str) -> bool:
    """Delete the pointer ``tag`` of a run folder if it still points at ``sha256``
    (:meth:`RunCheckpoints.release`)."""
    return RunCheckpoints(folder).release(tag, sha256)
