"""The worker state machine, replayed with a fake clock and no real process."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fxconsole.ops.states import (
    Action,
    Event,
    Exited,
    ProgramSpec,
    RestartRequested,
    Spawned,
    SpawnFailed,
    StartRequested,
    StopRequested,
    Tick,
    WorkerMachine,
    WorkerState,
)

S = WorkerState
WALL0 = 1_700_000_000.0


@dataclass
class FakeClock:
    """Monotonic and wall time that move together, only when told (in whole microseconds,
    so that a hundred small steps add up exactly)."""

    micros: int = 100_000_000

    @property
    def now(self) -> float:
        return self.micros / 1e6

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL0 + self.now

    def advance(self, seconds: float) -> None:
        self.micros += round(seconds * 1e6)


def spec(**overrides: object) -> ProgramSpec:
    fields: dict[str, object] = {
        "name": "w", "role": "collector", "module": "workers.collector", "startsecs": 1.0,
        "startretries": 3, "backoff_base": 1.0, "backoff_cap": 30.0, "stopwaitsecs": 10.0,
    }
    fields.update(overrides)
    return ProgramSpec(**fields)  # type: ignore[arg-type]


class Harness:
    """Feeds events to a machine, playing the supervisor: SPAWN gets a fresh pid at once."""

    def __init__(self, program: ProgramSpec, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.machine = WorkerMachine(program, self.clock.monotonic, self.clock.wall)
        self.next_pid = 1000
        self.signals: list[Action] = []
        self.history: list[tuple[WorkerState, WorkerState]] = []

    def send(self, event: Event) -> list[Action]:
        actions = self.machine.handle(event)
        for action in actions:
            if action is Action.SPAWN:
                self.next_pid += 1
                assert self.machine.handle(Spawned(self.next_pid)) == []
            else:
                self.signals.append(action)
        self.history += [(t.old, t.new) for t in self.machine.drain()]
        return actions

    def wait(self, seconds: float, step: float = 0.1, **tick: object) -> None:
        """Advance time in small ticks, as the supervisor loop would."""
        end = self.clock.micros + round(seconds * 1e6)
        while self.clock.micros < end:
            self.clock.advance(min(step, (end - self.clock.micros) / 1e6))
            self.send(Tick(**tick))  # type: ignore[arg-type]

    @property
    def state(self) -> WorkerState:
        return self.machine.state

    @property
    def pid(self) -> int | None:
        return self.machine.status().pid


def running(program: ProgramSpec | None = None) -> Harness:
    h = Harness(program or spec())
    h.send(Tick())
    h.wait(1.1, heartbeat_age=0.0)
    assert h.state is S.RUNNING
    return h


def test_autostart_goes_starting_then_running_after_startsecs() -> None:
    h = Harness(spec())
    assert h.state is S.STOPPED
    assert h.send(Tick()) == [Action.SPAWN]
    assert (h.state, h.pid) == (S.STARTING, 1001)
    h.wait(0.9)
    assert h.state is S.STARTING
    h.wait(0.2)
    status = h.machine.status()
    assert (status.state, status.pid, status.restarts, status.retries) == (S.RUNNING, 1001, 0, 0)
    assert status.started_at == pytest.approx(WALL0 + 100.0)
    assert h.history == [(S.STOPPED, S.STARTING), (S.STARTING, S.RUNNING)]


def test_no_autostart_waits_for_a_start_request() -> None:
    h = Harness(spec(autostart=False))
    h.wait(5.0)
    assert h.state is S.STOPPED and h.history == []
    assert h.send(StartRequested()) == [Action.SPAWN]
    assert h.state is S.STARTING


def test_startsecs_zero_is_running_once_spawned() -> None:
    h = Harness(spec(startsecs=0))
    h.send(Tick())
    assert h.state is S.RUNNING


def test_early_exits_back_off_with_growing_delays_then_fatal() -> None:
    h = Harness(spec(startretries=3, backoff_base=1.0, backoff_cap=3.0))
    h.send(Tick())
    delays = []
    for attempt in range(1, 4):
        h.clock.advance(0.5)
        assert h.send(Exited(1)) == []
        status = h.machine.status()
        assert (status.state, status.retries, status.exit_code, status.pid) == (
            S.BACKOFF, attempt, 1, None)
        assert status.backoff_until is not None
        delays.append(status.backoff_until - h.clock.wall())
        spawns_before = h.next_pid
        h.wait(delays[-1] - 0.05, step=0.05)
        assert h.state is S.BACKOFF and h.next_pid == spawns_before
        h.wait(0.1, step=0.1)
        assert h.state is S.STARTING and h.machine.status().restarts == attempt
    assert delays == pytest.approx([1.0, 2.0, 3.0])  # 1, 2, 4 capped at 3
    h.clock.advance(0.5)
    h.send(Exited(1))
    status = h.machine.status()
    assert (status.state, status.retries, status.backoff_until) == (S.FATAL, 4, None)
    assert "operator" in status.message


def test_fatal_stays_until_an_operator_restart() -> None:
    h = Harness(spec(startretries=0))
    h.send(Tick())
    h.send(Exited(2))
    assert h.state is S.FATAL
    h.wait(600.0, step=5.0)
    assert h.state is S.FATAL and h.pid is None
    h.send(StopRequested())
    assert h.state is S.FATAL
    assert h.send(RestartRequested()) == [Action.SPAWN]
    assert h.state is S.STARTING and h.machine.status().retries == 0
    h.wait(1.1)
    assert h.state is S.RUNNING


def test_spawn_failure_counts_as_a_failed_start() -> None:
    h = Harness(spec(startretries=1))
    assert h.machine.handle(Tick()) == [Action.SPAWN]
    h.machine.handle(SpawnFailed("no such file"))
    status = h.machine.status()
    assert (status.state, status.retries, status.pid) == (S.BACKOFF, 1, None)
    assert "no such file" in status.message
    # The unpublished STARTING is never reported: the store sees STOPPED -> BACKOFF.
    assert [(t.old, t.new) for t in h.machine.drain()] == [(S.STOPPED, S.BACKOFF)]


def test_running_resets_retries() -> None:
    h = Harness(spec(startretries=1))
    h.send(Tick())
    h.send(Exited(1))
    h.wait(1.05)
    assert h.state is S.STARTING and h.machine.status().retries == 1
    h.wait(1.1)
    assert h.state is S.RUNNING and h.machine.status().retries == 0


@pytest.mark.parametrize("code", [0, 1, -9])
def test_exit_after_running_restarts_at_once_and_counts(code: int) -> None:
    h = running()
    assert h.send(Exited(code)) == [Action.SPAWN]
    status = h.machine.status()
    assert (status.state, status.pid, status.restarts, status.exit_code) == (
        S.STARTING, 1002, 1, code)
    assert h.history[-2:] == [(S.RUNNING, S.EXITED), (S.EXITED, S.STARTING)]
    h.wait(1.1)
    assert h.state is S.RUNNING and h.machine.status().restarts == 1


def test_exit_without_autorestart_stays_exited() -> None:
    h = running(spec(autorestart=False))
    assert h.send(Exited(0)) == []
    h.wait(10.0)
    assert h.state is S.EXITED and h.machine.status().exit_code == 0
    h.send(StopRequested())
    assert h.state is S.STOPPED


def test_stale_heartbeat_stops_then_restarts_the_worker() -> None:
    h = running(spec(heartbeat_timeout=5.0, stopwaitsecs=2.0))
    h.wait(3.0, heartbeat_age=0.5)
    h.wait(1.0, heartbeat_age=4.9)
    assert h.state is S.RUNNING and h.signals == []
    h.send(Tick(heartbeat_age=5.5))
    assert h.state is S.STOPPING and h.signals == [Action.TERMINATE]
    assert "heartbeat stale" in h.machine.status().message
    h.wait(2.0, heartbeat_age=7.5)
    assert h.signals == [Action.TERMINATE, Action.KILL]  # it ignored SIGTERM
    assert h.send(Exited(-9)) == [Action.SPAWN]
    status = h.machine.status()
    assert (status.state, status.restarts, status.exit_code) == (S.STARTING, 1, -9)
    assert (S.STOPPING, S.EXITED) in h.history


def test_heartbeat_age_counts_from_the_spawn_at_most() -> None:
    """A heartbeat left by an earlier incarnation does not condemn a new process."""
    h = running(spec(heartbeat_timeout=5.0))
    h.wait(3.0, heartbeat_age=1_000.0)  # 4.1 s since spawn
    assert h.state is S.RUNNING
    h.wait(1.0, heartbeat_age=None)  # never beat: judged by the time since spawn
    assert h.state is S.STOPPING


def test_unknown_heartbeat_is_not_judged() -> None:
    h = running(spec(heartbeat_timeout=2.0))
    h.wait(10.0, heartbeat_known=False)
    assert h.state is S.RUNNING


def test_no_heartbeat_timeout_means_not_checked() -> None:
    h = running(spec(heartbeat_timeout=None))
    h.wait(10.0, heartbeat_age=1_000.0)
    assert h.state is S.RUNNING


def test_stop_terminates_and_ends_stopped() -> None:
    h = running()
    assert h.send(StopRequested()) == [Action.TERMINATE]
    assert h.state is S.STOPPING
    h.wait(3.0)
    h.send(Exited(0))
    status = h.machine.status()
    assert (status.state, status.exit_code, status.pid, status.restarts) == (S.STOPPED, 0, None, 0)
    h.wait(30.0)
    assert h.state is S.STOPPED and h.signals == [Action.TERMINATE]


def test_stop_escalates_to_sigkill_after_stopwaitsecs_once() -> None:
    h = running(spec(stopwaitsecs=10.0))
    h.send(StopRequested())
    h.wait(9.9)
    assert h.signals == [Action.TERMINATE]
    h.wait(0.2)
    assert h.signals == [Action.TERMINATE, Action.KILL]
    assert h.state is S.STOPPING and "SIGKILL" in h.machine.status().message
    h.wait(20.0)
    assert h.signals == [Action.TERMINATE, Action.KILL]
    h.send(Exited(-9))
    assert h.state is S.STOPPED and h.machine.status().exit_code == -9


def test_stop_during_backoff_cancels_the_retry() -> None:
    h = Harness(spec())
    h.send(Tick())
    h.send(Exited(1))
    h.send(StopRequested())
    h.wait(60.0)
    assert h.state is S.STOPPED and h.next_pid == 1001


def test_restart_of_a_running_worker_stops_then_starts_uncounted() -> None:
    h = running()
    assert h.send(RestartRequested()) == [Action.TERMINATE]
    assert h.send(Exited(0)) == [Action.SPAWN]
    assert h.history[-3:] == [(S.RUNNING, S.STOPPING), (S.STOPPING, S.STOPPED),
                              (S.STOPPED, S.STARTING)]
    assert h.machine.status().restarts == 0


def test_start_while_stopping_starts_after_the_exit_and_stop_cancels_it() -> None:
    h = running()
    h.send(StopRequested())
    h.send(StartRequested())
    assert h.send(Exited(0)) == [Action.SPAWN]
    h.wait(1.1)
    h.send(StopRequested())
    h.send(StartRequested())
    h.send(StopRequested())
    assert h.send(Exited(0)) == []
    assert h.state is S.STOPPED


def test_start_of_a_running_worker_does_nothing() -> None:
    h = running()
    assert h.send(StartRequested()) == []
    assert h.state is S.RUNNING and h.pid == 1001


def test_stop_of_a_stopped_worker_cancels_autostart() -> None:
    h = Harness(spec())
    h.send(StopRequested())
    h.wait(5.0)
    assert h.state is S.STOPPED and h.next_pid == 1000


def test_a_stray_exit_is_ignored() -> None:
    h = Harness(spec(autostart=False))
    assert h.send(Exited(0)) == []
    assert h.state is S.STOPPED


def test_replayed_history_crash_loop_recovery() -> None:
    """A longer history: crash at start twice, run, crash, hang, operator stop."""
    h = Harness(spec(startretries=3, heartbeat_timeout=3.0, stopwaitsecs=1.0))
    h.send(Tick())
    for delay in (1.0, 2.0):
        h.send(Exited(1))
        h.wait(delay + 0.05)
    h.wait(1.1, heartbeat_age=0.0)
    assert h.state is S.RUNNING
    h.send(Exited(-11))
    h.wait(1.1, heartbeat_age=0.0)
    h.wait(3.5)  # no heartbeat since the respawn: hung; SIGTERM ignored, SIGKILL
    h.send(Exited(-9))
    h.wait(1.1, heartbeat_age=0.0)
    h.send(StopRequested())
    h.send(Exited(0))
    assert h.history == [
        (S.STOPPED, S.STARTING), (S.STARTING, S.BACKOFF), (S.BACKOFF, S.STARTING),
        (S.STARTING, S.BACKOFF), (S.BACKOFF, S.STARTING), (S.STARTING, S.RUNNING),
        (S.RUNNING, S.EXITED), (S.EXITED, S.STARTING), (S.STARTING, S.RUNNING),
        (S.RUNNING, S.STOPPING), (S.STOPPING, S.STOPPING), (S.STOPPING, S.EXITED),
        (S.EXITED, S.STARTING), (S.STARTING, S.RUNNING), (S.RUNNING, S.STOPPING),
        (S.STOPPING, S.STOPPED),
    ]
    assert h.signals == [Action.TERMINATE, Action.KILL, Action.TERMINATE]
    assert h.machine.status().restarts == 4


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"name": "bad name"}, "worker name"),
        ({"name": "all/x"}, "worker name"),
        ({"argv": ("x",)}, "exactly one"),
        ({"module": None}, "exactly one"),
        ({"module": None, "argv": ()}, "argv is empty"),
        ({"startsecs": -1}, "startsecs"),
        ({"startretries": -1}, "startretries"),
        ({"stopwaitsecs": 0}, "stopwaitsecs"),
        ({"backoff_base": 0}, "backoff_base"),
        ({"backoff_cap": 0.5}, "backoff_cap"),
        ({"heartbeat_timeout": 0}, "heartbeat_timeout"),
    ],
)
def test_spec_validation(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        spec(**overrides)


def test_spec_command_and_backoff_delays() -> None:
    program = spec(module="workers.trainer", args=("--run", "x"), backoff_cap=5.0)
    assert program.command()[1:] == ("-m", "workers.trainer", "--run", "x")
    assert [program.backoff_delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert spec(module=None, argv=("sleep", "1")).command() == ("sleep", "1")
    assert hash(spec(env={"A": "1"})) == hash(spec())  # hashable; env is not hashed
