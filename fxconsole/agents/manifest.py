"""The checkpoint manifest format: a small JSON pointer to one immutable model file.

A manifest names its model file (relative to the run folder), the sha256 of that file, the
step counter, the agent, the whole config, the feature-spec version and observation spec
the model was trained with, when it was written, metrics (e.g. the rolling SQN that made it
``best``), extra resumable state and what the run is pinned to (SPEC §6.1: split bounds,
training-bar fingerprints, gate threshold, env parameters; empty for format-1 manifests,
written before pinning). :mod:`fxconsole.agents.checkpoints` writes and trusts
them; this module only defines, validates and reads them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, get_origin, get_type_hints

FORMAT = 2
READABLE_FORMATS = (1, 2)  # format 1: no ``pinned`` key
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


class CheckpointError(Exception):
    """A checkpoint is missing, damaged, or does not fit the running code."""


@dataclass(frozen=True)
class Manifest:
    """One named pointer to a model file, with what is needed to trust and resume it."""

    format: int
    run: str
    tag: str
    model_file: str  # relative to the run folder, e.g. "models/000000050000-0123456789ab.zip"
    sha256: str
    timesteps: int
    agent: str
    config: dict[str, Any]
    feature_spec_version: int
    observation_spec: dict[str, Any]
    created: str  # ISO-8601 UTC
    metrics: dict[str, Any]
    state: dict[str, Any]
    pinned: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> str:
        """Render as indented JSON (keys in field order), ending with a newline."""
        return json.dumps(dataclasses.asdict(self), indent=2, default=json_default) + "\n"

    @classmethod
    def from_json(cls, text: str, source: Path | str = "<manifest>") -> Manifest:
        """Parse and validate a manifest.

        Args:
            text: the JSON text.
            source: where it came from, for error messages.

        Raises:
            CheckpointError: naming ``source`` and the offending key.
        """
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{source}: not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise CheckpointError(f"{source}: a manifest must be a JSON object")
        hints = get_type_hints(cls)
        if raw.get("format") == 1 and "pinned" not in raw:
            raw = {**raw, "pinned": {}}
        missing = [key for key in hints if key not in raw]
        if missing:
            raise CheckpointError(f"{source}: missing key(s) {', '.join(missing)}")
        unknown = sorted(set(raw) - set(hints))
        if unknown:
            raise CheckpointError(f"{source}: unknown key(s) {', '.join(unknown)}")
        for key, hint in hints.items():
            typ = get_origin(hint) or hint
            if not isinstance(raw[key], typ) or (typ is int and isinstance(raw[key], bool)):
                raise CheckpointError(
                    f"{source}: key {key!r} = {short_repr(raw[key])} must be a {typ.__name__}"
                )
        if raw["format"] not in READABLE_FORMATS:
            raise CheckpointError(
                f"{source}: key 'format' = {raw['format']} is not supported "
                f"(only {', '.join(map(str, READABLE_FORMATS))})"
            )
        if not _SHA256_RE.fullmatch(raw["sha256"]):
            raise CheckpointError(f"{source}: key 'sha256' = {raw['sha256']!r} is not a sha256")
        model_file = PurePosixPath(raw["model_file"])
        if model_file.is_absolute() or ".." in model_file.parts or "\\" in raw["model_file"]:
            raise CheckpointError(
                f"{source}: key 'model_file' = {raw['model_file']!r} must be a path inside "
                "the run folder"
            )
        return cls(**raw)


def is_name(value: object) -> bool:
    """True for an allowed run or tag name: letters, digits, ``.``, ``_``, ``-``, not
    starting with a dot."""
    return isinstance(value, str) and bool(_NAME_RE.fullmatch(value)) and value[0] != "."


def validate_name(value: str, what: str = "run name") -> str:
    """Return ``value`` if it is a safe file name: ``[A-Za-z0-9._-]+``, no leading dot.

    Raises:
        CheckpointError: naming the value and what is allowed.
    """
    if not is_name(value):
        raise CheckpointError(
            f"{what} {value!r} is not allowed: use letters, digits, '.', '_' and '-', "
            "not starting with '.'"
        )
    return value


def validate_run_name(name: str) -> str:
    """Return ``name`` if it is a valid run name (see :func:`validate_name`)."""
    return validate_name(name, "run name")


def new_run_name(agent: str, now: datetime | None = None) -> str:
    """A fresh run name such as ``ppo-20261124-113501`` (UTC)."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return validate_run_name(f"{agent}-{stamp}")


def read_manifest(path: Path) -> Manifest:
    """Read and validate the manifest at ``path``.

    Raises:
        CheckpointError: if it is missing, unreadable or malformed (naming file and key).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointError(f"manifest {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"manifest {path} cannot be read: {exc}") from None
    return Manifest.from_json(text, path)


def scan_manifests(run_dir: Path) -> tuple[dict[Path, Manifest], list[tuple[Path, str]]]:
    """All manifests of a run folder by path, and the unreadable ones with their error."""
    manifests: dict[Path, Manifest] = {}
    broken: list[tuple[Path, str]] = []
    for path in sorted(run_dir.glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            manifests[path] = read_manifest(path)
        except CheckpointError as exc:
            if path.exists():  # not just pruned by a concurrent save
                broken.append((path, str(exc)))
    return manifests, broken


def to_plain(value: Any, what: str) -> dict[str, Any]:
    """``value`` as plain JSON data (tuples → lists, numpy → Python), which must be a dict.

    Raises:
        CheckpointError: naming ``what`` if it is not a JSON-serialisable dict.
    """
    try:
        plain = json.loads(json.dumps(value, default=json_default))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{what} is not JSON-serialisable: {exc}") from None
    if not isinstance(plain, dict):
        raise CheckpointError(f"{what} must be a dict, got {type(value).__name__}")
    return plain


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback: numpy scalars and arrays, paths."""
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")


def short_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
