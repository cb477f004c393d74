"""Tuning studies (``fxconsole tune``): Optuna's TPE sampler and median pruner over short
PPO runs, every trial's checkpoints counted in K of the deflated SQN.

A trial is a run ``tune-<study>-<trial>``: it trains for ``trial_seconds`` in
``reports`` chunks; after each chunk its ``latest`` checkpoint goes through the one
validation path (:func:`~fxconsole.ops.promotion.validate_and_promote`), and the best
validation SQN so far is reported to the pruner. The trial's value is the validation SQN
of its best checkpoint. Each trial is recorded in the console database
(``tuning_trials``) before its first validation, so the deflated SQN of any run of the
study (SPEC §6.3) counts the checkpoints of all its trials: the winner is judged as one
of many.

The study lives in ``<workspace>/tuning.db`` (Optuna's RDB storage on SQLite): a study
interrupted by Ctrl-C resumes where it stopped, the interrupted trial re-run with its
parameters; a trial of a killed process is failed by Optuna's heartbeat and retried.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fxconsole.agents.base import UNLIMITED_TIMESTEPS
from fxconsole.agents.manifest import validate_name
from fxconsole.config import Config
from fxconsole.ops.db import transaction
from fxconsole.sqlitetx import dumps_json
from fxconsole.tuning.space import configured, sample
from fxconsole.workspace import Workspace

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

STORAGE_FILE = "tuning.db"
HEARTBEAT_SECONDS = 60
FINISHED = ("COMPLETE", "PRUNED")


class Interrupted(KeyboardInterrupt):
    """The user stopped the study (Ctrl-C); the running trial re-runs on resume.

    A KeyboardInterrupt, so that Optuna fails the trial and re-raises it, while any other
    error of a trial (``catch=(Exception,)``) fails only that trial."""


@dataclass(frozen=True)
class TuneRequest:
    """One ``tune`` call.

    Attributes:
        config: the base configuration every trial starts from.
        workspace: market data, checkpoints, the console database, the study storage.
        study: the study name (a file-name-safe word).
        trials: the study's total of finished (complete or pruned) trials to reach.
        trial_seconds: training time of one trial.
        reports: validations (and pruning decisions) per trial.
        seed: the TPE sampler's seed.
        agent: the agent tuned (only ``ppo``).
    """

    config: Config
    workspace: Workspace
    study: str
    trials: int
    trial_seconds: float = 300.0
    reports: int = 3
    seed: int = 0
    agent: str = "ppo"


@dataclass
class TrialRow:
    """One trial as ``tune --show`` and the console list it."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    run: str
    seconds: float | None
    note: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: ``trial 3 pruned, validation SQN +0.12 (tune-s-003) · why``."""
        value = "—" if self.value is None else f"{self.value:+.2f}"
        return (f"trial {self.number} {self.state.lower()}, validation SQN {value} "
                f"({self.run}){' · ' + self.note if self.note else ''}")


def check_study_name(name: str) -> str:
    """The study name, if it is a safe word (it becomes part of run names).

    Raises:
        ValueError: naming the value and what is allowed.
    """
    try:
        return validate_name(name, "study name")
    except ValueError as exc:
        raise ValueError(str(exc)) from None


def trial_run(study: str, number: int) -> str:
    """The run a trial trains: ``tune-<study>-<number:03d>``."""
    return f"tune-{study}-{number:03d}"


def storage_url(ws: Workspace) -> str:
    """Optuna's RDB storage URL of the workspace's studies."""
    return f"sqlite:///{ws.root / STORAGE_FILE}"


def open_study(ws: Workspace, name: str, seed: int = 0, create: bool = True) -> optuna.Study:
    """The study ``name`` of the workspace (created if ``create``), TPE and median pruner.

    Raises:
        KeyError: ``create`` is false and there is no such study (naming those there are).
    """
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():  # heartbeats are "experimental" (stable since v2.8)
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = RDBStorage(
            storage_url(ws), heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=2 * HEARTBEAT_SECONDS,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1))
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if not create:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        if name not in names:
            raise KeyError(f"no study {name!r} in {ws.root / STORAGE_FILE}; studies: "
                           f"{', '.join(names) or 'none'}")
    return optuna.create_study(storage=storage, study_name=name, direction="maximize",
                               sampler=sampler, pruner=pruner, load_if_exists=True)


def record_trial(conn: sqlite3.Connection, study: str, row: TrialRow) -> None:
    """Write (or update) a trial's row in ``tuning_trials``."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO tuning_trials (run, study, trial, state, value, params, note, ts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run) DO UPDATE SET"
            " state = excluded.state, value = excluded.value, params = excluded.params,"
            " note = excluded.note, ts = excluded.ts",
            (row.run, study, row.number, row.state,
             None if row.value is None or not math.isfinite(row.value) else row.value,
             dumps_json(row.params), row.note, time.time()))


