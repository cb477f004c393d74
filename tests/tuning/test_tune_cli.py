"""``fxconsole tune`` as a user runs it: a study of two tiny trials, interrupted with
Ctrl-C and resumed, records both; the trials share K; --show and --apply."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from fxconsole.cli import main
from fxconsole.config import load_config
from fxconsole.tuning.study import open_study
from fxconsole.workspace import Workspace

ENTRY = Path(sys.executable).parent / "fxconsole"
TUNE = ("tune", "--study", "tiny", "--trials", "2", "--duration", "3", "--reports", "1")


def rows(ws: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(ws / "data" / "console.sqlite", timeout=10)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        conn.close()


def tune(ws: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ENTRY), "--workspace", str(ws), *TUNE, *extra],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("ws")
    assert main(["--workspace", str(ws), "data", "synth", "--years", "0.1", "--seed", "4"]) == 0
    (ws / "fxconsole.toml").write_text("[ppo]\nn_envs = 2  # mine\n")
    return ws


@pytest.fixture(scope="module")
def interrupted_and_resumed(workspace: Path) -> tuple[Path, str, str, str]:
    """The study started, Ctrl-C'd during trial 0's training, then run again."""
    proc = subprocess.Popen([str(ENTRY), "--workspace", str(workspace), *TUNE],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not rows(workspace, "SELECT 1 FROM tuning_trials WHERE state = 'RUNNING'"):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "trial 0 never started"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)  # Ctrl-C in the middle of trial 0's training
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    after_interrupt = rows(workspace, "SELECT trial, state, note FROM tuning_trials")
    assert after_interrupt == [(0, "FAIL", "interrupted")]
    again = tune(workspace)
    assert again.returncode == 0, again.stdout + again.stderr
    return workspace, out, again.stdout, again.stderr


def test_an_interrupted_study_resumes_and_records_both_trials(
    interrupted_and_resumed: tuple[Path, str, str, str],
) -> None:
    workspace, out, _, _ = interrupted_and_resumed
    assert "interrupted" in out and "--study tiny --trials 2` resumes it" in out
    study = open_study(Workspace(workspace), "tiny", create=False)
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL,
                                         optuna.trial.TrialState.COMPLETE,
                                         optuna.trial.TrialState.COMPLETE]
    assert trials[1].user_attrs["retry_of"] == 0 and trials[1].params == trials[0].params
    recorded = rows(workspace, "SELECT run, trial, state FROM tuning_trials ORDER BY trial")
    assert recorded == [("tune-tiny-000", 0, "FAIL"), ("tune-tiny-001", 1, "COMPLETE"),
                        ("tune-tiny-002", 2, "COMPLETE")]
    for t in trials[1:]:
        assert (workspace / "checkpoints" / t.user_attrs["run"] / "latest.json").exists()
        assert t.value == pytest.approx(t.user_attrs["validation_1"]["sqn"]) or (
            t.user_attrs["enough_trades"] is False and t.value == 0.0)
    # Each validation counts every checkpoint of the study validated before it in K.
    ks = rows(workspace, "SELECT run, k FROM validations WHERE split = 'validation' "
                         "ORDER BY id")
    assert [k for _, k in ks] == list(range(1, len(ks) + 1))
    # trial 0 was stopped before its validation; the re-run and trial 2 validated
    assert {run for run, _ in ks} == {"tune-tiny-001", "tune-tiny-002"}

    shown = subprocess.run([str(ENTRY), "--workspace", str(workspace), "tune", "--study",
                            "tiny", "--show"], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "re-run of trial 0" in shown.stdout and "interrupted (re-run)" in shown.stdout
    done = tune(workspace)  # the study has its 2 finished trials: nothing more to run
    assert done.returncode == 0 and len(open_study(Workspace(workspace), "tiny",
                                                   create=False).get_trials()) == 3


def test_apply_writes_the_chosen_trial_into_the_config(
    interrupted_and_resumed: tuple[Path, str, str, str],
) -> None:
    workspace = interrupted_and_resumed[0]
    study = open_study(Workspace(workspace), "tiny", create=False)
    chosen = study.get_trials()[2]
    applied = subprocess.run([str(ENTRY), "--workspace", str(workspace), "tune", "--study",
                              "tiny", "--apply", "--trial", "2"], capture_output=True,
                             text=True, timeout=300)
    assert applied.returncode == 0, applied.stderr
    text = (workspace / "fxconsole.toml").read_text()
    assert "n_envs = 2  # mine" in text and "# tuned: study tiny trial 2" in text
    cfg = load_config(workspace / "fxconsole.toml", environ={})
    for name, value in chosen.params.items():
        section, key = name.split(".")
        assert getattr(getattr(cfg, section), key) == value, name
    assert cfg.validation.tuning_study == "tiny" and cfg.ppo.n_envs == 2
    bad = subprocess.run([str(ENTRY), "--workspace", str(workspace), "tune", "--study",
                          "tiny", "--apply", "--trial", "0"], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 1 and "trial 0 is not a complete trial" in bad.stderr
