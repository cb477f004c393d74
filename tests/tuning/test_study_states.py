"""How a trial's end is recorded: pruned trials as PRUNED, failing ones as FAIL (the study
goes on), in both Optuna's storage and the console's ``tuning_trials``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from fxconsole.config import Config
from fxconsole.ops.db import connect
from fxconsole.tuning.study import (
    StudyRunner,
    TrialRow,
    TuneRequest,
    _with,
    open_study,
    record_trial,
)
from fxconsole.workspace import Workspace


def test_pruned_and_failed_trials_are_recorded_as_such(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace(tmp_path).ensure()
    conn = connect(ws.console_db)
    runner = StudyRunner(TuneRequest(Config(), ws, "states", trials=2), conn)
    outcomes = iter(["prune", "fail", "value"])

    def fake(trial: optuna.Trial, row: TrialRow, cfg: Any) -> float:
        outcome = next(outcomes)
        if outcome == "prune":
            record_trial(conn, "states", _with(row, "PRUNED", 0.1, "pruned after report 1"))
            raise optuna.TrialPruned("pruned after report 1")
        if outcome == "fail":
            raise ValueError("no validation sessions")
        record_trial(conn, "states", _with(row, "COMPLETE", 0.7, ""))
        return 0.7

    monkeypatch.setattr(runner, "_train_and_validate", fake)
    runner.run()
    states = [t.state.name for t in open_study(ws, "states", create=False).get_trials()]
    assert states == ["PRUNED", "FAIL", "COMPLETE"]  # a failure does not end the study
    rows = conn.execute("SELECT trial, state, value, note FROM tuning_trials ORDER BY trial"
                        ).fetchall()
    assert rows[0] == (0, "PRUNED", 0.1, "pruned after report 1")
    assert rows[1][:2] == (1, "FAIL") and rows[1][2] is None
    assert rows[1][3] == "no validation sessions" and rows[2] == (2, "COMPLETE", 0.7, "")
    conn.close()
