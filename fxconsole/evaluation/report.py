"""Validation reports people can read: a JSON file, a PNG chart, a terminal table."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fxconsole.evaluation.montecarlo import equity_samples
from fxconsole.evaluation.validate import Evaluation
from fxconsole.fsutil import atomic_write

logger = logging.getLogger(__name__)

FAN_POINTS = 200
FAN_BANDS = ((5, 95), (25, 75))


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


def render_chart(ev: Evaluation, title: str) -> bytes:
    """The PNG: backtest equity curve over the Monte Carlo fan, and the drawdown histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pips = ev.policy.backtest.pips
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    if pips.size:
        x, pct = fan(pips, ev.runs, ev.seed)
        for (lo, hi), alpha in zip(FAN_BANDS, (0.15, 0.3), strict=True):
            left.fill_between(x, pct[[5, 25, 50, 75, 95].index(lo)],
                              pct[[5, 25, 50, 75, 95].index(hi)], alpha=alpha, color="tab:blue",
                              label=f"Monte Carlo p{lo}–p{hi}")
        left.plot(x, pct[2], color="tab:blue", lw=1, ls="--", label="Monte Carlo median")
        left.plot(np.arange(pips.size + 1), np.concatenate(([0.0], np.cumsum(pips))),
                  color="black", lw=1.5, label="backtest")
    left.axhline(0, color="grey", lw=0.8)
    left.set(title=f"equity ({ev.split}, {pips.size:,} trades)", xlabel="trade",
             ylabel="cumulative pips")
    left.legend(loc="upper left", fontsize=8)
    dd = ev.monte_carlo.drawdowns
    if dd.size:
        right.hist(dd, bins=min(50, max(5, dd.size // 4)), color="tab:red", alpha=0.7)
        for key, style in (("p50", "--"), ("p95", ":")):
            value = ev.monte_carlo.max_drawdown[key]
            right.axvline(value, color="black", ls=style, label=f"{key} {value:,.0f} pips")
        right.legend(fontsize=8)
    right.set(title=f"max drawdown over {ev.runs:,} resamples", xlabel="pips", ylabel="runs")
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_report(report: dict[str, Any], ev: Evaluation, folder: Path,
                 chart: bool = True) -> dict[str, Path]:
    """Write ``report.json`` (and ``chart.png``) atomically into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "report.json"}
    if chart:
        paths["png"] = folder / "chart.png"
        ckpt = report["checkpoint"]
        title = f"{ckpt['run']} @ {ckpt['timesteps']:,} timesteps — {ev.split}"
        atomic_write(paths["png"], render_chart(ev, title))
    report = {**report, "equity": equity_summary(ev),
              "files": {k: str(v) for k, v in paths.items()}}
    atomic_write(paths["json"], (json.dumps(report, indent=2) + "\n").encode())
    logger.info("validation report written to %s", folder)
    return paths
