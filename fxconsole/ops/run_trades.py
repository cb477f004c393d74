"""The trades counter of a run, cumulative over chunks, restarts and supervisors.

An agent reports ``rollout/trades`` as the trades of its own training call: every
``train.timesteps`` chunk, worker restart or supervisor restart began again from zero
(18.3k → 273). The run's true count is kept by the console database's insert triggers
(``trade_totals``, schema v6), exact whatever retention pruned. :class:`RunTradesSink`
sits between the agent and the worker's writer and reports that count instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from fxconsole.agents.sinks import MetricsSink
from fxconsole.ops.totals import trade_totals

TRADES_KEY = "rollout/trades"
TRAINING_SOURCES = ("train", "collect")
"""Trades made while training: the trainer's own and its self-play collectors'."""


def training_sources(agent: str, collectors: int) -> tuple[str, ...]:
    """The trade sources a trainer's ``rollout/trades`` counts.

    PPO trains on its own environments (``train``); its collectors only play the
    validation split. MuZero learns from its collectors' self-play (``collect``) too.

    Args:
        agent: ``train.agent``.
        collectors: the run's collectors (``Config.collectors``: local or Ray actors).

    Returns:
        The sources.
    """
    return TRAINING_SOURCES if agent == "muzero" and collectors else ("train",)


def run_trades(conn: sqlite3.Connection, run: str,
               sources: Iterable[str] = TRAINING_SOURCES) -> int:
    """Every training trade ever committed for ``run`` (all chunks, processes, supervisors).

    Args:
        conn: The console database.
        run: The training run.
        sources: Trade sources to count.

    Returns:
        The count.
    """
    return sum(trade_totals(conn, run, source).trades for source in sources)


class RunTradesSink:
    """A sink that forwards to ``inner`` and rewrites ``rollout/trades`` as the run's count.

    The inner sink is flushed first (when it can be) so the count includes the trades
    just reported; it never goes below a value already reported.

    Args:
        inner: The worker's writer (or any sink).
        conn: The console database ``inner`` commits to.
        run: The training run.
        sources: The trade sources of the run's training (:func:`training_sources`).
    """

    def __init__(self, inner: MetricsSink, conn: sqlite3.Connection, run: str,
                 sources: Iterable[str] = TRAINING_SOURCES) -> None:
        self.inner, self.conn, self.run = inner, conn, run
        self.sources = tuple(sources)
        self.reported = 0

    def count(self) -> int:
        """The run's trades now (monotone)."""
        flush = getattr(self.inner, "flush", None)
        try:
            if callable(flush):
                flush()
            self.reported = max(self.reported, run_trades(self.conn, self.run, self.sources))
        except sqlite3.Error:  # a locked database: the last value stands
            pass
        return self.reported

    def write(self, step: int, values: Mapping[str, float]) -> None:
        """Forward metric values, ``rollout/trades`` replaced by the run's count."""
        if TRADES_KEY in values:
            values = {**values, TRADES_KEY: float(self.count())}
        self.inner.write(step, dict(values))

    def trades(self, step: int, trades: list[dict[str, Any]]) -> None:
        """Forward closed trades."""
        self.inner.trades(step, trades)

    def close(self) -> None:
        """Close the inner sink."""
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        """Anything else (events, heartbeats, flush) is the inner writer's."""
        return getattr(self.inner, name)
