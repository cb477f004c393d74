"""Pilot test: after the supervisor was killed (its lock file names a pid that no longer
holds the lock), the console says SUPERVISOR DOWN, shows no worker RUNNING, and a key
that would queue a command warns instead of writing it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from ui_support import Store, screen_text, wait_for

from fxconsole.ops.lock import SupervisorLock
from fxconsole.ui.app import FxConsoleApp
from fxconsole.ui.widgets.status_bar import StatusBar


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


async def test_the_console_shows_a_dead_supervisor(make_app: Callable[..., FxConsoleApp],
                                                   store: Store) -> None:
    pid = dead_pid()
    (store.ws.data_dir / "supervisor.lock").write_text(f"{pid}\n")  # left by a kill -9
    assert SupervisorLock.for_workspace(store.ws).holder() is None
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, what="the first snapshot")
        await pilot.pause()
        snap = app.snapshot
        assert snap is not None and snap.supervisor is not None and snap.supervisor.down
        assert snap.workers and all(w.row.state != "RUNNING" for w in snap.workers)
        bar = str(app.screen.query_one(StatusBar).render())
        assert f"SUPERVISOR DOWN (pid {pid} gone)" in bar and "0/" in bar
        assert "UNKNOWN" in screen_text(app)
        await pilot.press("c")  # checkpoint-now
        warned = await wait_for(pilot, lambda: [n.message for n in app._notifications
                                                 if "not sent" in n.message], what="a warning")
        assert warned == [f"checkpoint-now not sent: supervisor down (pid {pid} is gone; "
                          "worker states unknown). Start it with `fxconsole start`"]
        await pilot.pause(0.5)
    assert store.commands() == []
