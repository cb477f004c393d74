"""Validations and test examinations in the console database (SPEC §6.3, §6.4).

A row per validation (``split = "validation"``) and per examination on the test split
(``split = "test"``). ``validated`` is whether that stage passed. A checkpoint is
VALIDATED when its test examination passed (only a checkpoint that passed validation is
examined). This table is the source of truth for a run's ``K``, ``V``, ``best`` and
``validated``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fxconsole.ops.db import transaction
from fxconsole.sqlitetx import dumps_json


@dataclass(frozen=True)
class StageRow:
    """The newest recorded result of one checkpoint on one split."""

    sha256: str
    timesteps: int
    validated: bool
    sqn: float
    sr: float | None
    trades: int
    ts: float


def record_validation(conn: sqlite3.Connection, report: dict[str, Any],
                      clock: Callable[[], float] = time.time, *,
                      stage: dict[str, Any] | None = None) -> None:
    """Insert the summary of one stage of a report (``evaluation.validate.report_dict``).

    Args:
        conn: the console database.
        report: the report; its ``checkpoint`` names the run and sha256.
        clock: the row's time.
        stage: the stage to record (``evaluation.validate.stage_dict``); default: the
            report's ``stage``, else ``stages[split]``, else its top level.
    """
    ck = report["checkpoint"]
    stage = (stage or report.get("stage") or report.get("stages", {}).get(report["split"])
             or report)
    policy, verdict = stage["policy"], stage["verdict"]
    deflated = stage.get("deflated") or {}
    with transaction(conn):
        conn.execute(
            "INSERT INTO validations (ts, run, sha256, timesteps, split, validated, sqn,"
            " expectancy, trades, report_path, summary, sr, dsr, k)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (clock(), ck["run"], ck["sha256"], ck["timesteps"], stage.get("split", report["split"]),
             int(bool(verdict["validated"])), policy["sqn"], policy["expectancy"],
             policy["trades"], report.get("files", {}).get("json"),
             dumps_json({"verdict": verdict, "monte_carlo": stage.get("monte_carlo", {}),
                         "stage": stage if "policy" in stage else {}}),
             deflated.get("sr"), deflated.get("dsr"), deflated.get("k")),
        )


def validated_shas(conn: sqlite3.Connection, run: str) -> set[str]:
    """Checkpoints (by sha256) of a run that already have a validation row."""
    rows = conn.execute("SELECT DISTINCT sha256 FROM validations WHERE run = ? "
                        "AND split = 'validation'", (run,))
    return {str(r[0]) for r in rows}


def stage_rows(conn: sqlite3.Connection, run: str, split: str) -> dict[str, StageRow]:
    """The newest row of each checkpoint of ``run`` on ``split``, by sha256."""
    rows = conn.execute(
        "SELECT sha256, timesteps, validated, sqn, sr, trades, ts FROM validations"
        " WHERE run = ? AND split = ? ORDER BY ts, id", (run, split))
    return {str(r[0]): StageRow(str(r[0]), int(r[1] or 0), bool(r[2]), float(r[3] or 0.0),
                                None if r[4] is None else float(r[4]), int(r[5] or 0),
                                float(r[6])) for r in rows}


def family_runs(conn: sqlite3.Connection, run: str, studies: Iterable[str] = ()) -> list[str]:
    """The runs whose checkpoints compete with ``run``'s (SPEC §6.3's K): the run, and
    every trial run of the tuning study it is a trial of or was configured from."""
    wanted = {s for s in studies if s}
    row = conn.execute("SELECT study FROM tuning_trials WHERE run = ?", (run,)).fetchone()
    if row is not None:
        wanted.add(str(row[0]))
    runs = {run}
    for study in sorted(wanted):
        runs.update(str(r[0]) for r in conn.execute(
            "SELECT run FROM tuning_trials WHERE study = ?", (study,)))
    return sorted(runs)


def family_srs(conn: sqlite3.Connection, runs: Iterable[str], split: str,
               exclude_sha256: str) -> list[float]:
    """The SR of each distinct checkpoint of ``runs`` recorded on ``split`` (newest row of
    each), the excluded one left out: the others of K."""
    out: dict[str, float] = {}
    for run in runs:
        for sha, row in stage_rows(conn, run, split).items():
            if sha != exclude_sha256 and row.sr is not None:
                out[sha] = row.sr
    return list(out.values())


def is_validated(conn: sqlite3.Connection, sha256: str) -> bool:
    """Whether the checkpoint passed its test examination (so: VALIDATED, SPEC §6.4)."""
    row = conn.execute("SELECT 1 FROM validations WHERE sha256 = ? AND split = 'test'"
                       " AND validated = 1 LIMIT 1", (sha256,)).fetchone()
    return row is not None


def validation_status(conn: sqlite3.Connection, sha256: str) -> str:
    """In words, where the checkpoint stands: for refusals and the console.

    One of ``"validated"``, ``"failed its test examination"``, ``"failed validation"``,
    ``"never validated"``.
    """
    if is_validated(conn, sha256):
        return "validated"
    splits = {str(r[0]) for r in conn.execute(
        "SELECT DISTINCT split FROM validations WHERE sha256 = ?", (sha256,))}
    if "test" in splits:
        return "failed its test examination"
    if "validation" in splits:
        return "failed validation"
    return "never validated"
