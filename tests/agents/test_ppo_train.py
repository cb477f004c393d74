"""PPO training end to end on a small store: metrics, trades, checkpoints, resume."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from fxconsole.agents.checkpoints import (
    CheckpointError,
    RunCheckpoints,
    load_model,
    read_manifest,
    verify,
)
from fxconsole.agents.ppo.agent import PPOPolicy
from fxconsole.agents.ppo.train import prepare_run, train_ppo
from fxconsole.agents.registry import load_policy
from fxconsole.agents.sinks import MemorySink
from fxconsole.config import Config, with_overrides
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore
from fxconsole.trading.env import observation_spec
from fxconsole.workspace import Workspace

REQUIRED_METRICS = {
    "train/timesteps", "train/fps", "rollout/ep_reward_mean", "rollout/trades",
    "rollout/win_rate", "rollout/expectancy", "rollout/avg_win", "rollout/avg_loss",
    "rollout/gate_rate", "rollout/invalid_actions", "train/phase", "train/loser_weight",
    "train/policy_loss", "train/value_loss", "train/entropy", "train/approx_kl",
}
TRADE_FIELDS = {"side", "entry_ts", "exit_ts", "entry_price", "exit_price", "pips", "max_dd",
                "bars_held", "forced", "env", "timesteps", "loser_weight"}


def small_config() -> Config:
    cfg = with_overrides(Config(), "synth", years=0.08, seed=5)
    cfg = with_overrides(cfg, "ppo", n_envs=2, n_steps=128, batch_size=64, n_epochs=2)
    cfg = with_overrides(cfg, "weighting", phase1_winners=20, ramp_trades=200)
    return with_overrides(cfg, "train", latest_every=512, periodic_every=1024,
                          keep_periodic=2, progress_seconds=0.01, best_window=50)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("ws")).ensure()
    cfg = small_config()
    with MarketStore(ws.market_db) as store:
        synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
    return ws


@pytest.fixture(scope="module")
def first_run(workspace: Workspace) -> tuple[MemorySink, object]:
    sink = MemorySink()
    result = train_ppo(small_config(), workspace, sink, timesteps=4096, run="smoke")
    return sink, result


def test_metrics_and_trades_reach_the_sink(first_run: tuple[MemorySink, object]) -> None:
    sink, _ = first_run
    keys = set().union(*(values for _, values in sink.metrics))
    assert not REQUIRED_METRICS - keys
    assert sink.trade_rows
    assert not TRADE_FIELDS - set(sink.trade_rows[0])
    assert sink.last("train/timesteps") == 4096
    assert sink.last("rollout/trades") == len(sink.trade_rows)
    assert 0.0 <= sink.last("rollout/gate_rate") <= 1.0  # type: ignore[operator]
    assert sink.last("rollout/invalid_actions") == 0  # masked (the default): none
    steps = [step for step, _ in sink.metrics]
    assert steps == sorted(steps)


def test_checkpoints_are_written_and_verify(workspace: Workspace, first_run: object) -> None:
    store = RunCheckpoints(workspace.checkpoints_dir / "smoke")
    tags = {m.tag for m in store.list()}
    assert "latest" in tags and any(t.startswith("periodic") for t in tags)
    assert sum(t.startswith("periodic") for t in tags) <= 2  # keep_periodic
    latest = store.manifest("latest")
    assert latest is not None and latest.timesteps == 4096
    verify(workspace.checkpoints_dir / "smoke" / "latest.json", observation_spec("ppo"))
    assert latest.state["weighting"]["winners"] > 0
    assert latest.feature_spec_version == 1 and latest.config["ppo"]["n_envs"] == 2


@pytest.fixture
def own_workspace(workspace: Workspace, first_run: object, tmp_path: Path) -> Workspace:
    """A copy of the workspace after the first run, for a test that changes its checkpoints
    (the shared one keeps the first run's, whatever the order of the tests)."""
    shutil.copytree(workspace.root, tmp_path / "ws")
    return Workspace(tmp_path / "ws")


def test_resume_continues_the_step_counter_and_weighting(own_workspace: Workspace) -> None:
    workspace = own_workspace
    before = RunCheckpoints(workspace.checkpoints_dir / "smoke").manifest("latest")
    assert before is not None
    setup = prepare_run(small_config(), workspace, None, "smoke")
    assert setup.run == "smoke"
    assert setup.schedule.state() == before.state["weighting"]
    result = train_ppo(small_config(), workspace, MemorySink(), timesteps=1024,
                       resume="smoke/latest")
    assert result.start_timesteps == 4096 and result.timesteps == 4096 + 1024
    after = RunCheckpoints(workspace.checkpoints_dir / "smoke").manifest("latest")
    assert after is not None and after.timesteps == 5120
    assert after.state["weighting"]["winners"] >= before.state["weighting"]["winners"]


def test_a_run_is_pinned_at_its_first_checkpoint_and_resumes_keep_the_pin(
        own_workspace: Workspace, caplog: pytest.LogCaptureFixture) -> None:
    """SPEC §6.1: every checkpoint carries the run's pin; a resume with an edited env keeps
    training (and checkpointing) the pinned one."""
    run_dir = own_workspace.checkpoints_dir / "smoke"
    manifests = RunCheckpoints(run_dir).list()
    pins = {json.dumps(m.pinned, sort_keys=True) for m in manifests}
    assert len(pins) == 1 and manifests[0].pinned["env"]["spread_pips"] == 4.0
    pinned = manifests[0].pinned
    assert pinned["gate_sigma_pips"] > 0 and pinned["windows"]["train"]["rows"] > 0
    edited = with_overrides(small_config(), "env", spread_pips=1.0)
    with caplog.at_level("WARNING"):
        train_ppo(edited, own_workspace, MemorySink(), timesteps=512, resume="smoke/latest")
    assert "env.spread_pips = 1.0 configured, 4.0 pinned" in caplog.text
    after = RunCheckpoints(run_dir).manifest("latest")
    assert after is not None and after.pinned == pinned
    assert after.config["env"]["spread_pips"] == 4.0


def test_a_tampered_or_foreign_checkpoint_is_refused(
    own_workspace: Workspace, tmp_path: Path
) -> None:
    workspace = own_workspace
    run_dir = workspace.checkpoints_dir / "smoke"
    manifest = json.loads((run_dir / "latest.json").read_text())
    foreign = dict(manifest, observation_spec={**manifest["observation_spec"], "shape": [18]})
    (run_dir / "foreign.json").write_text(json.dumps(foreign))
    with pytest.raises(CheckpointError, match="shape"):
        prepare_run(small_config(), workspace, None, str(run_dir / "foreign.json"))
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "models").mkdir()
    model = run_dir / manifest["model_file"]
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / manifest["model_file"]).write_bytes(bytes(data))
    (copy / "latest.json").write_text(json.dumps(dict(manifest, run="copy")))
    with pytest.raises(CheckpointError, match="hash mismatch"):
        prepare_run(small_config(), workspace, None, str(copy / "latest.json"))


