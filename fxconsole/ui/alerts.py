"""Which alerts are still active: not acknowledged, not resolved (pure).

An operator acknowledges an alert with a key; the console records that as an event of
kind :data:`ACK_KIND` (``data = {"event": <id>}``), so it survives restarts of the
console and of the system, and every console attached sees it. An acknowledgement is
always newer than its alert, so the events a snapshot reads hold both.

An alert is resolved when what it reported is over: a worker's crash, FATAL or stale
heartbeat once that worker runs again (started after the alert); the kill switch's
alert once the switch is released.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from fxconsole.ops.queries import EventRow, WorkerRow

ACK_KIND = "alert-ack"
ACK_SOURCE = "ui"
WORKER_KINDS = frozenset({"worker-fatal", "worker-exited", "heartbeat-gap"})


def is_alert(event: EventRow) -> bool:
    """A warning or an error (info events are not alerts)."""
    return event.level in ("warning", "error") and event.kind != ACK_KIND


def acknowledged(events: Iterable[EventRow]) -> set[int]:
    """The ids of the alerts acknowledged among ``events``."""
    out = set()
    for e in events:
        target = e.data.get("event") if e.kind == ACK_KIND else None
        if isinstance(target, int) and not isinstance(target, bool):
            out.add(target)
    return out


def alert_worker(event: EventRow, names: Iterable[str]) -> str | None:
    """The worker an alert is about: its source if that is a worker, else the worker the
    message starts with (the supervisor's ``validator is FATAL: …``)."""
    known = set(names)
    if event.source in known:
        return event.source
    first = event.message.split(" ", 1)[0].rstrip(":")
    return first if first in known else None


def resolved(event: EventRow, workers: Mapping[str, WorkerRow],
             live: Mapping[str, float | None]) -> bool:
    """Whether what ``event`` reported is over (see the module doc)."""
    if event.kind == "kill-switch":
        return not live.get("kill_switch")
    if event.kind not in WORKER_KINDS:
        return False
    name = alert_worker(event, workers)
    row = workers.get(name) if name else None
    return (row is not None and row.state == "RUNNING" and row.started is not None
            and row.started > event.ts)


def active_alerts(events: Sequence[EventRow], workers: Iterable[WorkerRow],
                  live: Mapping[str, float | None]) -> list[EventRow]:
    """The alerts among ``events`` (newest first) neither acknowledged nor resolved.

    Args:
        events: recent events, newest first (acknowledgements among them).
        workers: the workers as recorded now.
        live: live's metrics without the ``live/`` prefix (``kill_switch``).

    Returns:
        The active alerts, newest first.
    """
    acks = acknowledged(events)
    by_name = {w.name: w for w in workers}
    return [e for e in events if is_alert(e) and e.id not in acks
            and not resolved(e, by_name, live)]
