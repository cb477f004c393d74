"""Sorting, searching and opening the console's tables (Pilot flows)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ui_support import SHA, T0, Store, screen_text, wait_for

from fxconsole.ops.commands import enqueue
from fxconsole.ui.app import FxConsoleApp
from fxconsole.ui.screens.detail import DetailScreen
from fxconsole.ui.widgets.checkpoints_table import CheckpointsTable
from fxconsole.ui.widgets.events import CommandsTable, EventsTable
from fxconsole.ui.widgets.workers_table import WorkersTable

MakeApp = Callable[..., FxConsoleApp]


async def started(pilot: Any) -> None:
    await wait_for(pilot, lambda: pilot.app.snapshot is not None, what="the first snapshot")
    await pilot.pause()


async def detail_open(pilot: Any) -> DetailScreen[Any]:
    screen = await wait_for(pilot, lambda: isinstance(pilot.app.screen, DetailScreen)
                            and pilot.app.screen.loaded and pilot.app.screen,
                            what="the detail view")
    await pilot.pause()
    return screen  # type: ignore[no-any-return]


async def test_checkpoints_sort_by_any_column_and_reverse(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await started(pilot)
        await pilot.press("5")
        table = app.screen.query_one(CheckpointsTable)
        await wait_for(pilot, lambda: table.row_count == 3, what="the checkpoints")
        assert table.shown_keys == [SHA[0], SHA[1], SHA[2]]  # own order: newest steps first
        await pilot.press("o")  # by steps, ascending
        assert table.shown_keys == [SHA[2], SHA[1], SHA[0]]
        assert "steps ▲" in screen_text(app)
        await pilot.press("O")  # reversed
        assert table.shown_keys == [SHA[0], SHA[1], SHA[2]] and "steps ▼" in screen_text(app)
        await pilot.press("o", "o")  # validation SQN ascending; never validated last
        assert table.shown_keys == [SHA[2], SHA[1], SHA[0]]
        assert "validation ▲" in screen_text(app) and "steps ▼" not in screen_text(app)
        # a click on a header sorts by it; again reverses
        await pilot.click("#checkpoints-table", offset=(57, 0))  # the train SQN header
        assert table.order.column == 3
        assert table.shown_keys == [SHA[2], SHA[1], SHA[0]]  # 0.94, 1.31, 1.52
        await pilot.click("#checkpoints-table", offset=(57, 0))
        assert table.shown_keys == [SHA[0], SHA[1], SHA[2]]
        # the sort survives a refresh of the data
        await pilot.pause(0.6)
        assert table.shown_keys == [SHA[0], SHA[1], SHA[2]]


async def test_search_keeps_matching_rows_and_esc_clears(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("5")
        table = app.screen.query_one(CheckpointsTable)
        await wait_for(pilot, lambda: table.row_count == 3, what="the checkpoints")
        await pilot.press("slash", *"deployed")
        await wait_for(pilot, lambda: table.shown_keys == [SHA[1]], what="the search")
        await pilot.press("enter")  # keeps the search, back in the table
        assert table.has_focus and table.shown_keys == [SHA[1]]
        assert "deployed" in screen_text(app)  # the search line stays in view
        await pilot.pause(0.6)  # a new snapshot keeps the search
        assert table.shown_keys == [SHA[1]]
        await pilot.press("slash", "escape")
        await wait_for(pilot, lambda: table.row_count == 3, what="every row again")
        assert table.query_text == ""


async def test_events_search_and_open_the_whole_message(make_app: MakeApp,
                                                        store: Store) -> None:
    store.event("warning", "live", "risk-trip", "daily loss limit reached " + "x" * 150,
                T0 - 50)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("6")
        table = app.screen.query_one(EventsTable)
        await wait_for(pilot, lambda: table.row_count == 4, what="the events")
        await pilot.press("slash", *"FATAL", "enter")
        await wait_for(pilot, lambda: table.row_count == 1, what="the search")
        await pilot.press("escape")  # esc in the table clears the search too
        await wait_for(pilot, lambda: table.row_count == 4, what="every row again")
        assert table.cursor_key == "3"  # the cursor stayed on the row it was on
        await pilot.press("ctrl+home", "enter")  # the newest: the long risk trip
        await detail_open(pilot)
        text = screen_text(app)
        assert "Event" in text and "risk-trip" in text and "x" * 60 in text
        assert "Data" in text and "none" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DetailScreen), what="closed")
        assert app.screen.query_one(EventsTable).has_focus


async def test_event_detail_shows_its_data_json(make_app: MakeApp, store: Store) -> None:
    with store.conn:
        store.conn.execute(
            "INSERT INTO events (ts, level, source, kind, message, data) VALUES"
            " (?, 'error', 'supervisor', 'worker-fatal', 'trainer is FATAL', ?)",
            (T0 - 10, '{"exit_code": 70, "reason": "CUDA out of memory"}'))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("6", "enter")
        await detail_open(pilot)
        text = screen_text(app)
        assert '"exit_code": 70' in text and '"reason": "CUDA out of memory"' in text


async def test_worker_detail_has_history_log_and_output(make_app: MakeApp,
                                                        store: Store) -> None:
    (store.ws.logs_dir / "validator.out").write_text(
        "Traceback (most recent call last):\nRuntimeError: report dir not writable\n")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await started(pilot)
        table = app.screen.query_one(WorkersTable)
        await pilot.press("o", "o")  # by state: FATAL first
        assert table.shown_keys[0] == "validator"
        assert table.cursor_key == "collector-1"  # the cursor stays on its worker
        await pilot.press("ctrl+home", "enter")
        await detail_open(pilot)
        text = screen_text(app)
        assert "Worker validator" in text and "FATAL" in text and "gave up after 3" in text
        assert "error worker-fatal" in text and "heartbeat-gap" in text  # its history
        assert "validator: step 29 done" in text  # the log's tail
        assert "RuntimeError: report dir not writable" in text  # the .out's tail
        await pilot.press("q")
        await wait_for(pilot, lambda: not isinstance(app.screen, DetailScreen), what="closed")


async def test_checkpoint_detail_has_manifest_pin_examinations_and_files(
        make_app: MakeApp, store: Store) -> None:
    store.test_exam(SHA[1], 1_000_000, True)
    manifest = store.ws.checkpoints_dir / "main" / "periodic-000001000000.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text('{"agent": "ppo", "format": 2, "created": "2023-11-14T21:33:20Z",'
                        ' "feature_spec_version": 3, "metrics": {"rolling_sqn": 1.31},'
                        ' "pinned": {"symbol": "GBP_JPY", "timeframe": "M1",'
                        ' "gate_sigma_pips": 1.25, "iso": {"t0": "2019-01-01T00:00:00Z",'
                        ' "b1": "2022-01-01T00:00:00Z", "b2": "2023-01-01T00:00:00Z",'
                        ' "t1": "2023-10-01T00:00:00Z"}}}')
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await started(pilot)
        await pilot.press("5", "down", "enter")
        await detail_open(pilot)
        text = screen_text(app)
        assert "periodic-000001000000.json" in text and "ppo" in text  # immutable tag first
        assert "2019-01-01T00:00:00Z → 2022-01-01T00:00:00Z" in text  # train window
        assert "✓ passed" in text and "test" in text and "validation" in text
        assert "+1.86" in text and "report.json" in text and "no chart" in text


async def test_enter_on_a_checkpoint_without_manifest_says_so(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("5", "enter")
        await detail_open(pilot)
        text = screen_text(app)
        assert "the file is missing" in text and "never examined" in text


async def test_detail_view_scrolls_to_its_end_at_80x24(make_app: MakeApp, store: Store) -> None:
    (store.ws.logs_dir / "validator.out").write_text("RuntimeError: the last line\n")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("o", "o", "ctrl+home", "enter")  # by state: the FATAL validator
        await detail_open(pilot)
        assert "RuntimeError: the last line" not in screen_text(app)  # below the fold
        await pilot.press("end")
        await wait_for(pilot, lambda: "RuntimeError: the last line" in screen_text(app),
                       what="the end of the view")
        await pilot.press("home")
        await wait_for(pilot, lambda: "RuntimeError: the last line" not in screen_text(app),
                       what="the top again")
        await pilot.press("pagedown")  # the view is a page and a half long
        await wait_for(pilot, lambda: "RuntimeError: the last line" in screen_text(app),
                       what="a page down")
        assert "Worker validator" in screen_text(app)  # the title stays
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DetailScreen), what="closed")


async def test_enter_on_a_command_shows_its_whole_result_and_args(make_app: MakeApp,
                                                                  store: Store) -> None:
    command_id = enqueue(store.conn, "live", "deploy", {"checkpoint": "main/models/x.zip"},
                         issued_by="ui", clock=lambda: T0 - 30)
    store.finish(command_id, False, "refused: " + "not validated on the test split " * 4)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("6")
        table = app.screen.query_one(CommandsTable)
        await wait_for(pilot, lambda: table.row_count == 1, what="the command")
        await pilot.click("#commands-table", offset=(2, 1))  # highlight, then open
        await pilot.press("enter")
        await detail_open(pilot)
        text = " ".join(screen_text(app).split())
        assert f"Command {command_id}: deploy → live" in text and "failed" in text
        assert "not validated on the test split " * 3 in text + " "
        assert '"checkpoint": "main/models/x.zip"' in text


async def test_the_workers_table_shows_nodes_when_a_worker_is_remote(make_app: MakeApp,
                                                                     store: Store) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        table = app.screen.query_one(WorkersTable)
        assert "node" not in [label for _, label in table.column_spec]  # all local: no column
        store.worker("collector-2", "collector", pid=777, step=12,
                     info={"backend": "ray", "node": "10.0.0.7", "host": "gpu-box"},
                     message="ray actor on 10.0.0.7")
        await wait_for(pilot, lambda: "collector-2" in table.shown_keys, what="the actor row")
        await pilot.pause()
        assert [key for key, _ in table.column_spec][:3] == ["worker", "state", "node"]
        cells = {key: [str(getattr(c, "plain", c)) for c in table.get_row(key)]
                 for key in table.shown_keys}
        assert cells["collector-2"][2] == "10.0.0.7" and cells["trainer"][2] == "local"
        assert cells["collector-2"][-2] == "—"  # its memory is on its node: not measured
        text = screen_text(app)
        assert "10.0.0.7" in text and "local" in text  # legible at 80x24
        await pilot.press("o", "o", "o")  # sorted by node: "10.0.0.7" before "local"
        assert table.shown_keys[0] == "collector-2" and "node ▲" in screen_text(app)
