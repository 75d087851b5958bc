"""Task log files, appended by one background thread.

Writing output to the page cache costs as much as everything else the daemon
does with it (on this class of machine ~300 MB/s for ``write(2)`` alone), so
the event loop hands each chunk to a single writer thread and goes on reading
pipes and serving clients while the kernel copies.  One thread keeps every
log's appends in order; ``os.write`` releases the GIL, so the two overlap.

Invariants a reader relies on:

* ``StreamLog.size`` counts bytes *accepted* (what offsets in events refer to);
  ``StreamLog.written`` counts bytes already in the file.  Readers that need
  bytes up to an offset await :meth:`StreamLog.flushed` first.
* A task is reported ended only once its logs are fully written
  (the supervisor waits for ``pending == 0``).
* Memory is bounded: the supervisor stops reading a task's pipes while more
  than ``HIGH_WATER`` bytes of it wait for the disk (the producer then blocks
  on its full pipe — the disk is the limit, nothing is dropped).
* The log of a new task (``fresh``) is created by the writer thread just before
  its first byte, with the task's directory: creating a directory and two files
  costs more than the rest of a task's start on a journalled disk (0.2-1.8 ms
  here), it stays off the event loop, and a stream that prints nothing has no
  file.  A missing log reads as empty (every reader treats it so).
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from executive.paths import PRIVATE_FILE_MODE, make_private_dir

__all__ = ["HIGH_WATER", "LOW_WATER", "LogWriter", "StreamLog"]

HIGH_WATER = 8 * 1024 * 1024  # pause a task's pipes above this many unwritten bytes
LOW_WATER = 2 * 1024 * 1024  # ... and resume below this


class StreamLog:
    """One append-only log file and its write progress."""

    __slots__ = ("_waiters", "closed", "error", "fd", "on_progress", "path", "size", "tail", "written")

    def __init__(self, path: Path, *, fresh: bool = False) -> None:
        """``fresh``: a new task's log, created by the writer thread at its first byte; otherwise
        opened now and appended to from its current size (a task re-attached after a restart)."""
        self.path = path
        if fresh:
            self.fd = -1
            self.size = 0
        else:
            self.fd = _open_for_append(path)
            self.size = os.fstat(self.fd).st_size  # bytes accepted; event offsets count these
        self.written = self.size  # bytes in the file
        self.error: OSError | None = None
        self.tail = b""  # accepted bytes whose event waits for the rest of a UTF-8 sequence
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.on_progress: Callable[[], None] | None = None
        self.closed = False  # writer thread: closed (no file is created after this)

    @property
    def pending(self) -> int:
        return self.size - self.written

    async def flushed(self, upto: int) -> None:
        """Wait until the file holds every accepted byte before ``upto``."""
        if self.written >= min(upto, self.size) or self.error is not None:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((min(upto, self.size), fut))
        await fut

    def _advance(self, n: int, error: OSError | None) -> None:
        """Loop-side: the writer thread finished one append."""
        self.written += n
        if error is not None and self.error is None:
            self.error = error
        keep = []
        for upto, fut in self._waiters:
            if self.written >= upto or self.error is not None:
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((upto, fut))
        self._waiters = keep
        if self.on_progress is not None:
            self.on_progress()


class LogWriter:
    """The single thread that appends to every task log."""

    def __init__(self) -> None:
        self._q: queue.SimpleQueue[tuple[StreamLog, bytes | None, asyncio.AbstractEventLoop] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def append(self, log: StreamLog, data: bytes) -> None:
        """Accept ``data`` for ``log``; it reaches the file in order, soon."""
        log.size += len(data)
        self._q.put((log, data, asyncio.get_running_loop()))

    def close(self, log: StreamLog) -> None:
        """Close the file after everything appended so far is written."""
        self._q.put((log, None, asyncio.get_running_loop()))

    def stop(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            log, data, loop = item
            if data is None:
                log.closed = True
                if log.fd >= 0:
                    os.close(log.fd)
                    log.fd = -1
                continue
            error: OSError | None = None
            view = memoryview(data)
            try:
                if log.fd < 0 and not log.closed:
                    make_private_dir(log.path.parent)
                    log.fd = _open_for_append(log.path)
                while view:
                    n = os.write(log.fd, view)
                    view = view[n:]
            except OSError as exc:
                error = exc
            done = len(data) - len(view)
            try:
                loop.call_soon_threadsafe(log._advance, done if error is None else len(data), error)
            except RuntimeError:  # the loop has closed (daemon exit): nothing is waiting
                pass


def _open_for_append(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, PRIVATE_FILE_MODE)
