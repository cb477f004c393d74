"""Manual checkpoints: kept through any number of saves and gc until the operator deletes
them; ``ctl checkpoint-now`` on a real trainer (PPO and MuZero) finishes after the save and
names the checkpoint."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fxconsole.agents.checkpoints import RunCheckpoints, resolve_checkpoint, verify
from fxconsole.config import Config, with_overrides
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore

from checkpoint_support import save_bytes  # isort: skip
from system_support import FXCONSOLE, query, wait_for, workers  # isort: skip


def test_a_manual_checkpoint_outlives_many_saves_and_gc(tmp_path: Path) -> None:
    store = RunCheckpoints(tmp_path / "main", keep_periodic=2)
    save_bytes(store, 100, ["latest"])
    save_bytes(store, 150, ["manual", "latest"])
    for n in range(200, 5200, 100):
        save_bytes(store, n, ["latest", "periodic"] if n % 500 == 0 else ["latest"])
        store.gc()
    manual = tmp_path / "main" / "manual-150.json"
    assert verify(manual).timesteps == 150  # the model is there and matches its sha256
    assert resolve_checkpoint("main/manual-150", tmp_path) == manual
    tags = sorted(m.tag for m in store.list())
    assert tags == ["latest", "manual-150", "periodic-000000004500", "periodic-000000005000"]
    assert len(list(store.models_dir.glob("*.zip"))) == 4
    manual.unlink()  # the operator deletes it: the next save's gc drops its model
    save_bytes(store, 5200, ["latest"])
    assert sorted(m.timesteps for m in store.list()) == [4500, 5000, 5200]
    assert len(list(store.models_dir.glob("*.zip"))) == 3


TRAINER_ONLY = """
[supervisor]
collectors = 0
validator = false
live = false
startsecs = 1.0
stopwaitsecs = 10.0
status_seconds = 1.0
[train]
agent = "{agent}"
latest_every = 1000
periodic_every = 2000
keep_periodic = 1
progress_seconds = 0.5
[ppo]
n_envs = 2
n_steps = 128
batch_size = 64
n_epochs = 1
[muzero]
channels = 16
static_hidden = 4
envs = 4
checkpoint_episodes = 2
updates_per_episode = 1
batch_size = 16
"""


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("market") / "market.duckdb"
    cfg = with_overrides(Config(), "synth", years=0.15, seed=12)
    with MarketStore(path) as store:
        synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
    return path


@pytest.fixture(params=["ppo", "muzero"])
def trainer(request: pytest.FixtureRequest, market: Path, tmp_path: Path
            ) -> Iterator[tuple[Path, str]]:
    """``fxconsole --no-ui`` with only a trainer of the agent, training."""
    ws = tmp_path
    (ws / "fxconsole.toml").write_text(TRAINER_ONLY.format(agent=request.param))
    (ws / "data").mkdir()
    shutil.copy(market, ws / "data" / "market.duckdb")
    log = (ws / "supervisor.out").open("w")
    proc = subprocess.Popen([FXCONSOLE, "--workspace", str(ws), "--no-ui"], stdout=log,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for("the trainer RUNNING", lambda: workers(ws).get("trainer", ("",))[0]
                 == "RUNNING", timeout=90)
        wait_for("training", lambda: query(ws, "SELECT 1 FROM metrics WHERE worker = "
                                               "'trainer' AND key = 'train/timesteps'"),
                 timeout=120)
        yield ws, request.param
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()


def checkpoint_now(ws: Path) -> str:
    """``ctl checkpoint-now``; the command's result once it is done."""
    out = subprocess.run([FXCONSOLE, "--workspace", str(ws), "ctl", "checkpoint-now",
                          "--timeout", "120"], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    state, result = query(ws, "SELECT state, result FROM commands WHERE verb = "
                              "'checkpoint-now' ORDER BY id DESC LIMIT 1")[0]
    assert state == "done" and result.startswith("saved main/manual-"), result
    return str(result)


@pytest.mark.slow
def test_checkpoint_now_answers_after_the_save_with_its_name(trainer: tuple[Path, str]) -> None:
    ws, agent = trainer
    result = checkpoint_now(ws)
    tag = result.split()[1].split("/")[1]
    manual = ws / "checkpoints" / "main" / f"{tag}.json"
    manifest = verify(manual)  # already there when the command was done
    assert manifest.agent == agent and f"{manifest.timesteps:,} timesteps" in result
    second = checkpoint_now(ws)  # every request is answered, not only the first
    assert verify(ws / "checkpoints" / "main" / f"{second.split()[1].split('/')[1]}.json")
    # training goes on, latest moves past it, periodic ones come and go: the manual stays
    wait_for("two more latest saves", lambda: verify(
        ws / "checkpoints" / "main" / "latest.json").timesteps > manifest.timesteps + 2000,
        timeout=180)
    assert verify(manual).sha256 == manifest.sha256
    wait_for("the manual checkpoint in the registry", lambda: query(
        ws, "SELECT 1 FROM checkpoints WHERE run = 'main' AND tag = ?", tag), timeout=30)