def test_masked_and_unmasked_runs_keep_their_class_across_resumes(
        own_workspace: Workspace, caplog: pytest.LogCaptureFixture) -> None:
    """``ppo.mask_actions`` (the default): MaskablePPO never sends an invalid action; its
    checkpoints say so and play masked through the registry. An unmasked run trains SB3's
    PPO, plays unmasked, and a resume keeps the run's class whatever the config says."""
    assert small_config().ppo.mask_actions is True
    smoke = own_workspace.checkpoints_dir / "smoke" / "latest.json"
    manifest, policy = load_policy(smoke)
    assert manifest.config["ppo"]["mask_actions"] is True
    assert isinstance(policy, PPOPolicy) and policy.masked
    assert isinstance(load_model(smoke, MaskablePPO), MaskablePPO)
    plain = with_overrides(small_config(), "ppo", mask_actions=False)
    sink = MemorySink()
    train_ppo(plain, own_workspace, sink, timesteps=1024, run="plain")
    assert sink.last("rollout/invalid_actions") > 0  # unmasked: some invalid choices
    latest = own_workspace.checkpoints_dir / "plain" / "latest.json"
    _, unmasked = load_policy(latest)
    assert isinstance(unmasked, PPOPolicy) and not unmasked.masked
    assert type(load_model(latest, PPO)) is PPO
    with caplog.at_level("WARNING"):
        train_ppo(small_config(), own_workspace, MemorySink(), timesteps=512,
                  resume="plain/latest")
    assert "ppo.mask_actions = false is used, not true" in caplog.text
    after = read_manifest(latest)
    assert after.timesteps == 1536 and after.config["ppo"]["mask_actions"] is False


def test_cli_train_as_a_real_process(workspace: Workspace) -> None:
    env = {**os.environ, "FXCONSOLE_PPO__N_ENVS": "2", "FXCONSOLE_PPO__N_STEPS": "128",
           "FXCONSOLE_PPO__BATCH_SIZE": "64", "FXCONSOLE_PPO__N_EPOCHS": "1"}
    entry = Path(sys.executable).parent / "fxconsole"
    proc = subprocess.run(
        [str(entry), "--workspace", str(workspace.root), "train", "--timesteps", "512",
         "--run", "cli"], env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "gate threshold σ20" in proc.stdout and "run cli" in proc.stdout
    assert (workspace.checkpoints_dir / "cli" / "latest.json").exists()
    lines = (workspace.checkpoints_dir / "cli" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["train/timesteps"] == 512
    bad = subprocess.run([str(entry), "--workspace", str(workspace.root), "train",
                          "--resume", "nope"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 1 and "nope" in bad.stderr
    timed = subprocess.run(
        [str(entry), "--workspace", str(workspace.root), "train", "--duration", "3",
         "--run", "timed"], env=env, capture_output=True, text=True, timeout=300,
    )
    assert timed.returncode == 0, timed.stderr
    latest = read_manifest(workspace.checkpoints_dir / "timed" / "latest.json")
    assert "training for 3 s" in timed.stdout and latest.timesteps > 0
    assert f"0 → {latest.timesteps:,}" in timed.stdout  # the clock ended it, latest saved
    zero = subprocess.run([str(entry), "--workspace", str(workspace.root), "train",
                           "--duration", "0"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert zero.returncode == 2 and "--duration 0.0: must be" in zero.stderr  # usage error
