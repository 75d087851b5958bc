"""Following a task's logs straight from its files, for a CLI on the daemon's own machine.

Over the connection every byte of a task's output crosses the daemon twice: it reads the
pipe, appends to the log, and sends the same bytes again down a socket the CLI reads.
On the daemon's machine the logs are right there, in the documented place
(``$EXECUTIVE_HOME/tasks/<id>/{stdout,stderr}.log``, DESIGN.md §6), append-only, and
every byte is in them before the task is reported ended.  So `executive run` there
subscribes to state events only and copies the logs to its own stdout and stderr with
``sendfile(2)`` (the bytes never enter this process) as they grow; inotify says when
they grew.  The bytes and their order within a stream are exactly the log's, as over
the connection.

Used only when the daemon listens on a loopback address, the logs can be opened, and
``EXECUTIVE_LOCAL_LOGS`` is not ``0``; otherwise (and for whatever could not be read here)
output comes over the connection as before.  Standard library only: the quick commands
import it.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import os
import select
import sys
from pathlib import Path
from urllib.parse import urlsplit

from executive.cli._output import write_all

__all__ = ["LocalLogs", "local_logs_allowed"]

STREAMS = ("stdout", "stderr")
_IN_MODIFY = 0x00000002  # <sys/inotify.h>
_IN_CREATE = 0x00000100
_COPY_BYTES = 1 << 20  # per sendfile call: one call drains what a burst left, a Ctrl-C is seen between calls
_NO_SENDFILE = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV}


def local_logs_allowed(url: str) -> bool:
    """Whether a daemon at ``url`` is on this machine (a loopback address) and reading its logs is not turned off."""
    if os.environ.get("EXECUTIVE_LOCAL_LOGS", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Inotify:
    """One non-blocking inotify descriptor (libc through ctypes: no module of the standard library wraps it)."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        self.fd: int = fd

    def watch(self, path: Path, mask: int) -> int:
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(path))
        return int(wd)

    def unwatch(self, wd: int) -> None:
        self._libc.inotify_rm_watch(self.fd, wd)

    def drain(self) -> None:
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        os.close(self.fd)


class LocalLogs:
    """Copies one task's two logs to our stdout and stderr from ``next`` on, as the files grow.

    :meth:`fileno` is readable when a log may have grown or appeared (wait on it beside the
    connection); :meth:`pump` copies whatever is new.  ``next`` holds the offset reached per
    stream, so a follower over the connection can take over from there (:attr:`failed` says
    it must).  The daemon creates a log, and the task's directory, at its stream's first byte
    (runtimes/logwriter.py): until then there is nothing to copy.
    """

    def __init__(self, task_dir: Path) -> None:
        self.task_dir = task_dir
        self.next = dict.fromkeys(STREAMS, 0)
        self.failed: OSError | None = None  # a log could not be read here: the rest comes over the connection
        self._files: dict[str, int] = {}
        self._sendfile = dict.fromkeys(STREAMS, True)  # False once our destination refused sendfile
        self._notify = _Inotify()
        self._dir_wd: int | None = None  # watching the task's directory (its logs appear and grow there)
        self._parent_wd: int | None = None  # watching tasks/ for the task's directory to appear
        self._watching = True  # False once the task has ended: its logs are complete

    def fileno(self) -> int:
        return self._notify.fd

    def _open(self) -> None:
        """Open the logs that exist; watch the directory they appear and grow in (or, before it exists, its parent)."""
        if self._dir_wd is None and self._watching:
            try:
                self._dir_wd = self._notify.watch(self.task_dir, _IN_MODIFY | _IN_CREATE)
            except FileNotFoundError:
                if self._parent_wd is None:
                    try:
                        self._parent_wd = self._notify.watch(self.task_dir.parent, _IN_CREATE)
                    except OSError as exc:
                        self.failed = exc
                        return
                    self._open()  # it may have appeared in between
                return
            except OSError as exc:
                self.failed = exc
                return
            if self._parent_wd is not None:
                self._notify.unwatch(self._parent_wd)  # other tasks' directories need not wake us
                self._parent_wd = None
        for stream in STREAMS:
            if stream in self._files:
                continue
            try:
                self._files[stream] = os.open(self.task_dir / f"{stream}.log", os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # nothing printed on it yet
            except OSError as exc:
                self.failed = exc
                return

    def stop_watching(self) -> None:
        """The task has ended (its logs are complete): drop the watches now.

        Closing an inotify descriptor waits for the kernel to retire its watches (an SRCU grace
        period, ~7 ms here, the longest single step of a short ``executive run``); removed
        here, before the last copy, they retire while that copy and the goodbye go on.
        """
        self._watching = False
        for wd in (self._dir_wd, self._parent_wd):
            if wd is not None:
                self._notify.unwatch(wd)
        self._dir_wd = self._parent_wd = None

    def pump(self) -> None:
        """Copy what the logs hold beyond ``next`` to stdout and stderr (BrokenPipeError: our reader left)."""
        self._notify.drain()
        if len(self._files) < len(STREAMS) and self.failed is None:
            self._open()
        for stream, src in list(self._files.items()):
            if self.failed is None:
                self._copy(stream, src)

    def _copy(self, stream: str, src: int) -> None:
        target = sys.stdout if stream == "stdout" else sys.stderr
        target.flush()
        dst = target.fileno()
        at = self.next[stream]
        while True:
            if self._sendfile[stream]:
                try:
                    n = os.sendfile(dst, src, at, _COPY_BYTES)
                except BlockingIOError:  # a descriptor left non-blocking by another process sharing it
                    select.select([], [dst], [])
                    continue
                except OSError as exc:
                    if exc.errno not in _NO_SENDFILE:
                        raise  # EPIPE is BrokenPipeError: our reader went away
                    self._sendfile[stream] = False  # a terminal, an O_APPEND file, ...: read, then write
                    continue
            else:
                try:
                    data = os.pread(src, _COPY_BYTES, at)
                except OSError as exc:
                    self.failed = exc
                    return
                write_all(dst, data)
                n = len(data)
            if n == 0:
                return
            at += n
            self.next[stream] = at

    def close(self) -> None:
        for fd in self._files.values():
            os.close(fd)
        self._files = {}
        self._notify.close()
