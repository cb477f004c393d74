"""Rotation of files other processes append to: ``<worker>.out``, ``supervisor.log``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fxconsole.ops import logrotate
from fxconsole.ops.logrotate import backup_path, rotate_if_larger

# Appends numbered lines through an O_APPEND descriptor (as a worker's stdout is opened)
# until told to stop on stdin, then prints how many it wrote.
WRITER = r"""
import os, select, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
n = 0
while True:
    os.write(fd, b"line %09d\n" % n)
    n += 1
    if n % 200 == 0 and select.select([sys.stdin], [], [], 0)[0]:
        break
print(n, flush=True)
"""


def line(n: int) -> bytes:
    return b"line %09d\n" % n


def test_rotating_while_a_process_appends_loses_nothing_but_what_rotated_out(
        tmp_path: Path) -> None:
    path = tmp_path / "collector-1.out"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        rotations = 0
        while rotations < 12:
            rotations += rotate_if_larger(path, 20_000, backups=3)
        out, _ = writer.communicate(b"stop\n", timeout=30)
    finally:
        writer.kill()
    written = int(out)
    assert rotate_if_larger(path, 1, backups=3)  # once more, with the writer gone
    assert path.stat().st_size < 4096  # less than a block stays in the live file
    assert not backup_path(path, 4).exists()
    kept = b"".join(backup_path(path, n).read_bytes() for n in (3, 2, 1)) + path.read_bytes()
    stream = b"".join(line(n) for n in range(written))
    # the kept bytes are exactly the stream's tail (cut on a file-system block, so .3 may
    # start mid-line): nothing lost, duplicated or reordered
    assert stream.endswith(kept)
    assert len(kept) < len(stream) - 20_000  # the oldest lines rotated out beyond .3


def test_copy_truncate_where_collapsing_is_not_possible(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logrotate, "_collapse", lambda live, n: False)
    path = tmp_path / "supervisor.log"
    data = b"".join(line(n) for n in range(5000))
    path.write_bytes(data)
    assert rotate_if_larger(path, 1000, backups=2)
    assert backup_path(path, 1).read_bytes() == data
    assert path.read_bytes() == b""
    path.write_bytes(b"x" * 2000)
    assert rotate_if_larger(path, 1000, backups=2)
    assert backup_path(path, 2).read_bytes() == data
    assert backup_path(path, 1).read_bytes() == b"x" * 2000


def test_small_and_missing_files_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "trainer.out"
    assert not rotate_if_larger(path, 100, 3)
    path.write_bytes(b"short\n")
    assert not rotate_if_larger(path, 100, 3)
    assert path.read_bytes() == b"short\n" and not backup_path(path, 1).exists()
    with pytest.raises(ValueError, match="backups"):
        rotate_if_larger(path, 100, 0)
