"""The validation panel: the newest report's metrics beside the baselines, its Monte Carlo
percentiles drawn as a box plot, the cost stress, the deflated SQN, the test exam, Bandy's
safe-f and CAR25, every check of the verdict marked passed or failed, and the report's
equity chart (backtest over the Monte Carlo fan) drawn in text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import var
from textual.widgets import Static

from fxconsole import numfmt
from fxconsole.ops.queries import TuningTrialRow
from fxconsole.tuning.space import short_params
from fxconsole.ui import format as fmt
from fxconsole.ui.chart import AXIS_WIDTH, BAND_INNER, BAND_OUTER, LINE, MEDIAN, equity_chart
from fxconsole.ui.data import ConsoleSnapshot, ValidationView
from fxconsole.ui.widgets.common import changed, themed

# every figure through numfmt: one format (thousands separators, "—" when undefined)
ROWS = (("trades", "trades", numfmt.count),
        ("expectancy", "expectancy", lambda v: numfmt.signed(v, 1)),
        ("win rate", "win_rate", numfmt.pct),
        ("SQN", "sqn", lambda v: numfmt.signed(v, 2)),
        ("profit factor", "profit_factor", lambda v: numfmt.num(v, 2)),
        ("max DD pips", "max_drawdown_pips", lambda v: numfmt.num(v, 1)),
        ("total pips", "total_pips", lambda v: numfmt.signed(v, 1)))
PASS_MARK, FAIL_MARK = "✓", "✗"
PERCENTILES = ("p5", "p25", "p50", "p75", "p95")
BOX_WIDTH = 36
CHART_ROWS_NARROW, CHART_ROWS_WIDE = 8, 14


def boxplot(p: Mapping[str, float], width: int = BOX_WIDTH) -> tuple[str, str]:
    """A one-line box plot of percentiles p5–p95 with zero marked, and its scale line."""
    values = [float(p[k]) for k in PERCENTILES]
    lo, hi = min(values[0], 0.0), max(values[-1], 0.0)
    span = (hi - lo) or 1.0

    def at(x: float) -> int:
        return round((x - lo) / span * (width - 1))

    chars = [" "] * width
    p5, p25, p50, p75, p95 = (at(v) for v in values)
    chars[p5:p95 + 1] = "─" * (p95 + 1 - p5)
    chars[p25:p75 + 1] = "━" * (p75 + 1 - p25)
    chars[p5], chars[p95], chars[p50] = "├", "┤", "┃"
    if chars[at(0.0)] == " ":
        chars[at(0.0)] = "┊"
    left, right = f"{lo:+,.0f}", f"{hi:+,.0f}"
    scale = left + " " * max(1, width - len(left) - len(right)) + right
    return "".join(chars), scale


def _metric(result: Mapping[str, Any] | None, key: str) -> float | None:
    value = None if result is None else result.get(key)
    return float(value) if isinstance(value, int | float) else None


def metrics_table(v: ValidationView) -> Table:
    """The policy's metrics beside each baseline's."""
    report = v.report or {}
    policy: Mapping[str, Any] = report.get("policy") or {
        "trades": v.row.trades, "expectancy": v.row.expectancy, "sqn": v.row.sqn}
    baselines: Mapping[str, Any] = report.get("baselines") or {}
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("")
    for name in ("policy", *baselines):
        table.add_column(name, justify="right")
    for label, key, show in ROWS:
        table.add_row(label, show(_metric(policy, key)),
                      *[show(_metric(b, key)) for b in baselines.values()])
    return table


def monte_carlo(v: ValidationView) -> Group | Text:
    """The Monte Carlo summary: percentiles of final pips as numbers and a box plot."""
    mc = (v.report or {}).get("monte_carlo") or v.row.summary.get("monte_carlo")
    if not mc or not all(isinstance(mc.get("final_pips", {}).get(k), int | float)
                         for k in PERCENTILES):
        return Text("Monte Carlo: —")
    finals, dd = mc["final_pips"], mc.get("max_drawdown", {})
    box, scale = boxplot(finals)
    return Group(
        Text(f"Monte Carlo · {mc.get('runs', 0):,} resamples of {mc.get('n_trades', 0):,} "
             "trades"),
        Text("final pips " + " ".join(f"{k} {finals[k]:+,.0f}" for k in PERCENTILES)),
        Text(box), Text(scale, style="dim"),
        Text(f"max DD p50 {fmt.num(dd.get('p50'), ',.0f')} p95 {fmt.num(dd.get('p95'), ',.0f')}"
             f" · P(final < 0) {fmt.pct(mc.get('prob_below_zero'))}"),
    )


def honesty(v: ValidationView) -> Text:
    """Cost stress, the deflated SQN, the test exam and Bandy's sizing, a line each."""
    report = v.report or {}
    lines = []
    stress = report.get("stress") or {}
    if stress:
        lines.append("cost stress · " + " · ".join(
            f"{name}: exp {fmt.pips(_metric(r, 'expectancy'))} SQN "
            f"{fmt.num(_metric(r, 'sqn'), '+.2f')}" for name, r in stress.items()))
    d = report.get("deflated") or {}
    if d:
        lines.append(f"deflated SQN {fmt.num(_metric(d, 'dsr'), '.3f')} (K={d.get('k', '?')}"
                     f", SR {fmt.num(_metric(d, 'sr'), '+.3f')} vs luck "
                     f"{fmt.num(_metric(d, 'sr0'), '+.3f')})")
    exam = (report.get("stages") or {}).get("test")
    if exam:
        p, de = exam.get("policy") or {}, exam.get("deflated") or {}
        lines.append(f"test exam ({'now' if exam.get('examined_now') else 'earlier'}): "
                     f"{fmt.num(_metric(p, 'trades'), ',.0f')} trades, exp "
                     f"{fmt.pips(_metric(p, 'expectancy'))}, DSR "
                     f"{fmt.num(_metric(de, 'dsr'), '.3f')} (K={de.get('k', '?')})")
    elif report.get("verdict", {}).get("validation_passed") is False:
        lines.append("test exam: not taken (validation failed)")
    sizing = report.get("sizing") or {}
    if sizing:
        lines.append(f"safe-f {fmt.num(_metric(sizing, 'safe_f'), '.3f')} · CAR25 "
                     f"{fmt.pct(_metric(sizing, 'car25'))}")
    return Text("\n".join(lines))


