"""``chart.png`` of a validation: equity over time beside the baselines and the Monte Carlo
fan, the verdict and key figures on top, the drawdown histogram.

The legend sits below the plot, never over the early equity curve; the x axis is the
time of each trade's exit (the fan's k-th point sits where the backtest closed its k-th
trade), not the trade number.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fxconsole import numfmt
from fxconsole.evaluation.validate import Evaluation, PolicyResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PERCENTILES = (5, 25, 50, 75, 95)
FAN_BANDS = ((5, 95), (25, 75))
BASELINE_STYLES = {"random": "tab:orange", "flat": "tab:grey", "momentum": "tab:green"}


def _time(iso: str) -> datetime:
    """An ISO-8601 time as a naive UTC datetime (what numpy's datetime64 takes)."""
    t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def _axis(times: list[datetime]) -> npt.NDArray[np.datetime64]:
    return np.asarray(times, dtype="datetime64[s]")


def equity_in_time(result: PolicyResult, start: datetime
                   ) -> tuple[list[datetime], npt.NDArray[np.float64]]:
    """A policy's cumulative pips at each trade's exit time, from 0 at ``start``.

    Args:
        result: The policy's backtest.
        start: The first bar played.

    Returns:
        (times, cumulative pips), both one longer than the trades (the start point).
    """
    trades = sorted(result.backtest.trades, key=lambda t: str(t.get("exit_ts", "")))
    times = [start, *(_time(str(t["exit_ts"])) for t in trades)]
    pips = np.asarray([float(t["pips"]) for t in trades], dtype=np.float64)
    return times, np.concatenate(([0.0], np.cumsum(pips)))


def headline(report: dict[str, Any] | None, ev: Evaluation) -> tuple[str, str, bool]:
    """The verdict and the key figures printed on the chart.

    Args:
        report: The report (its verdict and deflated SQN); ``None`` prints figures only.
        ev: The evaluation.

    Returns:
        (verdict, figures, passed): e.g. ``("NOT VALIDATED", "412 trades · SQN +1.23 · …",
        False)``.
    """
    m = ev.policy.metrics
    figures = [f"{numfmt.count(m.trades)} trades", f"SQN {numfmt.signed(m.sqn)}",
               f"expectancy {numfmt.signed(m.expectancy)} pips",
               f"win rate {numfmt.pct(m.win_rate)}",
               f"profit factor {numfmt.num(m.profit_factor, 2)}",
               f"Monte Carlo p5 {numfmt.signed(ev.monte_carlo.final_pips['p5'], 0)} pips"]
    if report is None:
        return "", " · ".join(figures), False
    v = report.get("verdict", {})
    dsr = report.get("deflated", {}).get("dsr")
    figures.insert(2, f"DSR {numfmt.num(dsr, 2)}")
    passed = bool(v.get("validated"))
    verdict = ("VALIDATED" if passed else "PASSED VALIDATION, FAILED THE TEST EXAM"
               if v.get("validation_passed") else "NOT VALIDATED")
    return verdict, " · ".join(figures), passed


def chart_figure(ev: Evaluation, title: str, report: dict[str, Any] | None = None,
                 fan: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None = None
                 ) -> Figure:
    """The chart as a matplotlib figure (``render_chart`` saves it).

    Args:
        ev: The evaluation (the checkpoint's and the baselines' trades, Monte Carlo).
        title: The first line (run, timesteps, split).
        report: The report, for the verdict and the DSR.
        fan: Trade counts and the Monte Carlo percentile curves at them.

    Returns:
        The figure (the caller closes it).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.6), dpi=100,
                                      gridspec_kw={"width_ratios": (2.2, 1)})
    start = _time(ev.policy.backtest.played[0]) if ev.policy.backtest.played[0] else None
    _equity_panel(left, ev, start, fan)
    _drawdown_panel(right, ev)
    verdict, figures, passed = headline(report, ev)
    fig.suptitle(title, fontsize=12, y=0.985)
    if verdict:
        fig.text(0.5, 0.925, verdict, ha="center", fontsize=12, weight="bold",
                 color="tab:green" if passed else "tab:red")
    fig.text(0.5, 0.885, figures, ha="center", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    return fig


def _equity_panel(ax: Axes, ev: Evaluation, start: datetime | None,
                  fan: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None) -> None:
    trades = ev.policy.backtest.trades
    if start is None and trades:
        start = min(_time(str(t["entry_ts"])) for t in trades)
    if start is not None:
        times, equity = equity_in_time(ev.policy, start)
        if fan is not None and len(trades):
            x, pct = fan
            at = _axis([times[int(k)] for k in x])
            for (lo, hi), alpha in zip(FAN_BANDS, (0.15, 0.3), strict=True):
                ax.fill_between(at, pct[PERCENTILES.index(lo)], pct[PERCENTILES.index(hi)],
                                alpha=alpha, color="tab:blue", lw=0,
                                label=f"Monte Carlo p{lo}–p{hi}")
            ax.plot(at, pct[2], color="tab:blue", lw=1, ls="--", label="Monte Carlo median")
        end = _time(ev.policy.backtest.played[1]) if ev.policy.backtest.played[1] else times[-1]
        for name, result in ev.baselines.items():
            b_times, b_equity = equity_in_time(result, start)
            ax.plot(_axis([*b_times, end]), [*b_equity, b_equity[-1]], lw=1, alpha=0.9,
                    color=BASELINE_STYLES.get(name), label=f"{name} baseline "
                    f"({numfmt.count(result.metrics.trades)} trades)")
        ax.plot(_axis([*times, end]), [*equity, equity[-1]], color="black", lw=1.6,
                label=f"checkpoint ({numfmt.count(len(trades))} trades)")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(title=f"equity on the {ev.split} split", xlabel="time (UTC, trade exits)",
           ylabel="cumulative pips")
    if start is not None:
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator(maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=8,
                  frameon=False)


def _drawdown_panel(ax: Axes, ev: Evaluation) -> None:
    dd = ev.monte_carlo.drawdowns
    if dd.size:
        ax.hist(dd, bins=min(50, max(5, dd.size // 4)), color="tab:red", alpha=0.7)
        for key, style in (("p50", "--"), ("p95", ":")):
            value = ev.monte_carlo.max_drawdown[key]
            ax.axvline(value, color="black", ls=style,
                       label=f"{key} {numfmt.num(value, 0)} pips")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8,
                  frameon=False)
    ax.set(title=f"max drawdown over {numfmt.count(ev.runs)} resamples", xlabel="pips",
           ylabel="runs")


def render_chart(ev: Evaluation, title: str, report: dict[str, Any] | None = None,
                 fan: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None = None
                 ) -> bytes:
    """The PNG of :func:`chart_figure`."""
    import matplotlib.pyplot as plt

    fig = chart_figure(ev, title, report, fan)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
