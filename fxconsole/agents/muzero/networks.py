"""The five networks of Stochastic MuZero (SPEC §7), in torch.

- representation ``h``: a causal dilated TCN over the ``(32, 9)`` window (its last step's
  240 channels) and an MLP of the 6 position features (16): the 256-float state,
  min-max normalised per sample;
- afterstate dynamics ``φ(s, a)`` and afterstate prediction ``ψ`` (outcome logits σ, Q);
- dynamics ``g(as, c)`` (next state, reward) and prediction ``f(s)`` (policy, value).

Value, Q and reward are logits over the 601-atom support of :mod:`.support`.

The TCN's output at a bar depends on the bars only (the position enters after it), and
its receptive field (29 bars) fits in the window: in eval mode :meth:`MuZeroNet.encode_bars`
encodes a whole run of bars in one pass, exactly as each bar's window would be.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fxconsole.agents.muzero.support import ATOMS

N_ACTIONS = 4
N_OUTCOMES = 3
N_FEATURES = 9
N_STATIC = 6
WINDOW = 32
DILATIONS = (1, 2, 4)
KERNEL = 3
RECEPTIVE_FIELD = 1 + 2 * (KERNEL - 1) * sum(DILATIONS)  # 29 ≤ WINDOW


@dataclass(frozen=True)
class NetworkShape:
    """Sizes of the networks (SPEC §7 defaults)."""

    channels: int = 240
    static_hidden: int = 16
    blocks: int = 3  # MLP residual blocks of φ and g
    prediction_blocks: int = 2
    dropout: float = 0.1

    @property
    def hidden(self) -> int:
        """The state and afterstate size: TCN channels plus the static MLP's."""
        return self.channels + self.static_hidden


def min_max(x: torch.Tensor) -> torch.Tensor:
    """Scale each row to [0, 1] (MuZero's hidden-state normalisation)."""
    lo = x.min(dim=-1, keepdim=True).values
    hi = x.max(dim=-1, keepdim=True).values
    return (x - lo) / (hi - lo).clamp_min(1e-5)


class CausalBlock(nn.Module):
    """Two causal dilated convolutions (batch norm, ReLU, dropout) and a residual add."""

    def __init__(self, channels: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.pad = (KERNEL - 1) * dilation
        self.conv1 = nn.Conv1d(channels, channels, KERNEL, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, KERNEL, dilation=dilation)
        self.norm1 = nn.BatchNorm1d(channels)
        self.norm2 = nn.BatchNorm1d(channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, C, T) → (n, C, T), causal: step t sees steps ≤ t."""
        y = self.drop(F.relu(self.norm1(self.conv1(F.pad(x, (self.pad, 0))))))
        y = self.drop(self.norm2(self.conv2(F.pad(y, (self.pad, 0)))))
        return F.relu(x + y)

    def tail(self, x: torch.Tensor, out: int) -> torch.Tensor:
        """The last ``out`` steps of :meth:`forward` from the last ``out + 2·pad`` input
        steps, without padding: the same values wherever no padding reaches them."""
        y = self.drop(F.relu(self.norm1(self.conv1(x))))
        y = self.drop(self.norm2(self.conv2(y)))
        return F.relu(x[..., -out:] + y)


class ResidualMLP(nn.Module):
    """``x + W2 ReLU(LN(W1 x))``, then ReLU: one MLP residual block."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, width) → (n, width)."""
        return F.relu(x + self.fc2(F.relu(self.norm(self.fc1(x)))))


def _head(width: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, out))


