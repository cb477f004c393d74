"""Issue 17 defect 17 (set-up): the first launch's synthesis prints each stage as it goes
and ends with a readable summary, not ~20 s of silence then a raw dict of sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from fxconsole.cli.common import Context
from fxconsole.cli.data_lines import sessions_line, stage_printer
from fxconsole.cli.run_cmd import ensure_market_data
from fxconsole.config import Config, with_overrides
from fxconsole.workspace import Workspace


def test_first_launch_synthesis_prints_stages_and_a_summary(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = with_overrides(Config(), "synth", years=0.02, seed=3)
    ensure_market_data(Context(Workspace(tmp_path), cfg, None))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"no market data in {tmp_path}: synthesising the default")
    stages = [line.strip().split("…")[0] for line in lines[1:-1]]
    assert stages == ["generating bars", "storing bars", "computing features and sessions",
                      "storing features"]
    summary = lines[-1]
    assert summary.startswith("stored ") and " GBPJPY M1 bars (" in summary
    assert "sessions: train " in summary and "{" not in summary and "'" not in summary


def test_lines_are_readable() -> None:
    assert sessions_line({"train": 1234, "validation": 210, "test": 200, "none": 12}) == (
        "train 1,234 · validation 210 · test 200 (+12 straddling two splits)")
    printed: list[str] = []
    ticks = iter([0.0, 12.34])
    stage_printer(printed.append, clock=lambda: next(ticks))("features")
    assert printed == ["  computing features and sessions… (12.3 s)"]
