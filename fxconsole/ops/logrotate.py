"""Size-based rotation of files other processes keep appending to (``O_APPEND``).

``<worker>.out`` (a worker's stdout and stderr) and ``supervisor.log`` (a detached
supervisor's) are written through descriptors their writers never reopen, so the usual
rename-and-reopen cannot work: the writer would go on filling the renamed file. Rotation
instead copies the file's head to ``<name>.1`` (older backups shift to ``.2`` … ``.N``)
and removes that head from the live file in place:

- where the file system can (ext4, XFS: ``fallocate(FALLOC_FL_COLLAPSE_RANGE)``), the
  head is collapsed out atomically with respect to the writers' appends: nothing is lost,
  and ``.N … .1`` followed by the live file is exactly the byte stream written (the cut
  is on a file-system block, so a line may continue from ``.1`` into the live file);
- elsewhere it is copy-truncate: bytes appended between the copy and the truncation
  (microseconds) are lost, as with logrotate's ``copytruncate``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import logging
import os
import shutil
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

FALLOC_FL_COLLAPSE_RANGE = 0x08
COPY_CHUNK = 1 << 20


def backup_path(path: Path, n: int) -> Path:
    """``path`` with ``.n`` appended (``worker.out.1``)."""
    return path.with_name(f"{path.name}.{n}")


def rotate_if_larger(path: Path, max_bytes: int, backups: int) -> bool:
    """Rotate ``path`` if it holds more than ``max_bytes``.

    Args:
        path: a file other processes append to (missing: nothing to do).
        max_bytes: the size that triggers a rotation.
        backups: rotated files kept (``.1`` newest … ``.backups`` oldest; older ones go).

    Returns:
        True if the file was rotated.

    Raises:
        ValueError: if ``max_bytes`` or ``backups`` is below 1.
        OSError: if the file or a backup cannot be read or written.
    """
    if max_bytes < 1 or backups < 1:
        raise ValueError(f"need max_bytes ({max_bytes}) >= 1 and backups ({backups}) >= 1")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    if size <= max_bytes:
        return False
    _shift_backups(path, backups)
    with open(path, "r+b") as live:
        block = os.fstatvfs(live.fileno()).f_bsize or 4096
        cut = _collapsible(os.fstat(live.fileno()).st_size, block)
        if cut and _copy_head(live, backup_path(path, 1), cut) and _collapse(live, cut):
            logger.info("rotated %s (%d bytes to %s)", path, cut, backup_path(path, 1).name)
            return True
        _copy_truncate(live, backup_path(path, 1))
    logger.info("rotated %s by copy-truncate", path)
    return True


def _shift_backups(path: Path, backups: int) -> None:
    """``.k`` → ``.k+1`` for k = backups-1 … 1 (the oldest is replaced)."""
    for n in range(backups - 1, 0, -1):
        source = backup_path(path, n)
        if source.exists():
            os.replace(source, backup_path(path, n + 1))


def _collapsible(size: int, block: int) -> int:
    """The largest whole-block head that can be collapsed: it must end before EOF."""
    return ((size - 1) // block) * block if size > block else 0


def _copy_head(live: BinaryIO, target: Path, n: int) -> bool:
    """Write the first ``n`` bytes of ``live`` to ``target`` (atomically replaced)."""
    tmp = target.with_name(f".{target.name}.tmp")
    with open(tmp, "wb") as out:
        live.seek(0)
        left = n
        while left > 0:
            chunk = live.read(min(COPY_CHUNK, left))
            if not chunk:
                break
            out.write(chunk)
            left -= len(chunk)
    os.replace(tmp, target)
    return left == 0


def _collapse(live: BinaryIO, n: int) -> bool:
    """Remove the first ``n`` bytes in place; False where the file system cannot."""
    libc = _load_libc()
    if libc is None:
        return False
    rc = libc.fallocate(live.fileno(), FALLOC_FL_COLLAPSE_RANGE, ctypes.c_int64(0),
                        ctypes.c_int64(n))
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
        raise OSError(err, os.strerror(err))
    return False


def _copy_truncate(live: BinaryIO, target: Path) -> None:
    """Copy the whole file to ``target``, then truncate it to nothing."""
    tmp = target.with_name(f".{target.name}.tmp")
    with open(tmp, "wb") as out:
        live.seek(0)
        shutil.copyfileobj(live, out, COPY_CHUNK)
        out.write(live.read())  # what arrived during the copy
        live.truncate(0)
    os.replace(tmp, target)


@functools.cache
def _load_libc() -> ctypes.CDLL | None:
    with contextlib.suppress(OSError):
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return None
