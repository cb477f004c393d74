"""What each detail view shows, as Rich renderables (pure: data in, text out).

Meaning is carried by words and marks (✓ ✗, state names), never by colour alone, so the
views read the same under NO_COLOR; styles are bold and dim only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from fxconsole import numfmt
from fxconsole.ops.commands import Command
from fxconsole.ops.queries import EventRow, TradeRow, ValidationRow
from fxconsole.ui import format as fmt
from fxconsole.ui.data import CheckpointView
from fxconsole.ui.reads import CheckpointDetail, WorkerDetail
from fxconsole.ui.where import stamp, zone, zone_label

DASH = numfmt.UNDEFINED
PASS, FAIL = "✓", "✗"


def when(ts: float | None, tz: str = "UTC") -> str:
    """``2023-11-14 22:13:20 UTC``: the full date and time of UNIX ``ts`` in ``tz``."""
    if ts is None:
        return DASH
    at = datetime.fromtimestamp(ts, UTC)
    return f"{at.astimezone(zone(tz)):%Y-%m-%d %H:%M:%S} {zone_label(tz, ts)}"


def short_time(ts: float | None, tz: str = "UTC") -> str:
    """``11-14 22:13`` in ``tz`` (the zone is named in the heading)."""
    return DASH if ts is None else stamp(datetime.fromtimestamp(ts, UTC), tz)


def duration(seconds: float | None) -> str:
    """``45s``, ``12m``, ``3h 05m``, ``2d 04h`` (None: a dash)."""
    if seconds is None or seconds < 0:
        return DASH
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86_400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86_400}d {s % 86_400 // 3600:02d}h"


def section(title: str) -> Text:
    """A section heading."""
    return Text(f"\n{title}", style="bold")


def fields(pairs: Iterable[tuple[str, str | Text]]) -> Table:
    """A two-column grid: dim label, value (long values wrap)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in pairs:
        grid.add_row(label, value)
    return grid


def lines_block(lines: Sequence[str], empty: str) -> Text:
    """Lines shown as they are (no markup), or ``empty`` dimmed."""
    if not lines:
        return Text(empty, style="dim")
    return Text("\n".join(lines), no_wrap=True, overflow="ellipsis")


def pretty_json(data: Any) -> Text:
    """Indented JSON with sorted keys (``{}`` for nothing)."""
    return Text(json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False))


# -- a worker --------------------------------------------------------------------------


def worker_history(d: WorkerDetail, tz: str = "UTC") -> Table:
    """Events about the worker and commands to it, newest first, in one list."""
    items: list[tuple[float, str, str]] = []
    for e in d.events:
        items.append((e.ts, f"{e.level} {e.kind}", e.message))
    for c in d.commands:
        verb = f"{c.verb} ({c.issued_by or 'cli'})"
        items.append((c.created, "command", f"{verb}: {c.state}"
                      + (f", {c.result}" if c.result else "")))
    items.sort(key=lambda item: -item[0])
    table = Table(box=None, padding=(0, 1), show_edge=False)
    table.add_column(f"time ({zone_label(tz, d.events[0].ts if d.events else 0.0)})",
                     no_wrap=True)
    table.add_column("what", no_wrap=True)
    table.add_column("message", overflow="fold")
    for ts, what, message in items:
        table.add_row(short_time(ts, tz), what, message)
    return table


def worker_detail(d: WorkerDetail, now: float, tz: str = "UTC") -> RenderableType:
    """State, history, and the tails of the log and of the ``.out`` file."""
    r = d.row
    parts: list[RenderableType] = []
    if r is None:
        parts.append(Text(f"{d.name} is not in the workers table (any more)."))
    else:
        running = r.state in ("STARTING", "RUNNING", "STOPPING")
        beat = None if r.heartbeat_ts is None else now - r.heartbeat_ts
        parts.append(fields([
            ("state", Text(r.state, style="bold")), ("role", r.role),
            ("pid", numfmt.num(r.pid) if r.pid is not None else DASH),
            ("started", when(r.started, tz)),
            ("uptime", duration(now - r.started) if running and r.started else DASH),
            ("stopped", when(r.stopped, tz) if not running else DASH),
            ("restarts", numfmt.count(r.restarts)),
            ("exit code", DASH if r.exit_code is None else str(r.exit_code)),
            ("heartbeat", f"{fmt.age(beat)} ago, step {numfmt.count(r.heartbeat_step)}"
             if beat is not None else DASH),
            ("message", r.message or DASH),
            ("last failure", d.reason or DASH),
        ]))
    parts.append(section("History (events and commands, newest first)"))
    parts.append(worker_history(d, tz) if d.events or d.commands
                 else Text("nothing recorded", style="dim"))
    parts.append(section(f"Log: {d.log_path} (last {len(d.log_tail)} lines)"))
    parts.append(lines_block(d.log_tail, "no log yet"))
    parts.append(section(f"Output: {d.out_path} (last {len(d.out_tail)} lines)"))
    parts.append(lines_block(d.out_tail, "no output file"))
    return Group(*parts)


# -- an event --------------------------------------------------------------------------


def event_detail(e: EventRow, now: float, tz: str = "UTC") -> RenderableType:
    """The whole message and the event's data."""
    return Group(
        fields([("time", f"{when(e.ts, tz)} ({fmt.age(now - e.ts)} ago)"),
                ("level", Text(e.level, style="bold" if e.level != "info" else "")),
                ("source", e.source), ("kind", e.kind), ("id", str(e.id))]),
        section("Message"), Text(e.message),
        section("Data"), pretty_json(e.data) if e.data else Text("none", style="dim"),
    )