class Representation(nn.Module):
    """``h``: the TCN over the window and the static MLP → the normalised state."""

    def __init__(self, shape: NetworkShape) -> None:
        super().__init__()
        self.project = nn.Conv1d(N_FEATURES, shape.channels, 1)
        self.blocks: nn.ModuleList = nn.ModuleList(
            CausalBlock(shape.channels, d, shape.dropout) for d in DILATIONS)
        self.static = nn.Sequential(nn.Linear(N_STATIC, shape.static_hidden), nn.ReLU())

    def bars(self, features: torch.Tensor) -> torch.Tensor:
        """(n, T, 9) bars, oldest first → (n, T, C): the TCN at every step."""
        x = self.project(features.transpose(1, 2))
        for block in self.blocks:
            x = block(x)
        return x.transpose(1, 2)

    def last(self, features: torch.Tensor) -> torch.Tensor:
        """(n, T ≥ 29, 9) windows → (n, C): the TCN at the last step only, computing just
        the steps it depends on (about half the work of :meth:`bars`)."""
        blocks: list[CausalBlock] = list(self.blocks)  # type: ignore[arg-type]
        needs: list[int] = []
        need = 1
        for block in reversed(blocks):
            needs.append(need)
            need += 2 * block.pad
        x = self.project(features[:, -need:].transpose(1, 2))
        for block, out in zip(blocks, reversed(needs), strict=True):
            x = block.tail(x, out)
        return x[..., -1]

    def state(self, encoded: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        """A bar's TCN output (n, C) and the position (n, 6) → the state (n, H)."""
        return min_max(torch.cat([encoded, self.static(static)], dim=-1))

    def forward(self, temporal: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        """Windows (n, 32, 9) and positions (n, 6) → states (n, H)."""
        return self.state(self.last(temporal), static)


class AfterstateDynamics(nn.Module):
    """``φ(s, a)``: the state and the one-hot action → the normalised afterstate."""

    def __init__(self, shape: NetworkShape) -> None:
        super().__init__()
        self.inp = nn.Linear(shape.hidden + N_ACTIONS, shape.hidden)
        self.blocks = nn.Sequential(*(ResidualMLP(shape.hidden) for _ in range(shape.blocks)))

    def forward(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """(n, H), (n,) int → (n, H)."""
        x = torch.cat([state, F.one_hot(action, N_ACTIONS).to(state.dtype)], dim=-1)
        return min_max(self.blocks(F.relu(self.inp(x))))


class AfterstatePrediction(nn.Module):
    """``ψ``: the afterstate → outcome logits σ (n, 3) and Q logits (n, 601)."""

    def __init__(self, shape: NetworkShape) -> None:
        super().__init__()
        self.sigma = _head(shape.hidden, N_OUTCOMES)
        self.q = _head(shape.hidden, ATOMS)

    def forward(self, after: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, H) → σ logits, Q logits."""
        return self.sigma(after), self.q(after)


class Dynamics(nn.Module):
    """``g(as, c)``: the afterstate and the one-hot outcome → next state, reward logits."""

    def __init__(self, shape: NetworkShape) -> None:
        super().__init__()
        self.inp = nn.Linear(shape.hidden + N_OUTCOMES, shape.hidden)
        self.blocks = nn.Sequential(*(ResidualMLP(shape.hidden) for _ in range(shape.blocks)))
        self.reward = _head(shape.hidden, ATOMS)

    def forward(self, after: torch.Tensor, outcome: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, H), (n,) int → next states (n, H), reward logits (n, 601)."""
        x = torch.cat([after, F.one_hot(outcome, N_OUTCOMES).to(after.dtype)], dim=-1)
        hidden = self.blocks(F.relu(self.inp(x)))
        return min_max(hidden), self.reward(hidden)


class Prediction(nn.Module):
    """``f(s)``: policy logits (n, 4) through 2 residual blocks, value logits (n, 601)."""

    def __init__(self, shape: NetworkShape) -> None:
        super().__init__()
        self.trunk = nn.Sequential(*(ResidualMLP(shape.hidden)
                                     for _ in range(shape.prediction_blocks)))
        self.policy = nn.Linear(shape.hidden, N_ACTIONS)
        self.value = _head(shape.hidden, ATOMS)

    def forward(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, H) → policy logits, value logits."""
        x = self.trunk(state)
        return self.policy(x), self.value(x)


class MuZeroNet(nn.Module):
    """The five networks together."""

    def __init__(self, shape: NetworkShape | None = None) -> None:
        super().__init__()
        self.shape = shape or NetworkShape()
        self.representation = Representation(self.shape)
        self.afterstate_dynamics = AfterstateDynamics(self.shape)
        self.afterstate_prediction = AfterstatePrediction(self.shape)
        self.dynamics = Dynamics(self.shape)
        self.prediction = Prediction(self.shape)

    def encode_bars(self, features: torch.Tensor) -> torch.Tensor:
        """Eval mode: (L, 9) consecutive bars → (L, C) TCN outputs; rows from
        ``RECEPTIVE_FIELD − 1`` on equal those of each bar's own window.

        Raises:
            RuntimeError: in training mode (batch norm would use this batch's statistics).
        """
        if self.training:
            raise RuntimeError("encode_bars is exact in eval mode only")
        return self.representation.bars(features.unsqueeze(0))[0]
