"""Finding and trusting checkpoints: resolve what a user typed, verify, load.

Readers take no lock. :func:`load_model` hashes the bytes it reads and loads those very
bytes, so a file changed between check and load cannot slip through; if a concurrent save
re-points a manifest and deletes the old model while it is being read, it retries.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fxconsole.agents.manifest import (
    CheckpointError,
    Manifest,
    is_name,
    read_manifest,
    scan_manifests,
    short_repr,
    to_plain,
)

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

AlgoT = TypeVar("AlgoT", bound="BaseAlgorithm")
_MISSING = object()


def verify(manifest_path: Path, observation_spec: Mapping[str, Any] | None = None) -> Manifest:
    """Check that the manifest's model file exists and matches, and fits the running code.

    Args:
        manifest_path: a manifest ``.json`` (see :func:`resolve_checkpoint`).
        observation_spec: the running code's spec; if given it must equal the manifest's.

    Raises:
        CheckpointError: on a missing file, a hash mismatch or a different observation spec.
    """
    return read_verified(manifest_path, observation_spec)[0]


def load_model(
    manifest_path: Path,
    algo_cls: type[AlgoT],
    observation_spec: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> AlgoT:
    """Verify a checkpoint, then load exactly the verified bytes on the CPU.

    Args:
        manifest_path: a manifest ``.json``.
        algo_cls: e.g. ``stable_baselines3.PPO``.
        observation_spec: the running code's spec (checked when given).
        **kwargs: passed to ``algo_cls.load`` (e.g. ``env``).

    Raises:
        CheckpointError: as :func:`verify`.
    """
    _, data = read_verified(manifest_path, observation_spec)
    return algo_cls.load(io.BytesIO(data), device="cpu", **kwargs)


def resolve_checkpoint(spec: str, checkpoints_dir: Path) -> Path:
    """Turn what a user typed into a manifest path.

    Accepts a manifest ``.json``, a run folder (→ its ``latest.json``), ``RUN`` or
    ``RUN/TAG`` relative to ``checkpoints_dir``, or a model ``.zip`` that a manifest
    references (→ that manifest, preferring latest, best, then the newest periodic).

    Raises:
        CheckpointError: listing the runs or tags that do exist.
    """
    path = Path(spec).expanduser()
    for candidate in [path] if path.is_absolute() else [path, checkpoints_dir / path]:
        if candidate.is_file() and candidate.suffix == ".json":
            return candidate
        if candidate.is_file() and candidate.suffix == ".zip":
            return _manifest_for_model(candidate)
        if candidate.is_dir() and (candidate / "latest.json").is_file():
            return candidate / "latest.json"
        if candidate.is_dir() and _tags(candidate):
            raise CheckpointError(
                f"run folder {candidate} has no latest.json; tags: {_listing(_tags(candidate))}"
            )
    parts = spec.strip("/").split("/")
    if len(parts) > 2 or not all(is_name(p) for p in parts):
        raise CheckpointError(
            f"cannot resolve checkpoint {spec!r}: not a manifest, run folder, model file, "
            f"RUN or RUN/TAG; runs in {checkpoints_dir}: {_listing(_runs(checkpoints_dir))}"
        )
    run, tag = parts[0], (parts[1] if len(parts) == 2 else "latest").removesuffix(".json")
    run_dir = checkpoints_dir / run
    if not run_dir.is_dir():
        raise CheckpointError(
            f"no run {run!r} in {checkpoints_dir}; runs: {_listing(_runs(checkpoints_dir))}"
        )
    if not (run_dir / f"{tag}.json").is_file():
        raise CheckpointError(
            f"run {run!r} has no checkpoint {tag!r}; tags: {_listing(_tags(run_dir))}"
        )
    return run_dir / f"{tag}.json"


def read_verified(
    manifest_path: Path, observation_spec: Mapping[str, Any] | None
) -> tuple[Manifest, bytes]:
    """A manifest and the model bytes it names, hash- (and spec-) checked together.

    Re-reads if a concurrent save re-points the manifest meanwhile.

    Raises:
        CheckpointError: missing model, hash mismatch, different observation spec.
    """
    for _attempt in range(3):
        manifest = read_manifest(manifest_path)
        model_path = manifest_path.parent / manifest.model_file
        try:
            data = model_path.read_bytes()
        except FileNotFoundError:
            if read_manifest(manifest_path) != manifest:
                continue  # re-pointed by a concurrent save while we read: try the new one
            raise CheckpointError(
                f"model file {model_path} named by manifest {manifest_path} does not exist"
            ) from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != manifest.sha256:
            raise CheckpointError(
                f"hash mismatch: manifest says {manifest.sha256}, file has {actual} "
                f"(manifest {manifest_path}, model {model_path})"
            )
        if observation_spec is not None:
            _check_observation_spec(manifest, manifest_path, observation_spec)
        return manifest, data
    raise CheckpointError(f"manifest {manifest_path} keeps changing while being read")


def _check_observation_spec(
    manifest: Manifest, manifest_path: Path, observation_spec: Mapping[str, Any]
) -> None:
    expected = to_plain(observation_spec, "observation_spec")
    actual = manifest.observation_spec
    diffs = [
        _describe_difference(key, actual.get(key, _MISSING), expected.get(key, _MISSING))
        for key in sorted(set(expected) | set(actual))
        if actual.get(key, _MISSING) != expected.get(key, _MISSING)
    ]
    if diffs:
        raise CheckpointError(
            f"observation spec of {manifest_path} differs from the running code: "
            + "; ".join(diffs)
        )


def _manifest_for_model(model_path: Path) -> Path:
    run_dir = model_path.resolve().parent.parent
    target = model_path.resolve()
    found = [
        (path, m) for path, m in scan_manifests(run_dir)[0].items()
        if (run_dir / m.model_file).resolve() == target
    ]
    if not found:
        raise CheckpointError(
            f"no manifest references model file {model_path} (a model is trusted only "
            f"through its manifest); manifests in {run_dir}: {_listing(_tags(run_dir))}"
        )
    rank = {"latest": 0, "best": 1}
    return min(found, key=lambda item: (rank.get(item[1].tag, 2), -item[1].timesteps))[0]


def _describe_difference(key: str, checkpoint: Any, running: Any) -> str:
    def describe(value: Any) -> str:
        return "nothing" if value is _MISSING else short_repr(value)

    text = f"{key}: checkpoint has {describe(checkpoint)}, running code has {describe(running)}"
    if isinstance(checkpoint, list) and isinstance(running, list):
        index = next(
            (i for i, (a, b) in enumerate(zip(checkpoint, running, strict=False)) if a != b),
            min(len(checkpoint), len(running)),
        )
        text += f" (lengths {len(checkpoint)} and {len(running)}, first difference at {index})"
    return text


def _runs(checkpoints_dir: Path) -> list[str]:
    if not checkpoints_dir.is_dir():
        return []
    return sorted(p.name for p in checkpoints_dir.iterdir() if p.is_dir() and p.name[0] != ".")


def _tags(run_dir: Path) -> list[str]:
    return sorted(p.stem for p in run_dir.glob("*.json") if not p.name.startswith("."))


def _listing(names: list[str]) -> str:
    return ", ".join(names) if names else "none"
