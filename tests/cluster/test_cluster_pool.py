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


def test_an_actor_not_yet_placed_is_pending_not_local() -> None:
    from fxconsole.ops.queries import WorkerRow

    def row(message: str, info: dict[str, str] | None) -> WorkerRow:
        return WorkerRow("validator-1", "validator", "STARTING", None, 1.0, None, 0, None,
                         60.0, message, 2.0, None, None, info)

    waiting = row("ray actor on ?: pending: needs 1 CPU", None)
    assert waiting.actor and waiting.node == "pending"
    placed = row("ray actor on 10.0.0.7", {"backend": "ray", "node": "10.0.0.7"})
    assert placed.node == "10.0.0.7"
    local = row("", None)
    assert not local.actor and local.node == "local"
    driver = row("running", {"backend": "ray", "nodes": [{"ip": "10.0.0.7"}]})
    assert not driver.actor and driver.node == "local"  # the Ray driver is a local process


def test_why_an_actor_waits_names_the_cpus() -> None:
    from fxconsole.cluster.driver import placement_gap
    from fxconsole.cluster.session import Node

    full = [Node("a", "10.0.0.1", "h1", True, 2.0, 0.0), Node("b", "10.0.0.2", "h2", True,
                                                              4.0, 0.5)]
    assert placement_gap(full, 1.0) == ("pending: needs 1 CPU, no node has it free (the "
                                        "cluster has 0.5 of 6 CPUs free)")
    assert placement_gap(full, 0.5) == ""  # node b has half a CPU
    dead = [Node("c", "10.0.0.3", "h3", False, 8.0, 0.0), *full]
    assert placement_gap(dead, 1.0).endswith("(the cluster has 0.5 of 6 CPUs free)")


def test_an_actor_ray_cannot_place_is_explained_then_reported_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fxconsole.cluster import driver as driver_mod
    from fxconsole.cluster.driver import PENDING_SECONDS, ActorSlot, ClusterDriver
    from fxconsole.cluster.session import Node
    from fxconsole.ops.db import connect

    states = {"collector-1": "ALIVE", "validator-1": "PENDING_CREATION"}
    monkeypatch.setattr(driver_mod, "actor_state", lambda handle: states[handle])
    now = [1000.0]
    cfg = with_overrides(Config(), "cluster", backend="ray", collectors=1, validators=1)
    conn = connect(tmp_path / "console.sqlite")
    store = ClusterStore(conn, "main", tmp_path / "checkpoints", clock=lambda: now[0])
    driver = ClusterDriver(cfg, Workspace(tmp_path), "main", store, clock=lambda: now[0])
    for name, role in (("collector-1", "collector"), ("validator-1", "validator")):
        driver.slots[name] = ActorSlot(name, 0, role=role, handle=name, started=now[0])
    driver.nodes = [Node("a", "127.0.0.1", "vm", True, 2.0, 0.0)]

    def messages() -> dict[str, str]:
        return dict(conn.execute("SELECT name, message FROM workers").fetchall())

    def pending_events() -> list[str]:
        return [m for (m,) in conn.execute(
            "SELECT message FROM events WHERE kind = 'actor-pending'").fetchall()]

    driver.check_pending(now[0])
    assert messages() == {"validator-1": "ray actor on ?: pending: needs 1 CPU, no node has "
                                         "it free (the cluster has 0 of 2 CPUs free)"}
    assert pending_events() == []  # not yet: placing takes a moment
    now[0] += PENDING_SECONDS
    driver.check_pending(now[0])
    driver.check_pending(now[0] + 5)
    events = pending_events()
    assert len(events) == 1 and events[0].startswith("validator-1 not placed after 30 s")
    assert "1 collector and 1 validator actor(s) need 2 CPUs" in events[0]
    # a CPU frees up: Ray places it, and the row says nothing more
    driver.nodes = [Node("a", "127.0.0.1", "vm", True, 2.0, 1.0)]
    driver.check_pending(now[0] + 10)
    assert messages()["validator-1"] == "ray actor on ?"
