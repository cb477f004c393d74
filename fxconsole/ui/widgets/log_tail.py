"""Follow a log file like ``tail -F``: new complete lines on each call, nothing else.

Pure file I/O, no Textual: :class:`LogTail` is what a log pane's thread worker polls. It
copes with what Python's ``RotatingFileHandler`` does to ``data/logs/<worker>.log``:

* the file may not exist yet (a worker that has not started): no lines, try again later;
* the first read starts at the last ``max_lines`` lines, found by scanning backwards from
  the end, so a 10 MB file costs a few blocks, not a full read;
* rotation renames the file to ``.log.1`` and starts a new one: the open descriptor still
  points at the old file, so its last lines are read to the end before the new file is
  opened and read from its start (no lines lost across a rotation);
* truncation (the file shrinks below the read position) restarts from the beginning;
* a line without its newline yet is held back until the newline arrives (or the file is
  rotated away, or it grows past ``max_line_bytes``).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

BLOCK_BYTES = 64 * 1024


class LogTail:
    """Reads the lines appended to a log file since the previous call.

    Thread-safe (one lock around each call), so a worker thread may poll it while the
    main thread calls :meth:`close`.

    Args:
        path: The log file; it need not exist yet.
        max_lines: The most lines one call returns (the newest are kept), and how far back
            the first read starts.
        chunk_bytes: Bytes read per ``read()`` system call.
        max_line_bytes: A line longer than this without a newline is returned in pieces.

    Raises:
        ValueError: If a size argument is not positive.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_lines: int = 10_000,
        *,
        chunk_bytes: int = 1 << 20,
        max_line_bytes: int = 1 << 16,
    ) -> None:
        if max_lines < 1 or chunk_bytes < 1 or max_line_bytes < 1:
            raise ValueError("max_lines, chunk_bytes and max_line_bytes must be positive")
        self.path = Path(path)
        self.max_lines = max_lines
        self._chunk_bytes = chunk_bytes
        self._max_line_bytes = max_line_bytes
        self._file: BinaryIO | None = None
        self._ident: tuple[int, int] | None = None
        self._pos = 0
        self._partial = b""
        self._opened_once = False
        self._lock = threading.Lock()
        self.rotations = 0
        """How many times a replaced file (rotation) was followed to its successor."""
        self.truncations = 0
        """How many times the file shrank and was reread from its start."""

    def read_new(self) -> list[str]:
        """Return the complete lines appended since the previous call, oldest first.

        At most ``max_lines`` lines are returned; if more arrived, the oldest are dropped.
        Lines are decoded as UTF-8 (invalid bytes replaced), without their line endings.

        Returns:
            The new lines; empty if there are none or the file does not exist.

        Raises:
            OSError: If the file exists but cannot be read (permissions, I/O error).
        """
        out: deque[str] = deque(maxlen=self.max_lines)
        with self._lock:
            if self._file is None and not self._open():
                return []
            if self._replaced():
                # Rotated (or recreated): finish the old file, then start the new one.
                self._drain(out)
                self._flush_partial(out)
                self._close_file()
                self.rotations += 1
                if not self._open():
                    return list(out)
            elif self._truncated():
                self.truncations += 1
                self._pos = 0
                self._partial = b""
                self._require_file().seek(0)
            self._drain(out)
        return list(out)

    def close(self) -> None:
        """Close the file; a later :meth:`read_new` reopens it from the start."""
        with self._lock:
            self._close_file()
            self._partial = b""

    def __enter__(self) -> LogTail:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals (called with the lock held) ------------------------------------------

    def _require_file(self) -> BinaryIO:
        if self._file is None:
            raise RuntimeError("LogTail: no open file")
        return self._file

    def _open(self) -> bool:
        """Open the path; the very first open starts at the last ``max_lines`` lines."""
        try:
            file: BinaryIO = open(self.path, "rb", buffering=0)  # noqa: SIM115
        except FileNotFoundError:
            return False
        st = os.fstat(file.fileno())
        self._file = file
        self._ident = (st.st_dev, st.st_ino)
        self._partial = b""
        self._pos = 0
        if not self._opened_once:
            self._pos = self._tail_start(file, st.st_size)
            file.seek(self._pos)
        self._opened_once = True
        return True

    def _tail_start(self, file: BinaryIO, size: int) -> int:
        """Offset where the last ``max_lines`` complete lines begin (scanning backwards)."""
        wanted = self.max_lines + 1  # the newline before the first line we keep
        pos = size
        while pos > 0:
            start = max(0, pos - BLOCK_BYTES)
            file.seek(start)
            block = file.read(pos - start)
            end = len(block)
            while True:
                i = block.rfind(b"\n", 0, end)
                if i < 0:
                    break
                wanted -= 1
                if wanted == 0:
                    return start + i + 1
                end = i
            pos = start
        return 0

    def _replaced(self) -> bool:
        """Whether the path now names another file (a missing path is not a replacement)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False  # mid-rotation or deleted: keep reading what we have open
        return (st.st_dev, st.st_ino) != self._ident

    def _truncated(self) -> bool:
        return os.fstat(self._require_file().fileno()).st_size < self._pos

    def _drain(self, out: deque[str]) -> None:
        """Read to the end of the open file, appending complete lines to ``out``."""
        file = self._require_file()
        while True:
            data = file.read(self._chunk_bytes)
            if not data:
                return
            self._pos += len(data)
            pieces = (self._partial + data).split(b"\n")
            self._partial = pieces.pop()
            for raw in pieces[-self.max_lines :]:
                out.append(_decode(raw))
            while len(self._partial) > self._max_line_bytes:
                out.append(_decode(self._partial[: self._max_line_bytes]))
                self._partial = self._partial[self._max_line_bytes :]

    def _flush_partial(self, out: deque[str]) -> None:
        if self._partial:
            out.append(_decode(self._partial))
            self._partial = b""

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._ident = None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r")
