"""The supervisor's wiring with fake processes and a fake clock: no real process, no sleep."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

import pytest

from fxconsole.ops.states import ProgramSpec, WorkerState, WorkerStatus
from fxconsole.ops.supervisor import Supervisor, UnknownWorker, no_heartbeats

S = WorkerState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeProcess:
    """Exits on SIGTERM unless ``deaf``; always on SIGKILL."""

    def __init__(self, pid: int, deaf: bool) -> None:
        self.pid = pid
        self.deaf = deaf
        self.code: int | None = None
        self.signals: list[int] = []

    def poll(self) -> int | None:
        return self.code

    def signal(self, sig: int) -> None:
        self.signals.append(sig)
        if sig == signal.SIGKILL or not self.deaf:
            self.code = -sig if sig == signal.SIGKILL else 0


class FakeLauncher:
    def __init__(self) -> None:
        self.started: list[FakeProcess] = []
        self.deaf: set[str] = set()
        self.broken: set[str] = set()

    def __call__(self, spec: ProgramSpec) -> FakeProcess:
        if spec.name in self.broken:
            raise FileNotFoundError(f"no such file: {spec.command()[0]}")
        proc = FakeProcess(5000 + len(self.started), spec.name in self.deaf)
        self.started.append(proc)
        return proc


def make(names: tuple[str, ...] = ("a", "b"),
         heartbeats: Callable[[str], float | None] | None = None,
         **options: object) -> tuple[Supervisor, FakeLauncher, FakeClock, list[WorkerStatus]]:
    clock, launcher = FakeClock(), FakeLauncher()
    changes: list[WorkerStatus] = []
    fields: dict[str, object] = {"startsecs": 1.0, "stopwaitsecs": 5.0}
    fields.update(options)
    specs = [ProgramSpec(name=n, role="collector", argv=("w", n), **fields)  # type: ignore[arg-type]
             for n in names]
    sup = Supervisor(specs, clock=clock, heartbeats=heartbeats or no_heartbeats,
                     on_change=changes.append, launcher=launcher, wall_clock=clock.wall,
                     sleep=clock.sleep)
    return sup, launcher, clock, changes


def run(sup: Supervisor, clock: FakeClock, seconds: float, step: float = 0.2) -> None:
    for _ in range(round(seconds / step)):
        clock.now += step
        sup.tick()


def test_first_tick_starts_autostart_workers_and_publishes_each_change() -> None:
    sup, launcher, clock, changes = make()
    sup.tick()
    assert [p.pid for p in launcher.started] == [5000, 5001]
    run(sup, clock, 1.2)
    assert [s.state for s in sup.statuses()] == [S.RUNNING, S.RUNNING]
    assert [(c.name, c.state, c.pid) for c in changes] == [
        ("a", S.STARTING, 5000), ("b", S.STARTING, 5001),
        ("a", S.RUNNING, 5000), ("b", S.RUNNING, 5001)]


def test_a_failing_on_change_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    sup, _, clock, _ = make(("a",))

    def broken(status: WorkerStatus) -> None:
        raise RuntimeError("database is locked")

    sup._on_change = broken
    sup.tick()
    run(sup, clock, 1.2)
    assert sup.status("a").state is S.RUNNING
    assert "on_change failed for worker a" in caplog.text


def test_launcher_error_backs_off_then_fatal(caplog: pytest.LogCaptureFixture) -> None:
    sup, launcher, clock, _ = make(("a",), startretries=1, backoff_base=1.0)
    launcher.broken.add("a")
    sup.tick()
    assert sup.status("a").state is S.BACKOFF
    assert "FileNotFoundError" in sup.status("a").message
    run(sup, clock, 1.2)
    assert sup.status("a").state is S.FATAL
    launcher.broken.clear()
    sup.start("a")
    assert sup.status("a").state is S.STARTING


def test_reaped_exit_restarts_in_the_same_tick() -> None:
    sup, launcher, clock, _ = make(("a",))
    sup.tick()
    run(sup, clock, 1.2)
    launcher.started[0].code = -9
    sup.tick()
    status = sup.status("a")
    assert (status.state, status.pid, status.restarts, status.exit_code) == (
        S.STARTING, 5001, 1, -9)


def test_stale_heartbeat_terminates_the_group_then_restarts() -> None:
    beats: dict[str, float] = {}
    sup, launcher, clock, _ = make(("a",), heartbeats=beats.get, heartbeat_timeout=3.0)
    sup.tick()
    beats["a"] = clock.wall()
    run(sup, clock, 2.8)
    assert sup.status("a").state is S.RUNNING
    run(sup, clock, 0.6)
    assert launcher.started[0].signals == [signal.SIGTERM]
    sup.tick()
    assert sup.status("a").restarts == 1 and len(launcher.started) == 2


def test_failing_heartbeat_source_is_logged_once_and_not_judged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(name: str) -> float | None:
        raise OSError("disk I/O error")

    sup, _, clock, _ = make(("a",), heartbeats=broken, heartbeat_timeout=1.0)
    sup.tick()
    with caplog.at_level(logging.ERROR):
        run(sup, clock, 10.0)
    assert sup.status("a").state is S.RUNNING
    assert caplog.text.count("reading the heartbeat of a failed") == 1


def test_commands_by_name_and_all() -> None:
    sup, launcher, clock, _ = make(("a", "b", "c"), autostart=False)
    sup.start("b")
    assert [s.state for s in sup.statuses()] == [S.STOPPED, S.STARTING, S.STOPPED]
    sup.start("all")
    run(sup, clock, 1.2)
    sup.restart("all")
    assert [p.signals for p in launcher.started] == [[signal.SIGTERM]] * 3
    sup.tick()
    assert len(launcher.started) == 6
    assert {s.restarts for s in sup.statuses()} == {0}
    sup.stop("all")
    sup.tick()
    assert {s.state for s in sup.statuses()} == {S.STOPPED}
    with pytest.raises(UnknownWorker, match="no worker named 'zz'.*a, b, c"):
        sup.stop("zz")


def test_shutdown_escalates_and_returns_when_no_process_remains() -> None:
    sup, launcher, clock, _ = make(("a", "b"), stopwaitsecs=2.0)
    launcher.deaf.add("b")
    sup.tick()
    run(sup, clock, 1.2)
    start = clock.now
    sup.shutdown()
    assert [p.signals for p in launcher.started] == [[signal.SIGTERM],
                                                      [signal.SIGTERM, signal.SIGKILL]]
    assert 2.0 <= clock.now - start < 3.0
    assert [(s.state, s.exit_code) for s in sup.statuses()] == [(S.STOPPED, 0), (S.STOPPED, -9)]
    with pytest.raises(RuntimeError, match="shutting down"):
        sup.start("a")
    sup.stop("all")  # still allowed, does nothing


def test_shutdown_sigkills_leftovers_after_its_timeout() -> None:
    sup, launcher, _, _ = make(("a",), stopwaitsecs=30.0)
    launcher.deaf.add("a")
    sup.tick()
    sup.shutdown(timeout=1.0)
    assert launcher.started[0].signals == [signal.SIGTERM, signal.SIGKILL]
    assert sup.status("a").state is S.STOPPED


def test_run_forever_ticks_until_the_event_then_shuts_down() -> None:
    sup, launcher, _, _ = make(("a",))
    stop = threading.Event()
    handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    before = [signal.getsignal(sig) for sig in handled]
    timer = threading.Timer(0.2, stop.set)
    timer.start()
    sup.run_forever(stop, tick_seconds=0.01)  # in the main thread: handlers installed
    assert launcher.started[0].signals == [signal.SIGTERM]
    assert sup.status("a").state is S.STOPPED
    assert [signal.getsignal(sig) for sig in handled] == before


@pytest.mark.parametrize("names", [("a", "a"), ("all",)])
def test_duplicate_or_reserved_names_are_refused(names: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="duplicated or reserved"):
        make(names)
