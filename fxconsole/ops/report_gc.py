"""Validation reports pruned with the models they describe.

A report folder ``checkpoints/<run>/reports/<timesteps>-<sha12>-<split>/`` (report.json
and chart.png, :func:`fxconsole.evaluation.runner.default_report_dir`) goes once its
checkpoint's model was garbage-collected: no manifest of the run references the model
(so it is not latest, best, validated, deployed, a kept periodic or a candidate) and the
model file is gone. The ``validations`` rows stay (the audit trail): their
``report_path`` then names a folder that no longer exists. Nothing is deleted while a
manifest of the run is unreadable, and folders younger than ``grace_seconds`` are left
alone (a validator may be writing the report of a model pruned meanwhile).
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from fxconsole.agents.checkpoints import MODELS_DIR, CheckpointError, RunCheckpoints
from fxconsole.agents.manifest import scan_manifests

logger = logging.getLogger(__name__)

REPORTS_DIR = "reports"
GRACE_SECONDS = 3600.0
_REPORT_NAME = re.compile(r"^(\d+)-([0-9a-f]{12})-([a-z_]+)$")


def doomed_reports(names: Iterable[str], live_shas: set[str]) -> list[str]:
    """The report folder names whose sha256 prefix is not in ``live_shas`` (pure).

    Names that do not look like ``<timesteps>-<sha12>-<split>`` are never doomed.
    """
    doomed = []
    for name in names:
        match = _REPORT_NAME.match(name)
        if match and match.group(2) not in live_shas:
            doomed.append(name)
    return sorted(doomed)


def prune_run_reports(run_dir: Path, grace_seconds: float = GRACE_SECONDS,
                      now: float | None = None) -> list[Path]:
    """Delete the report folders of ``run_dir`` whose model was garbage-collected.

    Args:
        run_dir: ``checkpoints/<run>``.
        grace_seconds: folders modified more recently than this are kept.
        now: UNIX seconds (default: the wall clock).

    Returns:
        The deleted folders.
    """
    reports = run_dir / REPORTS_DIR
    if not reports.is_dir():
        return []
    try:
        store = RunCheckpoints(run_dir)
    except CheckpointError:
        return []  # not a run folder
    now = time.time() if now is None else now
    with store.locked():
        manifests, broken = scan_manifests(run_dir)
        if broken:
            logger.warning("not pruning reports of %s: unreadable manifest(s)", run_dir)
            return []
        live = {m.sha256[:12] for m in manifests.values()}
        live |= {p.stem.rsplit("-", 1)[-1] for p in (run_dir / MODELS_DIR).glob("*.zip")}
        removed = []
        for name in doomed_reports((p.name for p in reports.iterdir() if p.is_dir()), live):
            folder = reports / name
            if now - folder.stat().st_mtime < grace_seconds:
                continue
            shutil.rmtree(folder)
            removed.append(folder)
            logger.info("pruned report %s (its model was garbage-collected)", folder)
    return removed


def prune_reports(checkpoints_dir: Path, grace_seconds: float = GRACE_SECONDS,
                  now: float | None = None) -> list[Path]:
    """:func:`prune_run_reports` for every run folder under ``checkpoints_dir``."""
    if not checkpoints_dir.is_dir():
        return []
    removed: list[Path] = []
    for run_dir in sorted(p for p in checkpoints_dir.iterdir() if p.is_dir()):
        removed += prune_run_reports(run_dir, grace_seconds, now)
    return removed
