"""Headless mode's event lines: warnings, errors and validation verdicts, each once."""

from __future__ import annotations

from pathlib import Path

from fxconsole.cli.event_lines import EventLines, event_line
from fxconsole.ops.db import connect
from fxconsole.ops.queries import EventRow
from fxconsole.ops.writer import MetricsWriter


def row(level: str, kind: str, data: dict[str, object] | None = None) -> EventRow:
    return EventRow(1, 1_700_000_000.0, level, "trainer", kind, "text", data or {})


def test_lines_show_warnings_errors_and_verdicts() -> None:
    assert event_line(row("info", "deploy")) is None
    assert event_line(row("info", "risk")) is None
    line = event_line(row("error", "worker-stalled"))
    assert line is not None and line.endswith("  ERROR   trainer worker-stalled: text")
    verdict = event_line(row("info", "validation", {"validated": False}))
    assert verdict is not None and "INFO    trainer validation: text" in verdict
    validated = event_line(row("info", "validation", {"validated": True}))
    assert validated is not None and " !INFO " in validated  # it notifies


def test_each_new_event_is_printed_once_and_history_never(tmp_path: Path) -> None:
    conn = connect(tmp_path / "console.sqlite")
    writer = MetricsWriter(conn, "main", "live")
    writer.event("error", "reconcile", "old mismatch")
    writer.flush()
    lines = EventLines(conn)
    assert lines.poll(conn) == []
    writer.event("warning", "kill-switch", "kill switch engaged")
    writer.event("info", "deploy", "live trades main/latest")
    writer.event("error", "risk", "daily loss limit reached")
    writer.flush()
    printed = lines.poll(conn)
    assert [line.split(" live ", 1)[1] for line in printed] == [
        "kill-switch: kill switch engaged", "risk: daily loss limit reached"]
    assert lines.poll(conn) == []
    conn.close()
