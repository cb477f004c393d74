"""Validate or backtest a stored checkpoint: load, verify, evaluate, report, pick best."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fxconsole.agents.base import Policy
from fxconsole.agents.checkpoints import RunCheckpoints, resolve_checkpoint
from fxconsole.agents.manifest import CheckpointError, Manifest
from fxconsole.agents.registry import load_policy
from fxconsole.config import Config
from fxconsole.evaluation.backtest import BacktestResult, run_backtest
from fxconsole.evaluation.report import write_report
from fxconsole.evaluation.validate import Evaluation, evaluate, report_dict
from fxconsole.fsutil import atomic_write
from fxconsole.timeutil import timeframe_seconds
from fxconsole.trading.market_data import MarketData, load_market_data
from fxconsole.workspace import Workspace

logger = logging.getLogger(__name__)

TRADE_COLUMNS = ("side", "entry_ts", "exit_ts", "entry_price", "exit_price", "pips", "max_dd",
                 "bars_held", "forced", "session_start_index")


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A verified checkpoint, its policy and the market data it trades."""

    path: Path
    manifest: Manifest
    policy: Policy
    data: MarketData


@dataclass(frozen=True)
class ValidationOutcome:
    """What ``fxconsole validate`` computed and wrote."""

    checkpoint: LoadedCheckpoint
    evaluation: Evaluation
    report: dict[str, Any]
    files: dict[str, Path]
    best: bool


def load_checkpoint(spec: str, cfg: Config, ws: Workspace) -> LoadedCheckpoint:
    """Resolve, verify (hash and observation spec) and load a checkpoint's Policy, by the
    agent its manifest names (PPO plays torch-free through its exported actor). The
    symbol and timeframe are those the checkpoint was trained on.

    Raises:
        CheckpointError: missing, corrupt or mismatching checkpoint.
        FileNotFoundError: no market store.
    """
    path = resolve_checkpoint(spec, ws.checkpoints_dir)
    manifest, policy = load_policy(path)
    data_cfg = manifest.config.get("data", {})
    data = load_market_data(ws.market_db, data_cfg.get("symbol", cfg.data.symbol),
                            data_cfg.get("timeframe", cfg.data.timeframe))
    return LoadedCheckpoint(path, manifest, policy, data)


def default_report_dir(ckpt: LoadedCheckpoint, split: str) -> Path:
    """``checkpoints/<run>/reports/<timesteps>-<sha>-<split>/``."""
    m = ckpt.manifest
    return ckpt.path.parent / "reports" / f"{m.timesteps:012d}-{m.sha256[:12]}-{split}"


def validate_checkpoint(
    spec: str, cfg: Config, ws: Workspace, split: str | None = None, runs: int | None = None,
    seed: int | None = None, report_dir: Path | None = None, chart: bool = True,
) -> ValidationOutcome:
    """Validate a checkpoint, write its report and make it ``best`` if its SQN is highest.

    Nothing is written unless every step before the report succeeded.
    """
    started = time.perf_counter()
    ckpt = load_checkpoint(spec, cfg, ws)
    loaded = time.perf_counter()
    ev = evaluate(ckpt.policy, ckpt.data, cfg, split, runs, seed)
    evaluated = time.perf_counter()
    report = report_dict(ev, ckpt.manifest, ckpt.path, timeframe_seconds(ckpt.data.timeframe))
    report["seconds"] = {"load": round(loaded - started, 3),
                         "evaluate": round(evaluated - loaded, 3)}
    folder = report_dir or default_report_dir(ckpt, ev.split)
    files = write_report(report, ev, folder, chart)
    report["files"] = {kind: str(path) for kind, path in files.items()}
    best = ev.split == "validation" and update_best(ckpt, ev, cfg.validation.min_trades)
    if ev.split == "validation" and ev.verdict.validated:
        with contextlib.suppress(CheckpointError):  # its model may be gone: nothing to tag
            RunCheckpoints(ckpt.path.parent).point("validated", ckpt.manifest,
                                                   {"validation_sqn": ev.policy.metrics.sqn})
    return ValidationOutcome(ckpt, ev, report, files, best)


def update_best(ckpt: LoadedCheckpoint, ev: Evaluation, min_trades: int) -> bool:
    """Point the run's ``best`` at this checkpoint if its validation SQN is the highest.

    Only checkpoints with at least ``min_trades`` validation trades compete (SPEC §6);
    the others are read from the run's earlier validation reports.
    """
    mine = ev.policy.metrics
    if mine.trades < min_trades:
        return False
    run_dir = ckpt.path.parent
    current = RunCheckpoints(run_dir).manifest("best")
    if current is not None and current.sha256 != ckpt.manifest.sha256 and \
            float(current.metrics.get("validation_sqn", -math.inf)) > mine.sqn:
        return False
    for other in (run_dir / "reports").glob("*-validation/report.json"):
        try:
            report = json.loads(other.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.warning("skipping unreadable report %s", other)
            continue
        theirs = report.get("policy", {})
        if (report.get("checkpoint", {}).get("sha256") != ckpt.manifest.sha256
                and (theirs.get("trades") or 0) >= min_trades
                and (theirs.get("sqn") or 0.0) > mine.sqn):
            return False
    try:
        RunCheckpoints(run_dir).point("best", ckpt.manifest, {"validation_sqn": mine.sqn,
                                                              "validation_trades": mine.trades})
    except CheckpointError as exc:  # its model was garbage-collected meanwhile
        logger.warning("cannot make %s best: %s", ckpt.manifest.model_file, exc)
        return False
    return True


def backtest_checkpoint(spec: str, cfg: Config, ws: Workspace, split: str | None = None,
                        trades_out: Path | None = None) -> tuple[LoadedCheckpoint, BacktestResult]:
    """Backtest a checkpoint on a split; optionally write its trades as CSV."""
    ckpt = load_checkpoint(spec, cfg, ws)
    result = run_backtest(ckpt.policy, ckpt.data, split or cfg.validation.split, cfg)
    if trades_out is not None:
        write_trades_csv(result.trades, trades_out)
    return ckpt, result


def write_trades_csv(trades: list[dict[str, Any]], out: Path) -> None:
    """The closed trades as CSV (the ``info["trade"]`` fields), written atomically."""
    if out.suffix.lower() != ".csv":
        raise ValueError(f"{out}: trades are written as CSV; use a .csv file name")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TRADE_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(trades)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, buffer.getvalue().encode())
