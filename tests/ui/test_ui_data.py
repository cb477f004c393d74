"""The console's data layer and pure helpers: snapshot, requests, formats, box plot."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from ui_support import RUN, SHA, T0, Store, fake_probe

from fxconsole.config import Config, with_overrides
from fxconsole.ops.commands import SUPERVISOR, enqueue
from fxconsole.ui import control
from fxconsole.ui import format as fmt
from fxconsole.ui.data import ConsoleSnapshot, ProcessProbe, ReportCache, read_snapshot
from fxconsole.ui.widgets.validation import boxplot


def snap(store: Store, now: float = T0) -> ConsoleSnapshot:
    return read_snapshot(store.conn, RUN, store.ws, clock=lambda: now, probe=fake_probe)


def test_snapshot_gathers_what_the_screens_show(store: Store) -> None:
    s = snap(store)
    assert s.taken == T0 and s.run == RUN
    assert [w.name for w in s.workers] == ["collector-1", "live", "trainer", "validator"]
    trainer = s.worker("trainer")
    assert trainer is not None and trainer.cpu_percent == 4101 % 97
    validator = s.worker("validator")
    assert validator is not None and validator.cpu_percent is None  # FATAL: no process
    assert s.value("train/timesteps") == 1_250_000 and s.value("missing") is None
    assert s.live["realised_pips"] == pytest.approx(312.4)
    assert len(s.series["rollout/expectancy"]) == 60
    assert s.series["rollout/win_rate"][0][0] == 20_000
    assert [c.timesteps for c in s.checkpoints] == [1_250_000, 1_000_000, 750_000]
    best = s.checkpoints[1]
    assert set(best.tags) == {"best", "deployed", "periodic-000001000000"}
    assert (best.validated, best.val_sqn, best.train_sqn) == (True, 1.86, 1.31)
    assert best.spec == f"{RUN}/models/000001000000-{SHA[1][:12]}.zip"
    assert s.checkpoints[2].validated is False and s.checkpoints[0].validated is None
    assert [c.status for c in s.checkpoints] == [
        "never validated", "passed validation, not yet examined on the test split",
        "failed validation"]
    assert not any(c.is_validated for c in s.checkpoints)
    assert s.best_sqn == 1.86
    assert s.validation is not None and s.validation.report is not None
    assert s.validation.report["policy"]["sqn"] == 1.86
    assert [t.pips for t in s.live_trades] == [22.1, -6.5, 14.0]
    assert [e.level for e in s.events] == ["error", "warning", "info"]
    assert s.updated == T0 - 1
    assert s.worker_for_role("trainer") == "trainer" and s.worker_for_role("x") == "x"


def test_stale_only_when_workers_should_be_writing(store: Store) -> None:
    assert snap(store).stale_age(T0) is None
    assert snap(store).stale_age(T0 + 30) == pytest.approx(31)
    empty = Store(store.ws.root.parent / "empty")
    assert snap(empty).stale_age(T0) is None  # nothing runs, nothing is expected
    empty.worker("trainer", "trainer", beat=None)
    assert snap(empty).stale_age(T0) == math.inf


def test_an_unreadable_report_is_reported_not_raised(store: Store) -> None:
    path = store.ws.root / "reports" / SHA[1][:12] / "report.json"
    path.write_text("{not json")
    v = snap(store).validation
    assert v is not None and v.report is None and "report unreadable" in v.report_error
    assert v.row.summary["verdict"]["validated"] is True


def test_report_cache_rereads_only_a_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"a": 1}')
    cache = ReportCache()
    first = cache.load(path)
    assert cache.load(path) is first
    path.write_text('{"a": 22}')
    assert cache.load(path) == {"a": 22}
    path.write_text("[1]")
    with pytest.raises(ValueError):
        cache.load(path)


def test_process_probe_measures_this_process() -> None:
    import os

    probe = ProcessProbe()
    cpu, rss = probe(os.getpid())
    assert cpu is None and rss and rss > 0  # no CPU figure on the first sample
    cpu, _ = probe(os.getpid())
    assert cpu is not None and cpu >= 0
    assert probe(2**22 + 12345) == (None, None)
    probe.keep(set())


def test_requests_name_their_targets(store: Store) -> None:
    s = snap(store)
    assert control.lifecycle("restart", "live") == control.Request(SUPERVISOR, "restart",
                                                                   {"worker": "live"})
    stop = control.lifecycle("stop", "live")
    assert "live" in stop.confirm and stop.title == "stop live"
    assert control.checkpoint_now(s).target == "trainer"
    spec = {"checkpoint": s.checkpoints[2].spec}
    both = control.rollback_requests(s, s.checkpoints[2], "both")
    assert [(r.target, r.verb, dict(r.args)) for r in both] == [
        ("trainer", "rollback-to", spec), ("live", "deploy", spec)]
    assert [r.target for r in control.rollback_requests(s, s.checkpoints[2], "live")] == ["live"]
    assert control.rollback_requests(s, s.checkpoints[2], "") == []
    question = control.rollback_question(s, s.checkpoints[2])
    assert "750,000" in question and "trainer" in question and "live" in question
    assert "not passed validation" in control.deploy(s, s.checkpoints[2]).confirm
    assert "not been validated" in control.deploy(s, s.checkpoints[0]).confirm
    assert ("is [b]not validated[/b] (passed validation, not yet examined on the test split)"
            in control.deploy(s, s.checkpoints[1]).confirm)
    store.test_exam(SHA[1], 1_000_000, True)
    validated = snap(store).checkpoints[1]
    assert validated.is_validated
    assert "validat" not in control.deploy(s, validated).confirm.lower()
    assert control.kill_switch(s).verb == "kill-switch"
    store.metrics(5121, {"live/kill_switch": 1}, worker="live")
    assert control.kill_switch(snap(store)).verb == "resume-entries"
    assert control.entries(None, pause=True) == control.Request("live", "pause-entries")


OANDA = with_overrides(Config(), "live", broker="oanda")


def test_a_deploy_to_oanda_of_an_unvalidated_checkpoint_asks_again_and_forces(
        store: Store) -> None:
    s = snap(store)
    unvalidated = s.checkpoints[2]
    assert control.deploy(s, unvalidated).override is None  # paper: one question
    assert control.deploy(s, unvalidated, Config()).override is None
    first = control.deploy(s, unvalidated, OANDA)
    assert dict(first.args) == {"checkpoint": unvalidated.spec}
    second = first.override
    assert second is not None and second.override is None
    assert dict(second.args) == {"checkpoint": unvalidated.spec, "force": True}
    assert second.confirm.startswith("[b]NOT VALIDATED[/b] — [b]main @ 750,000 steps")
    assert ("This skips the promotion rule (validation, deflated SQN, test exam); deploy to "
            "the [b]OANDA practice[/b] account anyway?") in second.confirm
    assert second.confirm_label == "Deploy anyway" and first.confirm_label == "Deploy"
    live = with_overrides(OANDA, "oanda", environment="live")
    assert "[b]OANDA live[/b] account" in str(getattr(
        control.deploy(s, unvalidated, live).override, "confirm", ""))
    [rollback] = control.rollback_requests(s, unvalidated, "live", OANDA)
    assert rollback.confirm == "" and rollback.override == second
    store.test_exam(SHA[2], 750_000, True)
    validated = snap(store).checkpoints[2]
    assert control.deploy(s, validated, OANDA).override is None
    assert control.rollback_requests(s, validated, "live", OANDA)[0].override is None


def test_the_live_worker_reporting_oanda_counts_as_oanda(store: Store) -> None:
    store.live_state({"broker": {"name": "oanda", "instrument": "GBP_JPY"}})
    s = snap(store)
    assert control.oanda_environment(s, Config()) == "practice"
    assert control.deploy(s, s.checkpoints[2], Config()).override is not None


def test_training_paused_follows_the_newest_finished_command(store: Store) -> None:
    assert control.pause_or_resume(snap(store)).verb == "pause"
    pause = enqueue(store.conn, "trainer", "pause", issued_by="ui", clock=lambda: T0)
    assert not control.training_paused(snap(store))  # still pending
    store.finish(pause, True, "paused")
    assert control.training_paused(snap(store))
    assert control.pause_or_resume(snap(store)).verb == "resume"
    store.worker("trainer", "trainer", pid=4200, started=T0 + 1)  # restarted since
    assert not control.training_paused(snap(store))


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "—"), (-3, "0s"), (59.6, "60s"), (150, "2m"), (7300, "2h"), (200_000, "2d")])
def test_age(seconds: float | None, text: str) -> None:
    assert fmt.age(seconds) == text


def test_number_formats() -> None:
    assert [fmt.si(v) for v in (None, 950, 12_345, 4_560_000)] == ["—", "950", "12.3k", "4.56M"]
    assert (fmt.pct(0.523), fmt.pips(12.25), fmt.mem(812 * 2**20), fmt.mem(3 * 2**30)) == (
        "52.3%", "+12.2", "812M", "3.0G")


def test_boxplot_marks_percentiles_and_zero() -> None:
    box, scale = boxplot({"p5": -100, "p25": 0, "p50": 100, "p75": 200, "p95": 300}, width=9)
    assert box == "├─━━┃━━─┤"
    assert scale.startswith("-100") and scale.endswith("+300")
    box, _ = boxplot({"p5": 100, "p25": 200, "p50": 300, "p75": 400, "p95": 500}, width=11)
    assert box[0] == "┊" and box[-1] == "┤"  # zero lies left of the whole range


def test_training_paused_is_what_the_trainer_reports(store: Store) -> None:
    store.worker("trainer", "trainer", pid=4101, info={"paused": True})
    assert control.training_paused(snap(store))  # no command needed: the trainer says so
    assert control.pause_or_resume(snap(store)).verb == "resume"
    pause = enqueue(store.conn, "trainer", "pause", issued_by="ui", clock=lambda: T0)
    store.finish(pause, True, "paused")
    store.worker("trainer", "trainer", pid=4101, info={"paused": False})
    assert not control.training_paused(snap(store))  # the report wins over the command
