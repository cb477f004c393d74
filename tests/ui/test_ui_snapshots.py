"""Snapshot tests of the main screen (pytest-textual-snapshot) with frozen data and time.

Update the baselines with ``pytest tests/ui/test_ui_snapshots.py --snapshot-update`` and
look at the SVGs under ``__snapshots__/`` before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ui_support import wait_for

from fxconsole.ui.app import FxConsoleApp
from fxconsole.ui.widgets.log_pane import LogPane


async def settled(pilot: Any) -> None:
    """Wait for the first snapshot and the selected worker's log lines."""
    app = pilot.app
    await wait_for(pilot, lambda: app.snapshot is not None, what="the first snapshot")
    pane = app.screen.query_one(LogPane)
    await wait_for(pilot, lambda: len(pane.shown_lines) == 30, what="the log lines")
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_main_screen(snap_compare: Callable[..., bool], make_app: Callable[..., FxConsoleApp],
                     size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=settled)


def test_training_panel(snap_compare: Callable[..., bool],
                        make_app: Callable[..., FxConsoleApp]) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=settled, press=["2"])


def test_validation_panel_wide(snap_compare: Callable[..., bool],
                               make_app: Callable[..., FxConsoleApp]) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=settled, press=["3"])
