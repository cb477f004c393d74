"""Headless mode's event lines: warnings, errors and validation verdicts, each once."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from fxconsole.cli.event_lines import EventLines, event_line
from fxconsole.ops.db import connect
from fxconsole.ops.queries import EventRow
from fxconsole.ops.writer import MetricsWriter

from system_support import FXCONSOLE, wait_for, workers  # isort: skip


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


HEADLESS = """
[synth]
years = 0.1
[supervisor]
collectors = 0
validator = false
live = false
status_seconds = 60.0
[ppo]
n_envs = 2
n_steps = 128
batch_size = 64
n_epochs = 1
"""


@pytest.mark.slow
def test_the_headless_supervisor_prints_new_events(tmp_path: Path) -> None:
    (tmp_path / "fxconsole.toml").write_text(HEADLESS)
    out = tmp_path / "supervisor.out"
    with out.open("w") as log:
        proc = subprocess.Popen([FXCONSOLE, "--workspace", str(tmp_path), "run", "--no-ui"],
                                stdout=log, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            # the workers start after the event lines began following
            wait_for("the supervisor's trainer", lambda: "trainer" in workers(tmp_path), 120)
            conn = connect(tmp_path / "data" / "console.sqlite")
            writer = MetricsWriter(conn, "main", "live")
            writer.event("warning", "kill-switch", "kill switch engaged")
            writer.event("info", "deploy", "live trades main/latest")
            writer.event("info", "validation", "main @ 4,096: VALIDATED", {"validated": True})
            writer.flush()
            conn.close()
            wait_for("the event lines", lambda: "VALIDATED" in out.read_text(), 30)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    text = out.read_text()
    assert " !WARNING live kill-switch: kill switch engaged" in text
    assert " !INFO    live validation: main @ 4,096: VALIDATED" in text
    assert "live trades main/latest" not in text
    assert proc.returncode == 0
