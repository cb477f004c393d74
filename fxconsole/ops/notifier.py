"""The supervisor's webhook notifier: a background thread that tails the ``events`` table.

It never blocks a worker nor the supervisor's loop: it reads events on its own connection,
at most ``BATCH`` rows at a time (its queue is the ``events`` table itself, so nothing is
dropped while the webhook is down and memory stays bounded), POSTs each notifying one
(:mod:`fxconsole.ops.notify`) with exponential backoff, and remembers the last event id
it has dealt with in ``data/notify-state.json`` so that a restarted supervisor does not
resend. A first start (no state file) begins after the newest event; events older than
``STALE_SECONDS`` found after a long pause are skipped, not sent late.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from fxconsole.config import NotifyConfig
from fxconsole.fsutil import atomic_write
from fxconsole.ops.event_tail import events_after, last_event_id
from fxconsole.ops.notify import backoff_delays, notify_kind, payload, redact, url_host
from fxconsole.ops.queries import EventRow
from fxconsole.workspace import Workspace

logger = logging.getLogger(__name__)

STATE_FILE = "notify-state.json"
BATCH = 100
POLL_SECONDS = 1.0
STALE_SECONDS = 3600.0

Post = Callable[[str, bytes, float], None]


class PermanentError(Exception):
    """The webhook refused the request for good (a 4xx other than 408 and 429)."""


def post_json(url: str, body: bytes, timeout: float) -> None:
    """POST ``body`` as JSON to ``url``.

    Raises:
        PermanentError: on a 4xx answer other than 408 and 429 (retrying cannot help).
        OSError: on any other failure (urllib's errors, timeouts, a 5xx answer).
    """
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "fxconsole-notify"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            raise PermanentError(f"HTTP {exc.code}") from None
        raise OSError(f"HTTP {exc.code}") from None


class Notifier:
    """Pushes notifying events of one workspace to ``cfg.webhook_url`` from a thread.

    Args:
        cfg: the ``[notify]`` section (its ``webhook_url`` must be set).
        ws: the workspace (its console database, its ``data/`` for the state file).
        run: the run the supervisor follows (in every payload).
        post: sends one request (tests inject failures); default :func:`post_json`.
        clock: UNIX time (the stale cut-off).
        poll_seconds: seconds between two looks at the events table.
    """

    def __init__(self, cfg: NotifyConfig, ws: Workspace, run: str, post: Post = post_json,
                 clock: Callable[[], float] = time.time,
                 poll_seconds: float = POLL_SECONDS) -> None:
        if not cfg.webhook_url:
            raise ValueError("notify.webhook_url is not set")
        self.cfg, self.ws, self.run = cfg, ws, run
        self.post, self.clock, self.poll_seconds = post, clock, poll_seconds
        self.host = url_host(cfg.webhook_url)
        self.state_path = ws.data_dir / STATE_FILE
        self.sent = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)

    def start(self) -> Notifier:
        """Start the thread."""
        logger.info("notifications to the webhook at %s", self.host)
        self._thread.start()
        return self

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread, waiting at most ``timeout`` seconds (a request in flight is
        abandoned and sent again by the next supervisor)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        last: int | None = None
        try:
            while not self._stop.is_set():
                try:
                    if conn is None:
                        from fxconsole.ops.db import connect

                        conn = connect(self.ws.console_db, migrate_schema=False)
                    if last is None:
                        last = self._start_after(conn)
                    last = self._pass(conn, last)
                except (sqlite3.Error, OSError) as exc:
                    logger.warning("notifier: reading events failed: %s", exc)
                self._stop.wait(self.poll_seconds)
        finally:
            if conn is not None:
                conn.close()

    def _start_after(self, conn: sqlite3.Connection) -> int:
        """The last event id dealt with: the state file's, else the newest event's."""
        newest = last_event_id(conn)
        saved = self.load_state()
        if saved is None or saved > newest:  # first start, or a new console database
            self.save_state(newest)
            return newest
        return saved

    def _pass(self, conn: sqlite3.Connection, last: int) -> int:
        """Deal with the events after ``last``, batch by batch; returns the new last id."""
        while not self._stop.is_set():
            events = events_after(conn, last, BATCH)
            if not events:
                break
            for event in events:
                if not self._deal_with(event):
                    return last  # stopping: this one goes again after a restart
                last = event.id
            self.save_state(last)
        return last

    def _deal_with(self, event: EventRow) -> bool:
        """Send ``event`` if it notifies and is not stale; False if stopped meanwhile."""
        kind = notify_kind(event)
        if kind is None:
            return True
        if self.clock() - event.ts > STALE_SECONDS:
            logger.info("notifier: not sending stale event %d (%s)", event.id, kind)
            return True
        body = json.dumps(payload(event, kind, str(self.ws.root), self.run)).encode()
        return self._send(event, kind, body)

    def _send(self, event: EventRow, kind: str, body: bytes) -> bool:
        delays = backoff_delays(self.cfg.retries, self.cfg.backoff_seconds,
                                self.cfg.backoff_cap_seconds)
        attempt = 0
        while True:
            attempt += 1
            try:
                self.post(self.cfg.webhook_url, body, self.cfg.timeout_seconds)
            except PermanentError as exc:
                return self._give_up(event, kind, attempt, str(exc))
            except Exception as exc:  # a failing sink never kills the supervisor
                error = redact(str(exc) or type(exc).__name__, self.cfg.webhook_url)
                delay = next(delays, None)
                if delay is None:
                    return self._give_up(event, kind, attempt, error)
                logger.warning("notifier: %s → %s failed (attempt %d: %s); retrying in %g s",
                               kind, self.host, attempt, error, delay)
                if self._stop.wait(delay):
                    return False
                continue
            self.sent += 1
            logger.info("notifier: sent %s (event %d) to %s", kind, event.id, self.host)
            return True

    def _give_up(self, event: EventRow, kind: str, attempts: int, error: str) -> bool:
        self.failed += 1
        logger.error("notifier: gave up sending %s (event %d) to %s after %d attempt(s): %s",
                     kind, event.id, self.host, attempts, error)
        return True

    def load_state(self) -> int | None:
        """The last event id of the state file (None if there is none or it is unreadable)."""
        try:
            value = json.loads(self.state_path.read_text(encoding="utf-8"))["last_event_id"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("notifier: ignoring unreadable %s: %s", self.state_path, exc)
            return None
        return int(value) if isinstance(value, int) else None

    def save_state(self, last: int) -> None:
        """Record ``last`` as dealt with (atomically)."""
        atomic_write(self.state_path, json.dumps({"last_event_id": last}).encode())


def start_notifier(cfg: NotifyConfig, ws: Workspace, run: str) -> Notifier | None:
    """A started :class:`Notifier` if ``notify.webhook_url`` is set, else None."""
    return Notifier(cfg, ws, run).start() if cfg.webhook_url else None

