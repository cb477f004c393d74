"""SPEC §6.3's K across a tuning study: a trial's checkpoints compete with every other
trial's, and so do those of a run configured from the study."""

from __future__ import annotations

from pathlib import Path

from fxconsole.ops.db import connect
from fxconsole.ops.validations import family_runs, family_srs
from fxconsole.tuning.study import TrialRow, record_trial


def test_trials_and_runs_configured_from_the_study_share_k(tmp_path: Path) -> None:
    conn = connect(tmp_path / "console.sqlite")
    for n in range(3):
        record_trial(conn, "s", TrialRow(n, "COMPLETE", 0.1 * n, {"ppo.gamma": 0.99},
                                         f"tune-s-{n:03d}", None))
    record_trial(conn, "other", TrialRow(0, "COMPLETE", 0.5, {}, "tune-other-000", None))
    rows = [("tune-s-000", "a", "validation", 0.1), ("tune-s-001", "b", "validation", 0.2),
            ("tune-s-001", "b", "validation", 0.25),  # validated again: its newest SR
            ("tune-s-002", "c", "test", 0.3), ("tune-other-000", "d", "validation", 0.9),
            ("main", "e", "validation", 0.4)]
    with conn:
        for i, (run, sha, split, sr) in enumerate(rows):
            conn.execute("INSERT INTO validations (ts, run, sha256, split, validated, sr)"
                         " VALUES (?, ?, ?, ?, 0, ?)", (float(i), run, sha, split, sr))
    trial_family = family_runs(conn, "tune-s-001")
    assert trial_family == ["tune-s-000", "tune-s-001", "tune-s-002"]
    assert sorted(family_srs(conn, trial_family, "validation", "b")) == [0.1]
    assert sorted(family_srs(conn, trial_family, "validation", "z")) == [0.1, 0.25]
    assert family_runs(conn, "main") == ["main"]  # not tuned: its own checkpoints only
    tuned_main = family_runs(conn, "main", ["s"])
    assert tuned_main == ["main", "tune-s-000", "tune-s-001", "tune-s-002"]
    assert sorted(family_srs(conn, tuned_main, "validation", "e")) == [0.1, 0.25]
    assert sorted(family_srs(conn, tuned_main, "test", "e")) == [0.3]
    conn.close()