def checks(v: ValidationView, passed_style: Style | str = "",
           failed_style: Style | str = "") -> Text:
    """Every check of the verdict with its numbers, ✓ passed or ✗ failed (the marks in
    ``passed_style`` / ``failed_style``: the theme's colours; the marks alone carry the
    meaning under NO_COLOR). A summary without its checks lists its reasons (each a
    failed check) marked ✗."""
    verdict = (v.report or {}).get("verdict") or v.row.summary.get("verdict") or {}
    text = Text()
    listed = verdict.get("checks")
    if isinstance(listed, list) and listed:
        for c in listed:
            passed = bool(c.get("passed"))
            text.append(f"{PASS_MARK} " if passed else f"{FAIL_MARK} ",
                        style=passed_style if passed else failed_style)
            text.append(f"{c.get('text', c.get('name', ''))}\n")
    else:
        for reason in verdict.get("reasons", []):
            text.append(f"{FAIL_MARK} ", style=failed_style)
            text.append(f"{reason}\n")
    if v.report_error:
        text.append(f"{FAIL_MARK} ", style=failed_style)
        text.append(f"{v.report_error}\n")
    return text


def final_verdict(v: ValidationView) -> tuple[str, bool]:
    """The split validated and whether the checkpoint is VALIDATED (after its exam)."""
    report = v.report or {}
    verdict = report.get("verdict") or {}
    return str(report.get("split", v.row.split)), bool(verdict.get("validated", v.row.validated))


