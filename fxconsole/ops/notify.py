"""Which events an operator is told about, and what the webhook receives (pure).

An event notifies when :func:`notify_kind` names it:

===================== ===========================================================
notification kind     event
===================== ===========================================================
``worker-fatal``      a worker went FATAL (the supervisor's ``worker-fatal``)
``kill-switch``       live's kill switch was engaged
``risk-trip``         a risk limit tripped (``risk`` at level error: daily loss)
``halt``              live halted trading (``reconcile`` at level error: mismatch)
``training-diverging`` / ``model-collapse`` / ``hold-only``
                      a monitoring alert was raised (not its "cleared")
``validated``         a checkpoint passed the promotion rule (``validation`` with
                      ``data.validated``)
===================== ===========================================================

The webhook receives one JSON object per notification (:func:`payload`). The URL may hold
a secret token: only :func:`url_host` of it is ever logged.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from fxconsole.ops.queries import EventRow

ALERT_KINDS = ("training-diverging", "model-collapse", "hold-only")  # fxconsole.ops.alerts
NOTIFY_KINDS = ("worker-fatal", "kill-switch", "risk-trip", "halt", *ALERT_KINDS, "validated")
_AT_ERROR = {"risk": "risk-trip", "reconcile": "halt"}


def notify_kind(event: EventRow) -> str | None:
    """The notification kind of ``event`` (one of :data:`NOTIFY_KINDS`), or None."""
    if event.kind in ("worker-fatal", "kill-switch"):
        return event.kind
    if event.kind in ALERT_KINDS:
        return event.kind if event.level != "info" else None
    if event.kind in _AT_ERROR:
        return _AT_ERROR[event.kind] if event.level == "error" else None
    if event.kind == "validation" and event.data.get("validated") is True:
        return "validated"
    return None


def payload(event: EventRow, kind: str, workspace: str, run: str) -> dict[str, Any]:
    """The JSON object POSTed for ``event``.

    Keys: ``kind`` (the notification kind), ``level``, ``source`` (the worker or
    ``supervisor``), ``message``, ``ts`` (UNIX seconds), ``time`` (ISO 8601 UTC),
    ``workspace``, ``run``, ``event_id``, ``event_kind`` (the ``events`` row's kind), and
    ``text``: one line for chat webhooks (Slack, Mattermost, Discord-compatible relays).
    """
    when = datetime.fromtimestamp(event.ts, UTC).isoformat(timespec="seconds")
    return {
        "kind": kind, "level": event.level, "source": event.source, "message": event.message,
        "ts": event.ts, "time": when, "workspace": workspace, "run": run,
        "event_id": event.id, "event_kind": event.kind,
        "text": f"fxconsole {run}: {event.level.upper()} {kind} ({event.source}): "
                f"{event.message}",
    }


def url_host(url: str) -> str:
    """What may be logged of a webhook URL: its host (and port), never path or query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


def redact(text: str, url: str) -> str:
    """``text`` (e.g. an exception message) with the URL and its path replaced by the host."""
    parts = urlsplit(url)
    for secret in (url, parts.path, parts.query):
        if secret and secret != "/":
            text = text.replace(secret, "…")
    return text


def backoff_delays(retries: int, first: float, cap: float) -> Iterator[float]:
    """The waits before each retry: ``first``, doubled each time, at most ``cap``."""
    for attempt in range(retries):
        yield min(first * 2.0 ** attempt, cap)
