"""Typed, validated configuration: defaults, then a TOML file, then the environment.

Every key has a default and a one-line doc (``fxconsole config init`` writes them all as a
commented TOML file). A file key ``[data] symbol`` is overridden by the environment
variable ``FXCONSOLE_DATA__SYMBOL``. A wrong key or value raises :class:`ConfigError`
naming the key, the value and what is allowed.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fxconsole.timeutil import TIMEFRAME_SECONDS

CONFIG_FILE = "fxconsole.toml"
REWARDS = ("amddp1", "mtm")  # SPEC §4's reward variants (env.reward)
AUTO_DEPLOY_MODES = ("auto", "validated", "off")  # live.auto_deploy
ENV_PREFIX = "FXCONSOLE_"


class ConfigError(ValueError):
    """A configuration key or value is not allowed."""


def _opt(default: Any, doc: str, **rules: Any) -> Any:
    """A config field with its doc and validation rules (choices, min, max, gt)."""
    return field(default=default, metadata={"doc": doc, **rules})


# The agents of fxconsole.agents.registry and the observation kind each consumes (the
# config sits below the agents, so it names them; a test keeps the two equal).
AGENT_OBSERVATIONS: dict[str, str] = {"ppo": "ppo", "muzero": "muzero"}
AGENTS: tuple[str, ...] = tuple(AGENT_OBSERVATIONS)


@dataclass(frozen=True)
class DataConfig:
    """Market data, features and sessions (SPEC §1–§3)."""

    symbol: str = _opt("GBPJPY", "symbol traded and stored by default")
    timeframe: str = _opt("M1", "bar timeframe", choices=tuple(TIMEFRAME_SECONDS))
    mm_window: int = _opt(1440, "min-max scaling window W, in rows (SPEC §2)", min=2)
    session_bars: int = _opt(360, "bars per session / episode (SPEC §3)", min=2)
    max_gap_periods: int = _opt(
        10, "largest allowed ts step inside a session, in bar periods", min=1
    )
    warmup_rows: int = _opt(31, "rows before a session start that must have features", min=0)
    min_session_range_pips: float = _opt(
        1.0, "minimum mean (high - low) in pips over a session", min=0.0
    )
    train_fraction: float = _opt(0.70, "train split: ts < t0 + f * span", gt=0.0, max=1.0)
    validation_fraction: float = _opt(
        0.85, "validation split ends at t0 + f * span (test after)", gt=0.0, max=1.0
    )
    drop_invalid_rows: bool = _opt(
        False, "drop invalid bars on import (reporting the count) instead of failing"
    )


@dataclass(frozen=True)
class SynthConfig:
    """The embedded default data set (``fxconsole data synth``)."""

    years: float = _opt(3.5, "years of synthetic M1 bars (3.5 ≈ 1.3M bars)", gt=0.0, max=50.0)
    seed: int = _opt(7, "random seed: the same seed gives the same bars")
    signal: float = _opt(
        1.0, "planted short-term predictability: 0 none, 1 calibrated (a 30-minute momentum "
        "rule nets a few pips after spread), up to 4", min=0.0, max=4.0,
    )
    start: str = _opt("2021-01-03", "first calendar day (UTC, ISO date)")


@dataclass(frozen=True)
class EnvConfig:
    """The trading environment (SPEC §4)."""

    spread_pips: float = _opt(4.0, "spread in pips, charged once at entry", min=0.0)
    open_reward: float = _opt(1.0, "reward for a BUY/SELL that opens a position")
    hold_flat_reward: float = _opt(-0.05, "reward for HOLD while flat")
    drawdown_penalty: float = _opt(0.01, "close reward = pips - this * max_dd", min=0.0)
    gating: bool = _opt(True, "block entries while σ20 < gate_sigma_pips")
    gate_sigma_pips: float = _opt(
        0.0, "gate threshold in pips; 0 = calibrate from the train split", min=0.0
    )
    gate_quantile: float = _opt(
        0.5, "quantile of σ20 over train-session bars used to calibrate", min=0.0, max=1.0
    )
    observation: str = _opt("ppo", "observation layout", choices=("ppo", "muzero"))
    reward: str = _opt(
        "mtm", "reward: amddp1 (entry bonus, idle penalty, pips − dd penalty at close) or "
        "mtm (mark to market: the change of the open trade's pips each step)",
        choices=REWARDS,
    )


@dataclass(frozen=True)
class PPOConfig:
    """stable-baselines3 PPO (defaults chosen for speed on 2 cores)."""

    n_envs: int = _opt(8, "environments stepped together (DummyVecEnv)", min=1, max=64)
    n_steps: int = _opt(256, "steps per environment per rollout", min=8)
    batch_size: int = _opt(512, "minibatch size", min=8)
    n_epochs: int = _opt(10, "optimisation epochs per rollout", min=1)
    learning_rate: float = _opt(3e-4, "Adam learning rate", gt=0.0)
    gamma: float = _opt(0.99, "discount factor", gt=0.0, max=1.0)
    gae_lambda: float = _opt(0.95, "GAE lambda", min=0.0, max=1.0)
    clip_range: float = _opt(0.2, "PPO clip range", gt=0.0)
    ent_coef: float = _opt(0.01, "entropy bonus", min=0.0)
    net_arch: str = _opt("128,128", "hidden layer sizes of policy and value nets")
    seed: int = _opt(0, "random seed of the run")
    mask_actions: bool = _opt(
        True, "train sb3-contrib's MaskablePPO: illegal actions (SPEC §4) are masked out"
    )


@dataclass(frozen=True)
class MuZeroConfig:
    """The Stochastic MuZero agent (SPEC §7; defaults are the seed's)."""

    channels: int = _opt(240, "TCN channels of the representation", min=8)
    static_hidden: int = _opt(16, "width of the position MLP (state = channels + this)", min=1)
    dropout: float = _opt(0.1, "TCN dropout", min=0.0, max=0.9)
    simulations: int = _opt(5, "search simulations per decision", min=1, max=400)
    discount: float = _opt(0.997, "discount γ of the search and the value targets",
                           gt=0.0, max=1.0)
    dirichlet_alpha: float = _opt(1.0, "Dirichlet noise α at self-play roots", gt=0.0)
    noise_fraction: float = _opt(0.5, "share of the Dirichlet noise in root priors",
                                 min=0.0, max=1.0)
    temperature_start: float = _opt(1.0, "self-play visit temperature at episode 0", gt=0.0)
    temperature_end: float = _opt(0.5, "visit temperature after temperature_episodes", gt=0.0)
    temperature_episodes: int = _opt(20_000, "episodes over which the temperature decays",
                                     min=1)
    epsilon: float = _opt(0.2, "self-play ε-greedy: a random legal action this often",
                          min=0.0, max=1.0)
    unroll: int = _opt(5, "unroll steps K of the learner", min=1, max=20)
    td_steps: int = _opt(5, "n of the n-step value target", min=1, max=100)
    policy_weight: float = _opt(1.0, "policy loss weight", min=0.0)
    value_weight: float = _opt(0.25, "value loss weight", min=0.0)
    reward_weight: float = _opt(1.0, "reward loss weight", min=0.0)
    chance_weight: float = _opt(1.0, "chance (outcome) loss weight", min=0.0)
    afterstate_value_weight: float = _opt(0.25, "afterstate value (Q) loss weight", min=0.0)
    learning_rate: float = _opt(0.002, "Adam learning rate (fixed)", gt=0.0)
    weight_decay: float = _opt(1e-5, "Adam weight decay", min=0.0)
    grad_clip: float = _opt(1.0, "gradient norm clip", gt=0.0)
    batch_size: int = _opt(64, "learner batch", min=2)
    replay_capacity: int = _opt(10_000, "transitions in the replay buffer", min=360)
    trade_quota: float = _opt(0.3, "least share of in-trade transitions the buffer keeps",
                              min=0.0, max=1.0)
    success_capacity: int = _opt(1_000, "success memory: last transitions with a big reward",
                                 min=0)
    success_pips: float = _opt(5.0, "a reward above this many pips enters the success memory")
    success_fraction: float = _opt(0.125, "share of each batch drawn from the success memory",
                                   min=0.0, max=1.0)
    updates_per_episode: float = _opt(
        8.0, "learner updates per new self-play episode (the replay ratio)", gt=0.0)
    envs: int = _opt(64, "sessions a self-play actor plays in lockstep (one batched search)",
                     min=1, max=1024)
    checkpoint_episodes: int = _opt(50, "save `latest` every this many episodes", min=1)
    replay_shards: int = _opt(20, "episode shards kept in checkpoints/<run>/replay (a shard "
                              "is one batch of `envs` episodes, ~40 KB each)", min=1)
    seed: int = _opt(0, "random seed of the run")


@dataclass(frozen=True)
class WeightingConfig:
    """Weighted learning of losing trades (SPEC §5)."""

    enabled: bool = _opt(True, "scale losing trades' rewards by the loser weight")
    phase1_winners: int = _opt(1000, "losers weigh 0 until this many winning trades", min=0)
    ramp_trades: int = _opt(10_000, "closed trades over which the weight ramps to 1", min=1)
    ramp_start: float = _opt(0.2, "loser weight at the start of phase 2", min=0.0, max=1.0)


@dataclass(frozen=True)
class TrainConfig:
    """Training runs and checkpoints."""

    agent: str = _opt("ppo", "the agent the trainer runs (`--agent`)", choices=AGENTS)
    timesteps: int = _opt(1_000_000, "timesteps per `fxconsole train` call", min=1)
    latest_every: int = _opt(50_000, "save `latest` every this many timesteps", min=1)
    periodic_every: int = _opt(250_000, "save a periodic checkpoint this often", min=1)
    keep_periodic: int = _opt(5, "periodic checkpoints kept", min=1)
    best_window: int = _opt(500, "closed trades in the rolling training SQN for `best`", min=30)
    torch_threads: int = _opt(1, "torch threads per process", min=1)
    progress_seconds: float = _opt(2.0, "seconds between progress lines", gt=0.0)


@dataclass(frozen=True)
class ValidationConfig:
    """Backtests, Monte Carlo and the promotion rule (SPEC §6)."""

    split: str = _opt("validation", "split validated (the test split is examined once, "
                      "after validation passes)", choices=("validation",))
    runs: int = _opt(200, "Monte Carlo resamples", min=1, max=1_000_000)
    seed: int = _opt(0, "seed of the Monte Carlo and the random baseline", min=0)
    min_trades: int = _opt(30, "validation trades a checkpoint needs to become `best`", min=1)
    beat_baselines: bool = _opt(
        True, "promotion needs SQN and expectancy above both baselines"
    )
    p5_final_pips: float = _opt(
        0.0, "promotion needs the Monte Carlo 5th-percentile final pips above this"
    )
    min_dsr: float = _opt(
        0.95, "promotion needs the deflated SQN at least this, on validation and on the "
        "test exam", min=0.0, max=1.0,
    )
    test_expectancy: float = _opt(
        0.0, "the test exam needs the expectancy (pips) above this"
    )
    sizing_years: float = _opt(2.0, "safe-f / CAR25 horizon in years (SPEC §6.5)", gt=0.0,
                               max=50.0)
    sizing_max_drawdown: float = _opt(
        0.20, "safe-f: the drawdown (fraction of the peak) its 95th percentile may reach",
        gt=0.0, max=1.0,
    )
    sizing_runs: int = _opt(1000, "safe-f / CAR25 Monte Carlo runs", min=10, max=100_000)
    tuning_study: str = _opt(
        "", "the tuning study this configuration came from (set by `tune --apply`): the "
        "checkpoints of all its trials count in K of the deflated SQN"
    )


@dataclass(frozen=True)
class TuneConfig:
    """The tuner worker's study (``fxconsole tune`` takes the same as options)."""

    study: str = _opt("ppo", "study name (its trials are runs tune-<study>-<n>)")
    trials: int = _opt(20, "finished trials the study should reach", min=1)
    trial_seconds: float = _opt(300.0, "training time of one trial", gt=0.0)
    reports: int = _opt(3, "validations (pruning points) per trial", min=1, max=100)
    seed: int = _opt(0, "TPE sampler seed", min=0)


@dataclass(frozen=True)
class SupervisorConfig:
    """The worker pool (supervisord semantics)."""

    run: str = _opt("main", "training run the workers follow")
    collectors: int = _opt(1, "collector workers", min=0, max=16)
    validator: bool = _opt(True, "run the validator worker")
    tuner: bool = _opt(False, "run the tuner worker: a tuning study ([tune]) under the supervisor")
    live: bool = _opt(True, "run the live worker (paper broker)")
    startsecs: float = _opt(3.0, "a worker counts as started after this many seconds up", min=0.0)
    startretries: int = _opt(3, "failed starts before a worker becomes FATAL", min=0)
    stopwaitsecs: float = _opt(10.0, "SIGTERM, then SIGKILL after this many seconds", min=0.1)
    heartbeat_timeout: float = _opt(
        60.0, "a worker silent this long is killed and restarted", gt=0.0
    )
    status_seconds: float = _opt(5.0, "seconds between headless status lines", gt=0.0)
    crash_limit: int = _opt(
        5, "crashes after RUNNING within crash_window that make a worker FATAL (0: never)",
        min=0,
    )
    crash_window: float = _opt(300.0, "seconds over which crash_limit counts crashes", gt=0.0)


@dataclass(frozen=True)
class WorkersConfig:
    """Pacing of the collector, validator and paper live workers."""

    collector_sessions: int = _opt(16, "sessions a collector plays per batch", min=1)
    collector_pause: float = _opt(5.0, "seconds a collector rests between batches", min=0.0)
    validator_poll: float = _opt(5.0, "seconds between the validator's checks", gt=0.0)


@dataclass(frozen=True)
class LiveConfig:
    """The live worker: which broker, what it trades, how the paper broker replays."""

    broker: str = _opt("paper", "broker the live worker trades through", choices=("paper", "oanda"))
    units: int = _opt(1, "units per position (max 1 position, no hedging)", min=1)
    history_bars: int = _opt(
        2000, "complete bars kept to compute features incrementally (>= data.mm_window + 60)",
        min=100,
    )
    poll_seconds: float = _opt(1.0, "seconds between checks for a new complete bar", gt=0.0)
    flatten_on_kill: bool = _opt(False, "the kill switch also closes the open position")
    paper_source: str = _opt(
        "replay", "paper bars: replay stored bars or synthesise new ones",
        choices=("replay", "synth"),
    )
    paper_split: str = _opt(
        "test", "stored bars the paper broker replays", choices=("train", "validation", "test")
    )
    bars_per_second: float = _opt(2.0, "paper broker replay speed (bars per second)", gt=0.0)
    auto_deploy: str = _opt(
        "auto", "trade the run's newest validated checkpoint by itself: auto = on the paper "
        "broker only, validated = on any broker (OANDA included), off = never",
        choices=AUTO_DEPLOY_MODES,
    )
    unknown_grace_seconds: float = _opt(
        30.0, "an UNKNOWN order not found this long after it became UNKNOWN is NOT_FOUND "
        "(a fresh order takes a moment to show)", min=0.0,
    )


@dataclass(frozen=True)
class RiskConfig:
    """Limits checked before every order; a tripped limit survives a restart."""

    max_units: int = _opt(1, "largest absolute position in units", min=1)
    daily_loss_pips: float = _opt(
        150.0, "stop entries for the trading day after losing this many pips (0: off)", min=0.0
    )
    daily_loss_ccy: float = _opt(
        0.0, "stop entries after losing this much account currency in a day (0: off)", min=0.0
    )
    max_orders_per_minute: int = _opt(6, "orders allowed in any 60 s window", min=1)
    stale_price_seconds: float = _opt(
        30.0, "refuse orders when the latest price is older than this", gt=0.0
    )
    stale_bar_periods: float = _opt(
        3.0, "refuse orders when the newest complete bar is older than this many periods",
        gt=0.0,
    )
    week_close_minutes: float = _opt(
        360.0, "no entries this close to Friday's close: with the forced close after "
        "data.session_bars - 1 bars no position is held over the weekend", min=0.0,
    )


@dataclass(frozen=True)
class OandaConfig:
    """OANDA v20 (credentials OANDA_TOKEN / OANDA_ACCOUNT come from the environment or .env)."""

    environment: str = _opt(
        "practice", "practice or live (live also needs OANDA_ALLOW_LIVE=yes in the environment)",
        choices=("practice", "live"),
    )
    allow_live: bool = _opt(False, "explicit opt-in to trade a live account")
    api_url: str = _opt("", "REST base URL (empty: OANDA's for the environment; env OANDA_API_URL)")
    stream_url: str = _opt(
        "", "stream base URL (empty: OANDA's for the environment; env OANDA_STREAM_URL)"
    )
    connect_timeout: float = _opt(5.0, "HTTP connect timeout, seconds", gt=0.0)
    read_timeout: float = _opt(10.0, "HTTP read timeout, seconds", gt=0.0)
    stream_silence_seconds: float = _opt(
        20.0, "reconnect the pricing stream after this long without data or heartbeat", gt=0.0
    )
    retries: int = _opt(4, "retries of a read on 429 / 5xx / timeout (orders never)", min=0)
    read_deadline_seconds: float = _opt(
        30.0, "a read gives up (retries included) after this long: below the supervisor's "
        "heartbeat timeout", gt=0.0,
    )
    backoff_seconds: float = _opt(0.5, "first retry delay (doubles, jittered)", gt=0.0)
    backoff_cap_seconds: float = _opt(8.0, "largest retry delay", gt=0.0)


@dataclass(frozen=True)
class AlertsConfig:
    """Monitoring rules; each raises an event once until it clears."""

    expectancy_below: float = _opt(-10.0, "'training diverging' below this expectancy (pips)")
    win_rate_below: float = _opt(0.05, "'model collapse' below this win rate", min=0.0, max=1.0)
    trade_ratio_below: float = _opt(
        0.5, "'hold-only behaviour' when fewer episodes than this trade", min=0.0, max=1.0
    )
    min_trades: int = _opt(100, "training trades before the rules apply", min=0)


@dataclass(frozen=True)
class OpsConfig:
    """Bounded stores: the console database's budget and retention, log rotation."""

    db_max_mb: int = _opt(512, "console.sqlite is kept under this many MB", min=1)
    retention_seconds: float = _opt(
        300.0, "seconds between the supervisor's retention passes", gt=0.0
    )
    trade_rows: int = _opt(
        50_000, "raw train/collect trade rows kept per run and source (all are counted)",
        min=1000,
    )
    episode_rows: int = _opt(20_000, "train/collect episode rows kept per run and source",
                             min=100)
    metrics_full_hours: float = _opt(6.0, "metrics kept at full resolution this long", gt=0.0)
    metrics_minute_days: float = _opt(
        7.0, "then one metric row per key a minute this long; one an hour after", gt=0.0
    )
    log_max_mb: float = _opt(10.0, "<worker>.out and supervisor.log rotate past this size",
                             gt=0.0)
    log_backups: int = _opt(3, "rotated .out / supervisor.log files kept", min=1)


@dataclass(frozen=True)
class NotifyConfig:
    """Notifications of the events an operator must see (fxconsole.ops.notify)."""

    webhook_url: str = _opt(
        "", "POST each notifying event here as JSON ('' = off); http:// or https://; it may "
        "hold a secret token: only its host is ever logged",
    )
    timeout_seconds: float = _opt(5.0, "seconds one webhook request may take", gt=0.0)
    retries: int = _opt(5, "retries of a failed webhook request before the event is given up",
                        min=0)
    backoff_seconds: float = _opt(1.0, "delay before the first retry, doubled each retry",
                                  min=0.0)
    backoff_cap_seconds: float = _opt(60.0, "longest delay between two retries", min=0.0)
    bell: bool = _opt(True, "ring the terminal bell in the console on a notifying event")


@dataclass(frozen=True)
class UiConfig:
    """The console UI (fxconsole.ui)."""

    timezone: str = _opt(
        "UTC", "zone the console shows times in (an IANA name such as 'Europe/London'; "
        "every time shown names it)",
    )


@dataclass(frozen=True)
class ClusterConfig:
    """Collectors and validators as Ray actors on a cluster (issue 15; ``ray`` extra)."""

    backend: str = _opt(
        "local", "where collectors run: local processes, or Ray actors placed by the "
        "'cluster' worker (the Ray driver)", choices=("local", "ray"),
    )
    address: str = _opt(
        "", "Ray cluster to join: 'auto' (one started on this host by ray start), "
        "'HOST:PORT' of its head, or '' (a private one-host cluster of the driver)",
    )
    collectors: int = _opt(1, "collector actors placed on the cluster", min=0, max=256)
    validators: int = _opt(
        0, "validator actors placed on the cluster (> 0: they replace the local validator; "
        "the driver records their results)", min=0, max=64,
    )
    cpus_per_actor: float = _opt(1.0, "CPUs Ray reserves for each actor", gt=0.0)
    max_restarts: int = _opt(-1, "Ray restarts of a dead actor (-1: always)", min=-1)
    max_task_retries: int = _opt(3, "retries of a task whose actor died (-1: always)", min=-1)
    fallback_local: bool = _opt(
        False, "when the cluster's head is lost, run supervisor.collectors local collectors",
    )
    dashboard: bool = _opt(False, "start Ray's dashboard with a private cluster")
    head_timeout: float = _opt(
        60.0, "seconds the driver waits for a silent head before it exits (Ray's GCS "
        "reconnect timeout; the environment's RAY_gcs_rpc_server_reconnect_timeout_s wins)",
        min=5.0, max=3600.0,
    )


@dataclass(frozen=True)
class Config:
    """The whole configuration, one section per concern."""

    data: DataConfig = field(default_factory=DataConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    muzero: MuZeroConfig = field(default_factory=MuZeroConfig)
    weighting: WeightingConfig = field(default_factory=WeightingConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    oanda: OandaConfig = field(default_factory=OandaConfig)
    ops: OpsConfig = field(default_factory=OpsConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    @property
    def collectors(self) -> int:
        """The run's collectors: Ray actors (``cluster.collectors``) with the Ray backend,
        else local processes (``supervisor.collectors``)."""
        return self.cluster.collectors if self.cluster.backend == "ray" \
            else self.supervisor.collectors

    def validated(self) -> Config:
        """Check cross-key rules; return self."""
        url = self.notify.webhook_url
        if url and not url.startswith(("http://", "https://")):  # never echo it: a token
            raise ConfigError("notify.webhook_url must start with http:// or https:// "
                              f"(it starts with {url.split(':', 1)[0][:10]!r})")
        if self.data.train_fraction >= self.data.validation_fraction:
            raise ConfigError(
                f"data.train_fraction = {self.data.train_fraction} must be below "
                f"data.validation_fraction = {self.data.validation_fraction}"
            )
        try:
            date.fromisoformat(self.synth.start)
        except ValueError:
            raise ConfigError(
                f"synth.start = {self.synth.start!r} must be an ISO date like '2021-01-03'"
            ) from None
        arch = self.ppo.net_arch.replace(" ", "").split(",")
        if not all(part.isdigit() and int(part) > 0 for part in arch):
            raise ConfigError(
                f"ppo.net_arch = {self.ppo.net_arch!r} must be comma-separated positive "
                "integers, e.g. '128,128'"
            )
        if self.ppo.batch_size > self.ppo.n_steps * self.ppo.n_envs:
            raise ConfigError(
                f"ppo.batch_size = {self.ppo.batch_size} exceeds the rollout size "
                f"ppo.n_steps * ppo.n_envs = {self.ppo.n_steps * self.ppo.n_envs}"
            )
        if self.live.history_bars < self.data.mm_window + 60:
            raise ConfigError(
                f"live.history_bars = {self.live.history_bars} must be at least "
                f"data.mm_window + 60 = {self.data.mm_window + 60} (features need that history)"
            )
        try:
            ZoneInfo(self.ui.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"ui.timezone = {self.ui.timezone!r} is not a time zone (an IANA name such "
                "as 'UTC' or 'Europe/London')"
            ) from None
        if self.live.units > self.risk.max_units:
            raise ConfigError(
                f"live.units = {self.live.units} exceeds risk.max_units = {self.risk.max_units}"
            )
        return self


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load the config: defaults, then ``path`` (if it exists), then the environment.

    Args:
        path: a TOML file; a missing file means all defaults.
        environ: the environment to read overrides from (``os.environ`` by default).

    Raises:
        ConfigError: naming the file, key, value and what is allowed.
    """
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None and path.exists():
        source = str(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the config file: {exc}") from None
    env = os.environ if environ is None else environ
    _check_env_names(env)
    sections: dict[str, Any] = {}
    for f in fields(Config):
        section_type = get_type_hints(Config)[f.name]
        values = raw.pop(f.name, {})
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{f.name}] must be a table, got {values!r}")
        sections[f.name] = _build_section(f.name, section_type, values, env, source)
    if raw:
        allowed = ", ".join(f.name for f in fields(Config))
        raise ConfigError(f"{source}: unknown section(s) {sorted(raw)}; allowed: {allowed}")
    return Config(**sections).validated()


def _check_env_names(env: Mapping[str, str]) -> None:
    """Refuse an override ``FXCONSOLE_<SECTION>__<KEY>`` naming no config key, as a file key
    would be refused. Variables without ``__`` (``FXCONSOLE_WORKSPACE``…) are not overrides."""
    sections = {f.name: get_type_hints(Config)[f.name] for f in fields(Config)}
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or "__" not in var:
            continue
        section, _, key = var[len(ENV_PREFIX):].partition("__")
        cls = sections.get(section.lower())
        if cls is None:
            raise ConfigError(f"environment {var}: unknown section {section.lower()!r}; "
                              f"allowed: {', '.join(sections)}")
        known = [f.name for f in fields(cls)]
        if key.lower() not in known:
            raise ConfigError(f"environment {var}: unknown key {section.lower()}.{key.lower()}; "
                              f"allowed in [{section.lower()}]: {', '.join(known)}")
        if var != var.upper():
            raise ConfigError(f"environment {var}: write it in capitals, {var.upper()}")


def _build_section(
    name: str, cls: type, values: dict[str, Any], env: Mapping[str, str], source: str
) -> Any:
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(f'{name}.{k}' for k in unknown)}; "
            f"allowed in [{name}]: {', '.join(known)}"
        )
    kwargs: dict[str, Any] = {}
    for key, f in known.items():
        env_key = f"{ENV_PREFIX}{name.upper()}__{key.upper()}"
        where = source
        if env_key in env:
            value: Any = _from_env(f"{name}.{key}", env[env_key], hints[key], env_key)
            where = f"environment {env_key}"
        elif key in values:
            value = values[key]
        else:
            continue
        kwargs[key] = _check(f"{name}.{key}", value, hints[key], f.metadata, where)
    return cls(**kwargs)


def _from_env(key: str, text: str, typ: type, env_key: str) -> Any:
    try:
        if typ is bool:
            lowered = text.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(text)
            return lowered in {"1", "true", "yes", "on"}
        return typ(text)
    except ValueError:
        raise ConfigError(
            f"environment {env_key}: {key} = {text!r} is not a valid {typ.__name__}"
        ) from None


def _check(key: str, value: Any, typ: type, rules: Mapping[str, Any], where: str) -> Any:
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if typ is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: {key} = {value!r} must be a finite number")
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: {key} = {value!r} must be of type {typ.__name__}")
    choices = rules.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{where}: {key} = {value!r} is not allowed; allowed: {list(choices)}")
    if "min" in rules and value < rules["min"]:
        raise ConfigError(f"{where}: {key} = {value!r} must be ≥ {rules['min']}")
    if "gt" in rules and value <= rules["gt"]:
        raise ConfigError(f"{where}: {key} = {value!r} must be > {rules['gt']}")
    if "max" in rules and value > rules["max"]:
        raise ConfigError(f"{where}: {key} = {value!r} must be ≤ {rules['max']}")
    return value


def config_record(config: Config) -> dict[str, Any]:
    """``config`` as a plain dict to keep in manifests and the database: the webhook URL
    (it may hold a token) reduced to its scheme and host."""
    record = asdict(config)
    url = config.notify.webhook_url
    if url:
        scheme, _, rest = url.partition("://")
        host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
        record["notify"]["webhook_url"] = f"{scheme}://{host}/…"
    return record


def with_overrides(config: Config, section: str, **values: Any) -> Config:
    """Return ``config`` with keys of one section replaced (validated like the file)."""
    current = getattr(config, section)
    hints = get_type_hints(type(current))
    known = {f.name: f for f in fields(current)}
    checked = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown key {section}.{key}; allowed: {', '.join(known)}")
        checked[key] = _check(f"{section}.{key}", value, hints[key], known[key].metadata, "option")
    return replace(config, **{section: replace(current, **checked)}).validated()


def default_toml() -> str:
    """Render every key with its default and doc as a commented TOML file."""
    lines = ["# fxconsole configuration. Every key is optional; shown with its default.",
             f"# Environment variables override: {ENV_PREFIX}<SECTION>__<KEY>.", ""]
    for section in fields(Config):
        cls = get_type_hints(Config)[section.name]
        lines.append(f"[{section.name}]  # {(cls.__doc__ or '').strip()}")
        for f in fields(cls):
            default = f.default if f.default is not MISSING else None
            lines.append(f"# {f.metadata.get('doc', '')}")
            lines.append(f"{f.name} = {toml_value(default)}")
        lines.append("")
    return "\n".join(lines)


def toml_value(value: Any) -> str:
    """A config value as TOML (bools, strings, numbers)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)
