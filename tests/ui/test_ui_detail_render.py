"""The detail views' pure renderings and the reads behind them (no app)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console, RenderableType
from ui_support import SHA, T0, Store

from fxconsole.ops.commands import Command
from fxconsole.ops.queries import EventRow, TradeRow, ValidationRow
from fxconsole.ui import reads
from fxconsole.ui.screens import detail_render as render


def text_of(renderable: RenderableType, width: int = 100) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, no_color=True)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize(("seconds", "shown"), [
    (None, "—"), (-1.0, "—"), (45.0, "45s"), (720.0, "12m"), (11_100.0, "3h 05m"),
    (187_200.0, "2d 04h")])
def test_duration(seconds: float | None, shown: str) -> None:
    assert render.duration(seconds) == shown


def test_times_carry_their_zone() -> None:
    assert render.when(T0) == "2023-11-14 22:13:20 UTC"
    assert render.when(T0, "Europe/London") == "2023-11-14 22:13:20 GMT"
    assert render.when(None) == "—"


def test_worker_history_merges_events_and_commands_newest_first(tmp_path: Path) -> None:
    detail = reads.WorkerDetail(
        "trainer", None,
        (EventRow(2, T0 - 60, "error", "supervisor", "worker-fatal", "trainer is FATAL", {}),
         EventRow(1, T0 - 600, "warning", "supervisor", "worker-exited", "trainer exited", {})),
        (Command(7, T0 - 300, "supervisor", "restart", {"worker": "trainer"}, "done",
                 "restart trainer: requested", T0 - 299, "ui"),),
        tmp_path / "trainer.log", (), tmp_path / "trainer.out", ("boom",))
    text = text_of(render.worker_detail(detail, T0))
    fatal, restart, exited = (text.index(s) for s in
                              ("trainer is FATAL", "restart (ui): done", "trainer exited"))
    assert fatal < restart < exited
    assert "not in the workers table" in text and "no log yet" in text and "boom" in text


def test_examinations_mark_pass_and_fail_in_words_not_colour() -> None:
    rows = [ValidationRow(2, T0, "main", SHA[0], 10, "test", False, -0.4, None, 0, None, {}),
            ValidationRow(1, T0 - 60, "main", SHA[0], 10, "validation", True, 1.86, 2.4, 312,
                          "r.json", {})]
    text = text_of(render.examinations(rows))
    assert "✗ failed" in text and "✓ passed" in text
    assert "-0.40" in text and "+1.86" in text and "—" in text  # undefined expectancy


def test_pinned_window_of_an_unpinned_checkpoint() -> None:
    assert "not pinned" in text_of(render.pinned_window({}))


def test_trade_detail_without_times_uses_dashes() -> None:
    t = TradeRow(9, T0, "main", "live", "live", "short", None, None, 190.0, None, None, None,
                 None, False, None)
    text = text_of(render.trade_detail(t))
    assert "#9 of main (live, by live)" in text and "at 190.000" in text
    assert "duration      —" in text and "forced        no" in text


def test_tail_lines_reads_only_the_end(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text("".join(f"line {i}\n" for i in range(20_000)))
    assert reads.tail_lines(path, 3) == ("line 19997", "line 19998", "line 19999")
    assert reads.tail_lines(tmp_path / "missing.log", 3) == ()


def test_checkpoint_read_prefers_an_immutable_tags_manifest(store: Store) -> None:
    detail = reads.read_checkpoint(store.conn, store.ws, SHA[1])
    assert detail.tags[0] == "periodic-000001000000"  # not best or deployed
    assert detail.manifest_path == Path("checkpoints/main/periodic-000001000000.json")
    assert detail.manifest is None and detail.manifest_error == "the file is missing"
    assert [v.split for v in detail.validations] == ["validation"]
    assert detail.report_path == Path(f"reports/{SHA[1][:12]}/report.json")
    assert detail.chart_path is None
