"""SPEC §6.1–§6.4 end to end: pinned validation, deflated selection, one test exam, tags.

The checkpoints are untrained PPO policies with different seeds, saved into one run the
way the trainer saves them: many checkpoints with no edge, which is what a run that
learned nothing looks like.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from fxconsole.agents.checkpoints import RunCheckpoints
from fxconsole.agents.manifest import Manifest
from fxconsole.agents.ppo.inference import actor_extras
from fxconsole.agents.ppo.train import build_model, make_vec_env
from fxconsole.agents.weighting import LoserWeightSchedule
from fxconsole.cli import main
from fxconsole.config import Config, with_overrides
from fxconsole.market.bars import Bars
from fxconsole.market.features import FEATURE_SPEC_VERSION
from fxconsole.market.pipeline import store_bars
from fxconsole.market.store import MarketStore
from fxconsole.market.synth import synth_bars
from fxconsole.market.validate import CleanReport
from fxconsole.ops.db import connect
from fxconsole.ops.promotion import SplitRefused, validate_and_promote
from fxconsole.ops.status import best_validation
from fxconsole.ops.validations import is_validated, stage_rows
from fxconsole.trading.env import observation_spec
from fxconsole.trading.market_data import clear_market_data_cache, load_market_data
from fxconsole.trading.pinning import PinError, make_pin
from fxconsole.workspace import Workspace

NO_COSTS = with_overrides(with_overrides(Config(), "env", spread_pips=0.0), "ppo", n_envs=1,
                          batch_size=64)
CFG = with_overrides(NO_COSTS, "validation", runs=50, min_trades=1)
LENIENT = with_overrides(CFG, "validation", beat_baselines=False, p5_final_pips=-1e9,
                         min_dsr=0.0, test_expectancy=-1e9)


def part(bars: Bars, lo: int, hi: int) -> Bars:
    cols = ("ts", "open", "high", "low", "close", "volume")
    return Bars(bars.symbol, bars.timeframe, *(getattr(bars, c)[lo:hi] for c in cols))


def clean(bars: Bars) -> CleanReport:
    return CleanReport(len(bars), 0, 0, 0, len(bars))


def store(ws: Workspace, bars: Bars) -> None:
    with MarketStore(ws.market_db) as s:
        store_bars(s, bars, clean(bars), "test", CFG.data)
    clear_market_data_cache()


def save_checkpoints(ws: Workspace, run: str, seeds: list[int], cfg: Config = CFG
                     ) -> list[Manifest]:
    """Untrained PPO policies saved as periodic checkpoints of one pinned run."""
    data = load_market_data(ws.market_db, cfg.data.symbol, cfg.data.timeframe)
    pin = make_pin(data, cfg)
    checkpoints = RunCheckpoints(ws.checkpoints_dir / run, keep_periodic=100)
    saved = []
    for i, seed in enumerate(seeds):
        seeded = with_overrides(cfg, "ppo", seed=seed)
        env = make_vec_env(seeded, data, LoserWeightSchedule.from_config(cfg.weighting))
        model = build_model(seeded, env, None)
        saved.append(checkpoints.save(
            model, (i + 1) * 1000, ["periodic"], dataclasses.asdict(seeded),
            observation_spec("ppo"), FEATURE_SPEC_VERSION, extras=actor_extras(model),
            agent="ppo", pinned=pin.to_dict()))
        env.close()
    return saved


@pytest.fixture(scope="module")
def full_bars() -> Bars:
    return synth_bars(years=0.12, seed=5)


@pytest.fixture()
def ws(tmp_path: Path, full_bars: Bars) -> Workspace:
    ws = Workspace(tmp_path / "ws").ensure()
    store(ws, full_bars)
    return ws


def validate(ws: Workspace, m: Manifest, cfg: Config = CFG) -> dict:
    conn = connect(ws.console_db)
    try:
        spec = str(ws.checkpoints_dir / m.run / f"{m.tag}.json")
        return validate_and_promote(spec, cfg, ws, conn, chart=False).report
    finally:
        conn.close()


def test_many_checkpoints_without_edge_or_costs_promote_none(ws: Workspace) -> None:
    saved = save_checkpoints(ws, "noedge", list(range(10)))
    reports = [validate(ws, m) for m in saved]
    assert [r["k"]["validation"] for r in reports] == list(range(1, 11))
    assert not any(r["verdict"]["validated"] for r in reports)
    assert not (ws.checkpoints_dir / "noedge" / "validated.json").exists()
    conn = connect(ws.console_db)
    rows = stage_rows(conn, "noedge", "validation")
    tests = stage_rows(conn, "noedge", "test")
    assert len(rows) == 10 and not any(is_validated(conn, m.sha256) for m in saved)
    # only checkpoints that passed validation were examined on the test split
    assert set(tests) == {sha for sha, r in rows.items() if r.validated}
    # best: the highest validation SQN with enough trades, from the table
    trading = [r for r in rows.values() if r.trades >= 1]
    if trading:
        top = max(trading, key=lambda r: (r.sqn, r.timesteps))
        best = json.loads((ws.checkpoints_dir / "noedge" / "best.json").read_text())
        assert best["sha256"] == top.sha256
        assert sum(r["best"] for r in reports if r["checkpoint"]["sha256"] == top.sha256) >= 1
    # the DSR deflates against the SRs recorded so far
    srs = [r["deflated"]["sr"] for r in reports]
    last = reports[-1]["deflated"]
    assert last["variance"] == pytest.approx(np.var(srs, ddof=1))
    conn.close()


def test_the_test_split_is_examined_once_and_validated_is_the_newest(ws: Workspace) -> None:
    saved = save_checkpoints(ws, "lenient", [0, 1, 2, 3])
    reports = [validate(ws, m, LENIENT) for m in saved]
    passed = [m for m, r in zip(saved, reports, strict=True) if r["verdict"]["validated"]]
    trading = [m for m, r in zip(saved, reports, strict=True) if r["policy"]["trades"] > 0]
    assert passed == trading and passed, [r["verdict"]["reasons"] for r in reports]
    assert all(r["stages"]["test"]["examined_now"] for r in reports if r["policy"]["trades"])
    assert [r["k"]["test"] for r in reports if r["policy"]["trades"]] == \
        list(range(1, len(passed) + 1))
    pointed = json.loads((ws.checkpoints_dir / "lenient" / "validated.json").read_text())
    assert pointed["sha256"] == passed[-1].sha256  # the newest, not the first of the batch
    again = validate(ws, passed[0], LENIENT)
    assert again["stages"]["test"]["examined_now"] is False
    assert again["verdict"]["validated"] is True
    conn = connect(ws.console_db)
    n_exams = conn.execute("SELECT count(*) FROM validations WHERE split = 'test' AND "
                           "sha256 = ?", (passed[0].sha256,)).fetchone()[0]
    conn.close()
    assert n_exams == 1
    conn = connect(ws.console_db)
    best = best_validation(conn, "lenient", min_trades=1)
    assert best is not None and best["validated"] is is_validated(conn, best["sha256"])
    conn.close()
    assert json.loads((ws.checkpoints_dir / "lenient" / "validated.json").read_text()
                      )["sha256"] == passed[-1].sha256


def test_older_history_does_not_move_the_validation_window(tmp_path: Path,
                                                           full_bars: Bars) -> None:
    ws = Workspace(tmp_path / "ws").ensure()
    cut = int(len(full_bars) * 0.3)
    store(ws, part(full_bars, cut, len(full_bars)))
    (m,) = save_checkpoints(ws, "old", [1])
    before = validate(ws, m, LENIENT)
    store(ws, full_bars)  # older history imported: t0 moves back, and b1 with it
    grown = load_market_data(ws.market_db, "GBPJPY", "M1")
    assert make_pin(grown, CFG).b1 < m.pinned["b1"]
    after = validate(ws, m, LENIENT)
    assert after["pinned"] == m.pinned
    assert after["played"] == before["played"]
    assert after["policy"] == before["policy"]
    b1, b2 = m.pinned["iso"]["b1"], m.pinned["iso"]["b2"]
    trades = Path(after["files"]["json"])
    assert trades.exists()
    assert b1 <= after["played"]["first_bar"] and after["played"]["last_bar"] < b2


def test_changed_bars_in_the_pinned_window_are_refused(
        ws: Workspace, full_bars: Bars, capsys: pytest.CaptureFixture[str]) -> None:
    (m,) = save_checkpoints(ws, "changed", [1])
    assert main(["--workspace", str(ws.root), "data", "info"]) == 0
    listed = capsys.readouterr().out
    assert "changed" in listed and m.pinned["iso"]["b1"][:10] in listed and "match" in listed
    i = int(np.searchsorted(full_bars.ts, m.pinned["b1"])) + 500
    close = np.array(full_bars.close)
    close[i] += 0.003
    high = np.maximum(np.array(full_bars.high), close)
    changed = dataclasses.replace(full_bars, close=close, high=high)
    with MarketStore(ws.market_db) as s:
        store_bars(s, changed, clean(changed), "fix", CFG.data, replace=True)
    clear_market_data_cache()
    with pytest.raises(PinError, match="pinned validation window"):
        validate(ws, m)
    assert main(["--workspace", str(ws.root), "data", "info"]) == 0
    assert "CHANGED" in capsys.readouterr().out.replace("\n", " ")
    assert not (ws.checkpoints_dir / "changed" / "reports").exists()
    conn = connect(ws.console_db)
    assert conn.execute("SELECT count(*) FROM validations").fetchone()[0] == 0
    conn.close()


def test_validation_on_the_test_split_is_refused(ws: Workspace) -> None:
    conn = connect(ws.console_db)
    with pytest.raises(SplitRefused, match="examined once"):
        validate_and_promote("x", CFG, ws, conn, split="test")
    conn.close()


def test_check_exits_1_unless_validated(ws: Workspace, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    save_checkpoints(ws, "cli", [2])
    spec = str(ws.checkpoints_dir / "cli" / "periodic-000000001000.json")
    args = ["--workspace", str(ws.root), "validate", spec, "--runs", "20", "--no-chart"]
    assert main([*args, "--check"]) == 1
    out = capsys.readouterr().out
    assert "NOT VALIDATED" in out and "✗" in out and "deflated SQN" in out
    assert "spread ×2" in out and "momentum" in out and "safe-f" in out
    for key, value in (("BEAT_BASELINES", "false"), ("P5_FINAL_PIPS", "-1e9"),
                       ("MIN_DSR", "0"), ("TEST_EXPECTANCY", "-1e9")):
        monkeypatch.setenv(f"FXCONSOLE_VALIDATION__{key}", value)
    monkeypatch.setenv("FXCONSOLE_ENV__SPREAD_PIPS", "0")
    code = main([*args, "--check", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == (0 if report["verdict"]["validated"] else 1)
    assert report["policy"]["trades"] == 0 or code == 0


def _validate_all(root: str, specs: list[str]) -> None:
    """A process validating checkpoints one after another (as the CLI or the worker)."""
    ws = Workspace(Path(root))
    conn = connect(ws.console_db)
    for spec in specs:
        validate_and_promote(spec, CFG, ws, conn, chart=False, runs=20)
    conn.close()


def test_concurrent_validations_leave_the_highest_sqn_as_best(ws: Workspace) -> None:
    """A CLI validate beside the validator worker: two processes validate checkpoints of
    one run at the same time; best is still the highest validation SQN recorded."""
    import multiprocessing

    saved = save_checkpoints(ws, "race", [3, 4, 5, 6, 7, 8])
    specs = [str(ws.checkpoints_dir / "race" / f"{m.tag}.json") for m in saved]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_validate_all, args=(str(ws.root), specs[i::2]))
             for i in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(300)
        assert proc.exitcode == 0
    conn = connect(ws.console_db)
    rows = stage_rows(conn, "race", "validation")
    conn.close()
    assert len(rows) == 6
    top = max((r for r in rows.values() if r.trades >= 1), key=lambda r: (r.sqn, r.timesteps))
    best = json.loads((ws.checkpoints_dir / "race" / "best.json").read_text())
    assert best["sha256"] == top.sha256
    assert sorted(r.sr is not None for r in rows.values()) == [True] * 6