class TrialSink:
    """Keeps a trial's last metrics only (a tuning run may last days: nothing grows)."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}

    def write(self, step: int, values: dict[str, float]) -> None:
        """Keep the newest values."""
        self.last.update(values)

    def trades(self, step: int, trades: list[dict[str, Any]]) -> None:
        """Trades are not kept."""

    def close(self) -> None:
        """Nothing to close."""


@dataclass
class StudyRunner:
    """Runs trials of one study until it has enough finished ones, or is stopped.

    Attributes:
        request: what to tune.
        conn: the console database (validations, ``tuning_trials``).
        stop: polled during training; true stops the study (the trial re-runs later).
        on_trial: called with each trial's row when it ends (progress output).
        tick: called on every training step (a worker beats its heartbeat).
    """

    request: TuneRequest
    conn: sqlite3.Connection
    stop: Callable[[], bool] = lambda: False
    on_trial: Callable[[TrialRow], None] = lambda row: None
    tick: Callable[[], None] = lambda: None  # called every training step (heartbeats)

    def run(self) -> list[TrialRow]:
        """Optimise until ``request.trials`` trials have finished.

        Raises:
            Interrupted: ``stop`` turned true; the study resumes with the next call.
        """
        req = self.request
        check_study_name(req.study)
        study = open_study(req.workspace, req.study, req.seed)
        _requeue_interrupted(study)
        while not self.stop():
            done = sum(t.state.name in FINISHED for t in study.get_trials(deepcopy=False))
            if done >= req.trials:
                break
            try:
                study.optimize(self._objective, n_trials=1, catch=(Exception,),
                               gc_after_trial=True)
            except Interrupted:
                _requeue_interrupted(study)
                raise
            last = study.get_trials(deepcopy=False)[-1]
            self.on_trial(trial_row(req.study, last))
        if self.stop():
            raise Interrupted(f"study {req.study} stopped")
        return rows(study)

    def _objective(self, trial: optuna.Trial) -> float:
        req = self.request
        params = sample(trial)
        run = trial_run(req.study, trial.number)
        trial.set_user_attr("run", run)
        row = TrialRow(trial.number, "RUNNING", None, params, run, None)
        record_trial(self.conn, req.study, row)  # in the study's K before it validates
        import optuna

        try:
            return self._train_and_validate(trial, row, configured(req.config, params))
        except optuna.TrialPruned:
            raise  # recorded as PRUNED already; Optuna's business from here
        except Exception as exc:
            logger.exception("trial %d (%s) failed", trial.number, run)
            record_trial(self.conn, req.study, _with(row, "FAIL", math.nan, str(exc)))
            raise

    def _until(self, deadline: float) -> Callable[[object], bool]:
        """A training control hook: go on until ``deadline`` (monotonic) or a stop."""
        def go_on(handle: object) -> bool:
            self.tick()
            return not self.stop() and time.monotonic() < deadline

        return go_on

    def _train_and_validate(self, trial: optuna.Trial, row: TrialRow, cfg: Config) -> float:
        import optuna

        from fxconsole.agents.ppo.train import train_ppo
        from fxconsole.ops.promotion import validate_and_promote

        req, run = self.request, row.run
        best = -math.inf
        chunk = req.trial_seconds / req.reports
        for step in range(1, req.reports + 1):
            resume = None if step == 1 else f"{run}/latest"
            train_ppo(cfg, req.workspace, TrialSink(), timesteps=UNLIMITED_TIMESTEPS,
                      run=run if step == 1 else None, resume=resume,
                      control=self._until(time.monotonic() + chunk))
            if self.stop():
                trial.set_user_attr("interrupted", True)
                record_trial(self.conn, req.study, _with(row, "FAIL", best, "interrupted"))
                raise Interrupted(f"trial {trial.number} interrupted")
            out = validate_and_promote(f"{run}/latest", cfg, req.workspace, self.conn,
                                       chart=False)
            metrics = out.evaluation.policy.metrics
            if metrics.trades >= cfg.validation.min_trades:
                best = max(best, metrics.sqn)
            trial.set_user_attr(f"validation_{step}", {
                "timesteps": out.checkpoint.manifest.timesteps, "sqn": metrics.sqn,
                "trades": metrics.trades,
                "dsr": out.report["stages"]["validation"]["deflated"]["dsr"],
                "validated": out.validated})
            value = best if math.isfinite(best) else 0.0
            trial.report(value, step)
            record_trial(self.conn, req.study, _with(row, "RUNNING", value, ""))
            if trial.should_prune():
                record_trial(self.conn, req.study, _with(row, "PRUNED", value,
                                                         f"pruned after report {step}"))
                raise optuna.TrialPruned(f"pruned after report {step}")
        note = "" if math.isfinite(best) else (
            f"no checkpoint reached {cfg.validation.min_trades} validation trades")
        trial.set_user_attr("enough_trades", math.isfinite(best))
        value = best if math.isfinite(best) else 0.0
        record_trial(self.conn, req.study, _with(row, "COMPLETE", value, note))
        return value


def _with(row: TrialRow, state: str, value: float, note: str) -> TrialRow:
    return TrialRow(row.number, state, value if math.isfinite(value) else None, row.params,
                    row.run, None, note)


def _requeue_interrupted(study: optuna.Study) -> None:
    """Enqueue once the parameters of each trial stopped by Ctrl-C."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for t in trials:
        if t.user_attrs.get("interrupted") and t.number not in retried and t.params:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
            logger.info("trial %d was interrupted: queued again", t.number)


