"""Validation reports people can read: a JSON file and a PNG chart (:mod:`.chart`)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fxconsole.evaluation.chart import render_chart
from fxconsole.evaluation.montecarlo import equity_samples
from fxconsole.evaluation.validate import Evaluation
from fxconsole.fsutil import atomic_write

logger = logging.getLogger(__name__)

FAN_POINTS = 200


def fan(pips: npt.NDArray[np.float64], runs: int, seed: int,
        points: int = FAN_POINTS) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Percentiles 5/25/50/75/95 of the Monte Carlo equity curves at up to ``points``
    trade counts — the very resamples of ``monte_carlo(pips, runs, seed)``, so the fan's
    right edge is the reported final-pips distribution.

    Returns:
        (trade counts on the x axis, array (5, len(x)) of percentile curves).
    """
    n = pips.shape[0]
    x = np.unique(np.linspace(0, n, min(points, n + 1)).round().astype(np.int64))
    curves = equity_samples(np.ascontiguousarray(pips, dtype=np.float64), runs,
                            np.uint64(seed), x)
    return x, np.percentile(curves, [5, 25, 50, 75, 95], axis=0)


def equity_summary(ev: Evaluation) -> dict[str, Any]:
    """The chart's data for terminals: the backtest's cumulative pips and the Monte Carlo
    fan's percentiles at up to ``FAN_POINTS`` trade counts (empty lists without trades)."""
    pips = ev.policy.backtest.pips
    if not pips.size:
        return {"x": [], "backtest": [], "fan": {f"p{q}": [] for q in (5, 25, 50, 75, 95)}}
    x, pct = fan(pips, ev.runs, ev.seed)
    equity = np.concatenate(([0.0], np.cumsum(pips)))[x]
    return {"x": x.tolist(), "backtest": [round(float(v), 2) for v in equity],
            "fan": {f"p{q}": [round(float(v), 2) for v in row]
                    for q, row in zip((5, 25, 50, 75, 95), pct, strict=True)}}


def write_report(report: dict[str, Any], ev: Evaluation, folder: Path,
                 chart: bool = True) -> dict[str, Path]:
    """Write ``report.json`` (and ``chart.png``) atomically into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "report.json"}
    if chart:
        paths["png"] = folder / "chart.png"
        ckpt = report["checkpoint"]
        title = (f"{ckpt['run']} @ {ckpt['timesteps']:,} timesteps ({ckpt['tag']}) — "
                 f"{ev.split}")
        pips = ev.policy.backtest.pips
        curves = fan(pips, ev.runs, ev.seed) if pips.size else None
        atomic_write(paths["png"], render_chart(ev, title, report, curves))
    report = {**report, "equity": equity_summary(ev),
              "files": {k: str(v) for k, v in paths.items()}}
    atomic_write(paths["json"], (json.dumps(report, indent=2) + "\n").encode())
    logger.info("validation report written to %s", folder)
    return paths
