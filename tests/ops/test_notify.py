"""Notifications: which events notify, and a real webhook (http.server on 127.0.0.1)
receiving them from the supervisor's notifier thread, with retries, no resend after a
restart, and a dead webhook that blocks nothing."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fxconsole.config import Config, ConfigError, NotifyConfig, config_record, load_config
from fxconsole.ops.db import connect
from fxconsole.ops.notifier import STATE_FILE, Notifier
from fxconsole.ops.notify import backoff_delays, notify_kind, payload, redact, url_host
from fxconsole.ops.pool import Pool
from fxconsole.ops.queries import EventRow
from fxconsole.ops.writer import MetricsWriter
from fxconsole.workspace import Workspace

from system_support import wait_for  # isort: skip

TOKEN = "T0K3N-s3cr3t"


class Webhook:
    """A local webhook: answers with the queued status codes (then 200), records bodies;
    with ``hold`` set, every request waits until it is released."""

    def __init__(self, statuses: list[int] | None = None, hold: bool = False) -> None:
        self.statuses = list(statuses or [])
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self.release = threading.Event()
        self.holding = threading.Event()
        if not hold:
            self.release.set()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.attempts += 1
                hook.holding.set()
                hook.release.wait(30)
                status = hook.statuses.pop(0) if hook.statuses else 200
                if status == 200:
                    hook.received.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/{TOKEN}?key={TOKEN}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(statuses=[500])
    yield hook
    hook.close()


def fast(url: str) -> NotifyConfig:
    return NotifyConfig(webhook_url=url, timeout_seconds=5.0, retries=3,
                        backoff_seconds=0.05, backoff_cap_seconds=0.2)


def event(kind: str, level: str = "warning", data: dict[str, Any] | None = None) -> EventRow:
    return EventRow(7, 1_700_000_000.0, level, "live", kind, "something happened", data or {})


@pytest.mark.parametrize(("row", "expected"), [
    (event("worker-fatal", "error"), "worker-fatal"),
    (event("kill-switch"), "kill-switch"),
    (event("risk", "error"), "risk-trip"),
    (event("risk", "warning"), None),  # an order refused is no trip
    (event("reconcile", "error"), "halt"),
    (event("reconcile", "info"), None),  # "halt lifted"
    (event("training-diverging"), "training-diverging"),
    (event("model-collapse"), "model-collapse"),
    (event("hold-only"), "hold-only"),
    (event("hold-only", "info"), None),  # "hold-only cleared"
    (event("validation", "info", {"validated": True}), "validated"),
    (event("validation", "info", {"validated": False}), None),
    (event("heartbeat-gap"), None),
    (event("deploy", "info"), None),
])
def test_which_events_notify(row: EventRow, expected: str | None) -> None:
    assert notify_kind(row) == expected


def test_payload_names_everything_an_operator_needs() -> None:
    body = payload(event("kill-switch"), "kill-switch", "/srv/fx", "main")
    assert body["kind"] == "kill-switch" and body["level"] == "warning"
    assert body["source"] == "live" and body["message"] == "something happened"
    assert body["ts"] == 1_700_000_000.0 and body["time"] == "2023-11-14T22:13:20+00:00"
    assert body["workspace"] == "/srv/fx" and body["run"] == "main" and body["event_id"] == 7
    assert "kill-switch" in body["text"] and "something happened" in body["text"]


def test_urls_are_logged_by_host_only() -> None:
    url = f"https://hooks.example.com:8443/services/{TOKEN}?token={TOKEN}"
    assert url_host(url) == "hooks.example.com:8443"
    assert TOKEN not in redact(f"bad URL {url} (path /services/{TOKEN})", url)
    assert list(backoff_delays(5, 1.0, 6.0)) == [1.0, 2.0, 4.0, 6.0, 6.0]


def test_the_webhook_url_is_checked_and_kept_out_of_records(tmp_path: Path) -> None:
    toml = tmp_path / "fxconsole.toml"
    toml.write_text(f'[notify]\nwebhook_url = "hooks.example.com/{TOKEN}"\n')
    with pytest.raises(ConfigError, match="notify.webhook_url") as info:
        load_config(toml, environ={})
    assert TOKEN not in str(info.value)
    cfg = replace(Config(), notify=NotifyConfig(webhook_url=f"https://u:p@h.example/{TOKEN}"))
    assert config_record(cfg)["notify"]["webhook_url"] == "https://h.example/…"


def pool_with_webhook(ws: Path, url: str) -> Pool:
    cfg = replace(Config(), notify=fast(url))
    return Pool(cfg, Workspace(ws), "main")


def test_an_alert_reaches_the_webhook_after_a_500(
    tmp_path: Path, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    pool = pool_with_webhook(tmp_path, webhook.url)
    try:
        wait_for("the notifier's first look", lambda: (tmp_path / "data" / STATE_FILE).exists(),
                 timeout=20)
        writer = MetricsWriter(pool.conn, "main", "trainer")
        writer.write(1, {"rollout/trades": 500.0, "rollout/expectancy": -25.0,
                         "rollout/win_rate": 0.3, "rollout/trade_ratio": 0.9})
        writer.flush()
        pool.step()  # the supervisor raises "training diverging"
        wait_for("the alert at the webhook", lambda: webhook.received, timeout=20)
    finally:
        pool.close(timeout=5)
    assert webhook.attempts == 2  # the 500, then the retry
    [body] = webhook.received
    assert body["kind"] == "training-diverging" and body["level"] == "warning"
    assert body["source"] == "supervisor" and body["run"] == "main"
    assert "expectancy -25.00" in body["message"]
    assert body["workspace"] == str(tmp_path)
    assert TOKEN not in caplog.text and "127.0.0.1" in caplog.text
    state = json.loads((tmp_path / "data" / STATE_FILE).read_text())
    assert state["last_event_id"] == body["event_id"]


def insert_event(ws: Path, kind: str, level: str, message: str) -> None:
    conn = connect(ws / "data" / "console.sqlite")
    try:
        conn.execute("INSERT INTO events (ts, level, source, kind, message, data)"
                     " VALUES (?, ?, 'live', ?, ?, '{}')", (time.time(), level, kind, message))
    finally:
        conn.close()


def test_a_restarted_notifier_does_not_resend(tmp_path: Path) -> None:
    hook = Webhook()
    ws = Workspace(tmp_path).ensure()
    try:
        insert_event(tmp_path, "kill-switch", "warning", "before the first start")
        first = Notifier(fast(hook.url), ws, "main", poll_seconds=0.05).start()
        wait_for("the state file", lambda: (tmp_path / "data" / STATE_FILE).exists())
        insert_event(tmp_path, "kill-switch", "warning", "one")
        wait_for("one notification", lambda: len(hook.received) == 1)
        first.close()
        insert_event(tmp_path, "worker-fatal", "error", "two")
        second = Notifier(fast(hook.url), ws, "main", poll_seconds=0.05).start()
        wait_for("two notifications", lambda: len(hook.received) == 2)
        insert_event(tmp_path, "deploy", "info", "not notifying")
        insert_event(tmp_path, "halt-less", "error", "not notifying either")
        insert_event(tmp_path, "reconcile", "error", "three")
        wait_for("three notifications", lambda: len(hook.received) == 3)
        second.close()
    finally:
        hook.close()
    # history before the first start is not sent; nothing is sent twice
    assert [b["message"] for b in hook.received] == ["one", "two", "three"]
    assert [b["kind"] for b in hook.received] == ["kill-switch", "worker-fatal", "halt"]


def test_a_dead_webhook_blocks_no_supervisor_step(tmp_path: Path) -> None:
    hook = Webhook(hold=True)  # accepts the request and never answers (until released)
    pool = pool_with_webhook(tmp_path, hook.url)
    try:
        wait_for("the notifier's first look", lambda: (tmp_path / "data" / STATE_FILE).exists(),
                 timeout=20)
        insert_event(tmp_path, "worker-fatal", "error", "live is FATAL")
        assert hook.holding.wait(20), "the notifier never called the webhook"
        for _ in range(5):
            pool.step()
        assert not hook.release.is_set()  # the steps ran while the request hung
        assert pool.notifier is not None and pool.notifier.alive
        assert pool.notifier.sent == 0
    finally:
        pool.close(timeout=5)
        hook.close()
