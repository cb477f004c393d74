"""The console rings the terminal bell on a new notifying event (Pilot, real database)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ui_support import T0, Store, fake_probe, wait_for

from fxconsole.config import Config, NotifyConfig
from fxconsole.ui.app import FxConsoleApp


def counting(app: FxConsoleApp) -> list[int]:
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    return rings


async def event_seen(pilot: Any, app: FxConsoleApp, store: Store, level: str, source: str,
                     kind: str, message: str) -> None:
    """Write an event and wait until the console has read a snapshot holding it."""
    store.event(level, source, kind, message, T0)
    newest = store.conn.execute("SELECT max(id) FROM events").fetchone()[0]
    await wait_for(pilot, lambda: app._bell.seen == newest, what=f"the console to read {kind}")
    await pilot.pause()


def toasts(app: FxConsoleApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def test_a_fatal_event_rings_the_bell_once(
    make_app: Callable[..., FxConsoleApp], store: Store
) -> None:
    app = make_app()
    rings = counting(app)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app._bell.seen is not None, what="the first snapshot")
        assert rings == []  # the FATAL already in the database is history
        await event_seen(pilot, app, store, "info", "trainer", "rollback", "resuming")
        assert rings == []  # not a notifying event
        await event_seen(pilot, app, store, "error", "supervisor", "worker-fatal",
                         "trainer is FATAL: exit 78")
        assert rings == [1]
        assert "trainer is FATAL: exit 78" in toasts(app)
        await event_seen(pilot, app, store, "info", "live", "deploy", "live trades main")
        assert rings == [1]  # once per new event, not per snapshot


async def test_the_bell_can_be_turned_off(store: Store) -> None:
    cfg = replace(Config(), notify=NotifyConfig(bell=False))
    app = FxConsoleApp(store.ws, cfg, clock=lambda: T0, probe=fake_probe, interval=0.25)
    rings = counting(app)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app._bell.seen is not None, what="the first snapshot")
        await event_seen(pilot, app, store, "warning", "live", "kill-switch",
                         "kill switch engaged")
        assert "kill switch engaged" in toasts(app)
    assert rings == []
