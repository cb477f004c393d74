"""The console against a real running supervisor: it shows the live workers, and a key
press reaches the trainer and comes back as a notification."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fxconsole.config import Config, load_config, with_overrides
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore
from fxconsole.ui.app import FxConsoleApp
from fxconsole.workspace import Workspace

pytestmark = pytest.mark.slow
CONFIG = """
[ppo]
n_envs = 2
n_steps = 128
batch_size = 64
n_epochs = 1
[supervisor]
startsecs = 1.0
collectors = 0
validator = false
"""


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws = Workspace(tmp_path_factory.mktemp("ui-system")).ensure()
    ws.config_file.write_text(CONFIG)
    cfg = with_overrides(Config(), "synth", years=0.1, seed=4)
    with MarketStore(ws.market_db) as store:
        synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
    fx = str(Path(sys.executable).parent / "fxconsole")
    proc = subprocess.Popen([fx, "--workspace", str(ws.root), "--no-ui"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        yield ws
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


async def test_console_drives_a_real_system(running: Workspace) -> None:
    app = FxConsoleApp(running, load_config(running.config_file), interval=0.25)
    notes: list[str] = []
    notify = app.notify

    def record(message: str, **kwargs: Any) -> None:
        notes.append(f"{kwargs.get('title', '')}: {message}")
        notify(message, **kwargs)

    app.notify = record  # type: ignore[method-assign]
    async with app.run_test(size=(100, 30)) as pilot:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            snap = app.snapshot
            if snap is not None and {w.name for w in snap.workers if w.row.state == "RUNNING"} \
                    == {"trainer", "live"}:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the console never showed trainer and live RUNNING")
        await pilot.press("c")  # checkpoint now → the trainer's command, a notification
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("done" in n for n in notes):
            await asyncio.sleep(0.2)
        assert any("done" in n for n in notes), notes
        latest = running.checkpoints_dir / "main" / "latest.json"
        deadline = time.monotonic() + 30  # saved at the trainer's next step
        while time.monotonic() < deadline and not latest.exists():
            await asyncio.sleep(0.2)
        assert latest.exists()
