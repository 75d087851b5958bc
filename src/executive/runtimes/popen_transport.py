"""A subprocess transport over ``subprocess.Popen``, its pipes and a pidfd: a spawn costs what a fork+exec costs.

uvloop's ``subprocess_exec`` (libuv's spawn) takes about 10 ms per process here against 1.5 ms
for CPython's ``_posixsubprocess`` (vfork), and the daemon runs on uvloop.  This module spawns
with ``Popen`` and then hands the pipes to the running loop (``connect_read_pipe`` /
``connect_write_pipe``); the exit is seen through a pidfd (Linux 5.3+) the loop watches, so
there is no child watcher thread and no SIGCHLD handler.  It offers the part of
``asyncio.SubprocessTransport`` the process supervisor uses, and calls the protocol's
``connection_made`` (pipes connected), ``pipe_data_received``, ``pipe_connection_lost`` and
``process_exited`` in that order, whatever the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Callable
from typing import Any

__all__ = ["AVAILABLE", "PopenTransport"]

AVAILABLE = hasattr(os, "pidfd_open")


class _Reader(asyncio.Protocol):
    """One output pipe: data and EOF go to the subprocess protocol (held back until connection_made)."""

    def __init__(self, owner: PopenTransport, fd: int) -> None:
        self.owner = owner
        self.fd = fd

    def data_received(self, data: bytes) -> None:
        self.owner._deliver(lambda: self.owner.protocol.pipe_data_received(self.fd, data))

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._deliver(lambda: self.owner.protocol.pipe_connection_lost(self.fd, exc))


class _Writer(asyncio.BaseProtocol):
    def __init__(self, owner: PopenTransport) -> None:
        self.owner = owner

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._deliver(lambda: self.owner.protocol.pipe_connection_lost(0, exc))


class PopenTransport(asyncio.SubprocessTransport):
    def __init__(self, loop: asyncio.AbstractEventLoop, proc: subprocess.Popen[bytes], protocol: Any) -> None:
        super().__init__()
        self._loop = loop
        self._proc = proc
        self.protocol = protocol
        self._pipes: dict[int, Any] = {}
        self._made = False
        self._held: list[Callable[[], None]] = []  # callbacks that came before connection_made
        self._pidfd: int | None = None
        self._closed = False

    @classmethod
    async def spawn(
        cls,
        protocol_factory: Callable[[], asyncio.SubprocessProtocol],
        argv: list[str],
        *,
        stdin: bool,
        **popen: Any,
    ) -> tuple[PopenTransport, asyncio.SubprocessProtocol]:
        """Start ``argv`` (``popen``: Popen's keyword arguments) and connect its pipes to the running loop."""
        loop = asyncio.get_running_loop()
        protocol = protocol_factory()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            **popen,
        )
        self = cls(loop, proc, protocol)
        try:
            self._pidfd = os.pidfd_open(proc.pid)
            loop.add_reader(self._pidfd, self._on_exit)
            assert proc.stdout is not None and proc.stderr is not None
            self._pipes[1] = (await loop.connect_read_pipe(lambda: _Reader(self, 1), proc.stdout))[0]
            self._pipes[2] = (await loop.connect_read_pipe(lambda: _Reader(self, 2), proc.stderr))[0]
            if proc.stdin is not None:
                self._pipes[0] = (await loop.connect_write_pipe(lambda: _Writer(self), proc.stdin))[0]
        except BaseException:
            self.close()
            raise
        self._made = True
        protocol.connection_made(self)
        held, self._held = self._held, []
        for call in held:
            call()
        return self, protocol

    def _deliver(self, call: Callable[[], None]) -> None:
        if self._made:
            call()
        else:
            self._held.append(call)

    def _on_exit(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self._proc.wait()  # it has exited: this only collects its status
        self._deliver(self.protocol.process_exited)

    # --- asyncio.SubprocessTransport ---
    def get_pid(self) -> int:
        return self._proc.pid

    def get_returncode(self) -> int | None:
        return self._proc.returncode

    def get_pipe_transport(self, fd: int) -> Any:
        return self._pipes.get(fd)

    def send_signal(self, signal: int) -> None:
        self._proc.send_signal(signal)

    def terminate(self) -> None:
        self._proc.terminate()

    def kill(self) -> None:
        self._proc.kill()

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the pipes; a process still running is killed and collected (as asyncio's transport does)."""
        if self._closed:
            return
        self._closed = True
        for pipe in self._pipes.values():
            pipe.close()
        if self._proc.returncode is None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            if self._pidfd is None:
                self._proc.wait()
        # (The pipe transports close the pipes' file objects.)
