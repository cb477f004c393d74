"""The networks as the search sees them: numpy in, numpy out, no gradients.

:class:`InferenceModel` implements the search's ``SearchModel`` (φ with ψ, g with f,
batched) and the root: TCN encodings of bars (per window, or a whole session in one pass,
kept by table row) and the position → states, policy logits and values.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from fxconsole.agents.muzero.networks import WINDOW, MuZeroNet
from fxconsole.agents.muzero.search import SearchConfig, SearchResult, search
from fxconsole.agents.muzero.support import expected_torch

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
N_BAR_FEATURES = 9
ENCODE_CHUNK = 64  # sessions encoded per TCN call


class InferenceModel:
    """A :class:`MuZeroNet` in eval mode behind numpy calls, with a cache of bar encodings."""

    def __init__(self, net: MuZeroNet) -> None:
        self.net = net.eval()
        self._encoded: dict[int, F32] = {}  # table row → TCN output (C,)
        self._rows = np.empty(0, dtype=np.int64)
        self._table: npt.NDArray[np.float32] = np.empty((0, 0, 0), dtype=np.float32)

    @torch.no_grad()
    def encode_sessions(self, table: F64, starts: I64, length: int) -> None:
        """Encode every bar of the sessions ``starts[i] … starts[i] + length − 1`` (one
        TCN pass per session, not one per bar); replaces the previous sessions' cache."""
        starts = np.asarray(starts, dtype=np.int64)
        span = length + WINDOW - 1
        offsets = np.arange(span) - (WINDOW - 1)
        rows = np.unique(starts)
        out: npt.NDArray[np.float32] = np.empty((rows.size, length, self.net.shape.channels),
                                                dtype=np.float32)
        for k in range(0, rows.size, ENCODE_CHUNK):
            chunk = rows[k:k + ENCODE_CHUNK]
            bars = table[chunk[:, None] + offsets[None, :], :N_BAR_FEATURES]
            enc = self.net.representation.bars(torch.from_numpy(bars.astype(np.float32)))
            out[k:k + chunk.size] = enc[:, WINDOW - 1:].numpy()
        self._rows = rows
        self._table = out

    def encoded(self, rows: I64) -> F32 | None:
        """The cached encodings of ``rows`` (n, C), or None if any is not cached."""
        if self._rows.size == 0:
            return None
        starts = self._rows
        # the session of each row: the last start ≤ row
        which = np.searchsorted(starts, rows, side="right") - 1
        offset = rows - starts[np.maximum(which, 0)]
        if (which < 0).any() or (offset >= self._table.shape[1]).any():
            return None
        out: F32 = self._table[which, offset]
        return out

    @torch.no_grad()
    def encode_windows(self, temporal: F32) -> F32:
        """(n, 32, 9) windows → (n, C) TCN outputs of their last bar."""
        enc = self.net.representation.last(torch.from_numpy(np.asarray(temporal, np.float32)))
        out: F32 = enc.numpy()
        return out

    @torch.no_grad()
    def initial(self, encoded: F32, static: F32) -> tuple[F32, F32, F32]:
        """Bar encodings (n, C) and positions (n, 6) → states (n, H), policy logits (n, 4),
        values (n,)."""
        state = self.net.representation.state(torch.from_numpy(encoded),
                                              torch.from_numpy(np.asarray(static, np.float32)))
        logits, value = self.net.prediction(state)
        return state.numpy(), logits.numpy(), expected_torch(value).numpy()

    @torch.no_grad()
    def afterstate(self, states: F32, actions: I64) -> tuple[F32, F32, F32]:
        """φ and ψ: afterstates, outcome logits, Q."""
        after = self.net.afterstate_dynamics(torch.from_numpy(states),
                                             torch.from_numpy(np.asarray(actions, np.int64)))
        sigma, q = self.net.afterstate_prediction(after)
        return after.numpy(), sigma.numpy(), expected_torch(q).numpy()

    @torch.no_grad()
    def dynamics(self, afterstates: F32, outcomes: I64) -> tuple[F32, F32, F32, F32]:
        """g and f: next states, rewards, policy logits, values."""
        state, reward = self.net.dynamics(torch.from_numpy(np.ascontiguousarray(afterstates)),
                                          torch.from_numpy(np.asarray(outcomes, np.int64)))
        logits, value = self.net.prediction(state)
        return (state.numpy(), expected_torch(reward).numpy(), logits.numpy(),
                expected_torch(value).numpy())

    def search(self, encoded: F32, static: F32, legal: npt.NDArray[np.bool_],
               cfg: SearchConfig, rng: np.random.Generator | None = None) -> SearchResult:
        """The search of SPEC §7 from each observation's root (noise only with ``rng``)."""
        states, logits, values = self.initial(encoded, static)
        return search(self, states, logits, values, legal, cfg, rng)
