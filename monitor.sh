#!/usr/bin/env bash
# A small dashboard for a host without the console UI: refreshes `fxconsole status`, or,
# where fxconsole is not installed, reads data/console.sqlite with the sqlite3 shell.
#
#   ./monitor.sh [WORKSPACE] [SECONDS]      (defaults: the current folder, 5 s)
#
# SECONDS = 0 prints once and exits; MONITOR_SQLITE=1 uses the sqlite3 view even where
# fxconsole is installed.
set -u
ws=${1:-${FXCONSOLE_WORKSPACE:-$PWD}}
every=${2:-5}
db="$ws/data/console.sqlite"
here=$(cd "$(dirname "$0")" && pwd)
fx=""
if [ "${MONITOR_SQLITE:-0}" != 1 ]; then
  for candidate in "$here/.venv/bin/fxconsole" "$(command -v fxconsole 2>/dev/null)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then fx=$candidate; break; fi
  done
fi

show_supervisor() {
  # the lock file names its holder; a pid that is gone means the supervisor was killed
  # without stopping its workers (`fxconsole status` decides the same with the flock)
  local pid
  pid=$({ tr -dc '0-9' < "$ws/data/supervisor.lock"; } 2>/dev/null)
  if [ -z "$pid" ]; then echo "supervisor not running"
  elif kill -0 "$pid" 2>/dev/null; then echo "supervisor pid $pid"
  else echo "SUPERVISOR DOWN (pid $pid gone): worker states below are stale"; fi
  echo
}

show_sqlite() {
  if ! command -v sqlite3 >/dev/null; then
    echo "neither fxconsole nor sqlite3 is installed"; return 1
  fi
  if [ ! -f "$db" ]; then echo "no console database at $db"; return 1; fi
  show_supervisor
  sqlite3 -header -column "file:$db?mode=ro" \
    "SELECT name, state, COALESCE(w.pid, '—') AS pid, restarts,
            COALESCE(exit_code, '—') AS exit_code,
            CASE WHEN state IN ('STARTING', 'RUNNING', 'STOPPING') AND h.ts >= w.started
                 THEN printf('%.0f s', strftime('%s','now') - h.ts) ELSE '—' END
              AS heartbeat_age
       FROM workers w LEFT JOIN heartbeats h ON h.worker = w.name ORDER BY name;"
  echo
  sqlite3 -header -column "file:$db?mode=ro" \
    "SELECT key,
            CASE WHEN value IS NULL THEN '—'
                 WHEN abs(value) >= 1000 THEN printf('%,d', CAST(round(value) AS INTEGER))
                 WHEN abs(value) >= 1 THEN printf('%.2f', value)
                 ELSE printf('%.3g', value) END AS value,
            printf('%,d', step) AS step FROM metrics
      WHERE rowid IN (SELECT max(rowid) FROM metrics
                      WHERE run = (SELECT run FROM metrics ORDER BY rowid DESC LIMIT 1)
                      GROUP BY key) ORDER BY key;"
  echo
  sqlite3 -header -column "file:$db?mode=ro" \
    "SELECT datetime(ts, 'unixepoch') AS time, level, kind, message FROM events
      ORDER BY ts DESC LIMIT 8;"
}

show() {
  if [ -n "$fx" ]; then
    "$fx" --workspace "$ws" status || true
  else
    show_sqlite || true
  fi
}

if [ "$every" = 0 ]; then show; exit 0; fi
trap 'exit 0' INT TERM
while true; do
  clear
  printf 'fxconsole monitor — %s — every %ss (Ctrl-C to quit)\n\n' "$(date '+%F %T')" "$every"
  show
  sleep "$every"
done
