"""Reports pruned with model gc, and the supervisor's housekeeping round (issue 16)."""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

from fxconsole.agents.checkpoints import Manifest, RunCheckpoints
from fxconsole.config import Config, OpsConfig
from fxconsole.ops.db import connect, transaction
from fxconsole.ops.housekeeping import Housekeeper
from fxconsole.ops.logrotate import backup_path
from fxconsole.ops.pool import Pool
from fxconsole.ops.report_gc import doomed_reports, prune_reports
from fxconsole.ops.totals import trade_totals
from fxconsole.ops.writer import INSERTS
from fxconsole.workspace import Workspace

CONFIG = dataclasses.asdict(Config())
OLD = 7200.0  # seconds: older than the reports' grace


class Blob:
    """A model whose saved bytes are its seed (distinct sha256 per seed)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def save(self, path: io.BytesIO, /) -> None:
        path.write(b"model %d" % self.seed)


def save(store: RunCheckpoints, timesteps: int, *tags: str) -> Manifest:
    return store.save(Blob(timesteps), timesteps, tags, config=CONFIG,
                      observation_spec={"kind": "box"}, feature_spec_version=1, agent="ppo")


def report(run_dir: Path, m: Manifest, split: str = "validation", age: float = OLD) -> Path:
    folder = run_dir / "reports" / f"{m.timesteps:012d}-{m.sha256[:12]}-{split}"
    folder.mkdir(parents=True)
    (folder / "report.json").write_text("{}")
    (folder / "chart.png").write_bytes(b"png")
    stamp = os.stat(folder).st_mtime - age
    os.utime(folder, (stamp, stamp))
    return folder


def test_reports_go_only_with_their_garbage_collected_model(tmp_path: Path) -> None:
    run_dir = tmp_path / "checkpoints" / "main"
    store = RunCheckpoints(run_dir, keep_periodic=1)
    first = save(store, 1000, "periodic")
    best = save(store, 2000, "periodic")
    store.point("best", best)
    deployed = save(store, 3000, "periodic")
    store.point("deployed", deployed)
    latest = save(store, 4000, "periodic", "latest")  # prunes periodic 1000–3000; gc
    reports = {m.timesteps: report(run_dir, m) for m in (first, best, deployed, latest)}
    fresh = report(run_dir, first, split="test", age=0.0)  # a validator just wrote it
    (run_dir / "reports" / "notes").mkdir()  # not a report folder: never touched

    removed = prune_reports(tmp_path / "checkpoints")

    assert removed == [reports[1000]]
    assert not reports[1000].exists()
    assert all(reports[t].is_dir() for t in (2000, 3000, 4000))  # best, deployed, latest
    assert fresh.is_dir() and (run_dir / "reports" / "notes").is_dir()
    # an unreadable manifest stops pruning (it might reference a model)
    (run_dir / "broken.json").write_text("{")
    os.utime(fresh, (0, 0))
    assert prune_reports(tmp_path / "checkpoints") == [] and fresh.is_dir()


def test_doomed_reports_by_name() -> None:
    names = ["000000001000-aaaaaaaaaaaa-validation", "000000002000-bbbbbbbbbbbb-test",
             "README", "000000003000-cccccccccccc-validation"]
    assert doomed_reports(names, {"bbbbbbbbbbbb"}) == [names[0], names[3]]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_housekeeping_round_rotates_prunes_and_bounds_the_database(tmp_path: Path) -> None:
    conn = connect(tmp_path / "console.sqlite")
    conn.execute("PRAGMA auto_vacuum = NONE")
    conn.execute("VACUUM")  # a database from before issue 16
    logs = [tmp_path / "trainer.out", tmp_path / "supervisor.log"]
    logs[0].write_bytes(b"x" * 3 * 1024 * 1024)
    logs[1].write_bytes(b"y" * 1024)
    with transaction(conn):
        conn.executemany(INSERTS["trades"], [
            (1e9 + i, "main", "c", "collect", "long", None, None, None, None, 1.0, None, None,
             0, 1) for i in range(30_000)])
    clock = Clock()
    ops = dataclasses.replace(OpsConfig(), log_max_mb=1.0, trade_rows=1000,
                              retention_seconds=600.0)
    keeper = Housekeeper(conn, ops, tmp_path / "checkpoints", logs, clock=clock,
                         wall_clock=lambda: 2e9, slice_seconds=0.001)
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # converted at start
    keeper.tick()
    assert keeper.last is None and not backup_path(logs[0], 1).exists()  # not due yet
    clock.now += 30.0
    ticks = 0
    while keeper.last is None and ticks < 10_000:  # a slice at a time
        keeper.tick()
        ticks += 1
    assert ticks > 1  # the pass was spread over several ticks
    assert keeper.last is not None and keeper.last.trades == 29_000
    assert conn.execute("SELECT count(*) FROM trades").fetchone()[0] == 1000
    assert trade_totals(conn, "main").trades == 30_000
    assert backup_path(logs[0], 1).stat().st_size > 2 * 1024 * 1024
    assert logs[0].stat().st_size < 1024 * 1024
    assert not backup_path(logs[1], 1).exists()  # under the limit
    keeper.last = None
    clock.now += 599.0
    keeper.tick()
    assert keeper.last is None  # the next round comes after ops.retention_seconds
    clock.now += 1.0
    for _ in range(10_000):
        keeper.tick()
        if keeper.last is not None:
            break
    assert keeper.last is not None and keeper.last.trades == 0


def test_the_pool_runs_housekeeping_from_its_step(tmp_path: Path) -> None:
    """The supervisor's loop (``Pool.step``, workers not started) rotates its workers'
    ``.out`` and prunes the database once the first round is due."""
    clock = Clock()
    cfg = dataclasses.replace(Config(), ops=dataclasses.replace(OpsConfig(), log_max_mb=1.0,
                                                                trade_rows=1000))
    ws = Workspace(tmp_path).ensure()
    out = ws.logs_dir / "trainer.out"
    out.write_bytes(b"z" * 2 * 1024 * 1024)
    pool = Pool(cfg, ws, "main", clock=clock)
    try:
        with transaction(pool.conn):
            pool.conn.executemany(INSERTS["trades"], [
                (1e9 + i, "main", "trainer", "train", "long", None, None, None, None, 1.0,
                 None, None, 0, 1) for i in range(5000)])
        pool.step()
        assert pool.housekeeper.last is None and not backup_path(out, 1).exists()
        clock.now += 60.0
        for _ in range(1000):
            pool.step()
            if pool.housekeeper.last is not None:
                break
        assert pool.housekeeper.last is not None and pool.housekeeper.last.trades == 4000
        assert backup_path(out, 1).exists() and out.stat().st_size < 1024 * 1024
        assert trade_totals(pool.conn, "main").trades == 5000
    finally:
        pool.close(timeout=5)
