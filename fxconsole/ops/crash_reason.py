"""Why a worker died, in one line: the exception line of the last traceback in its output.

:func:`error_line` and :func:`exit_reason` are pure (text in, line out); :func:`read_tail`
reads the tail of a worker's ``<name>.out`` after it exited. The supervisor puts the line
in the worker's status, the ``workers`` table and the FATAL/exited event, so an operator
reads the cause in ``fxconsole status`` instead of digging through the file.
"""

from __future__ import annotations

import logging
import os
import re
import signal
from pathlib import Path

logger = logging.getLogger(__name__)

TAIL_BYTES = 16 * 1024
MAX_CHARS = 300
START_MARK = "--- "  # the supervisor's "--- <time> supervisor: starting <name>" line
_TRACEBACK = "Traceback (most recent call last):"
# "ValueError: …", "fxconsole.config.ConfigError: …", "KeyboardInterrupt"
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Refused)\b(:.*)?$")


def error_line(text: str, max_chars: int = MAX_CHARS) -> str:
    """The exception line of the last traceback in ``text``, else its last error-looking
    line, else its last non-empty line (empty text: ``""``), cut to ``max_chars``.

    Only what follows the last supervisor start mark counts (an older run's traceback is
    not this exit's reason).
    """
    lines = [line.rstrip() for line in text.splitlines()]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith(START_MARK) and "supervisor: starting" in lines[i]:
            lines = lines[i + 1:]
            break
    lines = [line for line in lines if line.strip()]
    if not lines:
        return ""
    return _cut(_after_last_traceback(lines) or _last_error(lines) or lines[-1], max_chars)


def _after_last_traceback(lines: list[str]) -> str:
    """The first unindented line after the last ``Traceback`` header (its exception)."""
    starts = [i for i, line in enumerate(lines) if line.startswith(_TRACEBACK)]
    if not starts:
        return ""
    for line in lines[starts[-1] + 1:]:
        if not line.startswith((" ", "\t")) and not line.startswith("During handling"):
            return line.strip()
    return ""


def _last_error(lines: list[str]) -> str:
    for line in reversed(lines):
        text = line.strip()
        if _EXCEPTION.match(text) or " ERROR " in line or " CRITICAL " in line:
            return text
    return ""


def _cut(line: str, max_chars: int) -> str:
    return line if len(line) <= max_chars else line[: max_chars - 1] + "…"


def exit_reason(code: int, output_tail: str) -> str:
    """The reason of an exit with ``code`` given the tail of the worker's output: its error
    line, with the signal named when a signal ended it ("" for a clean exit)."""
    if code == 0:
        return ""
    line = error_line(output_tail)
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}" + (f" (last error: {line})" if line else "")
    return line or f"exited with code {code} (no error line in its output)"


def read_tail(path: Path | None, tail_bytes: int = TAIL_BYTES) -> str:
    """The last ``tail_bytes`` of ``path`` as text ("" if there is none or it cannot be read)."""
    if path is None:
        return ""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - tail_bytes))
            data = f.read()
    except OSError as exc:
        logger.warning("cannot read %s for the exit reason: %s", path, exc)
        return ""
    return data.decode("utf-8", errors="replace")
