"""Alerts can be acknowledged (key a, recorded as an event so it survives restarts) and
resolved ones leave the overview."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ui_support import T0, Store, fake_probe, screen_text, wait_for

from fxconsole.config import Config
from fxconsole.ops.queries import EventRow, WorkerRow
from fxconsole.ui.alerts import ACK_KIND, acknowledged, active_alerts, alert_worker
from fxconsole.ui.app import FxConsoleApp

SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])


def event(id_: int, kind: str, message: str, ts: float = T0 - 100, level: str = "error",
          source: str = "supervisor", data: dict[str, Any] | None = None) -> EventRow:
    return EventRow(id_, ts, level, source, kind, message, data or {})


def worker(name: str, state: str = "RUNNING", started: float | None = T0 - 3600) -> WorkerRow:
    return WorkerRow(name, name, state, 1, started, None, 0, None, 60.0, "", T0, T0, 0, {})


def test_an_acknowledged_alert_is_no_longer_active() -> None:
    fatal = event(7, "worker-fatal", "validator is FATAL: gave up")
    ack = event(9, ACK_KIND, "acknowledged", T0, "info", "ui", {"event": 7})
    assert acknowledged([ack, fatal]) == {7}
    assert active_alerts([fatal], [worker("validator", "FATAL")], {}) == [fatal]
    assert active_alerts([ack, fatal], [worker("validator", "FATAL")], {}) == []


def test_a_worker_alert_is_resolved_once_that_worker_runs_again() -> None:
    fatal = event(7, "worker-fatal", "validator is FATAL: gave up", ts=T0 - 100)
    assert alert_worker(fatal, ["validator", "trainer"]) == "validator"
    still = [worker("validator", "RUNNING", started=T0 - 200)]  # started before the alert
    assert active_alerts([fatal], still, {}) == [fatal]
    again = [worker("validator", "RUNNING", started=T0 - 50)]
    assert active_alerts([fatal], again, {}) == []
    own = event(8, "broker", "broker down", source="live", level="warning")
    assert active_alerts([own], [worker("live")], {}) == [own]  # not a crash: stays


def test_the_kill_switch_alert_is_resolved_when_released() -> None:
    kill = event(3, "kill-switch", "kill switch engaged", source="live", level="warning")
    assert active_alerts([kill], [], {"kill_switch": 1.0}) == [kill]
    assert active_alerts([kill], [], {"kill_switch": 0.0}) == []


def ack_rows(store: Store) -> list[tuple[str, str]]:
    return store.conn.execute("SELECT source, data FROM events WHERE kind = ?",
                              (ACK_KIND,)).fetchall()


@SIZES
async def test_key_a_acknowledges_and_it_survives_a_restart(store: Store,
                                                           size: tuple[int, int]) -> None:
    store.event("error", "live", "broker", "live: connection refused", T0 - 50)

    def app() -> FxConsoleApp:
        return FxConsoleApp(store.ws, Config(), clock=lambda: T0, probe=fake_probe,
                            interval=0.25)

    first = app()
    async with first.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: first.snapshot is not None, what="the first snapshot")
        await wait_for(pilot, lambda: "3 alerts" in screen_text(first), what="3 alerts")
        if size[0] >= 120:  # in the overview (which redraws moving figures every 2 s at most)
            await wait_for(pilot, lambda: "connection refused" in screen_text(first),
                           what="the alert in the overview")
        await pilot.press("a")
        await wait_for(pilot, lambda: ack_rows(store), what="the acknowledgement")
        await wait_for(pilot, lambda: "2 alerts" in screen_text(first), what="2 alerts")
        if size[0] >= 120:
            await wait_for(pilot, lambda: "connection refused" not in screen_text(first),
                           what="the acknowledged alert gone from the overview")
    assert len(ack_rows(store)) == 1 and '"event"' in ack_rows(store)[0][1]

    second = app()  # a new console (or after a restart): still acknowledged
    async with second.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: second.snapshot is not None, what="the first snapshot")
        await wait_for(pilot, lambda: "alerts" in screen_text(second), what="the alert count")
        assert "2 alerts" in screen_text(second)
        assert [e.message for e in second.snapshot.alerts] == [
            "validator is FATAL: gave up", "validator: heartbeat stale 61 s"]


async def test_a_restarted_worker_takes_its_alerts_off_the_overview(store: Store) -> None:
    app = FxConsoleApp(store.ws, Config(), clock=lambda: T0, probe=fake_probe, interval=0.25)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: "validator is FATAL" in screen_text(app),
                       what="the FATAL alert")
        store.worker("validator", "validator", "RUNNING", pid=4199, started=T0 - 5, beat=T0 - 1)
        await wait_for(pilot, lambda: "validator is FATAL" not in screen_text(app),
                       what="the alert resolved")
        assert "none active" in screen_text(app)


@SIZES
def test_snapshot_overview_alerts(snap_compare: Callable[..., bool],
                                  make_app: Callable[..., FxConsoleApp], store: Store,
                                  size: tuple[int, int]) -> None:
    store.event("warning", "live", "broker", "live: reconnecting", T0 - 20)

    async def settle(pilot: Any) -> None:
        await wait_for(pilot, lambda: pilot.app.snapshot is not None, what="the first snapshot")
        await pilot.press("a")  # acknowledges the newest: "live: reconnecting"
        await wait_for(pilot, lambda: "2 alerts" in screen_text(pilot.app), what="2 alerts")
        await pilot.pause(0.2)

    assert snap_compare(make_app(), terminal_size=size, run_before=settle)


async def test_key_a_on_the_events_panel_acknowledges_the_selected_alert(store: Store) -> None:
    app = FxConsoleApp(store.ws, Config(), clock=lambda: T0, probe=fake_probe, interval=0.25)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, what="the first snapshot")
        await pilot.press("6")
        table = app.screen.query_one("#events-table")
        await wait_for(pilot, lambda: table.row_count >= 3, what="the events")
        newest, older = app.snapshot.alerts[:2]
        keys = table.shown_keys
        table.move_cursor(row=keys.index(str(older.id)))  # not the newest alert
        table.focus()
        await pilot.pause(0.1)
        await pilot.press("a")
        rows = await wait_for(pilot, lambda: ack_rows(store), what="the acknowledgement")
        assert f'"event":{older.id}' in rows[0][1].replace(" ", "")
        await wait_for(pilot, lambda: [a.id for a in app.snapshot.alerts] == [newest.id],
                       what="only the newest left")
