"""Reading slices of task logs: in a worker thread in general, on the loop when the page cache has them.

A slice a client asks for may be anywhere in a log of gigabytes, so the general read runs
in a worker thread.  A slice the daemon itself sends right after writing it (a binary
subscription's output ranges, kernel/events.py) is almost always still in the page cache,
where a thread hand-off costs more than the copy: :func:`read_cached` reads it on the loop
with ``preadv2(RWF_NOWAIT)``, which refuses instead of waiting for the disk.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["read_cached", "read_slice"]

_NOWAIT = getattr(os, "RWF_NOWAIT", None)  # Linux 4.14+


def read_slice(path: Path, offset: int, n: int) -> bytes:
    """Up to ``n`` bytes at ``offset`` (fewer at the end of the file; none if it does not exist). May block."""
    if n <= 0:
        return b""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(n)
    except FileNotFoundError:
        return b""


def read_cached(path: Path, offset: int, into: memoryview) -> bool:
    """Fill ``into`` with the bytes at ``offset`` if the file has them all in the page cache. Never waits for a disk.

    False (``into`` then holds nothing meaningful) when the file is shorter, missing, or
    its filesystem cannot read without waiting: the caller then reads with :func:`read_slice`
    in a thread.
    """
    n = len(into)
    if n == 0:
        return True
    if _NOWAIT is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        got = os.preadv(fd, [into], offset, _NOWAIT)
    except OSError:  # EAGAIN (not cached), EOPNOTSUPP (no such read here), or a real error the thread's read reports
        return False
    finally:
        os.close(fd)
    return got == n
