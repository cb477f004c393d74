"""Where training metrics and closed trades go: one small interface, several sinks.

A sink failing never stops training: :class:`FanoutSink` logs the exception and carries
on with the other sinks (the supervisor issue adds a SQLite sink behind this interface).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Protocol

from fxconsole.trading.metrics import RollingTrades

logger = logging.getLogger(__name__)


def rollout_values(rolling: RollingTrades) -> dict[str, float]:
    """The ``rollout/*`` figures of an agent's rolling training trades (both agents)."""
    m = rolling.metrics()
    return {"rollout/trades": float(rolling.total), "rollout/win_rate": m.win_rate,
            "rollout/expectancy": m.expectancy, "rollout/avg_win": m.avg_win,
            "rollout/avg_loss": m.avg_loss, "rollout/sqn": m.sqn}


class MetricsSink(Protocol):
    """Receives namespaced metrics (``train/…``, ``rollout/…``) and closed trades."""

    def write(self, step: int, values: dict[str, float]) -> None:
        """Record metric values at a timestep."""

    def trades(self, step: int, trades: list[dict[str, Any]]) -> None:
        """Record closed trades (the env's ``info["trade"]`` dicts plus context)."""

    def close(self) -> None:
        """Flush and release resources."""


class FanoutSink:
    """Sends to every sink; a sink that raises is logged and skipped, never fatal."""

    def __init__(self, *sinks: MetricsSink) -> None:
        self.sinks = list(sinks)

    def _each(self, method: str, *args: Any) -> None:
        for sink in self.sinks:
            try:
                getattr(sink, method)(*args)
            except Exception:
                logger.exception("metrics sink %s.%s failed", type(sink).__name__, method)

    def write(self, step: int, values: dict[str, float]) -> None:
        """Forward metric values."""
        self._each("write", step, values)

    def trades(self, step: int, trades: list[dict[str, Any]]) -> None:
        """Forward closed trades."""
        self._each("trades", step, trades)

    def close(self) -> None:
        """Close every sink."""
        self._each("close")


class JsonlSink:
    """Appends metrics and trades as JSON lines to ``metrics.jsonl`` / ``trades.jsonl``."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._metrics = (folder / "metrics.jsonl").open("a", encoding="utf-8")
        self._trades = (folder / "trades.jsonl").open("a", encoding="utf-8")

    def write(self, step: int, values: dict[str, float]) -> None:
        """Append one metrics line (NaN and ∞, e.g. an early explained variance, as null)."""
        clean = {k: (v if math.isfinite(v) else None) for k, v in values.items()}
        self._metrics.write(json.dumps({"step": step, **clean}) + "\n")
        self._metrics.flush()

    def trades(self, step: int, trades: list[dict[str, Any]]) -> None:
        """Append one line per trade."""
        self._trades.writelines(json.dumps({"step": step, **t}) + "\n" for t in trades)
        self._trades.flush()

    def close(self) -> None:
        """Close both files."""
        self._metrics.close()
        self._trades.close()


class MemorySink:
    """Keeps everything in lists (tests, notebooks)."""

    def __init__(self) -> None:
        self.metrics: list[tuple[int, dict[str, float]]] = []
        self.trade_rows: list[dict[str, Any]] = []
        self.closed = False

    def write(self, step: int, values: dict[str, float]) -> None:
        """Keep the values."""
        self.metrics.append((step, dict(values)))

    def trades(self, step: int, trades: list[dict[str, Any]]) -> None:
        """Keep the trades."""
        self.trade_rows.extend(trades)

    def close(self) -> None:
        """Mark closed."""
        self.closed = True

    def last(self, key: str) -> float | None:
        """The most recent value of a metric key, if any."""
        for _, values in reversed(self.metrics):
            if key in values:
                return values[key]
        return None
