"""``fxconsole data …`` as a user runs it: in-process for speed, once as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fxconsole.cli import main


def run(ws: Path, *args: str) -> int:
    return main(["--workspace", str(ws), *args])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("ws")
    assert run(ws, "data", "synth", "--years", "0.05", "--seed", "3") == 0
    return ws


def test_synth_then_info(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (workspace / "data" / "market.duckdb").exists()
    assert run(workspace, "data", "info") == 0
    out = capsys.readouterr().out
    assert "GBPJPY" in out and "position_in_range_60" in out and "train" in out


def test_build_is_a_no_op_when_current(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(workspace, "data", "build") == 0
    assert "already up to date" in capsys.readouterr().out
    assert run(workspace, "data", "build", "--force") == 0
    assert "recomputed" in capsys.readouterr().out


def test_export_and_sessions(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    assert run(workspace, "data", "export", "--symbol", "GBPJPY", "--timeframe", "M1",
               "--out", str(out)) == 0
    assert len(pd.read_csv(out)) > 10_000
    ses = tmp_path / "s.parquet"
    assert run(workspace, "data", "sessions", "--split", "validation", "--out", str(ses)) == 0
    assert len(pd.read_parquet(ses)) > 0


def test_import_errors_name_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close\n2024-01-08 12:00:00,1,0.5,0.4,1\n")
    assert run(tmp_path, "data", "import", str(bad)) == 1
    err = capsys.readouterr().err
    assert "bad.csv: row 2" in err and "high 0.5 < max(open, close) 1.0" in err
    assert run(tmp_path, "data", "import", str(tmp_path / "nope.csv")) == 1
    assert "nope.csv: no such file" in capsys.readouterr().err


def test_info_on_an_empty_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "data", "info") == 1
    assert "fxconsole data synth" in capsys.readouterr().err


def test_bad_config_value_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "fxconsole.toml").write_text('[data]\ntimeframe = "M7"\n')
    assert run(tmp_path, "data", "info") == 1
    assert "data.timeframe = 'M7'" in capsys.readouterr().err


def test_real_process_with_workspace_from_environment(tmp_path: Path) -> None:
    env = {**os.environ, "FXCONSOLE_WORKSPACE": str(tmp_path)}
    entry = Path(sys.executable).parent / "fxconsole"  # the installed console script
    proc = subprocess.run([str(entry), "config", "init"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "fxconsole.toml").exists()
    again = subprocess.run([sys.executable, "-m", "fxconsole", "config", "init"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "use --force" in again.stderr


def test_format_choices_match_the_readers() -> None:
    from fxconsole.cli.data_cmd import FORMAT_CHOICES, STRADDLING
    from fxconsole.market.formats import FORMATS
    from fxconsole.market.pipeline import STRADDLING as PIPELINE_STRADDLING

    assert FORMAT_CHOICES == FORMATS and STRADDLING == PIPELINE_STRADDLING
