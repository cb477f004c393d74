"""Checkpoints you can trust: immutable model files, small JSON manifests as named pointers.

Layout of ``checkpoints/<run>/``::

    models/<timesteps:012d>-<sha256[:12]>.zip   stable-baselines3's zip, content-addressed
    latest.json  best.json  periodic-<timesteps:012d>.json   manifests (see :class:`Manifest`)
    manual-<timesteps>.json                                  an operator's checkpoint-now

A save writes the model zip, then one manifest per tag, then prunes old periodic manifests,
then deletes model files that no manifest references. ``manual-…`` manifests are never
pruned: their models stay until the operator deletes the manifest file (the next save's gc
then removes the model). Every write goes to a temp file in the same folder, is flushed and
fsynced, renamed over its target with ``os.replace``, and the folder is fsynced. So a
process killed at any moment of a save leaves every manifest written before pointing at an
intact model whose sha256 matches. Writers of one run take an exclusive ``flock`` on
``<run>/.lock``; readers take no lock and hash the very bytes they load.

This module is the one to import: it re-exports the manifest format
(:mod:`fxconsole.agents.manifest`) and the read side (:mod:`fxconsole.agents.checkpoint_load`:
``resolve_checkpoint``, ``verify``, ``load_model``). Importing it does not import torch.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import fcntl
import hashlib
import io
import logging
import operator
import os
import re
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from fxconsole.agents.checkpoint_load import (
    load_model,
    read_verified,
    resolve_checkpoint,
    verify,
)
from fxconsole.agents.manifest import (
    FORMAT,
    CheckpointError,
    Manifest,
    new_run_name,
    read_manifest,
    scan_manifests,
    to_plain,
    validate_name,
    validate_run_name,
)
from fxconsole.fsutil import TMP_PREFIX, atomic_write, fsync_dir

__all__ = [
    "CheckpointError",
    "Manifest",
    "RunCheckpoints",
    "load_model",
    "new_run_name",
    "read_manifest",
    "read_verified",
    "resolve_checkpoint",
    "validate_run_name",
    "verify",
]

logger = logging.getLogger(__name__)

TAGS = ("latest", "best", "periodic", "candidate", "manual")
MANUAL_PREFIX = "manual-"
# Tags that can point at an existing model. "validating" and "rollback" pin a checkpoint
# the validator or the trainer is about to load so that the trainer's gc keeps its model;
# "validated" is the newest checkpoint that passed the promotion rule.
# "deploying" holds the checkpoint a deploy is loading until it is pointed ``deployed``.
POINTER_TAGS = ("best", "deployed", "deploying", "validating", "validated", "rollback")
# "validating-N": the pin of validator actor N (N ≥ 2) of a Ray cluster, several in flight
PIN_PATTERN = re.compile(r"validating-[1-9][0-9]{0,2}")


def is_pointer_tag(tag: str) -> bool:
    """Whether ``tag`` points at another manifest's model (never a model of its own)."""
    return tag in POINTER_TAGS or PIN_PATTERN.fullmatch(tag) is not None
MODELS_DIR = "models"
LOCK_FILE = ".lock"
STALE_TMP_SECONDS = 60.0


class SavableModel(Protocol):
    """Anything with stable-baselines3's ``save(file_object)``."""

    def save(self, path: io.BytesIO, /) -> None:
        """Write the model as a zip to ``path``."""