def tuning_text(trials: tuple[TuningTrialRow, ...]) -> Text:
    """The newest tuning study's last trials, a line each (empty without a study)."""
    if not trials:
        return Text()
    finished = [t for t in trials if t.state in ("COMPLETE", "PRUNED")]
    text = Text(f"tuning study {trials[0].study} · last {len(trials)} trials "
                f"({len(finished)} finished) · every trial counts in K\n", style="bold")
    for t in trials:
        params = short_params(t.params)
        note = f" · {t.note}" if t.note else ""
        text.append(f"#{t.trial} {t.state.lower():<8} SQN {fmt.num(t.value, '+.2f'):>6} "
                    f"{params}{note}\n")
    return text


class ValidationPanel(VerticalScroll):
    """The newest validation of the run."""

    snapshot: var[ConsoleSnapshot | None] = var(None)

    def compose(self) -> ComposeResult:
        """Verdict line, then metrics and Monte Carlo (side by side when wide), reasons."""
        yield Static("No validation yet.", id="validation-head")
        with Horizontal(id="validation-body"):
            yield Static(id="validation-metrics")
            yield Static(id="validation-mc")
        yield Static(id="validation-honesty")
        yield Static(id="validation-reasons")
        yield Static(id="validation-tuning")
        yield Static(id="validation-chart")

    def on_resize(self) -> None:
        """Fit the chart to the new width."""
        if self.snapshot is not None and self.snapshot.validation is not None:
            self._draw_chart(self.snapshot.validation)

    def watch_snapshot(self, snap: ConsoleSnapshot | None) -> None:
        """Redraw from the snapshot's validation and tuning trials (if they changed)."""
        trials = () if snap is None else snap.tuning
        tuning = self.query_one("#validation-tuning", Static)
        if changed(tuning, trials):
            tuning.update(tuning_text(trials))
            tuning.display = bool(trials)  # no study: no line
        v = None if snap is None else snap.validation
        if v is None or not changed(self, v):
            return
        split, validated = final_verdict(v)
        head = Text.assemble(
            f"{self._checkpoint(v)} · {split} split · ",
            themed(self.app, "VALIDATED", "success", bold=True) if validated
            else themed(self.app, "NOT VALIDATED", "error", bold=True))
        self.query_one("#validation-head", Static).update(head)
        self.query_one("#validation-metrics", Static).update(metrics_table(v))
        self.query_one("#validation-mc", Static).update(monte_carlo(v))
        self.query_one("#validation-honesty", Static).update(honesty(v))
        self.query_one("#validation-reasons", Static).update(checks(
            v, themed(self.app, PASS_MARK, "success", bold=True).style,
            themed(self.app, FAIL_MARK, "error", bold=True).style))
        self._draw_chart(v)

    def _draw_chart(self, v: ValidationView) -> None:
        """The equity chart (backtest over the Monte Carlo fan) sized to the panel."""
        equity = (v.report or {}).get("equity") or {}
        width = max(20, self.size.width - AXIS_WIDTH - 4)
        height = CHART_ROWS_NARROW if self.size.height < 30 else CHART_ROWS_WIDE
        try:
            lines = equity_chart(equity.get("backtest") or [], equity.get("fan") or {},
                                 width, height)
        except (ValueError, TypeError, IndexError) as exc:
            lines = [f"equity chart: unreadable report data ({exc})"]
        x = equity.get("x") or []
        title = (f"Equity over {x[-1]:,} trades: backtest {LINE}, Monte Carlo median "
                 f"{MEDIAN}, p25–p75 {BAND_INNER}, p5–p95 {BAND_OUTER}") if x and lines \
            else "Equity chart: not in this report (validate again to draw it)"
        self.query_one("#validation-chart", Static).update(
            Text("\n".join([title, *lines])))

    @staticmethod
    def _checkpoint(v: ValidationView) -> str:
        ck = (v.report or {}).get("checkpoint") or {}
        steps = ck.get("timesteps", v.row.timesteps)
        name = f"{ck['run']} " if "run" in ck else ""
        return f"{name}@ {steps:,} steps ({v.row.sha256[:12]})" if steps is not None \
            else v.row.sha256[:12]
