"""Validation verdicts in the console database (one row per validated checkpoint)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from fxconsole.ops.db import transaction
from fxconsole.sqlitetx import dumps_json


def record_validation(conn: sqlite3.Connection, report: dict[str, Any],
                      clock: Callable[[], float] = time.time) -> None:
    """Insert the summary of a validation report (``evaluation.validate.report_dict``)."""
    ck, policy, verdict = report["checkpoint"], report["policy"], report["verdict"]
    with transaction(conn):
        conn.execute(
            "INSERT INTO validations (ts, run, sha256, timesteps, split, validated, sqn,"
            " expectancy, trades, report_path, summary) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (clock(), ck["run"], ck["sha256"], ck["timesteps"], report["split"],
             int(bool(verdict["validated"])), policy["sqn"], policy["expectancy"],
             policy["trades"], report.get("files", {}).get("json"),
             dumps_json({"verdict": verdict, "monte_carlo": report["monte_carlo"]})),
        )


def validated_shas(conn: sqlite3.Connection, run: str) -> set[str]:
    """Checkpoints (by sha256) of a run that already have a validation row."""
    rows = conn.execute("SELECT DISTINCT sha256 FROM validations WHERE run = ?", (run,))
    return {str(r[0]) for r in rows}
