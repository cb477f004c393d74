"""The run and checkpoint registry in the console database (direct, unbatched writes)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from fxconsole.agents.manifest import Manifest
from fxconsole.ops.db import transaction
from fxconsole.ops.writer import unix_seconds
from fxconsole.sqlitetx import dumps_json


def upsert_run(
    conn: sqlite3.Connection, name: str, agent: str, config: Mapping[str, Any],
    state: str = "active", clock: Callable[[], float] = time.time,
) -> None:
    """Register a run, or update its agent, config and state (``created`` is kept)."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO runs (name, agent, created, config, state) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET agent = excluded.agent,"
            " config = excluded.config, state = excluded.state",
            (name, agent, clock(), dumps_json(dict(config)), state),
        )


def sync_checkpoints(
    conn: sqlite3.Connection, run: str, manifests: Iterable[Manifest], run_dir: Path | str,
    prune: bool = True,
) -> int:
    """Make the checkpoint registry rows of ``run`` match its manifests, in one transaction.

    Args:
        conn: the connection.
        run: the run's name.
        manifests: the run folder's manifests (tags latest, periodic-…, best, deployed), e.g.
            ``scan_manifests(run_dir)[0].values()``.
        run_dir: the run folder (``manifest_path`` is ``<run_dir>/<tag>.json``).
        prune: delete the run's rows whose tag is not among ``manifests`` (pruned periodic
            checkpoints); pass False when ``manifests`` is not the complete set.

    Returns:
        The number of rows upserted. The run is registered in ``runs`` if it was not.

    Raises:
        ValueError: if a manifest belongs to another run.
    """
    manifests = list(manifests)
    strangers = sorted({m.run for m in manifests} - {run})
    if strangers:
        raise ValueError(f"manifests of run(s) {', '.join(strangers)} given for run {run!r}")
    rows = [(run, m.tag, m.model_file, m.sha256, m.timesteps, unix_seconds(m.created),
             str(Path(run_dir) / f"{m.tag}.json"), dumps_json(m.metrics)) for m in manifests]
    with transaction(conn):
        conn.executemany(
            "INSERT INTO checkpoints (run, tag, model_file, sha256, timesteps, created,"
            " manifest_path, metrics) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (run, tag) DO UPDATE SET model_file = excluded.model_file,"
            " sha256 = excluded.sha256, timesteps = excluded.timesteps,"
            " created = excluded.created, manifest_path = excluded.manifest_path,"
            " metrics = excluded.metrics", rows)
        if prune:
            tags = [row[1] for row in rows]
            conn.execute(f"DELETE FROM checkpoints WHERE run = ? AND tag NOT IN"
                         f" ({', '.join('?' * len(tags))})", (run, *tags))
        if manifests:
            first = min(manifests, key=lambda m: m.created)
            conn.execute("INSERT OR IGNORE INTO runs (name, agent, created, config)"
                         " VALUES (?, ?, ?, ?)",
                         (run, first.agent, unix_seconds(first.created), dumps_json(first.config)))
    return len(rows)

