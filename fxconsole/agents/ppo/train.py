"""Train a PPO policy on the trading environment with stable-baselines3.

SB3 is extended, not forked: the SPEC §5 weighting is a gymnasium wrapper, metrics,
trades and checkpoints come from a callback.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

from fxconsole.agents.base import RunStart, TrainingHandle, TrainRequest, TrainResult
from fxconsole.agents.checkpoints import RunCheckpoints, new_run_name, resolve_checkpoint, verify
from fxconsole.agents.manifest import validate_run_name
from fxconsole.agents.pinned_run import pinned_training, run_pin
from fxconsole.agents.ppo.agent import is_masked, sb3_class
from fxconsole.agents.ppo.callback import TrainingCallback
from fxconsole.agents.ppo.checkpointing import CheckpointPolicy
from fxconsole.agents.ppo.vec_env import FreshInfoDummyVecEnv
from fxconsole.agents.sinks import MetricsSink
from fxconsole.agents.weighting import LoserWeightSchedule, WeightedRewardWrapper
from fxconsole.config import Config, config_record
from fxconsole.market.features import FEATURE_SPEC_VERSION
from fxconsole.trading.env import TradingEnv, observation_spec
from fxconsole.trading.market_data import MarketData, load_market_data
from fxconsole.trading.pinning import Pin
from fxconsole.workspace import Workspace

logger = logging.getLogger(__name__)
AGENT = "ppo"  # the name in manifests and the agent registry


@dataclass(frozen=True)
class TrainSetup:
    """Everything a run needs, resolved before any learning starts."""

    run: str
    run_dir: Path
    schedule: LoserWeightSchedule
    resume_from: Path | None
    best_sqn: float | None
    start_timesteps: int = 0
    pin: Pin | None = None  # the run's pin (SPEC §6.1); None: pinned at the first checkpoint
    masked: bool | None = None  # a resumed run's ppo.mask_actions (None: the configured one)


def net_arch(spec: str) -> list[int]:
    """``"128,128"`` → ``[128, 128]`` (validated by the config)."""
    return [int(part) for part in spec.replace(" ", "").split(",")]


def make_vec_env(cfg: Config, data: MarketData, schedule: LoserWeightSchedule,
                 split: str = "train", seed: int | None = None) -> VecEnv:
    """``n_envs`` weighted trading envs in one process (DummyVecEnv: the env is cheap).

    ``seed`` defaults to ``ppo.seed``; a resumed run passes another one so that it does
    not replay the sessions it started with.
    """

    def factory(rank: int) -> Callable[[], Any]:
        def make() -> Any:
            env = TradingEnv(data.symbol, data.timeframe, split, "ppo", data=data, config=cfg)
            return WeightedRewardWrapper(env, schedule, cfg.env)

        return make

    vec = FreshInfoDummyVecEnv([factory(i) for i in range(cfg.ppo.n_envs)])
    vec.seed(cfg.ppo.seed if seed is None else seed)
    return VecMonitor(vec)


def prepare_run(cfg: Config, ws: Workspace, run: str | None, resume: str | None) -> TrainSetup:
    """Resolve the run name and, when resuming, verify the checkpoint and restore state.

    Raises:
        CheckpointError: a missing or tampered checkpoint, or one whose observation spec
            differs from this code's.
    """
    schedule = LoserWeightSchedule.from_config(cfg.weighting)
    if run is not None:
        validate_run_name(run)
    if resume is None:
        name = run or new_run_name(AGENT)
        return TrainSetup(name, ws.checkpoints_dir / name, schedule, None, None,
                          pin=run_pin(ws.checkpoints_dir / name))
    path = resolve_checkpoint(resume, ws.checkpoints_dir)
    manifest = verify(path, observation_spec("ppo"))
    schedule.restore(manifest.state.get("weighting", {}))
    name = run or manifest.run
    best = RunCheckpoints(ws.checkpoints_dir / name).manifest("candidate")
    best_sqn = best.metrics.get("rolling_sqn") if best is not None else None
    return TrainSetup(name, ws.checkpoints_dir / name, schedule,
                      path.parent / manifest.model_file, best_sqn, manifest.timesteps,
                      run_pin(ws.checkpoints_dir / name, manifest), is_masked(manifest))


def resumed_masking(cfg: Config, masked: bool | None) -> Config:
    """The config with a resumed run's ``ppo.mask_actions`` (its model's class decides)."""
    if masked is None or masked == cfg.ppo.mask_actions:
        return cfg
    logger.warning("the resumed run trains %s: ppo.mask_actions = %s is used, not %s",
                   "MaskablePPO" if masked else "PPO", str(masked).lower(),
                   str(cfg.ppo.mask_actions).lower())
    return dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, mask_actions=masked))


def build_model(cfg: Config, env: VecEnv, resume_from: Path | None) -> BaseAlgorithm:
    """A new PPO (MaskablePPO with ``ppo.mask_actions``) with the configured
    hyper-parameters, or one loaded to continue."""
    algorithm = sb3_class(cfg.ppo.mask_actions)
    if resume_from is not None:
        return algorithm.load(resume_from, env=env, device="cpu")
    p = cfg.ppo
    arch = net_arch(p.net_arch)
    return algorithm(
        "MlpPolicy", env, n_steps=p.n_steps, batch_size=p.batch_size, n_epochs=p.n_epochs,
        learning_rate=p.learning_rate, gamma=p.gamma, gae_lambda=p.gae_lambda,
        clip_range=p.clip_range, ent_coef=p.ent_coef, seed=p.seed, device="cpu", verbose=0,
        policy_kwargs={"net_arch": {"pi": arch, "vf": arch}},
    )


def train_ppo(
    cfg: Config,
    ws: Workspace,
    sink: MetricsSink,
    timesteps: int | None = None,
    run: str | None = None,
    resume: str | None = None,
    control: Callable[[TrainingHandle], bool] | None = None,
    on_start: Callable[[RunStart], None] | None = None,
) -> TrainResult:
    """Train (or continue training) a PPO policy; checkpoints go to ``checkpoints/<run>/``.

    Args:
        cfg: the configuration.
        ws: the workspace (market store and checkpoints).
        sink: receives metrics and closed trades.
        timesteps: how many more timesteps to train (default ``train.timesteps``).
        run: run name (default: new, or the resumed checkpoint's run).
        resume: a checkpoint to continue from (see ``resolve_checkpoint``).
        control: called every step with the callback; False ends training after saving
            ``latest`` (Ctrl-C, worker commands).
        on_start: called before learning with the run, the gate threshold and the
            starting timestep count.
    """
    torch.set_num_threads(cfg.train.torch_threads)
    setup = prepare_run(cfg, ws, run, resume)
    data = load_market_data(ws.market_db, cfg.data.symbol, cfg.data.timeframe)
    cfg, data, pin = pinned_training(cfg, data, setup.pin)
    cfg = resumed_masking(cfg, setup.masked)
    env = make_vec_env(cfg, data, setup.schedule, seed=cfg.ppo.seed + setup.start_timesteps)
    gate = float(env.get_attr("gate_sigma_pips")[0])
    model = build_model(cfg, env, setup.resume_from)
    start = int(model.num_timesteps)
    if on_start is not None:
        on_start(RunStart(setup.run, setup.run_dir, gate, start))
    policy = CheckpointPolicy(
        RunCheckpoints(setup.run_dir, cfg.train.keep_periodic), cfg.train,
        config_record(cfg), observation_spec("ppo"), FEATURE_SPEC_VERSION,
        start_timesteps=start, best_sqn=setup.best_sqn, agent=AGENT, pinned=pin.to_dict(),
    )
    callback = TrainingCallback(sink, setup.schedule, policy, cfg.train.best_window,
                                cfg.train.progress_seconds, control)
    started = time.monotonic()
    model.learn(total_timesteps=timesteps or cfg.train.timesteps, callback=callback,
                reset_num_timesteps=setup.resume_from is None)
    env.close()
    latest = setup.run_dir / "latest.json"
    return TrainResult(setup.run, setup.run_dir, start, int(model.num_timesteps),
                       time.monotonic() - started, gate, callback.last_metrics,
                       callback.rolling.metrics(), latest)


def train_request(request: TrainRequest) -> TrainResult:
    """:func:`train_ppo` for a :class:`~fxconsole.agents.base.TrainRequest` (the seam)."""
    return train_ppo(request.config, request.workspace, request.sink, request.timesteps,
                     request.run, request.resume, request.control, request.on_start)
