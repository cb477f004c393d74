"""Regression tests of the console defects of issue 17 (1, 3, 4, 5, 8, 9, 15, 16), each
at 80×24 and 160×48 where the screen differs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static
from ui_support import SHA, T0, Store, fake_probe, screen_text, wait_for

from fxconsole.config import Config, with_overrides
from fxconsole.ui import control
from fxconsole.ui.app import FxConsoleApp
from fxconsole.ui.data import read_snapshot
from fxconsole.ui.lineage import current_lineage
from fxconsole.ui.screens.confirm import ConfirmScreen
from fxconsole.ui.screens.help import HelpScreen
from fxconsole.ui.widgets.live import entries_state
from fxconsole.ui.widgets.validation import checks

SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
MakeApp = Callable[..., FxConsoleApp]


async def started(pilot: Any) -> None:
    await wait_for(pilot, lambda: pilot.app.snapshot is not None, what="the first snapshot")
    await pilot.pause(0.1)


# -- 1: the Training panel after a rollback shows the current lineage -----------------

def rolled_back(tmp_path: Any) -> Store:
    """A trainer that trained to 1.82M, was rolled back to 750k and went on to 820k
    (metrics written in that order: expectancy = step/1e6 before, 5.0 after)."""
    store = Store(tmp_path / "rolled-back")
    store.worker("trainer", "trainer", pid=4101, step=820_000)
    ts = T0 - 2000.0
    first = [(step, step / 1e6) for step in range(20_000, 1_820_001, 20_000)]
    after = [(step, 5.0) for step in range(760_000, 820_001, 20_000)]
    for step, value in [*first, *after]:
        ts += 10
        store.metrics(step, {"rollout/expectancy": value, "rollout/win_rate": 0.5}, ts=ts)
    store.metrics(820_000, {"train/timesteps": 820_000}, ts=ts)
    return store


def app_of(store: Store, config: Config | None = None) -> FxConsoleApp:
    return FxConsoleApp(store.ws, config or Config(), clock=lambda: T0, probe=fake_probe,
                        interval=0.25)


def test_current_lineage_drops_the_abandoned_timeline() -> None:
    written = [(s, 1.0) for s in range(0, 1_820_001, 10_000)] + \
        [(s, 2.0) for s in range(760_000, 820_001, 10_000)]
    lin = current_lineage(written)
    steps = [s for s, _ in lin.points]
    assert steps == sorted(steps) and steps[-1] == 820_000
    assert not any(830_000 <= s <= 1_820_000 for s in steps)
    assert dict(lin.points)[760_000] == 2.0 and dict(lin.points)[740_000] == 1.0
    assert lin.rollbacks == (750_000,) and lin.abandoned == len(written) - len(steps)
    assert current_lineage([(1, 1.0), (2, 1.0)]).rollbacks == ()


def test_the_snapshot_holds_only_the_current_lineage(tmp_path: Any) -> None:
    store = rolled_back(tmp_path)
    snap = read_snapshot(store.conn, "main", store.ws, clock=lambda: T0)
    series = dict(snap.series["rollout/expectancy"])
    assert max(series) == 820_000 and series[760_000] == 5.0 and series[740_000] == 0.74
    assert snap.rollbacks == (740_000,)  # the lineage's last point before the new timeline


@SIZES
async def test_training_panel_after_a_rollback(tmp_path: Any, size: tuple[int, int]) -> None:
    app = app_of(rolled_back(tmp_path))
    async with app.run_test(size=size) as pilot:
        await started(pilot)
        await pilot.press("2")
        await wait_for(pilot, lambda: "rolled back to" in screen_text(app), what="the caption")
        text = screen_text(app)
        assert "over timesteps 20,000–820,000" in text and "1,820,000" not in text
        assert "⟲ rolled back to 740,000" in text
        assert "+1.8" not in text  # no value of the abandoned timeline
        assert "    820,000" in text  # the table ends at the current step
        if size[0] >= 120:
            assert "max +5.0" in text


# -- 3 and 16: help is not clipped, scrolls, and says "Roll back" ---------------------

@SIZES
async def test_help_fits_and_scrolls(make_app: MakeApp, size: tuple[int, int]) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await started(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "esc, q or ? closes" in text  # the closing hint is never clipped
        assert "b  " in text and "Roll back: train and/or trade an older checkpoint" in text
        body = app.screen.query_one("#help-body", VerticalScroll)
        if size == (80, 24):
            assert body.max_scroll_y > 0 and "STALE" not in text
            await pilot.press("pagedown")
            await pilot.pause(0.1)
            assert body.scroll_y > 0
            await pilot.press("end")
            await pilot.pause(0.1)
            assert body.scroll_y == body.max_scroll_y
            text = screen_text(app)
            assert "STALE" in text and "esc, q or ? closes" in text  # the last row
            await pilot.press("home")
            await pilot.pause(0.1)
            assert body.scroll_y == 0
        else:
            assert body.max_scroll_y == 0 and "STALE" in text


async def test_the_footer_says_roll_back(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("2")
        await pilot.pause(0.1)
        assert "b Roll back" in screen_text(app).splitlines()[-1]


# -- 4: no "entries open" beside an engaged kill switch ------------------------------

def test_entries_say_blocked_while_the_kill_switch_is_engaged() -> None:
    assert entries_state({"kill_switch": 1.0, "entries_paused": 0.0})[0] == \
        "BLOCKED (kill switch)"
    assert entries_state({"kill_switch": 1.0, "entries_paused": 1.0})[0] == \
        "BLOCKED (kill switch)"
    assert entries_state({"entries_paused": 1.0}) == ("PAUSED", "warning")
    assert entries_state({}) == ("open", None)


@SIZES
async def test_live_panel_with_the_kill_switch_engaged(store: Store, make_app: MakeApp,
                                                       size: tuple[int, int]) -> None:
    store.metrics(5121, {"live/kill_switch": 1, "live/entries_paused": 0}, worker="live")
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await started(pilot)
        await pilot.press("4")
        await wait_for(pilot, lambda: "BLOCKED (kill switch)" in screen_text(app),
                       what="entries blocked")
        text = screen_text(app)
        assert "ENGAGED" in text and " open " not in text.replace("open position", "")


# -- 5: a fresh worker's own heartbeat; no STALE while workers start ------------------

def test_a_restarted_worker_does_not_show_its_predecessors_heartbeat(store: Store) -> None:
    store.worker("trainer", "trainer", pid=4201, started=T0 - 3, beat=T0 - 40, step=9)
    snap = read_snapshot(store.conn, "main", store.ws, clock=lambda: T0, probe=fake_probe)
    trainer = snap.worker("trainer")
    assert trainer is not None and trainer.row.heartbeat_ts is None
    assert trainer.row.heartbeat_step is None
    live = snap.worker("live")
    assert live is not None and live.row.heartbeat_ts == T0 - 1  # its own beat stays


def test_no_stale_while_the_first_workers_start(tmp_path: Any) -> None:
    fresh = Store(tmp_path / "fresh")
    fresh.worker("trainer", "trainer", "STARTING", pid=1, started=T0 - 2, beat=None)
    fresh.worker("live", "live", "RUNNING", pid=2, started=T0 - 3, beat=None)
    snap = read_snapshot(fresh.conn, "main", fresh.ws, clock=lambda: T0)
    assert snap.stale_age(T0) is None  # nothing written yet, but they only just started
    assert snap.stale_age(T0 + 30) == float("inf")  # still nothing 30 s later: STALE


@SIZES
async def test_first_launch_shows_no_stale_and_no_old_heartbeat(
        tmp_path: Any, size: tuple[int, int]) -> None:
    fresh = Store(tmp_path / "fresh")
    fresh.worker("trainer", "trainer", "RUNNING", pid=1, started=T0 - 2, beat=T0 - 300)
    fresh.worker("live", "live", "STARTING", pid=2, started=T0 - 1, beat=None)
    app = FxConsoleApp(fresh.ws, Config(), clock=lambda: T0, probe=fake_probe, interval=0.25)
    async with app.run_test(size=size) as pilot:
        await started(pilot)
        text = screen_text(app)
        assert "STALE" not in text
        row = next(line for line in text.splitlines() if " trainer " in line)
        assert "—" in row and "5m" not in row  # not the old beat of 5 minutes ago


# -- 8: an expired toast leaves no ghost -------------------------------------------

async def test_an_expired_toast_is_repainted_away(make_app: MakeApp) -> None:
    app = make_app()
    repaints = []
    original = app._repaint_after_toast

    def counted() -> None:
        repaints.append(True)
        original()

    app._repaint_after_toast = counted  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await started(pilot)
        await pilot.press("2")
        app.notify("a passing toast", title="Sent", timeout=0.3)
        await wait_for(pilot, lambda: "a passing toast" in screen_text(app), what="the toast")
        await wait_for(pilot, lambda: repaints, what="the repaint after the toast")
        await pilot.pause(0.1)
        assert "a passing toast" not in screen_text(app)


# -- 9: checks marked ✓/✗, in colour unless NO_COLOR ----------------------------------

def test_checks_are_marked_pass_and_fail(store: Store) -> None:
    snap = read_snapshot(store.conn, "main", store.ws, clock=lambda: T0)
    v = snap.validation
    assert v is not None
    report = dict(v.report or {})
    verdict = dict(report["verdict"])
    verdict["checks"] = [*verdict["checks"], {"name": "x", "passed": False,
                                              "text": "expectancy +0.100 > flat: FAIL"}]
    report["verdict"] = verdict
    text = checks(dataclasses.replace(v, report=report), "green", "red")
    lines = text.plain.splitlines()
    assert lines[0].startswith("✓ sqn") and lines[-1].startswith("✗ expectancy")
    styles = {text.plain[s.start:s.end]: str(s.style) for s in text.spans}
    assert styles == {"✓ ": "green", "✗ ": "red"}
    summary_only = dataclasses.replace(v, report=None, row=dataclasses.replace(
        v.row, summary={"verdict": {"reasons": ["sqn too low"]}}))
    assert checks(summary_only).plain == "✗ sqn too low\n"  # no bare bullet


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
async def test_check_marks_are_coloured_unless_no_color(
        make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, no_color: bool) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await started(pilot)
        await pilot.press("3")
        await wait_for(pilot, lambda: "✓ sqn" in screen_text(app), what="the checks")
        content = app.screen.query_one("#validation-reasons", Static).content
        assert isinstance(content, Text)
        marks = [s.style for s in content.spans if content.plain[s.start] in "✓✗"]
        assert marks and all(getattr(m, "color", None) is not None for m in marks)
        svg = app.export_screenshot()
        success = app.theme_variables["success"].lower()
        assert (success in svg.lower()) is not no_color


# -- 15: the kill-switch dialog says flatten_on_kill; deploy names the broker ---------

@pytest.mark.parametrize("flatten", [True, False], ids=["flatten-on", "flatten-off"])
async def test_kill_switch_dialog_says_whether_it_flattens(store: Store, flatten: bool) -> None:
    config = with_overrides(Config(), "live", flatten_on_kill=flatten)
    app = FxConsoleApp(store.ws, config, clock=lambda: T0, probe=fake_probe, interval=0.25)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("K")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ConfirmScreen)
        text = " ".join(screen_text(app).split())
        assert "on the paper broker" in text
        if flatten:
            assert "live.flatten_on_kill is on" in text and "closed at market too" in text
        else:
            assert "live.flatten_on_kill is off" in text and "stays open" in text


def test_deploy_names_the_broker(store: Store) -> None:
    snap = read_snapshot(store.conn, "main", store.ws, clock=lambda: T0)
    checkpoint = next(c for c in snap.checkpoints if c.sha256 == SHA[1])
    assert "on the paper broker?" in control.deploy(snap, checkpoint, Config()).confirm
    practice = with_overrides(Config(), "live", broker="oanda")
    assert "on the OANDA practice account?" in control.deploy(snap, checkpoint,
                                                               practice).confirm
    real = with_overrides(practice, "oanda", environment="live")
    assert "OANDA [b]LIVE[/b] account (real money)" in control.deploy(snap, checkpoint,
                                                                       real).confirm


# -- snapshots -----------------------------------------------------------------------

@SIZES
def test_snapshot_training_after_rollback(snap_compare: Callable[..., bool], tmp_path: Any,
                                          size: tuple[int, int]) -> None:
    app = app_of(rolled_back(tmp_path))

    async def settle(pilot: Any) -> None:
        await started(pilot)
        await pilot.press("2")
        await wait_for(pilot, lambda: "rolled back" in screen_text(pilot.app), what="caption")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=settle)


@SIZES
def test_snapshot_help_scrolled_to_the_end(snap_compare: Callable[..., bool],
                                           make_app: MakeApp, size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        await started(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        await pilot.press("end")
        await pilot.pause(0.2)

    assert snap_compare(make_app(), terminal_size=size, run_before=settle)


@SIZES
def test_snapshot_kill_switch_dialog(snap_compare: Callable[..., bool], store: Store,
                                     size: tuple[int, int]) -> None:
    store.metrics(5121, {"live/kill_switch": 0}, worker="live")
    config = with_overrides(Config(), "live", flatten_on_kill=True)
    app = FxConsoleApp(store.ws, config, clock=lambda: T0, probe=fake_probe, interval=0.25)

    async def settle(pilot: Any) -> None:
        await started(pilot)
        await pilot.press("4")
        await pilot.pause(0.1)
        await pilot.press("K")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=settle)


# -- speed: the console process never loads the market store's libraries ----------------

def test_the_console_imports_no_duckdb_pyarrow_or_pandas() -> None:
    import subprocess
    import sys

    code = ("import pkgutil, sys, importlib, fxconsole.ui, fxconsole.cli, fxconsole.cli.ui_cmd\n"
            "for m in pkgutil.walk_packages(fxconsole.ui.__path__, 'fxconsole.ui.'):\n"
            "    importlib.import_module(m.name)\n"
            "print(sorted({'duckdb', 'pyarrow', 'pandas', 'numba', 'torch'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "[]"
