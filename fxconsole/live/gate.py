"""The live entry gate: the σ20 threshold training used (SPEC §4)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from fxconsole.config import Config
from fxconsole.trading.batch import gate_threshold
from fxconsole.trading.pinning import Pin
from fxconsole.workspace import Workspace


def checkpoint_gate(config: Config, workspace: Workspace, pinned: Mapping[str, Any]) -> float:
    """The entry gate a checkpoint trades with: the one its run is pinned to (SPEC §6.1),
    −inf when it was pinned with gating off; for an unpinned checkpoint
    :func:`live_gate_sigma`.

    Raises:
        PinError: a malformed pin.
        ValueError: see :func:`live_gate_sigma`.
    """
    if not pinned:
        return live_gate_sigma(config, workspace)
    pin = Pin.from_dict(dict(pinned), "the checkpoint's pin")
    return pin.gate_sigma_pips if pin.env.get("gating", True) else -math.inf


def live_gate_sigma(config: Config, workspace: Workspace) -> float:
    """The entry gate in pips, as training computes it (SPEC §4): configured, or calibrated
    on the stored train split; −inf when gating is off.

    Raises:
        ValueError: gating is on but there is no stored series to calibrate on: trading
            without the gate the policy was trained with would be another policy.
    """
    from fxconsole.trading.market_data import load_market_data

    try:
        return gate_threshold(config, lambda: load_market_data(
            workspace.market_db, config.data.symbol, config.data.timeframe))
    except (OSError, LookupError, ValueError) as exc:
        raise ValueError(
            f"entry gating is on (env.gating) but its threshold cannot be calibrated: {exc}. "
            "Import or download the series the policy was trained on, or set "
            "env.gate_sigma_pips to the threshold `fxconsole train` printed") from exc