def trial_row(study: str, t: optuna.trial.FrozenTrial) -> TrialRow:
    """A frozen Optuna trial as a :class:`TrialRow`."""
    seconds = None
    if t.datetime_start is not None and t.datetime_complete is not None:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds()
    note = ""
    if t.user_attrs.get("interrupted"):
        note = "interrupted (re-run)"
    elif t.user_attrs.get("retry_of") is not None:
        note = f"re-run of trial {t.user_attrs['retry_of']}"
    elif t.user_attrs.get("enough_trades") is False:
        note = "too few validation trades"
    return TrialRow(t.number, t.state.name, t.value, dict(t.params),
                    str(t.user_attrs.get("run", trial_run(study, t.number))), seconds, note,
                    dict(t.user_attrs))


def rows(study: optuna.Study) -> list[TrialRow]:
    """Every trial of the study, by number."""
    return [trial_row(study.study_name, t) for t in study.get_trials(deepcopy=False)]


def winner(trials: list[TrialRow]) -> TrialRow | None:
    """The complete trial with the highest value whose best checkpoint had enough
    validation trades (None if there is none)."""
    eligible = [t for t in trials if t.state == "COMPLETE" and t.value is not None
                and t.attrs.get("enough_trades", True)]
    return max(eligible, key=lambda t: (t.value, -t.number)) if eligible else None


def params_json(params: dict[str, Any]) -> str:
    """Parameters as compact JSON (for tables)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"))
