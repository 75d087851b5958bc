"""Every OS side effect of process supervision, behind one injectable object.

The supervisor (``process.py``) never calls ``os.kill``, ``psutil`` or the
clock directly; it calls a :class:`ProcessOS`.  Tests use the real one with
real processes; a test that needs to observe signals can subclass it.
(supervisor's ``ServerOptions`` is the model: ``kill``/``setpgrp`` live there.)
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import signal
import stat
import time
from collections.abc import Callable, Iterable
from typing import Any

import psutil

from executive.runtimes import popen_transport
from executive.runtimes.containment import Containment, detect

__all__ = ["MARKER_ENV", "ProcessOS", "exe_path"]

# Every supervised child carries this variable; its value names the daemon home
# and the task, so the whole tree can be found even after a grandchild called
# setsid() and its parent died (it is then no longer a descendant by ppid).
MARKER_ENV = "EXECUTIVE_TASK"
PIPE_SIZE = 1024 * 1024  # bytes of child output the kernel may buffer per stream


def exe_path(argv0: str, cwd: str) -> str:
    """``argv[0]`` as the exec call will look it up: a relative path with a slash is relative to the task's cwd."""
    return argv0 if os.sep not in argv0 or os.path.isabs(argv0) else os.path.join(cwd, argv0)


class ProcessOS:
    """The real operating system."""

    containment: Containment | None = None  # chosen by contain() (the process runtime calls it)

    def monotonic(self) -> float:
        return time.monotonic()

    def which(self, exe: str, path: str | None) -> str | None:
        """Resolve an executable like the exec call will (absolute/relative paths as given)."""
        if os.sep in exe:
            return os.path.realpath(exe) if os.access(exe, os.X_OK) and os.path.isfile(exe) else None
        found = shutil.which(exe, path=path)
        return os.path.realpath(found) if found else None

    def open_executable(self, path: str) -> tuple[int, str]:
        """Open the file ``path`` names (without reading it) and return the descriptor and its real path.

        The real path is read back from the descriptor (``/proc/self/fd``), so it names the very file
        that was opened, whatever happens to ``path`` (a symlink re-pointed, a file replaced) afterwards.
        """
        fd = os.open(path, getattr(os, "O_PATH", os.O_RDONLY) | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EACCES, "not a regular file", path)
            real = os.readlink(f"/proc/self/fd/{fd}")
        except BaseException:
            os.close(fd)
            raise
        return fd, real

    def close_fd(self, fd: int) -> None:
        os.close(fd)

    async def spawn(
        self,
        protocol_factory: Callable[[], asyncio.SubprocessProtocol],
        argv: list[str],
        *,
        cwd: str | None,
        env: dict[str, str],
        stdin: bool,
        executable: str | None = None,
        pass_fds: tuple[int, ...] = (),
        unit: str | None = None,
    ) -> tuple[asyncio.SubprocessTransport, Any]:
        """Start ``argv`` in a new session (and so a new process group).

        ``executable``, when given, is the file executed (``argv[0]`` stays what the program sees);
        ``pass_fds`` are descriptors the child keeps (the opened executable, for an exact exec);
        ``unit`` (a task's marker) is the containment the child is born in.
        """
        extra: dict[str, Any] = {}
        if executable is not None:
            extra["executable"] = executable
        if pass_fds:
            extra["pass_fds"] = pass_fds
        if unit is None:
            return await self._exec(protocol_factory, argv, cwd=cwd, env=env, stdin=stdin, extra=extra)
        contained = self._contained()
        contained.before_spawn(unit)  # (cgroup: the daemon is in the task's cgroup until after_spawn)
        pid: int | None = None
        try:
            transport, protocol = await self._exec(protocol_factory, argv, cwd=cwd, env=env, stdin=stdin, extra=extra)
            pid = transport.get_pid()
            return transport, protocol
        finally:
            contained.after_spawn(unit, pid)

    async def _exec(
        self,
        protocol_factory: Callable[[], asyncio.SubprocessProtocol],
        argv: list[str],
        *,
        cwd: str | None,
        env: dict[str, str],
        stdin: bool,
        extra: dict[str, Any],
    ) -> tuple[asyncio.SubprocessTransport, Any]:
        if popen_transport.AVAILABLE:  # CPython's vfork spawn and a pidfd: several times faster than uvloop's
            return await popen_transport.PopenTransport.spawn(
                protocol_factory, argv, stdin=stdin, cwd=cwd, env=env, start_new_session=True, close_fds=True, **extra
            )
        loop = asyncio.get_running_loop()
        return await loop.subprocess_exec(
            protocol_factory,
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
            **extra,
        )

    def grow_pipe(self, pipe_transport: Any) -> None:
        """Enlarge a child's output pipe (Linux F_SETPIPE_SZ) so a fast producer
        is not throttled to 64 KiB per event-loop turn; best effort."""
        try:
            import fcntl

            pipe = pipe_transport.get_extra_info("pipe")
            fd = pipe if isinstance(pipe, int) else pipe.fileno()
            fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
        except (OSError, AttributeError, ValueError):
            pass

    def create_time(self, pid: int) -> float | None:
        try:
            return psutil.Process(pid).create_time()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None

    def contain(self, instance: str) -> Containment:
        """Choose this daemon's containment (once): a cgroup per task where possible, else a subreaper."""
        if self.containment is None:
            self.containment = detect(instance)
        return self.containment

    def _contained(self) -> Containment:
        return self.containment if self.containment is not None else self.contain(f"pid{os.getpid()}")

    def tree(self, leader: int | None, marker: str) -> list[int]:
        """All live processes of the task whose marker is ``marker`` (from its containment: no host scan)."""
        return self._contained().members(marker, leader)

    def kill_unit(self, marker: str, pids: Iterable[int]) -> None:
        """SIGKILL every process of a task at once (``cgroup.kill``), or each of ``pids``."""
        self._contained().kill(marker, pids)

    def release(self, marker: str) -> bool:
        """A task ended and its processes are gone: drop its containment (False if some remain)."""
        return self._contained().release(marker)

    def release_if_empty(self, marker: str) -> bool:
        """Drop a task's containment if that alone proves no process of it is left (a cgroup's rmdir)."""
        return self._contained().release_if_empty(marker)

    def signal_all(self, pids: Iterable[int], sig: signal.Signals) -> int:
        """Send ``sig`` to each pid; returns how many were still there."""
        sent = 0
        for pid in pids:
            try:
                os.kill(pid, sig)
                sent += 1
            except (ProcessLookupError, PermissionError):
                continue
        return sent

    def signal_group(self, pgid: int, sig: signal.Signals) -> bool:
        """Send ``sig`` to a process group at once (one syscall, no scan); False if the group is gone."""
        try:
            os.killpg(pgid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def pgid(self, pid: int) -> int | None:
        """The process group of ``pid`` (None if it is gone)."""
        try:
            return os.getpgid(pid)
        except (ProcessLookupError, PermissionError):
            return None

    def alive(self, pid: int, create_time: float | None) -> bool:
        """Whether ``pid`` is still the process that started at ``create_time``."""
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            return create_time is None or abs(proc.create_time() - create_time) < 0.01
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False