# -- a command -------------------------------------------------------------------------


def command_detail(c: Command, now: float, tz: str = "UTC") -> RenderableType:
    """Who asked what of whom, how it ended, and its arguments."""
    return Group(
        fields([("command", f"#{c.id}: {c.verb} → {c.target}"),
                ("issued", f"{when(c.created, tz)} ({fmt.age(now - c.created)} ago) by "
                           f"{c.issued_by or DASH}"),
                ("state", Text(c.state, style="bold")),
                ("updated", when(c.updated, tz))]),
        section("Result"), Text(c.result or "none yet", style="" if c.result else "dim"),
        section("Arguments"), pretty_json(c.args) if c.args else Text("none", style="dim"),
    )


# -- a checkpoint ----------------------------------------------------------------------


def pinned_window(pinned: Mapping[str, Any]) -> Table | Text:
    """The splits a run is pinned to (train, validation, test) and its gate."""
    iso = pinned.get("iso")
    if not isinstance(iso, Mapping):
        return Text("not pinned (an older checkpoint)", style="dim")
    pairs = [("symbol", f"{pinned.get('symbol', DASH)} {pinned.get('timeframe', '')}".strip()),
             ("train", f"{iso.get('t0', DASH)} → {iso.get('b1', DASH)}"),
             ("validation", f"{iso.get('b1', DASH)} → {iso.get('b2', DASH)}"),
             ("test", f"{iso.get('b2', DASH)} → {iso.get('t1', DASH)}"),
             ("gate σ20", f"{numfmt.num(pinned.get('gate_sigma_pips'), 4)} pips")]
    return fields(pairs)


def examinations(rows: Sequence[ValidationRow], tz: str = "UTC") -> Table | Text:
    """One line per examination: when, split, verdict ✓/✗, SQN, expectancy, trades."""
    if not rows:
        return Text("never examined", style="dim")
    table = Table(box=None, padding=(0, 1), show_edge=False)
    for label, justify in (("when", "left"), ("split", "left"), ("verdict", "left"),
                           ("SQN", "right"), ("exp. pips", "right"), ("trades", "right")):
        table.add_column(label, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for v in rows:
        verdict = f"{PASS} passed" if v.validated else f"{FAIL} failed"
        table.add_row(short_time(v.ts, tz), v.split, verdict, numfmt.signed(v.sqn),
                      numfmt.signed(v.expectancy), numfmt.count(v.trades))
    return table


def checkpoint_detail(d: CheckpointDetail, view: CheckpointView | None,
                      tz: str = "UTC") -> RenderableType:
    """Identity and status, manifest, pinned window, examinations, report and chart."""
    m = d.manifest or {}
    raw_metrics = m.get("metrics")
    metrics: Mapping[str, Any] = raw_metrics if isinstance(raw_metrics, Mapping) else {}
    ident = [("sha256", d.sha256), ("tags", ", ".join(d.tags) or DASH)]
    if view is not None:
        ident += [("run", view.run), ("model", view.model_file),
                  ("timesteps", numfmt.count(view.timesteps)),
                  ("created", when(view.created, tz)), ("status", view.status)]
    parts: list[RenderableType] = [fields(ident), section(f"Manifest: {d.manifest_path or DASH}")]
    if d.manifest is None:
        parts.append(Text(d.manifest_error or "none", style="dim"))
    else:
        parts.append(fields([
            ("agent", str(m.get("agent", DASH))), ("format", str(m.get("format", DASH))),
            ("created", str(m.get("created", DASH))),
            ("feature spec", str(m.get("feature_spec_version", DASH))),
            *[(f"metric {k}", numfmt.num(v) if isinstance(v, int | float) else str(v))
              for k, v in sorted(metrics.items())]]))
    parts += [section("Pinned window"), pinned_window(m.get("pinned") or {}),
              section("Examinations (validation and test splits, newest first)"),
              examinations(d.validations, tz),
              section("Files"),
              fields([("report", str(d.report_path) if d.report_path else "no report"),
                      ("chart", str(d.chart_path) if d.chart_path else "no chart")])]
    return Group(*parts)


# -- a trade ---------------------------------------------------------------------------


def trade_duration(t: TradeRow) -> float | None:
    """Seconds from entry to exit (None if either is unknown)."""
    if t.entry_ts is None or t.exit_ts is None:
        return None
    return t.exit_ts - t.entry_ts


def trade_detail(t: TradeRow, tz: str = "UTC") -> RenderableType:
    """Every field of a trade."""
    return fields([
        ("trade", f"#{t.id} of {t.run} ({t.source}, by {t.worker})"),
        ("side", Text(t.side, style="bold")),
        ("entry", f"{when(t.entry_ts, tz)} at {numfmt.num(t.entry_price, 3)}"),
        ("exit", f"{when(t.exit_ts, tz)} at {numfmt.num(t.exit_price, 3)}"),
        ("duration", f"{duration(trade_duration(t))}, "
                     f"{numfmt.count(t.bars_held)} bars" if t.bars_held is not None
         else duration(trade_duration(t))),
        ("pips", Text(numfmt.signed(t.pips, 1), style="bold")),
        ("max drawdown", f"{numfmt.num(t.max_dd, 1)} pips"),
        ("forced", "yes (closed by the environment or a risk limit)" if t.forced else "no"),
        ("timesteps", numfmt.count(t.timesteps)),
        ("written", when(t.ts, tz)),
    ])
