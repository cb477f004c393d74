"""Self-play episode shards in ``checkpoints/<run>/replay/`` (DESIGN.md "Agents").

A collector writes each batch of episodes as one ``.npz`` file, atomically (temp file,
fsync, rename): a reader sees a whole shard or none, and a collector killed mid-write
leaves only a ``.tmp-*`` file, which readers ignore and :class:`ShardTail` removes once
stale. The trainer tails the folder in write order and keeps the newest ``keep`` shards.
"""

from __future__ import annotations

import io
import json
import logging
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fxconsole.agents.muzero.selfplay import Episode
from fxconsole.fsutil import TMP_PREFIX, atomic_write

logger = logging.getLogger(__name__)
REPLAY_DIR = "replay"
SUFFIX = ".npz"
STALE_TMP_SECONDS = 600.0
_ARRAYS = ("rows", "static", "actions", "rewards", "policy", "values", "chance")


@dataclass(frozen=True)
class Shard:
    """A shard's episodes and where they came from."""

    name: str
    episodes: list[Episode]
    meta: dict[str, Any]


def shard_bytes(episodes: list[Episode], meta: dict[str, Any]) -> bytes:
    """The ``.npz`` bytes of a batch of equal-length episodes."""
    arrays: dict[str, Any] = {name: np.stack([getattr(e, name) for e in episodes])
                              for name in _ARRAYS}
    arrays["starts"] = np.asarray([e.start for e in episodes], np.int64)
    arrays["trades"] = np.frombuffer(
        json.dumps([e.trades for e in episodes]).encode(), dtype=np.uint8)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def write_shard(folder: Path, name: str, episodes: list[Episode], meta: dict[str, Any]) -> Path:
    """Write ``folder/name.npz`` atomically; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}{SUFFIX}"
    atomic_write(path, shard_bytes(episodes, meta))
    return path


def read_shard(path: Path) -> Shard:
    """The episodes of a shard file.

    Raises:
        ValueError: a damaged or foreign file (naming it).
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            got = {k: z[k] for k in (*_ARRAYS, "starts", "trades", "meta")}
        trades = json.loads(got["trades"].tobytes())
        meta = json.loads(got["meta"].tobytes())
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{path}: not a replay shard: {exc}") from None
    n = got["starts"].shape[0]
    if len(trades) != n or any(got[k].shape[0] != n for k in _ARRAYS):
        raise ValueError(f"{path}: its arrays disagree on the number of episodes")
    episodes = [Episode(int(got["starts"][i]), got["rows"][i], got["static"][i],
                        got["actions"][i], got["rewards"][i], got["policy"][i],
                        got["values"][i], got["chance"][i], trades[i]) for i in range(n)]
    return Shard(path.stem, episodes, meta)


class ShardTail:
    """New shards of a replay folder, oldest first, each once; prunes beyond ``keep``."""

    def __init__(self, folder: Path, keep: int) -> None:
        self.folder = folder
        self.keep = keep
        self._seen: set[str] = set()

    def existing(self) -> list[Path]:
        """The shard files now in the folder, oldest first (by mtime, then name)."""
        if not self.folder.is_dir():
            return []
        files = [p for p in self.folder.iterdir()
                 if p.suffix == SUFFIX and not p.name.startswith(TMP_PREFIX)]
        stamped = []
        for p in files:
            try:
                stamped.append((p.stat().st_mtime_ns, p.name, p))
            except FileNotFoundError:  # pruned meanwhile
                continue
        return [p for _, _, p in sorted(stamped)]

    def poll(self) -> list[Shard]:
        """The shards not seen before (a damaged one is logged, set aside, skipped)."""
        out = []
        for path in self.existing():
            if path.name in self._seen:
                continue
            self._seen.add(path.name)
            try:
                out.append(read_shard(path))
            except ValueError as exc:
                logger.warning("%s (moved to %s.bad)", exc, path.name)
                path.replace(path.with_suffix(".bad"))
            except FileNotFoundError:
                continue
        return out

    def mark_seen(self) -> int:
        """Treat every shard now present as seen (returns how many)."""
        names = [p.name for p in self.existing()]
        self._seen.update(names)
        return len(names)

    def prune(self) -> int:
        """Delete seen shards beyond the newest ``keep`` and stale temp files."""
        files = self.existing()
        removed = 0
        for path in files[:max(len(files) - self.keep, 0)]:
            if path.name in self._seen:
                path.unlink(missing_ok=True)
                self._seen.discard(path.name)
                removed += 1
        if self.folder.is_dir():
            now = time.time()
            for tmp in self.folder.glob(f"{TMP_PREFIX}*"):
                try:
                    if now - tmp.stat().st_mtime > STALE_TMP_SECONDS:
                        tmp.unlink()
                except FileNotFoundError:
                    continue
        return removed
