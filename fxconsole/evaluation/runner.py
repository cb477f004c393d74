"""Load a stored checkpoint as pinned (SPEC §6.1) and backtest it; write trades."""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fxconsole.agents.base import Policy
from fxconsole.agents.checkpoints import resolve_checkpoint
from fxconsole.agents.manifest import CheckpointError, Manifest
from fxconsole.agents.registry import load_policy
from fxconsole.config import Config, EnvConfig
from fxconsole.evaluation.backtest import BacktestResult, run_backtest
from fxconsole.fsutil import atomic_write
from fxconsole.trading.market_data import MarketData, load_market_data
from fxconsole.trading.pinning import (
    Pin,
    PinError,
    pin_differences,
    pin_of,
    pinned_config,
    pinned_data,
)
from fxconsole.workspace import Workspace

logger = logging.getLogger(__name__)

TRADE_COLUMNS = ("side", "entry_ts", "exit_ts", "entry_price", "exit_price", "pips", "max_dd",
                 "bars_held", "forced", "session_start_index")


UNPINNED_NOTE = ("this checkpoint was made before runs were pinned (manifest format 1): "
                 "its split bounds and gate threshold are recomputed from the store as it "
                 "is now, so its validation split may hold bars it trained on")


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A verified checkpoint, its policy, the market data it trades (split by its pin)
    and the config it plays (its pinned env parameters in place)."""

    path: Path
    manifest: Manifest
    policy: Policy
    data: MarketData
    config: Config
    pin: Pin | None
    notes: list[str] = field(default_factory=list)

    @property
    def context(self) -> CheckpointContext:
        """Its pinned context, as :func:`checkpoint_context` gives it."""
        return CheckpointContext(self.path, self.manifest, self.config, self.pin,
                                 self.data.symbol, self.data.timeframe, self.notes)


@dataclass(frozen=True)
class CheckpointContext:
    """What playing a checkpoint as pinned needs besides its model and bars: the config it
    plays (its pinned env parameters in place), its pin, the series it trades and notes.
    Pure: built from the manifest alone, so a process without the workspace (a Ray
    validator actor) and one without the model (the driver) build the same one."""

    path: Path
    manifest: Manifest
    config: Config
    pin: Pin | None
    symbol: str
    timeframe: str
    notes: list[str] = field(default_factory=list)


def checkpoint_context(path: Path, manifest: Manifest, cfg: Config) -> CheckpointContext:
    """The pinned context of a checkpoint (SPEC §6.1), from its manifest and ``cfg``.

    Raises:
        CheckpointError: an unreadable pin.
    """
    try:
        pin = pin_of(manifest.pinned, str(path))
    except PinError as exc:
        raise CheckpointError(str(exc)) from None
    data_cfg = manifest.config.get("data", {})
    symbol = pin.symbol if pin else data_cfg.get("symbol", cfg.data.symbol)
    timeframe = pin.timeframe if pin else data_cfg.get("timeframe", cfg.data.timeframe)
    if pin is None:
        return CheckpointContext(path, manifest, _trained_env(cfg, manifest), None, symbol,
                                 timeframe, [UNPINNED_NOTE])
    notes = [f"{d} (the pinned value is used)" for d in pin_differences(cfg, pin)]
    return CheckpointContext(path, manifest, pinned_config(cfg, pin), pin, symbol, timeframe,
                             notes)


def context_data(ctx: CheckpointContext, data: MarketData) -> MarketData:
    """The bars a checkpoint plays: ``data`` (its series) split by its pin.

    Raises:
        PinError: the bars of its pinned windows changed.
    """
    return data if ctx.pin is None else pinned_data(data, ctx.pin)


def load_checkpoint(spec: str, cfg: Config, ws: Workspace) -> LoadedCheckpoint:
    """Resolve, verify (hash and observation spec) and load a checkpoint's Policy, by the
    agent its manifest names (PPO plays torch-free through its exported actor), with the
    series, split bounds and env parameters it is pinned to (SPEC §6.1).

    Raises:
        CheckpointError: missing, corrupt or mismatching checkpoint.
        PinError: the bars of its pinned windows changed (naming what changed).
        FileNotFoundError: no market store.
    """
    path = resolve_checkpoint(spec, ws.checkpoints_dir)
    manifest, policy = load_policy(path)
    ctx = checkpoint_context(path, manifest, cfg)
    data = load_market_data(ws.market_db, ctx.symbol, ctx.timeframe)
    return LoadedCheckpoint(path, manifest, policy, context_data(ctx, data), ctx.config,
                            ctx.pin, ctx.notes)


def _trained_env(cfg: Config, manifest: Manifest) -> Config:
    """``cfg`` with the env section the (unpinned) checkpoint was trained with."""
    trained = manifest.config.get("env")
    known = {f.name for f in dataclasses.fields(EnvConfig)}
    if not isinstance(trained, dict):
        return cfg
    env = EnvConfig(**{**dataclasses.asdict(cfg.env),
                       **{k: v for k, v in trained.items() if k in known}})
    return dataclasses.replace(cfg, env=env)


def default_report_dir(ckpt: LoadedCheckpoint | CheckpointContext, split: str) -> Path:
    """``checkpoints/<run>/reports/<timesteps>-<sha>-<split>/``."""
    m = ckpt.manifest
    return ckpt.path.parent / "reports" / f"{m.timesteps:012d}-{m.sha256[:12]}-{split}"


def backtest_checkpoint(spec: str, cfg: Config, ws: Workspace, split: str | None = None,
                        trades_out: Path | None = None) -> tuple[LoadedCheckpoint, BacktestResult]:
    """Backtest a checkpoint on a split of its pinned window; optionally write its trades
    as CSV."""
    ckpt = load_checkpoint(spec, cfg, ws)
    result = run_backtest(ckpt.policy, ckpt.data, split or cfg.validation.split, ckpt.config)
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
