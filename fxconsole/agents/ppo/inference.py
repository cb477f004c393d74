"""Torch-free inference of a PPO MlpPolicy's actor, for fast backtests and live decisions.

A checkpoint zip (stable-baselines3's format) also carries ``fxconsole_policy.npz``: the
actor's weights as plain arrays. SB3 ignores the extra member; validation and the live
worker use it to decide without importing torch (~2 s of start-up saved). The most
probable action of a categorical policy is the argmax of its logits.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

ACTOR_MEMBER = "fxconsole_policy.npz"


def _relu(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.maximum(x, np.float32(0.0))


def _tanh(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.tanh(x)


ACTIVATIONS: dict[str, Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]] = {
    "Tanh": _tanh,
    "ReLU": _relu,
}


def export_actor(model: Any) -> bytes:
    """The actor MLP of an SB3 ``ActorCriticPolicy`` (linear layers + activation) as npz.

    Raises:
        ValueError: for a policy this exporter does not understand (then the checkpoint
            is simply saved without the fast path).
    """
    import torch

    policy = model.policy
    layers = [m for m in policy.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
    activation = type(policy.activation_fn()).__name__
    if activation not in ACTIVATIONS or getattr(policy, "share_features_extractor", True) is False:
        raise ValueError(f"cannot export a policy with activation {activation}")
    arrays: dict[str, npt.NDArray[Any]] = {}
    for i, layer in enumerate([*layers, policy.action_net]):
        arrays[f"w{i}"] = layer.weight.detach().cpu().numpy().astype(np.float32)
        arrays[f"b{i}"] = layer.bias.detach().cpu().numpy().astype(np.float32)
    arrays["activation"] = np.array(activation)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def actor_extras(model: Any) -> dict[str, bytes]:
    """The zip member to add to a checkpoint (none if the policy cannot be exported)."""
    try:
        return {ACTOR_MEMBER: export_actor(model)}
    except (ValueError, AttributeError):
        return {}


class NumpyActor:
    """Deterministic actions of an exported actor: argmax of the logits."""

    def __init__(self, weights: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]],
                 activation: str) -> None:
        self.weights = weights
        self.activation = ACTIVATIONS[activation]

    @classmethod
    def from_zip(cls, zip_bytes: bytes) -> NumpyActor | None:
        """The actor stored in a checkpoint zip, or None if it has none."""
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            if ACTOR_MEMBER not in archive.namelist():
                return None
            data = np.load(io.BytesIO(archive.read(ACTOR_MEMBER)))
            n = sum(1 for k in data.files if k.startswith("w"))
            weights = [(data[f"w{i}"], data[f"b{i}"]) for i in range(n)]
            return cls(weights, str(data["activation"]))

    def logits(self, obs: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32]:
        """Action logits for a batch of observations (float32, as torch computes them)."""
        x = np.asarray(obs, dtype=np.float32)
        for w, b in self.weights[:-1]:
            x = self.activation(x @ w.T + b)
        w, b = self.weights[-1]
        return np.asarray(x @ w.T + b)

    def __call__(self, obs: npt.NDArray[np.floating[Any]],
                 legal: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.int64]:
        """The most probable action of each observation; with ``legal`` (n, 4), the most
        probable legal one (illegal logits −inf, as MaskablePPO's masked distribution)."""
        logits = self.logits(obs)
        if legal is not None:
            logits = np.where(legal, logits, np.float32(-np.inf))
        return np.asarray(logits.argmax(axis=-1), dtype=np.int64)
