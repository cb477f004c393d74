"""Issue 17 defects 12 and 14 in monitor.sh's sqlite3 view (hosts without fxconsole):
metric values in one format with thousands separators ("—" when undefined), no pid or
heartbeat for a STOPPED worker; `monitor.sh WS 0` prints once."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from fxconsole.ops.db import connect
from fxconsole.ops.writer import MetricsWriter
from fxconsole.workspace import Workspace

MONITOR = Path(__file__).resolve().parents[2] / "monitor.sh"


def test_the_sqlite_view_formats_numbers_and_hides_stopped_heartbeats(tmp_path: Path) -> None:
    Workspace(tmp_path).ensure()
    conn = connect(tmp_path / "data" / "console.sqlite")
    now = time.time()
    with conn:
        for name, state, pid in (("trainer", "RUNNING", 4242), ("live", "STOPPED", None)):
            conn.execute("INSERT INTO workers (name, role, state, pid, started, restarts,"
                         " updated) VALUES (?, ?, ?, ?, ?, 0, ?)",
                         (name, name, state, pid, now - 30, now))
            conn.execute("INSERT INTO heartbeats (worker, ts, pid) VALUES (?, ?, ?)",
                         (name, now - 2, pid or 1))
    writer = MetricsWriter(conn, "main", "trainer")
    writer.write(1_510_000, {"train/timesteps": 1_510_000.0, "rollout/sqn": float("nan"),
                             "train/fps": 812.4})
    writer.close()
    conn.close()
    done = subprocess.run(["bash", str(MONITOR), str(tmp_path), "0"], capture_output=True,
                          text=True, timeout=60, env={"MONITOR_SQLITE": "1",
                                                      "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and done.stderr == "", done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()
            if line.split()}
    assert rows["supervisor"] == ["not", "running"]
    assert rows["live"] == ["STOPPED", "—", "0", "—", "—"]
    assert rows["trainer"][:2] == ["RUNNING", "4242"] and rows["trainer"][-1] == "s"
    assert rows["train/timesteps"] == ["1,510,000", "1,510,000"]
    assert rows["train/fps"][0] == "812.40" and rows["rollout/sqn"][0] == "—"
