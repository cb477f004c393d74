"""``fxconsole backtest`` / ``validate`` on a real (small) workspace and checkpoint."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fxconsole.agents.ppo.train import train_ppo
from fxconsole.agents.sinks import MemorySink
from fxconsole.cli import main
from fxconsole.config import Config, with_overrides
from fxconsole.market.pipeline import synthesize
from fxconsole.market.store import MarketStore
from fxconsole.workspace import Workspace


def make_workspace(root: Path, years: float, validation_fraction: float = 0.85) -> Workspace:
    ws = Workspace(root).ensure()
    cfg = with_overrides(Config(), "synth", years=years, seed=8)
    cfg = with_overrides(cfg, "data", validation_fraction=validation_fraction)
    with MarketStore(ws.market_db) as store:
        synthesize(store, cfg.data.symbol, cfg.data.timeframe, cfg.synth, cfg.data)
    return ws


def tiny_training(ws: Workspace, run: str, validation_fraction: float = 0.85) -> None:
    cfg = with_overrides(Config(), "ppo", n_envs=2, n_steps=128, batch_size=64, n_epochs=1)
    cfg = with_overrides(cfg, "data", validation_fraction=validation_fraction)
    train_ppo(cfg, ws, MemorySink(), timesteps=512, run=run)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = make_workspace(tmp_path_factory.mktemp("val"), 0.1)
    tiny_training(ws, "tiny")
    return ws


def run(ws: Workspace, *args: str) -> int:
    return main(["--workspace", str(ws.root), *args])


def test_validate_writes_report_and_picks_best(
    ws: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FXCONSOLE_VALIDATION__MIN_TRADES", "1")
    assert run(ws, "validate", "tiny", "--runs", "50", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["runs"] == 50 and report["split"] == "validation"
    assert Path(report["files"]["json"]).exists() and Path(report["files"]["png"]).exists()
    assert report["policy"]["sessions"] == report["baselines"]["random"]["sessions"]
    best = json.loads((ws.checkpoints_dir / "tiny" / "best.json").read_text())
    assert best["sha256"] == report["checkpoint"]["sha256"]
    assert best["metrics"]["validation_sqn"] == pytest.approx(report["policy"]["sqn"])
    assert run(ws, "validate", "tiny", "--report-dir", str(ws.root / "rep"), "--no-chart") == 0
    out = capsys.readouterr().out
    assert "Monte Carlo" in out and "report:" in out
    verdict = "VALIDATED" if report["verdict"]["validated"] else "NOT VALIDATED"
    assert any(line.startswith(verdict) for line in out.splitlines()), out
    assert (ws.root / "rep" / "report.json").exists()
    assert not (ws.root / "rep" / "chart.png").exists()


def test_backtest_writes_trades(ws: Workspace, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "trades.csv"
    assert run(ws, "backtest", "tiny/latest", "--trades-out", str(out)) == 0
    rows = list(csv.DictReader(out.open()))
    assert rows and {"side", "entry_ts", "exit_ts", "pips", "max_dd", "forced"} <= set(rows[0])
    assert f"wrote {len(rows):,} trades" in capsys.readouterr().out


def test_bad_inputs_are_errors_and_write_nothing(
    ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(ws, "validate", "missing-run") == 1
    assert "missing-run" in capsys.readouterr().err
    broken = ws.checkpoints_dir / "broken"
    shutil.copytree(ws.checkpoints_dir / "tiny", broken)
    manifest = json.loads((broken / "latest.json").read_text())
    model = broken / manifest["model_file"]
    model.write_bytes(model.read_bytes()[:-10] + b"0123456789")
    shutil.rmtree(broken / "reports", ignore_errors=True)
    assert run(ws, "validate", "broken") == 1
    assert "hash mismatch" in capsys.readouterr().err
    assert not (broken / "reports").exists()
    small = make_workspace(tmp_path / "small", 0.1, 0.701)  # a validation split too short
    tiny_training(small, "t", 0.701)
    assert run(small, "validate", "t") == 1
    assert "validation" in capsys.readouterr().err
    assert not (small.checkpoints_dir / "t" / "reports").exists()


def test_validate_as_a_real_process(ws: Workspace) -> None:
    entry = Path(sys.executable).parent / "fxconsole"
    proc = subprocess.run([str(entry), "--workspace", str(ws.root), "validate", "tiny",
                           "--runs", "20", "--no-chart"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "100"})
    assert proc.returncode == 0, proc.stderr
    assert "checkpoint" in proc.stdout and "random" in proc.stdout and "flat" in proc.stdout
