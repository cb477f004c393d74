"""Issue 17 defect 15, the pure rule: a start/restart command is done once its workers
are RUNNING (a restart: with a new start time), failed when one is FATAL or time is up."""

from __future__ import annotations

from fxconsole.ops.lifecycle_wait import LifecycleWait, wait_limit
from fxconsole.ops.states import WorkerState as S
from fxconsole.ops.states import WorkerStatus


def status(name: str, state: S, started: float | None = None, pid: int | None = None,
           reason: str = "") -> WorkerStatus:
    return WorkerStatus(name, state, pid=pid, started_at=started, reason=reason)


def test_restart_waits_for_a_new_running_process() -> None:
    wait = LifecycleWait.taken(7, "restart", "trainer", [status("trainer", S.RUNNING, 100.0)],
                               now=0.0, limit=30.0)
    # the old process still RUNNING (the supervisor has not acted yet) is not "back"
    assert wait.outcome({"trainer": status("trainer", S.RUNNING, 100.0)}, 1.0) is None
    assert wait.outcome({"trainer": status("trainer", S.STOPPING, 100.0)}, 2.0) is None
    assert wait.outcome({"trainer": status("trainer", S.STARTING, 150.0)}, 3.0) is None
    ok, text = wait.outcome({"trainer": status("trainer", S.RUNNING, 150.0, 42)}, 4.0) or (0, "")
    assert ok is True and text == "restart trainer: RUNNING (trainer pid 42)"


def test_start_of_a_running_worker_is_done_at_once_and_all_waits_for_every_one() -> None:
    running = status("a", S.RUNNING, 5.0, 1)
    assert LifecycleWait.taken(1, "start", "a", [running], 0.0, 9.0).outcome(
        {"a": running}, 0.0) == (True, "start a: RUNNING (a pid 1)")
    both = LifecycleWait.taken(2, "start", "all", [status("a", S.STOPPED),
                                                   status("b", S.STOPPED)], 0.0, 9.0)
    assert both.outcome({"a": running, "b": status("b", S.STARTING, 6.0)}, 1.0) is None


def test_fatal_or_late_workers_fail_the_command_with_the_reason() -> None:
    wait = LifecycleWait.taken(3, "restart", "live", [status("live", S.RUNNING, 1.0)], 0.0, 10.0)
    assert wait.outcome({"live": status("live", S.FATAL, 2.0, reason="ConfigError: bad")},
                        3.0) == (False, "restart live: live is FATAL: ConfigError: bad")
    late = wait.outcome({"live": status("live", S.BACKOFF, 2.0)}, 10.0)
    assert late == (False, "restart live: not RUNNING in time (live BACKOFF)")


def test_the_limit_covers_the_stop_and_every_start_attempt() -> None:
    assert wait_limit(10.0, 3.0, 3) > 10.0 + 4 * 3.0
