"""Pilot tests of the console against a real console database filled by the test."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import TabbedContent
from ui_support import RUN, SHA, T0, Store, fake_probe, screen_text, wait_for

from fxconsole.config import Config, with_overrides
from fxconsole.market.source_info import record_source
from fxconsole.ops.commands import Command, enqueue
from fxconsole.tuning.study import TrialRow, record_trial
from fxconsole.ui.app import FxConsoleApp
from fxconsole.ui.screens.confirm import ConfirmScreen, QuitScreen, RollbackScreen
from fxconsole.ui.screens.help import HelpScreen
from fxconsole.ui.screens.main import MainScreen
from fxconsole.ui.screens.picker import CheckpointPicker
from fxconsole.ui.widgets.log_pane import LogPane

MakeApp = Callable[..., FxConsoleApp]


def model(i: int, steps: int) -> str:
    return f"{RUN}/models/{steps:012d}-{SHA[i][:12]}.zip"


async def started(pilot: Any) -> None:
    await wait_for(pilot, lambda: pilot.app.snapshot is not None, what="the first snapshot")
    await pilot.pause()


async def new_command(pilot: Any, store: Store, before: int = 0) -> Command:
    rows = await wait_for(pilot, lambda: store.commands()[before:], what="a command row")
    assert len(rows) == 1, rows
    return rows[0]


async def test_the_snapshot_appears_in_every_panel(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        seen = {}
        for key in "123456":
            await pilot.press(key)
            await pilot.pause()
            seen[key] = screen_text(app)
    assert " FATAL validator │ run main · 3/4 running · updated 1s ago" in seen["1"]
    assert "trainer      RUNNING  4101  60m" in seen["1"]
    assert "expectancy +3.7" in seen["2"] and "best SQN   +1.86" in seen["2"]
    assert "1,200,000     57.5%  +3.7" in seen["2"]  # the win-rate table
    assert "VALIDATED" in seen["3"] and "p95 +1,560" in seen["3"]
    assert "├" in seen["3"] and "┃" in seen["3"]  # the Monte Carlo box plot
    assert "1,000,000 steps (b2b2b2b2)" in seen["4"] and "+312.4" in seen["4"]
    assert "best, deployed, periodic  +1.86 passed" in seen["5"]
    assert "validator is FATAL: gave up" in seen["6"]


async def test_live_panel_shows_broker_risk_decisions_and_orders(make_app: MakeApp,
                                                                  store: Store) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await started(pilot)
        await pilot.press("4")
        await wait_for(pilot, lambda: "Orders (journal)" in screen_text(app), what="live")
        text = screen_text(app)
        assert "paper GBP_JPY" in text and "connected" in text and "DISCONNECTED" not in text
        assert "today" in text and "+29.6" in text and "7 / 1" in text  # fills / rejects
        assert "11-14 22:28  BUY" in text and "187.498" in text  # a decision
        assert "REJECTED" in text and "INSUFFICIENT_MARGIN 400" in text  # an order
        assert re.search(r"risk +ok", text) and re.search(r"halted +no", text)
        store.metrics(5121, {"live/connected": 0, "live/risk_tripped": 1}, worker="live")
        store.live_state({"risk": {"tripped": "daily loss 150 pips"}})
        await wait_for(pilot, lambda: "DISCONNECTED" in screen_text(app), what="the change")
        assert "TRIPPED daily loss" in screen_text(app)  # the events panel has it whole


async def test_selecting_a_worker_shows_its_log(make_app: MakeApp, store: Store) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        pane = app.screen.query_one(LogPane)
        assert pane.source == store.ws.logs_dir / "collector-1.log"
        await pilot.press("down", "down")
        await wait_for(pilot, lambda: pane.source == store.ws.logs_dir / "trainer.log")
        await wait_for(pilot, lambda: any("trainer: step 29" in ln for ln in pane.shown_lines))
        await pilot.press("slash")
        await pilot.press(*"step 1", "enter")
        await wait_for(pilot, lambda: pane.filter_text == "step 1")
        assert all("step 1" in ln for ln in pane.shown_lines) and len(pane.shown_lines) == 11
        assert "trainer (data/logs/trainer.log)" in screen_text(app)


# keys pressed → the command row (target, verb, args)
KEYS = [
    (["r"], ("supervisor", "restart", {"worker": "collector-1"})),
    (["down", "r"], ("supervisor", "restart", {"worker": "live"})),
    (["S"], ("supervisor", "start", {"worker": "collector-1"})),
    (["s", "y"], ("supervisor", "stop", {"worker": "collector-1"})),
    (["c"], ("trainer", "checkpoint-now", {})),
    (["p"], ("trainer", "pause", {})),
    (["b", "enter", "t"], ("trainer", "rollback-to", {"checkpoint": model(0, 1_250_000)})),
    (["b", "down", "enter", "l"], ("live", "deploy", {"checkpoint": model(1, 1_000_000)})),
    (["d", "down", "enter", "y"], ("live", "deploy", {"checkpoint": model(1, 1_000_000)})),
    (["5", "down", "down", "b", "enter", "t"],
     ("trainer", "rollback-to", {"checkpoint": model(2, 750_000)})),
    (["K", "y"], ("live", "kill-switch", {})),
    (["X", "y"], ("live", "flatten", {})),
]


@pytest.mark.parametrize(("keys", "expected"), KEYS, ids=[" ".join(k) for k, _ in KEYS])
async def test_each_key_writes_its_command(make_app: MakeApp, store: Store, keys: list[str],
                                           expected: tuple[str, str, dict[str, Any]]) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press(*keys)
        row = await new_command(pilot, store)
    assert (row.target, row.verb, row.args, row.issued_by, row.state) == (
        *expected, "ui", "pending")


async def test_rollback_of_both_writes_two_commands_naming_the_checkpoint(
        make_app: MakeApp, store: Store) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("b", "down", "down", "enter")
        await wait_for(pilot, lambda: "Roll back to" in screen_text(app), what="the dialog")
        assert isinstance(app.screen, RollbackScreen)
        text = screen_text(app)
        assert "Roll back to" in text and "750,000" in text and "not passed validation" in text
        assert "Cancel (n)" in text  # all four buttons fit 80 columns
        await pilot.press("a")
        await wait_for(pilot, lambda: len(store.commands()) == 2, what="two command rows")
    rows = [(c.target, c.verb, c.args) for c in store.commands()]
    assert sorted(rows) == [("live", "deploy", {"checkpoint": model(2, 750_000)}),
                            ("trainer", "rollback-to", {"checkpoint": model(2, 750_000)})]


async def test_cancelling_a_rollback_writes_nothing(make_app: MakeApp, store: Store) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("b", "enter", "enter")  # enter: the focused button is Cancel
        assert isinstance(app.screen, MainScreen)
        await pilot.pause(0.2)
    assert store.commands() == []


@pytest.mark.parametrize("answer", ["n", "escape"])
async def test_cancelling_a_confirmation_writes_nothing(make_app: MakeApp, store: Store,
                                                        answer: str) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("s")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Stop worker collector-1?" in screen_text(app)
        await pilot.press(answer)
        assert isinstance(app.screen, MainScreen)
        await pilot.press("K")
        assert "kill switch of live" in screen_text(app)
        await pilot.press("enter")  # the focused button is Cancel
        assert isinstance(app.screen, MainScreen)
        await pilot.pause(0.2)
    assert store.commands() == []


async def test_toggles_follow_the_store(make_app: MakeApp, store: Store) -> None:
    pause = enqueue(store.conn, "trainer", "pause", issued_by="ctl", clock=lambda: T0)
    store.finish(pause, True, "paused")
    store.metrics(5121, {"live/kill_switch": 1}, worker="live")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        assert " FATAL validator · KILL SWITCH ON · TRAINING PAUSED │ run main" in screen_text(app)
        await pilot.press("p")
        assert (await new_command(pilot, store, 1)).verb == "resume"
        await pilot.press("K")
        assert "Release the kill switch of live?" in screen_text(app)
        await pilot.press("y")
        assert (await new_command(pilot, store, 2)).verb == "resume-entries"


async def test_the_status_bar_says_when_the_data_is_synthetic(make_app: MakeApp,
                                                                store: Store) -> None:
    record_source(store.ws.market_db, "GBPJPY", "M1", "synth(seed=7, years=3.5, signal=1.0)",
                  replaced=True)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await wait_for(pilot, lambda: "synthetic data" in screen_text(app))
        record_source(store.ws.market_db, "GBPJPY", "M1", "/data/gbpjpy.csv", replaced=True)
        await wait_for(pilot, lambda: "synthetic data" not in screen_text(app))


async def test_the_validation_panel_lists_the_newest_tuning_study(make_app: MakeApp,
                                                                    store: Store) -> None:
    app = make_app()
    async with app.run_test(size=(120, 90)) as pilot:
        await started(pilot)
        await pilot.press("3")
        await pilot.pause()
        assert "tuning study" not in screen_text(app)  # no study: nothing shown
        params = {"ppo.gamma": 0.99, "ppo.mask_actions": True, "env.reward": "mtm"}
        record_trial(store.conn, "s1", TrialRow(0, "COMPLETE", 0.42, params, "tune-s1-000",
                                                None))
        record_trial(store.conn, "s1", TrialRow(1, "PRUNED", -0.3, params, "tune-s1-001",
                                                None, "pruned after report 1"))
        await wait_for(pilot, lambda: "tuning study s1" in screen_text(app))
        text = screen_text(app)
        assert "last 2 trials (2 finished) · every trial counts in K" in text
        assert "#1 pruned   SQN  -0.30 reward=mtm γ=0.99 mask=on · pruned after report 1" in text
        assert "#0 complete SQN  +0.42" in text


async def test_the_picker_lists_the_runs_checkpoints(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("d")
        picker = app.screen
        assert isinstance(picker, CheckpointPicker)
        assert [c.sha256 for c in picker.checkpoints] == SHA[:3]
        text = screen_text(app)
        assert "Deploy which checkpoint to live?" in text
        assert "750,000  periodic" in text and "+0.71 failed" in text
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_help_lists_every_binding(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(screen_text(app).split())
        await pilot.press("end")  # the rest of the list (it scrolls at 80×24)
        await pilot.pause()
        text += " " + " ".join(screen_text(app).split())
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
    for binding in MainScreen.BINDINGS:
        assert not isinstance(binding, tuple)
        words = " ".join((binding.tooltip or binding.description).split())
        if binding.action.startswith("panel("):
            words = words.removesuffix(" panel")
        assert words in text, binding
    assert "1–7" in text and "ctrl+p" in text


@pytest.mark.parametrize(("key", "value"), [("s", "stop"), ("l", "leave")])
async def test_quitting_returns_the_choice(make_app: MakeApp, key: str, value: str) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press(key)
        await pilot.pause()
    assert app.return_value == value


async def test_quit_can_be_cancelled(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("q", "escape")
        assert isinstance(app.screen, MainScreen) and app.is_running
    assert app.return_value is None


async def test_stale_data_is_flagged(make_app: MakeApp, store: Store) -> None:
    app = make_app(clock=lambda: T0 + 45)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.pause(0.1)
        assert " STALE 46s · FATAL validator │ run main · 3/4 running" in screen_text(app)
        assert app.screen.query_one("#status").has_class("-stale")


async def test_a_finished_command_is_announced(make_app: MakeApp, store: Store) -> None:
    app = make_app()
    notes: list[tuple[str, str, str]] = []
    notify = app.notify

    def record(message: str, **kwargs: Any) -> None:
        notes.append((kwargs.get("title", ""), message, kwargs.get("severity", "")))
        notify(message, **kwargs)

    app.notify = record  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("c")
        row = await new_command(pilot, store)
        await wait_for(pilot, lambda: notes, what="the 'sent' note")
        store.finish(row.id, True, "checkpoint will be saved at the next step")
        await wait_for(pilot, lambda: len(notes) == 2, what="the outcome note")
        await pilot.press("S")
        failed = await new_command(pilot, store, 1)
        store.finish(failed.id, False, "collector-1 is already running")
        await wait_for(pilot, lambda: len(notes) == 4, what="the failure note")
        await pilot.pause(0.2)
    assert notes[1] == ("checkpoint-now → trainer: done",
                        "checkpoint will be saved at the next step", "information")
    assert notes[3] == ("start collector-1: failed", "collector-1 is already running", "error")
    assert len(notes) == 4  # each outcome once


async def test_the_command_palette_runs_actions(make_app: MakeApp, store: Store) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"checkpoint now")
        await pilot.pause(0.5)
        await pilot.press("enter")
        row = await new_command(pilot, store)
    assert (row.target, row.verb, row.issued_by) == ("trainer", "checkpoint-now", "ui")


async def test_a_missing_database_is_shown_not_raised(tmp_path: Any) -> None:
    from fxconsole.config import Config
    from fxconsole.workspace import Workspace

    app = FxConsoleApp(Workspace(tmp_path), Config(), clock=lambda: T0, interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.read_error)
        await pilot.pause()
        assert "no console database" in screen_text(app)
        await pilot.press("c")
        await pilot.pause(0.3)
    assert not (tmp_path / "data").exists()  # the UI never creates the store


async def test_no_mouse_reaches_the_driver(make_app: MakeApp) -> None:
    seen: list[bool] = []

    async def auto_pilot(pilot: Any) -> None:
        seen.append(pilot.app._driver._mouse)
        pilot.app.exit(None)

    await make_app(mouse=False).run_async(headless=True, size=(80, 24), auto_pilot=auto_pilot)
    await make_app().run_async(headless=True, size=(80, 24), auto_pilot=auto_pilot)
    assert seen == [False, True]


async def test_no_color_leaves_only_greys(make_app: MakeApp,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        svgs = []
        for key in "12345":
            await pilot.press(key)
            await pilot.pause()
            svgs.append(app.export_screenshot())
    colours = {c.lower() for svg in svgs for c in re.findall(r"#[0-9a-fA-F]{6}\b", svg)}
    # the SVG window's buttons and Rich's default terminal foreground
    terminal_chrome = {"#ff5f57", "#febc2e", "#28c840", "#c5c8c6"}
    coloured = {c for c in colours - terminal_chrome if not c[1:3] == c[3:5] == c[5:7]}
    assert app.no_color and not coloured


def footer_of(app: FxConsoleApp) -> str:
    return screen_text(app).splitlines()[-1]


async def test_the_footer_shows_the_keys_of_the_panel(make_app: MakeApp) -> None:
    # each panel's own key, and a key of another panel that must not show there
    keys = {"workers": ("r Restart", "K Kill switch"), "training": ("c Checkpoint", "/ Filter"),
            "validation": ("? Help", "K Kill switch"), "live": ("K Kill switch", "r Restart"),
            "checkpoints": ("b Roll back", "K Kill switch"), "events": ("? Help", "b Roll back"),
            "trades": ("f Source", "K Kill switch")}
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        footers = {}
        for panel, (shown, _) in keys.items():
            assert app.screen.query_one(TabbedContent).active == panel
            # the footer repaints after the switch: wait until it shows this panel's key
            footers[panel] = await wait_for(
                pilot, lambda shown=shown: footer_of(app) if shown in footer_of(app) else None,
                what=f"{shown!r} in the {panel} footer")
            await pilot.press("tab")
        assert app.screen.query_one(TabbedContent).active == "workers"
    assert "/ Filter" in footers["workers"]
    assert all(hidden not in footers[panel] for panel, (_, hidden) in keys.items())
    assert all("? Help" in f and "q Quit" in f for f in footers.values())


# --- deploying to an OANDA account: a second confirmation for an unvalidated checkpoint ---

OANDA = with_overrides(Config(), "live", broker="oanda")


def oanda_app(store: Store) -> FxConsoleApp:
    """The console of a workspace whose live worker trades an OANDA practice account."""
    return FxConsoleApp(store.ws, OANDA, clock=lambda: T0, probe=fake_probe, interval=0.25)


async def confirm_screen(pilot: Any, text: str) -> str:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen)
                   and text in screen_text(pilot.app), what=f"a confirmation saying {text!r}")
    return screen_text(pilot.app)


async def test_an_unvalidated_deploy_to_oanda_asks_a_second_time_then_forces(
        store: Store) -> None:
    app = oanda_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("d", "down", "enter")
        first = await confirm_screen(pilot, "Deploy main @ 1,000,000")
        assert "not validated" in first and "Deploy (y)" in first
        await pilot.press("y")
        second = await confirm_screen(pilot, "NOT VALIDATED")
        assert "OANDA practice" in second and "anyway?" in second
        assert "promotion rule" in second and "Deploy anyway (y)" in second
        assert store.commands() == []  # nothing is sent before the second yes
        await pilot.press("y")
        row = await new_command(pilot, store)
    assert (row.target, row.verb, row.args, row.issued_by) == (
        "live", "deploy", {"checkpoint": model(1, 1_000_000), "force": True}, "ui")


@pytest.mark.parametrize("answer", ["n", "escape"])
async def test_declining_the_second_confirmation_deploys_nothing(store: Store,
                                                                 answer: str) -> None:
    app = oanda_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("d", "down", "enter", "y")
        await confirm_screen(pilot, "NOT VALIDATED")
        await pilot.press(answer)
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), what="main screen")
        await pilot.pause(0.2)
    assert store.commands() == []


async def test_a_validated_checkpoint_deploys_to_oanda_after_one_confirmation(
        store: Store) -> None:
    store.test_exam(SHA[1], 1_000_000, True)
    app = oanda_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("d", "down", "enter")
        first = await confirm_screen(pilot, "Deploy main @ 1,000,000")
        assert "not validated" not in first
        await pilot.press("y")
        row = await new_command(pilot, store)
        assert isinstance(app.screen, MainScreen)
    assert row.args == {"checkpoint": model(1, 1_000_000)}


async def test_a_rollback_of_live_to_an_unvalidated_checkpoint_on_oanda_asks_again(
        store: Store) -> None:
    app = oanda_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("b", "down", "down", "enter", "a")  # both: trainer and live
        await confirm_screen(pilot, "NOT VALIDATED")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(store.commands()) == 2, what="two command rows")
    rows = sorted((c.target, c.verb, c.args) for c in store.commands())
    assert rows == [("live", "deploy", {"checkpoint": model(2, 750_000), "force": True}),
                    ("trainer", "rollback-to", {"checkpoint": model(2, 750_000)})]


async def test_the_training_panel_shows_muzeros_own_figures(make_app: MakeApp,
                                                            store: Store) -> None:
    store.metrics(1_300_000, {
        "train/timesteps": 1_300_000, "train/episodes": 3_611, "train/episodes_per_hour": 12_400,
        "train/updates_per_s": 3.5, "replay/size": 10_000, "replay/in_trade": 0.34,
        "replay/age_s": 4, "rollout/trade_ratio": 0.97, "search/root_value": 1.25,
        "search/visit_entropy": 0.81, "search/simulations": 5, "rollout/action_hold": 0.55,
        "rollout/action_buy": 0.2, "rollout/action_sell": 0.15, "rollout/action_close": 0.1,
        "train/loss": 4.2, "train/policy_loss": 0.8, "train/value_loss": 3.97,
        "train/reward_loss": 1.02, "train/chance_loss": 0.80,
        "train/afterstate_value_loss": 3.94}, ts=T0 - 0.5)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("2")
        await pilot.pause()
        text = screen_text(app)
    assert "episodes/h 12.4k" in text and "updates/s  3.5" in text
    assert "replay     10k 34.0% in trade" in text
    assert "root value +1.25" in text and "visit H    0.81" in text and "sims        5" in text
    assert "actions    H55% B20% S15% C10%" in text
    assert "chance     0.80" in text and "Q          3.94" in text
    assert "loser wt" not in text  # PPO's figures give way
