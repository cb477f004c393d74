"""The training panel: the trainer's figures, and charts of rolling expectancy and win
rate over timesteps with a small win-rate table (like the original system's)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.widgets import Label, Sparkline, Static

from fxconsole.ui import format as fmt
from fxconsole.ui.control import training_paused
from fxconsole.ui.data import ConsoleSnapshot
from fxconsole.ui.widgets.common import changed, update_static

CHARTS = (("rollout/expectancy", "expectancy", fmt.pips),
          ("rollout/win_rate", "win rate", fmt.pct))
TABLE_ROWS = 6


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def rollback_note(snap: ConsoleSnapshot) -> str:
    """`` (⟲ rolled back to 750,000)`` when the series had a rollback (else empty)."""
    if not snap.rollbacks:
        return ""
    return f" ({ROLLBACK_MARK} rolled back to " + ", ".join(
        f"{s:,}" for s in snap.rollbacks) + ")"


def stats_table(snap: ConsoleSnapshot) -> Table:
    """The figures as a three-column grid of ``label value`` pairs."""
    v = snap.value
    trainer = snap.worker(snap.worker_for_role("trainer"))
    state = trainer.row.state if trainer else fmt.DASH
    if trainer and training_paused(snap):
        state += " (paused)"
    cells = muzero_cells(snap, state) if v("train/episodes") is not None else [
        ("timesteps", fmt.si(v("train/timesteps"))), ("steps/s", fmt.si(v("train/fps"))),
        ("trainer", state),
        ("trades", fmt.si(v("rollout/trades"))), ("win rate", fmt.pct(v("rollout/win_rate"))),
        ("expectancy", fmt.pips(v("rollout/expectancy"))),
        ("avg win", fmt.pips(v("rollout/avg_win"))), ("avg loss", fmt.pips(v("rollout/avg_loss"))),
        ("gate rate", fmt.pct(v("rollout/gate_rate"))),
        ("phase", fmt.num(v("train/phase"), ".0f")),
        ("loser wt", fmt.num(v("train/loser_weight"), ".2f")),
        ("best SQN", fmt.num(snap.best_sqn, "+.2f")),
    ]
    grid = Table.grid(padding=(0, 1), expand=False)
    for _ in range(3):
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(min_width=9, no_wrap=True)
    for i in range(0, len(cells), 3):
        grid.add_row(*[part for cell in cells[i:i + 3] for part in cell])
    return grid


def muzero_cells(snap: ConsoleSnapshot, state: str) -> list[tuple[str, str]]:
    """MuZero's figures (SPEC §7): self-play rate, replay, search, each loss term, actions."""
    v = snap.value
    age = v("replay/age_s")
    shares = [v(f"rollout/action_{a}") for a in ("hold", "buy", "sell", "close")]
    actions = (" ".join(f"{a}{s:.0%}" for a, s in zip("HBSC", shares, strict=True))
               if all(s is not None for s in shares) else fmt.DASH)
    return [
        ("timesteps", fmt.si(v("train/timesteps"))),
        ("episodes/h", fmt.si(v("train/episodes_per_hour"))), ("trainer", state),
        ("episodes", fmt.si(v("train/episodes"))),
        ("updates/s", fmt.num(v("train/updates_per_s"), ".1f")),
        ("replay", f"{fmt.si(v('replay/size'))} {fmt.pct(v('replay/in_trade'))} in trade"),
        ("trades", fmt.si(v("rollout/trades"))), ("win rate", fmt.pct(v("rollout/win_rate"))),
        ("expectancy", fmt.pips(v("rollout/expectancy"))),
        ("trade ratio", fmt.pct(v("rollout/trade_ratio"))),
        ("root value", fmt.num(v("search/root_value"), "+.2f")),
        ("visit H", fmt.num(v("search/visit_entropy"), ".2f")),
        ("sims", fmt.num(v("search/simulations"), ".0f")),
        ("replay age", fmt.DASH if age is None else f"{age:.0f}s"),
        ("actions", actions),
        ("loss", fmt.num(v("train/loss"), ".2f")),
        ("policy", fmt.num(v("train/policy_loss"), ".2f")),
        ("value", fmt.num(v("train/value_loss"), ".2f")),
        ("reward", fmt.num(v("train/reward_loss"), ".2f")),
        ("chance", fmt.num(v("train/chance_loss"), ".2f")),
        ("Q", fmt.num(v("train/afterstate_value_loss"), ".2f")),
        ("best SQN", fmt.num(snap.best_sqn, "+.2f")),
    ]


ROLLBACK_MARK = "⟲"


def milestone_table(snap: ConsoleSnapshot, rows: int = TABLE_ROWS) -> Table:
    """Win rate and expectancy at evenly spaced points of the current lineage (newest
    last), each rollback point among them marked ⟲."""
    exp = dict(snap.series.get("rollout/expectancy", ()))
    win = dict(snap.series.get("rollout/win_rate", ()))
    steps = sorted(set(exp) | set(win))
    marks = {s for s in snap.rollbacks if s in exp or s in win}
    even = max(rows - len(marks), 2)  # the rows stay within ``rows``
    picked = sorted({steps[round(i * (len(steps) - 1) / max(even - 1, 1))]
                     for i in range(even)} | marks) if steps else []
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("timesteps", justify="right")
    table.add_column("win rate", justify="right")
    table.add_column("exp", justify="right")
    for step in picked:
        mark = f"{ROLLBACK_MARK} " if step in snap.rollbacks else ""
        table.add_row(f"{mark}{step:,}", fmt.pct(win.get(step)), fmt.pips(exp.get(step)))
    return table


class TrainingPanel(Vertical):
    """Figures on top; charts and the milestone table below (side by side when wide)."""

    snapshot: var[ConsoleSnapshot | None] = var(None)

    def compose(self) -> ComposeResult:
        """Stats, two labelled sparklines, the milestone table."""
        yield Static(id="training-stats")
        with Horizontal(id="training-lower"):
            with Vertical(id="training-charts"):
                for key, _, _ in CHARTS:
                    name = key.split("/")[1]
                    yield Label(id=f"{name}-label", classes="chart-label")
                    yield Sparkline([], summary_function=_mean, id=f"{name}-chart",
                                    classes="chart")
            yield Static(id="training-table")

    def watch_snapshot(self, snap: ConsoleSnapshot | None) -> None:
        """Redraw from the snapshot."""
        trainer = None if snap is None else snap.worker(snap.worker_for_role("trainer"))
        if snap is None or not changed(self, (
                snap.metrics, snap.series, snap.rollbacks, snap.best_sqn,
                trainer and trainer.row.state,
                training_paused(snap))):
            return
        update_static(self.query_one("#training-stats", Static), stats_table(snap))
        for key, title, show in CHARTS:
            name = key.split("/")[1]
            series = snap.series.get(key, ())
            values = [value for _, value in series]
            chart = self.query_one(f"#{name}-chart", Sparkline)
            if list(chart.data or []) != values:
                chart.data = values
            text = f"{title}: no data yet"
            if series:
                text = (f"{title}{rollback_note(snap)} over timesteps {series[0][0]:,}–"
                        f"{series[-1][0]:,} · min {show(min(values))} max "
                        f"{show(max(values))} last {show(values[-1])}")
            self.query_one(f"#{name}-label", Label).update(text, layout=False)
        update_static(self.query_one("#training-table", Static), milestone_table(snap))
