"""The pool's side of the Ray backend, without processes or Ray: which workers it runs,
the console's restart of an actor row forwarded to the driver, the fallback to local
collectors when the driver exits with an error, and the store's idempotent writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fxconsole.cluster.actor import EpisodeRow, PlayResult
from fxconsole.cluster.session import ray_temp_dir, redact
from fxconsole.cluster.store import ClusterStore
from fxconsole.config import Config, with_overrides
from fxconsole.ops import commands as cmd
from fxconsole.ops.pool import Pool, program_specs
from fxconsole.ops.states import WorkerState, WorkerStatus
from fxconsole.workspace import Workspace


def ray_config(fallback: bool) -> Config:
    cfg = with_overrides(Config(), "cluster", backend="ray", fallback_local=fallback)
    return with_overrides(cfg, "supervisor", collectors=2)


@pytest.mark.parametrize(("cfg", "names"), [
    (Config(), ["trainer", "collector-1", "validator", "live"]),
    (ray_config(False), ["trainer", "cluster", "validator", "live"]),
    (ray_config(True), ["trainer", "cluster", "local-collector-1", "local-collector-2",
                        "validator", "live"]),
])
def test_the_ray_backend_runs_the_driver_instead_of_local_collectors(
        tmp_path: Path, cfg: Config, names: list[str]) -> None:
    specs = program_specs(cfg, Workspace(tmp_path), "main")
    assert [s.name for s in specs] == names
    roles = {s.name: s.role for s in specs}
    assert roles.get("cluster", "cluster") == "cluster"
    assert all(roles[n] == "collector" for n in names if "collector" in n)


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[Pool]:
    p = Pool(ray_config(True), Workspace(tmp_path), "main")
    started: list[str] = []
    p.supervisor.start = started.append  # type: ignore[method-assign]
    p.started = started  # type: ignore[attr-defined]
    yield p
    p.close(timeout=5)


def test_start_leaves_the_fallback_collectors_stopped(pool: Pool) -> None:
    pool.start()
    assert pool.started == ["trainer", "cluster", "validator", "live"]  # type: ignore[attr-defined]


def test_a_driver_exiting_with_an_error_starts_the_local_collectors_once(pool: Pool) -> None:
    pool._on_change(WorkerStatus("cluster", WorkerState.RUNNING, pid=5))
    pool.step()
    assert pool.started == []  # type: ignore[attr-defined]
    for _ in range(2):  # the driver's restarts failing again start nothing more
        pool._on_change(WorkerStatus("cluster", WorkerState.EXITED, exit_code=69))
        pool.step()
    assert pool.started == ["local-collector-1", "local-collector-2"]  # type: ignore[attr-defined]
    kinds = [k for (k,) in pool.conn.execute("SELECT kind FROM events")]
    assert kinds.count("cluster-fallback") == 1


def test_a_restart_of_an_actor_row_is_forwarded_to_the_driver(pool: Pool, tmp_path: Path
                                                              ) -> None:
    store = ClusterStore(pool.conn, "main", tmp_path / "checkpoints")
    store.actor_row("collector-1", "RUNNING", 42, "10.0.0.7", 0, 60.0)
    asked = cmd.enqueue(pool.conn, cmd.SUPERVISOR, "restart", {"worker": "collector-1"},
                        issued_by="ui")
    unknown = cmd.enqueue(pool.conn, cmd.SUPERVISOR, "restart", {"worker": "collector-9"})
    pool._run_commands()
    done = cmd.get(pool.conn, asked)
    assert done.state == cmd.DONE and "cluster driver" in done.result
    forwarded = pool.conn.execute(
        "SELECT target, verb, args, state, issued_by FROM commands WHERE target = 'cluster'"
    ).fetchall()
    assert forwarded == [("cluster", "restart-actor", '{"worker": "collector-1"}', "pending",
                          "ui")]
    assert cmd.get(pool.conn, unknown).state == cmd.FAILED  # no such worker or actor


def result(task: str, n: int = 2) -> PlayResult:
    return PlayResult(task, "collector-1", 7, "10.0.0.7", b"shard-bytes",
                      [EpisodeRow(1.0, 1, 1.0, 360)] * n, 720, 4096, {"search/x": 1.0})


def test_a_task_written_twice_is_written_once(pool: Pool, tmp_path: Path) -> None:
    store = ClusterStore(pool.conn, "main", tmp_path / "checkpoints")
    assert store.record(result("collector-1-a-1"), {"selfplay/episodes": 2.0}, 2)
    assert not store.record(result("collector-1-a-1"), {"selfplay/episodes": 2.0}, 2)
    assert store.record(result("collector-1-a-2", 3), {"selfplay/episodes": 5.0}, 5)
    (episodes,), = pool.conn.execute("SELECT count(*) FROM episodes WHERE worker = "
                                     "'collector-1' AND source = 'collect'").fetchall()
    assert episodes == 5 and store.played_before("collector-1") == 5
    assert sorted(p.name for p in store.replay_dir.iterdir()) == [
        "collector-1-a-1.npz", "collector-1-a-2.npz"]


def test_the_driver_writes_shards_where_the_trainer_reads_them() -> None:
    from fxconsole.agents.muzero import shards
    from fxconsole.cluster import store

    assert (store.REPLAY_DIR, store.SUFFIX) == (shards.REPLAY_DIR, shards.SUFFIX)


def test_session_hygiene(tmp_path: Path) -> None:
    assert redact("ray://user:s3cret@head:10001") == "ray://***@head:10001"
    assert redact("10.0.0.1:6379") == "10.0.0.1:6379"
    assert ray_temp_dir(Path("/w/data")) == Path("/w/data/ray")  # inside the workspace
    deep = tmp_path / ("x" * 80) / "data"
    assert len(str(ray_temp_dir(deep))) < 47 and ray_temp_dir(deep) == ray_temp_dir(deep)


@pytest.mark.parametrize(("info", "probed"), [
    ({"node": "10.0.0.7", "backend": "ray"}, False),  # its pid is on another machine
    ({}, True),
])
def test_the_console_measures_only_local_processes(info: dict[str, str], probed: bool) -> None:
    from fxconsole.ops.queries import WorkerRow
    from fxconsole.ui.data import _worker_view

    asked: list[int] = []

    def probe(pid: int) -> tuple[float | None, int | None]:
        asked.append(pid)
        return 5.0, 1000

    row = WorkerRow("collector-1", "collector", "RUNNING", 42, 1.0, None, 0, None, 60.0,
                    "", 2.0, 2.0, 3, info)
    view = _worker_view(row, probe)
    assert (asked == [42]) is probed
    assert (view.rss_bytes == 1000) is probed
