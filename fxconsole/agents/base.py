"""The Agent seam (DESIGN.md "Agents"): what every agent offers, and what a Policy is.

An agent trains with the shared sinks, control hooks and checkpoint store, loads a
checkpoint as a :class:`Policy`, and names its observation kind (SPEC §4: ``"ppo"``, the
17-float vector, or ``"muzero"``, the ``(32, 9)`` window and the 6 position features).
Backtests, the collector, the validator and live trading know only the Policy: they
build the observations of the kind it names, batched, with the legal actions beside them.

Importing this module loads neither torch nor stable-baselines3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from fxconsole.agents.manifest import Manifest
from fxconsole.agents.sinks import MetricsSink
from fxconsole.config import Config
from fxconsole.trading.batch import MuZeroBatch
from fxconsole.trading.metrics import TradeMetrics
from fxconsole.workspace import Workspace

F32 = npt.NDArray[np.float32]
Legal = npt.NDArray[np.bool_]  # (n, 4): the actions each position allows (SPEC §4)
Actions = npt.NDArray[np.int64]
UNLIMITED_TIMESTEPS = 10**12  # a step budget for runs that a clock or a stop ends


Observations = F32 | MuZeroBatch  # "ppo": (n, 17); "muzero": the window and the position


class Policy(Protocol):
    """Batched observations of its kind → actions.

    ``legal`` holds, per observation, the actions the position allows (flat: HOLD, BUY,
    SELL; in a trade: HOLD, CLOSE). An agent that masks chooses only among them; one
    trained without masks may choose another, which then acts as HOLD and is counted as
    invalid (SPEC §4), exactly as in training.
    """

    observation_kind: str

    def __call__(self, obs: Observations, legal: Legal) -> Actions:
        """The action of each observation."""
        ...


@runtime_checkable
class PreparesSessions(Protocol):
    """A Policy that can encode the bars of sessions it is about to play in one pass
    (MuZero's TCN depends on the bars only); backtests call it before the first step."""

    def prepare_sessions(self, table: npt.NDArray[np.float64], starts: Actions,
                         length: int) -> None:
        """Encode the bars of the sessions ``starts[i] … starts[i] + length − 1``."""
        ...


class TrainingHandle(Protocol):
    """What a control hook sees of a running training: the step counter, a manual save."""

    @property
    def num_timesteps(self) -> int:
        """Environment steps so far, the run's earlier ones included."""
        ...

    def save_manual(self) -> Manifest:
        """Save at once as ``manual-<timesteps>`` (kept until the operator deletes it) and
        ``latest`` (and ``candidate`` if it improved); returns the manual manifest."""
        ...


@dataclass(frozen=True)
class RunStart:
    """What a training call resolved before learning: passed to ``on_start``."""

    run: str
    run_dir: Path
    gate_sigma_pips: float
    start_timesteps: int


@dataclass(frozen=True)
class TrainRequest:
    """One training call.

    Attributes:
        config: the configuration.
        workspace: the market store and the checkpoints.
        sink: metrics and closed trades.
        timesteps: how many more steps to train (None: ``train.timesteps``).
        run: the run name (None: a new one, or the resumed checkpoint's run).
        resume: a checkpoint to continue from (``resolve_checkpoint`` syntax).
        control: called every step; False ends training after saving ``latest``.
        on_start: called once before learning.
        self_play: whether an agent with actors (MuZero) also plays episodes itself;
            False when collector workers feed it.
        collectors: self-play processes the training call starts itself (the CLI's
            ``--collectors``); 0 under the supervisor, whose collectors are workers.
    """

    config: Config
    workspace: Workspace
    sink: MetricsSink
    timesteps: int | None = None
    run: str | None = None
    resume: str | None = None
    control: Callable[[TrainingHandle], bool] | None = None
    on_start: Callable[[RunStart], None] | None = None
    self_play: bool = True
    collectors: int = 0


@dataclass(frozen=True)
class TrainResult:
    """What a training call did."""

    run: str
    run_dir: Path
    start_timesteps: int
    timesteps: int
    seconds: float
    gate_sigma_pips: float
    metrics: dict[str, float]
    rolling: TradeMetrics
    latest: Path


class Agent(Protocol):
    """One kind of agent: trains, and loads its checkpoints as Policies."""

    name: str
    observation_kind: str

    def train(self, request: TrainRequest) -> TrainResult:
        """Train (or continue) a run; checkpoints go to ``checkpoints/<run>/``."""
        ...

    def load_policy(self, manifest: Manifest, model: bytes) -> Policy:
        """The Policy of a verified checkpoint (its manifest and model bytes)."""
        ...