class RunCheckpoints:
    """The checkpoints of one run: writes models and manifests, prunes, garbage-collects."""

    def __init__(
        self,
        run_dir: Path,
        keep_periodic: int = 5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Open (not create) the checkpoints of the run in ``run_dir``.

        Args:
            run_dir: ``checkpoints/<run>``; its name is the run name and is validated.
            keep_periodic: periodic manifests kept (the most recently written).
            clock: returns the current UTC time, for the manifests' ``created``.

        Raises:
            CheckpointError: on a bad run name or ``keep_periodic`` < 1.
        """
        self.run = validate_run_name(run_dir.name)
        if keep_periodic < 1:
            raise CheckpointError(f"keep_periodic = {keep_periodic} must be ≥ 1")
        self.run_dir = run_dir
        self.keep_periodic = keep_periodic
        self._clock = clock
        self._lock_depth = 0

    @property
    def models_dir(self) -> Path:
        """Where the model zips live."""
        return self.run_dir / MODELS_DIR

    def save(
        self,
        model: SavableModel,
        timesteps: int,
        tags: Iterable[str],
        config: Mapping[str, Any],
        observation_spec: Mapping[str, Any],
        feature_spec_version: int,
        metrics: Mapping[str, Any] | None = None,
        state: Mapping[str, Any] | None = None,
        extras: Mapping[str, bytes] | None = None,
        *,
        agent: str,
        pinned: Mapping[str, Any] | None = None,
    ) -> Manifest:
        """Write the model once, then one manifest per tag; prune periodic ones; gc.

        Args:
            model: a stable-baselines3 algorithm (anything with ``save(file_object)``).
            timesteps: the training step counter the model is at.
            tags: any of "latest", "best", "periodic" (→ ``periodic-<timesteps>``),
                "candidate" (the trainer's rolling-SQN best, waiting for validation),
                "manual" (→ ``manual-<timesteps>``, kept until the operator deletes it).
            config: the whole configuration as a JSON-able dict (``dataclasses.asdict``).
            observation_spec: kind, shape, dtype, feature names of the observations.
            feature_spec_version: version of the feature pipeline the model was trained on.
            metrics: e.g. the rolling SQN that made this the best checkpoint.
            state: extra resumable state (e.g. the loser-weight schedule).
            agent: the agent that trained it (its name in the agent registry).
            extras: more members for the model zip (SB3 ignores them), e.g. an exported
                actor for torch-free inference; the sha256 covers them.
            pinned: what the run is pinned to (``trading.pinning.Pin.to_dict``, SPEC §6.1).

        Returns:
            The manifest written for the first tag.

        Raises:
            CheckpointError: on an unknown tag, a negative step or non-JSON-able values.
        """
        wanted = _check_tags(tags)
        timesteps = operator.index(timesteps)
        if timesteps < 0:
            raise CheckpointError(f"timesteps = {timesteps} must be ≥ 0")
        buffer = io.BytesIO()
        model.save(buffer)
        if extras:
            with zipfile.ZipFile(buffer, "a") as archive:
                for name, content in extras.items():
                    archive.writestr(name, content)
        data = buffer.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        base = Manifest(
            format=FORMAT, run=self.run, tag="", sha256=sha, timesteps=timesteps,
            model_file=f"{MODELS_DIR}/{timesteps:012d}-{sha[:12]}.zip", agent=agent,
            config=to_plain(config, "config"),
            feature_spec_version=operator.index(feature_spec_version),
            observation_spec=to_plain(observation_spec, "observation_spec"),
            created=self._clock().astimezone(UTC).isoformat(timespec="microseconds"),
            metrics=to_plain(metrics or {}, "metrics"), state=to_plain(state or {}, "state"),
            pinned=to_plain(pinned or {}, "pinned"),
        )
        written = [dataclasses.replace(base, tag=_tag_name(tag, timesteps)) for tag in wanted]
        self._write(data, written)
        logger.info(
            "checkpoint %s at %d timesteps: %s → %s",
            self.run, timesteps, ", ".join(m.tag for m in written), base.model_file,
        )
        return written[0]

    def point(self, tag: str, source: Manifest, metrics: Mapping[str, Any] | None = None
              ) -> Manifest:
        """Make ``tag`` (best or deployed) point at the model of an existing manifest.

        Raises:
            CheckpointError: for another tag, or if the source's model file is gone.
        """
        if not is_pointer_tag(tag):
            raise CheckpointError(f"tag {tag!r} cannot be pointed; allowed: {POINTER_TAGS} "
                                  "or validating-N")
        with self._locked():
            if not (self.run_dir / source.model_file).is_file():
                raise CheckpointError(f"{self.run_dir / source.model_file}: model file missing")
            merged = {**source.metrics, **to_plain(metrics or {}, "metrics")}
            manifest = dataclasses.replace(source, tag=tag, metrics=merged)
            atomic_write(self.run_dir / f"{tag}.json", manifest.to_json().encode())
        logger.info("checkpoint %s: %s → %s", self.run, tag, source.model_file)
        return manifest

    def release(self, tag: str, sha256: str) -> bool:
        """Delete the pointer ``tag`` if it still points at ``sha256`` (a pin such as
        ``validating`` or ``deploying``, held while its model loads: left behind, it would
        keep the model from gc and show a stale tag). Returns True if it was deleted."""
        with self._locked():
            current = self.manifest(tag)
            if current is None or current.sha256 != sha256:
                return False
            (self.run_dir / f"{tag}.json").unlink()
        return True

    def hold(self, tag: str, path: Path) -> Manifest:
        """Point ``tag`` at the model the manifest file ``path`` names, read under the lock.

        Unlike resolving a manifest and then :meth:`point`-ing at it, no save of another
        process can move ``path`` (e.g. ``latest``) and gc its model in between: use it to
        pin a checkpoint before loading it.

        Raises:
            CheckpointError: for another tag, a manifest of another run, an unreadable
                manifest or a missing model file.
        """
        if path.parent.resolve() != self.run_dir.resolve():
            raise CheckpointError(f"{path} is not a manifest of run {self.run!r}")
        with self._locked():
            return self.point(tag, read_manifest(path))

    def manifest(self, tag: str) -> Manifest | None:
        """The manifest named ``tag`` (e.g. "latest", "periodic-000000050000"), or None."""
        path = self.run_dir / f"{validate_name(tag, 'tag')}.json"
        return read_manifest(path) if path.is_file() else None

    def list(self) -> list[Manifest]:
        """All readable manifests of the run, sorted by timesteps (unreadable ones logged)."""
        manifests, broken = scan_manifests(self.run_dir)
        for path, error in broken:
            logger.warning("skipping unreadable manifest %s: %s", path, error)
        return sorted(manifests.values(), key=lambda m: (m.timesteps, m.tag))

    def gc(self) -> builtins.list[Path]:
        """Delete model files no manifest references and stale temp files.

        Nothing is deleted while any manifest is unreadable (it might reference a model).
        Temp files of saves in flight elsewhere are left alone; those older than a minute
        (left by a killed process) are removed.

        Returns:
            The deleted files.
        """
        if not self.run_dir.is_dir():
            return []
        with self._locked():
            return self._gc_locked()

    def _write(self, data: bytes, manifests: builtins.list[Manifest]) -> None:
        """The model zip, then the manifests, then pruning and gc: each step atomic."""
        with self._locked():
            if not self.models_dir.is_dir():
                self.models_dir.mkdir()
                fsync_dir(self.run_dir)
            atomic_write(self.run_dir / manifests[0].model_file, data)
            for manifest in manifests:
                atomic_write(self.run_dir / f"{manifest.tag}.json", manifest.to_json().encode())
            self._prune_periodic()
            self._gc_locked()

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Hold the run's lock (re-entrant on this object): e.g. to compare and point tags
        as one step. Saves, points and gc of any process wait for it."""
        return self._locked()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        if not self.run_dir.is_dir():
            self.run_dir.mkdir(parents=True)
            fsync_dir(self.run_dir.parent)
        fd = os.open(self.run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
        finally:
            os.close(fd)

    def _prune_periodic(self) -> None:
        manifests, _ = scan_manifests(self.run_dir)
        periodic = sorted(
            (m.created, m.timesteps, path)
            for path, m in manifests.items()
            if path.stem.startswith("periodic-")
        )
        doomed = [path for _, _, path in periodic[: max(0, len(periodic) - self.keep_periodic)]]
        for path in doomed:
            path.unlink()
            logger.debug("pruned periodic manifest %s", path)
        if doomed:
            fsync_dir(self.run_dir)

    def _gc_locked(self) -> builtins.list[Path]:
        removed = _remove_stale_temps([self.run_dir, self.models_dir])
        manifests, broken = scan_manifests(self.run_dir)
        if broken:
            logger.warning(
                "not deleting model files in %s: unreadable manifest(s) %s",
                self.run_dir, ", ".join(str(path) for path, _ in broken),
            )
            return removed
        referenced = {PurePosixPath(m.model_file) for m in manifests.values()}
        unused = [
            path for path in sorted(self.models_dir.glob("*.zip"))
            if not path.name.startswith(".")
            and PurePosixPath(MODELS_DIR, path.name) not in referenced
        ]
        for path in unused:
            path.unlink()
            logger.debug("deleted unreferenced model %s", path)
        if unused:
            fsync_dir(self.models_dir)
        return removed + unused


def _check_tags(tags: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys([tags] if isinstance(tags, str) else tags))
    bad = [tag for tag in wanted if tag not in TAGS]
    if not wanted or bad:
        raise CheckpointError(f"checkpoint tags {bad or wanted} not allowed; allowed: {TAGS}")
    return wanted


def _tag_name(tag: str, timesteps: int) -> str:
    if tag == "manual":
        return f"{MANUAL_PREFIX}{timesteps}"
    return f"periodic-{timesteps:012d}" if tag == "periodic" else tag


def _remove_stale_temps(folders: Iterable[Path]) -> list[Path]:
    removed = []
    cutoff = time.time() - STALE_TMP_SECONDS
    for folder in folders:
        for path in folder.glob(f"{TMP_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
                    logger.debug("deleted stale temp file %s", path)
    return removed
