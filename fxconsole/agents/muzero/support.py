"""Categorical supports (SPEC §7): value, Q and reward as 601 atoms at −300 … +300 pips.

A scalar target is clipped to the support and split between its two neighbouring atoms
(two-hot); a distribution's scalar is its expectation. Numpy and torch versions agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import torch

SUPPORT_MIN = -300.0
SUPPORT_MAX = 300.0
ATOMS = 601  # one pip apart


def atoms() -> npt.NDArray[np.float64]:
    """The support's values, ascending."""
    return np.linspace(SUPPORT_MIN, SUPPORT_MAX, ATOMS)


def two_hot(values: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """(n,) scalars → (n, 601) two-hot distributions (clipped to the support)."""
    x = np.clip(np.asarray(values, dtype=np.float64), SUPPORT_MIN, SUPPORT_MAX) - SUPPORT_MIN
    low = np.minimum(np.floor(x).astype(np.int64), ATOMS - 2)
    upper = x - low
    out = np.zeros((x.shape[0], ATOMS), dtype=np.float32)
    rows = np.arange(x.shape[0])
    out[rows, low] = 1.0 - upper
    out[rows, low + 1] += upper
    return out


def expected(probabilities: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(n, 601) distributions → (n,) scalars."""
    p = np.asarray(probabilities, dtype=np.float64)
    out: npt.NDArray[np.float64] = p @ atoms()
    return out


def two_hot_torch(values: torch.Tensor) -> torch.Tensor:
    """:func:`two_hot` in torch (for targets built on the learner's device)."""
    import torch

    x = values.clamp(SUPPORT_MIN, SUPPORT_MAX) - SUPPORT_MIN
    low = x.floor().long().clamp(max=ATOMS - 2)
    upper = x - low.to(x.dtype)
    out = torch.zeros(*x.shape, ATOMS, dtype=x.dtype, device=x.device)
    out.scatter_(-1, low.unsqueeze(-1), (1.0 - upper).unsqueeze(-1))
    out.scatter_add_(-1, (low + 1).unsqueeze(-1), upper.unsqueeze(-1))
    return out


def expected_torch(logits: torch.Tensor) -> torch.Tensor:
    """The expectation of softmax(``logits``) over the support: (..., 601) → (...)."""
    import torch

    support = torch.linspace(SUPPORT_MIN, SUPPORT_MAX, ATOMS, dtype=logits.dtype,
                             device=logits.device)
    return (torch.softmax(logits, dim=-1) * support).sum(dim=-1)
