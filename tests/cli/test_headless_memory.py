"""The headless supervisor (``fxconsole --no-ui``) runs for months: the market store's
libraries (duckdb, pyarrow, pandas: ~250 MB) belong to the child that prepares the data
and to the workers, never to the supervisor's own process."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from fxconsole.config import Config, with_overrides
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore
from fxconsole.workspace import Workspace

FXCONSOLE = str(Path(sys.executable).parent / "fxconsole")
HEAVY = ("duckdb", "pyarrow", "pandas")


def test_the_headless_supervisor_never_maps_the_market_stores_libraries(
        tmp_path: Path) -> None:
    ws = Workspace(tmp_path).ensure()
    cfg = with_overrides(Config(), "synth", years=0.05, seed=4)
    with MarketStore(ws.market_db) as store:  # its data exists: the child only checks it
        synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
    proc = subprocess.Popen([FXCONSOLE, "--workspace", str(ws.root), "--no-ui", "--duration",
                             "120"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # supervising: the data was checked (in a child) before
            if line.startswith("supervising run"):
                break
        else:
            raise AssertionError(f"no supervisor started (exit {proc.wait()})")
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out[-3000:]
    assert [lib for lib in HEAVY if f"/{lib}/" in maps] == []
