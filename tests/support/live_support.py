"""Helpers of the live-trading tests: a small config, a recording sink, scripted policies,
cheap checkpoints (an exported actor that always chooses one action, no training)."""

from __future__ import annotations

import dataclasses
import io
import sqlite3
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.manifest import Manifest
from fxconsole.agents.ppo.inference import ACTOR_MEMBER
from fxconsole.brokers.paper import PaperBroker
from fxconsole.brokers.paper_bars import PaperBars
from fxconsole.config import Config, with_overrides
from fxconsole.market.bars import Bars
from fxconsole.ops.db import connect, transaction
from fxconsole.trading.spaces import observation_spec

WINDOW = 240
HISTORY = 400


def small_config(**sections: Mapping[str, Any]) -> Config:
    """Defaults with a short feature window, no gating, and overrides per section."""
    cfg = with_overrides(Config(), "data", mm_window=WINDOW)
    cfg = with_overrides(cfg, "live", history_bars=HISTORY, unknown_grace_seconds=0.0)
    cfg = with_overrides(cfg, "env", gating=False)
    for section, values in sections.items():
        cfg = with_overrides(cfg, section, **values)
    return cfg.validated()


def console(path: Path) -> sqlite3.Connection:
    """A console database (schema migrated) at ``path``."""
    return connect(path)


def paper(conn: sqlite3.Connection, bars: Bars, start: int, cfg: Config) -> PaperBroker:
    """A paper broker over ``bars`` playing from row ``start``, moved only by advance()."""
    played = PaperBars.replay(bars, "train", 0.7, 0.85)
    played = dataclasses.replace(played, start=start, key=f"test:{start}")
    return PaperBroker(conn, played, "GBP_JPY", bars.pip, cfg.env.spread_pips,
                       bars_per_second=None)


class Sink:
    """Records what the trader writes."""

    def __init__(self) -> None:
        self.metrics: list[tuple[int, dict[str, float]]] = []
        self.closed: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []

    def write(self, step: int, values: Mapping[str, float]) -> None:
        self.metrics.append((step, dict(values)))

    def trades(self, step: int, trades: list[dict[str, Any]]) -> None:
        self.closed.extend(trades)

    def event(self, level: str, kind: str, message: str,
              data: Mapping[str, Any] | None = None) -> None:
        self.events.append((level, kind, message))

    def latest(self, key: str) -> float | None:
        for _, values in reversed(self.metrics):
            if key in values:
                return values[key]
        return None

    def kinds(self, level: str) -> list[str]:
        return [k for lv, k, _ in self.events if lv == level]


class Script:
    """A policy (PPO observations) that plays a list of actions (then HOLD) and keeps what
    it saw, and the legal actions it was shown."""

    observation_kind = "ppo"

    def __init__(self, actions: list[int] | Callable[[int], int]) -> None:
        self.actions = actions
        self.seen: list[np.ndarray] = []
        self.legal: list[np.ndarray] = []

    def __call__(self, obs: np.ndarray, legal: np.ndarray) -> np.ndarray:
        k = len(self.seen)
        self.seen.append(np.array(obs[0]))
        self.legal.append(np.array(legal[0]))
        if callable(self.actions):
            action = self.actions(k)
        else:
            action = self.actions[k] if k < len(self.actions) else 0
        return np.array([action], dtype=np.int64)


def orders(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """(client_id, units, purpose, state) of every journaled order."""
    return conn.execute("SELECT client_id, units, purpose, state FROM orders ORDER BY id"
                        ).fetchall()


def paper_orders(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """(client_id, units, state, price) of every paper order."""
    return conn.execute("SELECT client_id, units, state, price FROM paper_orders"
                        " ORDER BY transaction_id").fetchall()


class _Model:
    """Anything with SB3's ``save``: the checkpoint's zip holds only the exported actor."""

    def save(self, buffer: io.BytesIO) -> None:
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("data", "{}")


def save_checkpoint(ws: Path, run: str, action: int, spec: dict[str, Any] | None = None,
                    timesteps: int = 1000, tags: tuple[str, ...] = ("latest",),
                    config: Mapping[str, Any] | None = None,
                    pinned: Mapping[str, Any] | None = None) -> Manifest:
    """A PPO checkpoint (``latest``, or ``tags``) of ``run`` whose actor always chooses
    ``action`` (with the config record and pin given, else none)."""
    weights = {"w0": np.zeros((4, 17), np.float32), "b0": np.zeros(4, np.float32),
               "w1": np.zeros((4, 4), np.float32), "b1": np.eye(4, dtype=np.float32)[action],
               "activation": np.array("Tanh")}
    npz = io.BytesIO()
    np.savez(npz, **weights)  # type: ignore[arg-type]
    return RunCheckpoints(ws / "checkpoints" / run).save(
        _Model(), timesteps, list(tags), config=config or {},
        observation_spec=spec or observation_spec("ppo"), feature_spec_version=1,
        extras={ACTOR_MEMBER: npz.getvalue()}, agent="ppo", pinned=pinned)


def record_stage(conn: sqlite3.Connection, manifest: Manifest, split: str,
                 validated: bool) -> None:
    """A ``validations`` row: ``manifest``'s checkpoint on ``split`` (``"validation"``, or
    ``"test"`` for its examination) passed or failed."""
    with transaction(conn):
        conn.execute("INSERT INTO validations (ts, run, sha256, timesteps, split, validated,"
                     " sqn, expectancy, trades) VALUES (strftime('%s', 'now'), ?, ?, ?, ?, ?,"
                     " 1.0, 1.0, 100)", (manifest.run, manifest.sha256, manifest.timesteps,
                                         split, int(validated)))
