"""Snapshots of the detail views (enter on a table row) at 80×24 and 160×48."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ui_support import SHA, T0, Store, wait_for

from fxconsole.ops.commands import enqueue
from fxconsole.ui.app import FxConsoleApp
from fxconsole.ui.screens.detail import DetailScreen

SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
# keys that open each view, from the console as it starts (workers table focused)
OPEN = {"worker": ["o", "o", "ctrl+home", "enter"],  # by state: the FATAL validator
        "event": ["6", "enter"], "checkpoint": ["5", "down", "enter"],
        "command": ["6", "click:#commands-table", "enter"]}


def opened(keys: list[str]) -> Callable[[Any], Any]:
    async def run_before(pilot: Any) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: app.snapshot is not None, what="the first snapshot")
        await pilot.pause(0.2)
        for key in keys:
            if key.startswith("click:"):  # the commands table is reached by the mouse
                await pilot.click(key.removeprefix("click:"), offset=(2, 1))
            else:
                await pilot.press(key)
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.loaded,
                       what="the detail view")
        await pilot.pause(0.2)
    return run_before


@pytest.fixture
def details(store: Store) -> Store:
    (store.ws.logs_dir / "validator.out").write_text(
        "Traceback (most recent call last):\n  File \"workers/validator.py\", line 88\n"
        "RuntimeError: report dir not writable\n")
    store.test_exam(SHA[1], 1_000_000, True)
    command_id = enqueue(store.conn, "live", "deploy", {"checkpoint": "main/models/x.zip"},
                         issued_by="ui", clock=lambda: T0 - 30)
    store.finish(command_id, False, "refused: main @ 1,250,000 is not validated")
    manifest = store.ws.checkpoints_dir / "main" / "periodic-000001000000.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text('{"agent": "ppo", "format": 2, "created": "2023-11-14T21:33:20Z",'
                        ' "feature_spec_version": 3, "metrics": {"rolling_sqn": 1.31,'
                        ' "rolling_trades": 500}, "pinned": {"symbol": "GBP_JPY",'
                        ' "timeframe": "M1", "gate_sigma_pips": 1.25, "iso": {'
                        '"t0": "2019-01-01T00:00:00Z", "b1": "2022-01-01T00:00:00Z",'
                        ' "b2": "2023-01-01T00:00:00Z", "t1": "2023-10-01T00:00:00Z"}}}')
    return store


@SIZES
@pytest.mark.parametrize("view", list(OPEN))
def test_detail_view(snap_compare: Callable[..., bool], make_app: Callable[..., FxConsoleApp],
                     details: Store, view: str, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=opened(OPEN[view]))
