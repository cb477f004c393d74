"""A training run's pin (SPEC §6.1): made at its first checkpoint, kept by every resume."""

from __future__ import annotations

import logging
from pathlib import Path

from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.manifest import CheckpointError, Manifest
from fxconsole.config import Config
from fxconsole.trading.market_data import MarketData
from fxconsole.trading.pinning import (
    Pin,
    PinError,
    make_pin,
    pin_differences,
    pin_of,
    pinned_config,
    pinned_data,
)

logger = logging.getLogger(__name__)


def run_pin(run_dir: Path, resumed: Manifest | None = None) -> Pin | None:
    """The pin of the resumed checkpoint, else of any checkpoint already in ``run_dir``.

    Raises:
        CheckpointError: a malformed pin.
    """
    manifests = [resumed] if resumed is not None else []
    if run_dir.is_dir():
        manifests += RunCheckpoints(run_dir).list()
    for manifest in manifests:
        if manifest.pinned:
            try:
                return pin_of(manifest.pinned, f"{run_dir / manifest.tag}.json")
            except PinError as exc:
                raise CheckpointError(str(exc)) from None
    return None


def pinned_training(cfg: Config, data: MarketData, pin: Pin | None
                    ) -> tuple[Config, MarketData, Pin]:
    """The config and data a run trains on: by its pin, or pinned now if it has none.

    Configured env values that differ from the pin are logged as warnings (the pinned
    ones are used: a resumed run keeps training the MDP it started on).

    Raises:
        CheckpointError: the bars of the pinned windows changed (naming what changed).
    """
    if pin is None:
        pin = make_pin(data, cfg)
        iso = pin.to_dict()["iso"]
        logger.info("run pinned: train [%s, %s), validation [%s, %s), gate σ20 %.4f pips",
                    iso["t0"], iso["b1"], iso["b1"], iso["b2"], pin.gate_sigma_pips)
    else:
        for difference in pin_differences(cfg, pin):
            logger.warning("run is pinned: %s (the pinned value is used)", difference)
    try:
        return pinned_config(cfg, pin), pinned_data(data, pin), pin
    except PinError as exc:
        raise CheckpointError(f"cannot continue the run: {exc}") from None


def run_pins(checkpoints_dir: Path) -> list[tuple[str, Pin | None]]:
    """Every run folder and its pin (None: no pinned checkpoint), by run name."""
    out: list[tuple[str, Pin | None]] = []
    if not checkpoints_dir.is_dir():
        return out
    for run_dir in sorted(p for p in checkpoints_dir.iterdir() if p.is_dir()):
        try:
            out.append((run_dir.name, run_pin(run_dir)))
        except CheckpointError as exc:
            logger.warning("run %s: %s", run_dir.name, exc)
            out.append((run_dir.name, None))
    return out
