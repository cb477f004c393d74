"""Issue 17 defect 11: chart.png's legend does not cover the equity curve (it sits below
the plot), the x axis is time, the verdict and key figures are on it, and the baselines'
curves are drawn beside the checkpoint's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from fxconsole.evaluation.backtest import BacktestResult
from fxconsole.evaluation.chart import chart_figure, render_chart
from fxconsole.evaluation.montecarlo import monte_carlo
from fxconsole.evaluation.report import fan
from fxconsole.evaluation.validate import Evaluation, PolicyResult
from fxconsole.trading.metrics import trade_metrics

START = datetime(2024, 3, 1, tzinfo=UTC)


def result(name: str, pips: list[float]) -> PolicyResult:
    trades: list[dict[str, Any]] = []
    for i, p in enumerate(pips):
        entry = START + timedelta(hours=6 * i + 1)
        trades.append({"pips": p, "entry_ts": entry.isoformat(),
                       "exit_ts": (entry + timedelta(hours=2)).isoformat()})
    played = (START.isoformat(), (START + timedelta(days=30)).isoformat())
    return PolicyResult(name, BacktestResult("validation", 8, 360, trades, 0, 0, played),
                        trade_metrics(pips))


def evaluation() -> Evaluation:
    pips = list(np.random.default_rng(3).normal(1.0, 8.0, 90))
    return Evaluation("validation", result("checkpoint", pips),
                      {"random": result("random", pips[::-1][:60]), "flat": result("flat", []),
                       "momentum": result("momentum", [2.0, -3.0] * 20)}, {},
                      monte_carlo(np.asarray(pips), runs=100, seed=1), 100, 1)


REPORT = {"verdict": {"validated": False, "validation_passed": False},
          "deflated": {"dsr": 0.41}}


def test_the_chart_shows_time_baselines_verdict_and_a_legend_off_the_curve() -> None:
    ev = evaluation()
    fig = chart_figure(ev, "main @ 1,000 timesteps", REPORT,
                       fan(ev.policy.backtest.pips, ev.runs, ev.seed))
    try:
        fig.canvas.draw()
        equity = fig.axes[0]
        legend = equity.get_legend()
        assert legend is not None
        assert not legend.get_window_extent().overlaps(equity.get_window_extent())
        labels = [t.get_text() for t in legend.get_texts()]
        assert "checkpoint (90 trades)" in labels
        assert {"random baseline (60 trades)", "flat baseline (0 trades)",
                "momentum baseline (40 trades)"} <= set(labels)
        curves = [line for line in equity.lines if not str(line.get_label()).startswith("_")]
        assert len(curves) == 5  # checkpoint, three baselines, the Monte Carlo median
        assert all(np.asarray(line.get_xdata()).dtype.kind == "M" for line in curves)
        assert "time" in equity.get_xlabel()
        texts = [t.get_text() for t in fig.texts]
        assert "NOT VALIDATED" in texts
        figures = next(t for t in texts if t.startswith("90 trades"))
        assert "SQN +" in figures and "DSR 0.41" in figures and "win rate" in figures
    finally:
        plt.close(fig)


def test_a_checkpoint_without_trades_still_draws() -> None:
    ev = evaluation()
    flat = Evaluation("validation", result("checkpoint", []), ev.baselines, {},
                      monte_carlo(np.asarray([]), runs=10, seed=1), 10, 1)
    png = render_chart(flat, "flat", REPORT, None)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
