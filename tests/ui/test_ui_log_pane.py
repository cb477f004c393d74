"""LogTail against real files (append, partial lines, rotation, truncation) and LogPane
through Pilot at 80×24 (follow, "+N new lines", End/f, filter, bounds, rotation, levels)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Log

from fxconsole.ui.widgets.log_pane import LogPane
from fxconsole.ui.widgets.log_tail import LogTail

SIZE = (80, 24)


def rec(i: int, level: str = "INFO", msg: str = "step") -> str:
    """A line as the workers' RotatingFileHandler formats it."""
    return f"2024-01-02 03:04:05,{i % 1000:03d} {level} workers.trainer: {msg} {i}\n"


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def records(start: int, stop: int, level: str = "INFO", msg: str = "step") -> str:
    return "".join(rec(i, level, msg) for i in range(start, stop))


# -- LogTail -------------------------------------------------------------------------------


def test_missing_file_then_created(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    tail = LogTail(path)
    assert tail.read_new() == []
    append(path, records(0, 3))
    assert tail.read_new() == [rec(i).rstrip("\n") for i in range(3)]
    append(path, records(3, 5))
    assert tail.read_new() == [rec(i).rstrip("\n") for i in range(3, 5)]
    assert tail.read_new() == []


@pytest.mark.parametrize(("n_lines", "pad"), [(5, 10), (1000, 10), (3000, 200)])
def test_first_read_starts_at_the_last_lines(tmp_path: Path, n_lines: int, pad: int) -> None:
    path = tmp_path / "w.log"
    append(path, records(0, n_lines, msg="x" * pad))
    tail = LogTail(path, max_lines=20)
    got = tail.read_new()
    assert got == [rec(i, msg="x" * pad).rstrip("\n") for i in range(max(0, n_lines - 20), n_lines)]


def test_partial_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    append(path, "first\nsec")
    tail = LogTail(path)
    assert tail.read_new() == ["first"]
    append(path, "ond\r\nthi")
    assert tail.read_new() == ["second"]
    append(path, "rd \xff\n")
    assert tail.read_new() == ["third \xff"]


def test_long_line_without_newline_comes_in_pieces(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    tail = LogTail(path, max_line_bytes=10)
    append(path, "a" * 25)
    assert tail.read_new() == ["a" * 10, "a" * 10]
    append(path, "\n")
    assert tail.read_new() == ["a" * 5]


def test_burst_keeps_the_newest_max_lines(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    tail = LogTail(path, max_lines=10, chunk_bytes=256)
    assert tail.read_new() == []
    append(path, records(0, 500))
    assert tail.read_new() == [rec(i).rstrip("\n") for i in range(490, 500)]


def test_rotation_by_rename_finishes_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    append(path, records(0, 3))
    tail = LogTail(path)
    assert len(tail.read_new()) == 3
    append(path, records(3, 5) + "unterminated")
    path.rename(tmp_path / "w.log.1")
    assert tail.read_new() == [rec(i).rstrip("\n") for i in (3, 4)]  # path missing: drain
    append(path, records(5, 7))
    got = tail.read_new()
    assert got == ["unterminated"] + [rec(i).rstrip("\n") for i in (5, 6)]
    assert tail.rotations == 1


def test_truncation_rereads_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    append(path, records(0, 10))
    tail = LogTail(path)
    assert len(tail.read_new()) == 10
    with path.open("w", encoding="utf-8") as f:  # truncate in place (same inode)
        f.write(rec(99))
    assert tail.read_new() == [rec(99).rstrip("\n")]
    assert tail.truncations == 1


def test_rotating_file_handler_loses_no_line(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    handler = RotatingFileHandler(path, maxBytes=2000, backupCount=3)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("test_ui_log_pane.rotation")
    log.propagate = False
    log.addHandler(handler)
    tail = LogTail(path)
    got: list[str] = []
    try:
        for i in range(1000):
            log.warning("line %d", i)
            if i % 7 == 0:  # a read every ~120 bytes: at most one rotation between reads
                got += tail.read_new()
    finally:
        log.removeHandler(handler)
        handler.close()
    got += tail.read_new()
    assert got == [f"WARNING line {i}" for i in range(1000)]
    assert tail.rotations >= 5


# -- LogPane through Pilot -----------------------------------------------------------------


class PaneApp(App[None]):
    def __init__(self, path: Path | None, **kwargs: object) -> None:
        super().__init__()
        self.pane = LogPane(path, "trainer", poll_interval=0.05, **kwargs)  # type: ignore[arg-type]
        self.requests: list[LogPane.FilterRequested] = []

    def compose(self) -> ComposeResult:
        yield self.pane

    def on_mount(self) -> None:
        self.pane.focus()

    def on_log_pane_filter_requested(self, message: LogPane.FilterRequested) -> None:
        self.requests.append(message)


async def until(pilot: Pilot[None], cond: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "condition not met in time"
        await pilot.pause(0.02)


def run_app(app: PaneApp, body: Callable[[Pilot[None], PaneApp], Awaitable[None]]) -> None:
    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await body(pilot, app)

    asyncio.run(main())


def shown(app: PaneApp) -> list[str]:
    return [line + "\n" for line in app.pane.shown_lines]


def test_appended_lines_appear(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    append(path, records(0, 5))

    async def body(pilot: Pilot[None], app: PaneApp) -> None:
        await until(pilot, lambda: len(app.pane.shown_lines) == 5)
        append(path, records(5, 40))
        await until(pilot, lambda: len(app.pane.shown_lines) == 40)
        assert shown(app) == [rec(i) for i in range(40)]
        log = app.query_one(Log)
        assert app.pane.following and log.is_vertical_scroll_end
        assert app.pane.border_title == "trainer"
        assert "following" in (app.pane.border_subtitle or "")

    run_app(PaneApp(path), body)


@pytest.mark.parametrize("resume_key", ["end", "f"])
def test_scrolling_up_pauses_and_counts_then_key_resumes(tmp_path: Path, resume_key: str) -> None:
    path = tmp_path / "w.log"
    append(path, records(0, 100))

    async def body(pilot: Pilot[None], app: PaneApp) -> None:
        log = app.query_one(Log)
        await until(pilot, lambda: len(app.pane.shown_lines) == 100 and log.is_vertical_scroll_end)
        await pilot.press("pageup")
        await until(pilot, lambda: not app.pane.following)
        top = log.scroll_y
        append(path, records(100, 107))
        await until(pilot, lambda: app.pane.pending == 7)
        assert "+7 new lines" in (app.pane.border_subtitle or "")
        assert log.scroll_y == top  # the view stays where the user put it
        await pilot.press(resume_key)
        await pilot.pause()
        assert app.pane.following and app.pane.pending == 0
        assert log.is_vertical_scroll_end and "following" in (app.pane.border_subtitle or "")
        append(path, records(107, 120))
        await until(pilot, lambda: len(app.pane.shown_lines) == 120)
        await pilot.pause()
        assert log.is_vertical_scroll_end

    run_app(PaneApp(path), body)


def test_scrolling_back_to_the_end_resumes(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    append(path, records(0, 60))

    async def body(pilot: Pilot[None], app: PaneApp) -> None:
        await until(pilot, lambda: len(app.pane.shown_lines) == 60)
        await pilot.press("up", "up")
        await until(pilot, lambda: not app.pane.following)
        await pilot.press("down", "down")
        await until(pilot, lambda: app.pane.following)

    run_app(PaneApp(path), body)


def test_filter_hides_and_restores(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    append(path, records(0, 30) + records(30, 33, "ERROR", "Broker Down"))

    async def body(pilot: Pilot[None], app: PaneApp) -> None:
        await until(pilot, lambda: len(app.pane.shown_lines) == 33)
        app.pane.set_filter("broker down")
        assert shown(app) == [rec(i, "ERROR", "Broker Down") for i in range(30, 33)]
        assert "/broker down" in (app.pane.border_subtitle or "")
        append(path, records(33, 40) + rec(40, "ERROR", "broker DOWN again"))
        await until(pilot, lambda: len(app.pane.shown_lines) == 4)
        app.pane.set_filter("")
        assert shown(app) == [rec(i) for i in range(30)] + [
            rec(i, "ERROR", "Broker Down") for i in range(30, 33)
        ] + [rec(i) for i in range(33, 40)] + [rec(40, "ERROR", "broker DOWN again")]

    run_app(PaneApp(path), body)


def test_slash_asks_the_app_for_a_filter(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    append(path, records(0, 10) + rec(10, "WARNING", "spread wide"))

    async def body(pilot: Pilot[None], app: PaneApp) -> None:
        await until(pilot, lambda: len(app.pane.shown_lines) == 11)
        app.pane.set_filter("abc")
        await pilot.press("slash")
        await until(pilot, lambda: len(app.requests) == 1)
        assert app.requests[0].pane is app.pane and app.requests[0].current == "abc"
        app.requests[0].pane.set_filter("SPREAD")  # what the app does with its prompt
        assert shown(app) == [rec(10, "WARNING", "spread wide")]

    run_app(PaneApp(path), body)


def test_memory_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    append(path, records(0, 80))

    async def body(pilot: Pilot[None], app: PaneApp) -> None:
        await until(pilot, lambda: app.pane.shown_lines[-1:] == [rec(79).rstrip("\n")])
        assert len(app.pane.shown_lines) == 50  # the first read took only the last 50
        for start in range(80, 400, 40):
            append(path, records(start, start + 40))
            await pilot.pause(0.03)
        await until(pilot, lambda: app.pane.shown_lines[-1:] == [rec(399).rstrip("\n")])
        assert shown(app) == [rec(i) for i in range(350, 400)]
        assert len(app.pane.retained_lines) == 50

    run_app(PaneApp(path, max_lines=50), body)


def test_paused_view_stays_on_its_lines_while_old_ones_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    append(path, records(0, 50))

    async def body(pilot: Pilot[None], app: PaneApp) -> None:
        log = app.query_one(Log)
        await until(pilot, lambda: len(app.pane.shown_lines) == 50 and log.is_vertical_scroll_end)
        await pilot.press("pageup")
        await until(pilot, lambda: not app.pane.following)
        await pilot.pause(0.3)  # let the page-up animation finish
        top_line = app.pane.shown_lines[round(log.scroll_y)]
        append(path, records(50, 55))
        await until(pilot, lambda: app.pane.pending == 5)
        assert len(app.pane.shown_lines) == 50
        assert app.pane.shown_lines[round(log.scroll_y)] == top_line

    run_app(PaneApp(path, max_lines=50), body)


def test_rotation_continues(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    append(path, records(0, 5))

    async def body(pilot: Pilot[None], app: PaneApp) -> None:
        await until(pilot, lambda: len(app.pane.shown_lines) == 5)
        append(path, records(5, 8))
        os.rename(path, tmp_path / "w.log.1")
        append(path, records(8, 12))
        await until(pilot, lambda: len(app.pane.shown_lines) == 12)
        assert shown(app) == [rec(i) for i in range(12)]

    run_app(PaneApp(path), body)


def test_set_source_switches_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    append(first, records(0, 3))
    append(second, records(100, 102))

    async def body(pilot: Pilot[None], app: PaneApp) -> None:
        await until(pilot, lambda: len(app.pane.shown_lines) == 3)
        app.pane.set_source(second, "collector")
        await until(pilot, lambda: shown(app) == [rec(100), rec(101)])
        assert app.pane.border_title == "collector" and app.pane.source == second
        app.pane.set_source(None)
        await pilot.pause(0.1)
        assert app.pane.shown_lines == [] and app.pane.source is None

    run_app(PaneApp(first), body)


def test_levels_are_styled(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    levels = ["ERROR", "WARNING", "INFO", "DEBUG", "CRITICAL"]
    append(path, "".join(rec(i, level) for i, level in enumerate(levels)))

    async def body(pilot: Pilot[None], app: PaneApp) -> None:
        await until(pilot, lambda: len(app.pane.shown_lines) == 5)
        log = app.query_one(Log)
        styles = []
        for y in range(5):
            segments = list(log.render_line(y))
            segment = next(s for s in segments if "step" in s.text)  # the message
            level_seg = next(s for s in segments if levels[y] in s.text)
            assert segment.style is not None and level_seg.style is not None
            color = segment.style.color
            styles.append((color.name if color else None, segment.style.dim,
                           level_seg.style.bold))
        assert styles[0][0] == "red" and styles[0][2]
        assert styles[1][0] == "yellow" and styles[1][2]
        assert styles[2][0] not in ("red", "yellow") and not styles[2][1] and not styles[2][2]
        assert styles[3][1]
        assert styles[4][0] == "red" and styles[4][2]

    run_app(PaneApp(path), body)


def test_lines_read_does_not_bubble() -> None:
    message: Message = LogPane.LinesRead(0, [], None)
    assert not message.bubble


def test_switching_sources_keeps_one_chain_of_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[LogTail] = []
    original = LogTail.read_new

    def counting(self: LogTail) -> list[str]:
        reads.append(self)
        return original(self)

    monkeypatch.setattr(LogTail, "read_new", counting)

    async def body(pilot: Pilot[None], app: PaneApp) -> None:
        for i in range(5):
            await pilot.pause(0.03)
            app.pane.set_source(tmp_path / f"{i}.log")
        reads.clear()
        await pilot.pause(0.5)
        assert len(reads) <= 12  # 0.5 s / 0.05 s; every switch adding a chain would be ~50

    run_app(PaneApp(tmp_path / "w.log"), body)
