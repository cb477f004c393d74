"""A MuZero checkpoint's model file: the networks' shape and weights, the optimiser's
state and the counters, in one ``torch.save`` archive (loaded with ``weights_only``)."""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from typing import Any

import torch

from fxconsole.agents.manifest import CheckpointError
from fxconsole.agents.muzero.networks import MuZeroNet, NetworkShape
from fxconsole.config import MuZeroConfig

FORMAT = 1


def network_shape(cfg: MuZeroConfig) -> NetworkShape:
    """The networks' sizes of the ``[muzero]`` section."""
    return NetworkShape(channels=cfg.channels, static_hidden=cfg.static_hidden,
                        dropout=cfg.dropout)


@dataclass
class MuZeroModel:
    """What a checkpoint holds; ``save`` makes it a model for ``RunCheckpoints.save``."""

    net: MuZeroNet
    optimizer: dict[str, Any] | None = None
    counters: dict[str, int] = dataclasses.field(default_factory=dict)

    def save(self, path: io.BytesIO, /) -> None:
        """Write the archive to ``path``."""
        torch.save({"format": FORMAT, "shape": dataclasses.asdict(self.net.shape),
                    "net": self.net.state_dict(), "optimizer": self.optimizer,
                    "counters": dict(self.counters)}, path)


def load_model(data: bytes, source: str = "checkpoint") -> MuZeroModel:
    """The networks (eval mode), optimiser state and counters of a model file.

    Raises:
        CheckpointError: not a MuZero model file of this format.
    """
    try:
        archive = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if not isinstance(archive, dict) or archive.get("format") != FORMAT:
            raise ValueError(f"format {archive.get('format') if isinstance(archive, dict) else '?'}"
                             f", expected {FORMAT}")
        net = MuZeroNet(NetworkShape(**archive["shape"]))
        net.load_state_dict(archive["net"])
    except Exception as exc:  # torch raises many kinds on a foreign or damaged file
        raise CheckpointError(f"{source}: not a MuZero model file: {exc}") from None
    return MuZeroModel(net.eval(), archive.get("optimizer"),
                       {k: int(v) for k, v in (archive.get("counters") or {}).items()})
