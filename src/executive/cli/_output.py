"""Writing task output to our stdout or stderr completely (light: the quick commands use it too)."""

from __future__ import annotations

import os
import select
import sys

__all__ = ["write_all", "write_out"]


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte of ``data`` to ``fd``.

    ``os.write`` (and a raw, unbuffered ``sys.stdout.buffer`` under PYTHONUNBUFFERED) may write
    only part of a large buffer to a pipe when a signal arrives, for instance the SIGCONT after a
    Ctrl-Z; the rest must be written again or it is lost.  A descriptor left non-blocking by
    another process that shares it is waited on instead of failing with EAGAIN.
    """
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[n:]


def write_out(stream: str, data: bytes | memoryview) -> None:
    """Write task output to our stdout or stderr, completely, after anything printed before it."""
    target = sys.stdout if stream == "stdout" else sys.stderr
    target.flush()
    try:
        fd = target.fileno()
    except (AttributeError, OSError, ValueError):  # a captured stream in tests: no descriptor
        target.buffer.write(data)
        target.buffer.flush()
        return
    write_all(fd, data)
