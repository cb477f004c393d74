"""Observation layouts of the trading environment (SPEC §4): spaces, names and a spec.

``observation_spec`` is what a checkpoint records: a model trained on one layout is
refused by code whose layout differs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from fxconsole.market.features import FEATURE_NAMES, FEATURE_SPEC_VERSION, MUZERO_FEATURES
from fxconsole.trading.core import (
    N_POSITION,
    PPO_MARKET_COLS,
    PPO_TIME_COLS,
    TEMPORAL_BARS,
    TEMPORAL_FEATURES,
)

OBSERVATIONS: tuple[str, ...] = ("ppo", "muzero")
OBSERVATION_SPEC_VERSION = 1
POSITION_FEATURES: tuple[str, ...] = (
    "position_side",
    "position_pips",
    "bars_since_entry",
    "pips_from_peak",
    "max_drawdown_pips",
    "accumulated_dd",
)
PPO_FIELDS: tuple[str, ...] = (
    *(FEATURE_NAMES[c] for c in PPO_MARKET_COLS),
    *POSITION_FEATURES,
    *(FEATURE_NAMES[c] for c in PPO_TIME_COLS),
)

# Value ranges: min-max and range-position features in [0, 1], tanh and cos/sin in [-1, 1].
_FEATURE_LOW = {name: -1.0 for name in FEATURE_NAMES} | {
    name: 0.0 for name in (*FEATURE_NAMES[:4], "volatility_20")
}
_POSITION_LOW = (-1.0, -1.0, 0.0, 0.0, 0.0, 0.0)

if TYPE_CHECKING:
    from gymnasium import spaces


def _box(low: list[float] | np.ndarray, shape: tuple[int, ...]) -> spaces.Box:
    from gymnasium import spaces  # the spaces only: the spec needs no gymnasium

    low_arr = np.broadcast_to(np.asarray(low, dtype=np.float32), shape).copy()
    return spaces.Box(low=low_arr, high=np.ones(shape, dtype=np.float32), dtype=np.float32)


def check_observation(observation: str) -> str:
    """Return ``observation`` if it names a layout, else raise ValueError."""
    if observation not in OBSERVATIONS:
        raise ValueError(f"unknown observation {observation!r}; allowed: {', '.join(OBSERVATIONS)}")
    return observation


def observation_space(observation: str) -> spaces.Space[Any]:
    """The gymnasium space of a layout: ``Box((17,))`` for ppo, a ``Dict`` for muzero."""
    from gymnasium import spaces

    check_observation(observation)
    position = _box(list(_POSITION_LOW), (N_POSITION,))
    if observation == "ppo":
        low = [_FEATURE_LOW[FEATURE_NAMES[c]] for c in PPO_MARKET_COLS]
        low += list(_POSITION_LOW)
        low += [_FEATURE_LOW[FEATURE_NAMES[c]] for c in PPO_TIME_COLS]
        return _box(low, (len(PPO_FIELDS),))
    temporal_low = [_FEATURE_LOW[name] for name in MUZERO_FEATURES]
    return spaces.Dict({
        "temporal": _box(temporal_low, (TEMPORAL_BARS, TEMPORAL_FEATURES)),
        "static": position,
    })


def observation_spec(observation: str) -> dict[str, Any]:
    """A JSON-ready description of a layout (names, shapes, versions) for checkpoints."""
    check_observation(observation)
    common = {"kind": observation, "version": OBSERVATION_SPEC_VERSION,
              "feature_spec_version": FEATURE_SPEC_VERSION, "dtype": "float32"}
    if observation == "ppo":
        return {**common, "shape": [len(PPO_FIELDS)], "fields": list(PPO_FIELDS)}
    return {
        **common,
        "temporal": {"shape": [TEMPORAL_BARS, TEMPORAL_FEATURES],
                     "fields": list(MUZERO_FEATURES)},
        "static": {"shape": [N_POSITION], "fields": list(POSITION_FEATURES)},
    }
