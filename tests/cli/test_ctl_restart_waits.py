"""Issue 17 defect 15: `ctl restart` answers done only once the worker is RUNNING again
(a new process), and failed with the reason when it does not come back (FATAL)."""

from __future__ import annotations

import json
from pathlib import Path

from daemon_support import fx, kill_everything, lock_pid, make_workspace  # isort: skip
from system_support import query  # isort: skip


def test_ctl_restart_is_done_when_the_worker_runs_again(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    assert fx(ws, "start").returncode == 0
    pids = [p for p in [lock_pid(ws), *(p for (p,) in query(ws, "SELECT pid FROM workers"))]
            if p]
    try:
        (old,), = query(ws, "SELECT pid FROM workers WHERE name = 'collector-1'")
        restart = fx(ws, "ctl", "restart", "collector-1")
        assert restart.returncode == 0, restart.stdout + restart.stderr
        assert "done" in restart.stdout and "RUNNING" in restart.stdout
        # no waiting here: when ctl answered, the new process was already RUNNING
        (state, new), = query(ws, "SELECT state, pid FROM workers WHERE name = 'collector-1'")
        pids.append(new)
        assert state == "RUNNING" and new != old and f"pid {new}" in restart.stdout

        (ws / "fake-workers.json").write_text(json.dumps({"collector-1": "config-error"}))
        broken = fx(ws, "ctl", "restart", "collector-1")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert "failed" in broken.stdout and "collector-1 is FATAL" in broken.stdout
        assert "ConfigError" in broken.stdout
        assert fx(ws, "shutdown").returncode == 0
    finally:
        kill_everything(pids)
