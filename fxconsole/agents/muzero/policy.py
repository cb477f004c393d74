"""A MuZero checkpoint as a Policy: a search per decision, the most visited legal action
(SPEC §7; no noise, no temperature: backtests and live are deterministic)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from fxconsole.agents.base import Actions, Legal, Observations
from fxconsole.agents.muzero.model import InferenceModel
from fxconsole.agents.muzero.networks import MuZeroNet
from fxconsole.agents.muzero.search import SearchConfig
from fxconsole.trading.batch import MuZeroBatch


class MuZeroPolicy:
    """Searches from each observation and plays the most visited legal action."""

    observation_kind = "muzero"

    def __init__(self, net: MuZeroNet, search: SearchConfig, threads: int = 1) -> None:
        torch.set_num_threads(threads)
        self.model = InferenceModel(net)
        self.search_cfg = search
        self.last_values: npt.NDArray[np.float64] = np.empty(0)

    def prepare_sessions(self, table: npt.NDArray[np.float64], starts: Actions,
                         length: int) -> None:
        """Encode the sessions' bars once (a backtest's lockstep batch)."""
        self.model.encode_sessions(table, starts, length)

    def __call__(self, obs: Observations, legal: Legal) -> Actions:
        """The most visited legal action of each observation's search."""
        if not isinstance(obs, MuZeroBatch):
            raise TypeError("a MuZero policy plays MuZero observations (the 32-bar window)")
        encoded = self.model.encoded(obs.rows) if obs.rows is not None else None
        if encoded is None:
            encoded = self.model.encode_windows(obs.temporal)
        result = self.model.search(encoded, obs.static, np.asarray(legal, np.bool_),
                                   self.search_cfg)
        self.last_values = result.value
        return result.action
