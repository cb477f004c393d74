"""Cheap checkpoints for tests of the run folder's bookkeeping: a model whose saved bytes
name it (no training, a distinct sha256 per model)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.manifest import Manifest


class Bytes:
    """A model whose zip is a few distinct bytes."""

    def __init__(self, n: int) -> None:
        self.n = n

    def save(self, path: io.BytesIO, /) -> None:
        path.write(f"model {self.n}".encode())


def save_bytes(store: RunCheckpoints, n: int, tags: Iterable[str],
               config: Mapping[str, Any] | None = None) -> Manifest:
    """Save model ``n`` at ``n`` timesteps under ``tags`` (a PPO checkpoint)."""
    return store.save(Bytes(n), n, list(tags), config or {}, {"kind": "test"}, 1, agent="ppo")
