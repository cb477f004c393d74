"""A bad config never locks the operator out: with a running system and a broken
fxconsole.toml, status, ctl (also `ctl stop all`) and shutdown work, the supervisor keeps
its config (a restarted worker still starts) and records the error; `config check`;
unknown FXCONSOLE_<SECTION>__<KEY> overrides are refused like unknown file keys."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fxconsole.config import Config, ConfigError, load_config, with_overrides
from fxconsole.ops.config_watch import ConfigWatch, render_config

from daemon_support import (  # isort: skip
    FXCONSOLE, fx, kill_everything, lock_pid, make_workspace, pids_alive, wait_until)
from system_support import query  # isort: skip

BROKEN = "[ppo]\nnenvs = 3\n"


def test_a_broken_config_file_does_not_lock_the_operator_out(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    assert fx(ws, "start").returncode == 0
    pids = [p for p in [lock_pid(ws), *(p for (p,) in query(ws, "SELECT pid FROM workers"))]
            if p]
    try:
        (ws / "fxconsole.toml").write_text(BROKEN)
        check = fx(ws, "config", "check")
        assert check.returncode == 1 and "ppo.nenvs" in check.stderr
        status = fx(ws, "status", "--check")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "warning" in status.stderr and "ppo.nenvs" in status.stderr
        assert "collector-1" in status.stdout and "RUNNING" in status.stdout
        wait_until("the supervisor's config-invalid event", lambda: query(
            ws, "SELECT message FROM events WHERE kind = 'config-invalid'"), timeout=20)
        # a worker started after the edit gets the config the supervisor started with
        (old,), = query(ws, "SELECT pid FROM workers WHERE name = 'collector-1'")
        restart = fx(ws, "ctl", "restart", "collector-1")
        assert restart.returncode == 0, restart.stdout + restart.stderr
        wait_until("collector-1 RUNNING again", lambda: query(
            ws, "SELECT 1 FROM workers WHERE name = 'collector-1' AND state = 'RUNNING'"
            " AND pid != ?", old))
        pids += [p for (p,) in query(ws, "SELECT pid FROM workers WHERE name = 'collector-1'")]
        stop = fx(ws, "ctl", "stop", "all")
        assert stop.returncode == 0 and "done" in stop.stdout, stop.stdout + stop.stderr
        wait_until("every worker STOPPED",
                   lambda: query(ws, "SELECT DISTINCT state FROM workers") == [("STOPPED",)])
        refused = fx(ws, "start")
        assert refused.returncode == 1 and "ppo.nenvs" in refused.stderr
        down = fx(ws, "shutdown")
        assert down.returncode == 0, down.stdout + down.stderr
        assert pids_alive(pids[:1]) == []
    finally:
        kill_everything(pids)


@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        ({"FXCONSOLE_PPO__NENVS": "3"},
         ["environment FXCONSOLE_PPO__NENVS", "ppo.nenvs", "allowed in [ppo]", "n_envs"]),
        ({"FXCONSOLE_NOPE__X": "1"}, ["FXCONSOLE_NOPE__X", "unknown section 'nope'",
                                      "supervisor"]),
        ({"FXCONSOLE_ppo__n_envs": "3"}, ["capitals", "FXCONSOLE_PPO__N_ENVS"]),
    ],
)
def test_unknown_environment_overrides_are_refused(env: dict[str, str],
                                                   fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, environ=env)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_other_fxconsole_variables_are_not_overrides(tmp_path: Path) -> None:
    env = {"FXCONSOLE_WORKSPACE": str(tmp_path), "FXCONSOLE_SUPERVISOR_PID": "1",
           "FXCONSOLE_FAULT": "after-send", "FXCONSOLE_PPO__N_ENVS": "3"}
    assert load_config(None, environ=env).ppo.n_envs == 3


def test_config_check_cli(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text("[supervisor]\ncrash_limit = 2\n")
    bad.write_text("[supervisor]\ncrash_limit = -1\n")
    ok = fx(tmp_path, "config", "check", "--config", str(good))
    assert ok.returncode == 0 and "ok:" in ok.stdout
    no = fx(tmp_path, "config", "check", "--config", str(bad))
    assert no.returncode == 1 and "supervisor.crash_limit = -1 must be ≥ 0" in no.stderr
    env = {**os.environ, "FXCONSOLE_PPO__NENVS": "3"}


    out = subprocess.run([FXCONSOLE, "--workspace", str(tmp_path), "config", "check"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1 and "FXCONSOLE_PPO__NENVS" in out.stderr


def test_running_config_round_trip(tmp_path: Path) -> None:
    cfg = with_overrides(with_overrides(Config(), "ppo", learning_rate=1e-5, net_arch="64,64"),
                         "supervisor", crash_window=12.5)
    path = tmp_path / "running.toml"
    path.write_text(render_config(cfg))
    assert load_config(path, environ={}) == cfg


def test_running_config_keeps_no_webhook_token(tmp_path: Path) -> None:
    cfg = with_overrides(Config(), "notify", webhook_url="https://hooks.example/T0/s3cr3t")
    text = render_config(cfg)
    assert "s3cr3t" not in text and 'webhook_url = ""' in text


def test_config_watch_reports_each_change_once(tmp_path: Path) -> None:
    path = tmp_path / "fxconsole.toml"
    path.write_text("[ppo]\nn_envs = 2\n")
    watch = ConfigWatch(path)
    assert watch.poll() is None
    path.write_text(BROKEN)
    level, message = watch.poll() or ("", "")
    assert level == "warning" and "ppo.nenvs" in message and "keep the configuration" in message
    assert watch.poll() is None
    path.write_text("[ppo]\nn_envs = 4\n\n")
    assert (watch.poll() or ("",))[0] == "info"
