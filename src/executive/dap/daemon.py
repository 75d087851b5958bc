"""Reach the daemon for a DAP session: the running one of this home, or one started for it.

An editor starts ``executive dap`` without caring whether a daemon runs.  When
``daemon.json`` of the home names a live daemon, the adapter is one more client of it
(its tasks, other sessions and the HSX port stay visible).  Otherwise it starts
``executive serve --port 0`` for the same home as a child process, waits for its
``daemon.json`` and stops it (SIGTERM, then SIGKILL) when the session ends, so nothing
is left behind.  A child rather than an in-process daemon keeps the adapter's stdio
free for DAP and the daemon's event loop free of the adapter's.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from executive.api.client import Client, DaemonNotRunning, connect_home

__all__ = ["EmbeddedDaemon", "open_daemon"]

_START_TIMEOUT = 30.0  # seconds for a started daemon to write daemon.json
_STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL


class EmbeddedDaemon:
    """A daemon this adapter started; :meth:`stop` ends it."""

    def __init__(self, proc: asyncio.subprocess.Process, home: Path) -> None:
        self.proc = proc
        self.home = home

    async def stop(self) -> None:
        if self.proc.returncode is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), _STOP_TIMEOUT)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def _start(home: Path) -> EmbeddedDaemon:
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "dap-daemon.log", "ab")  # handed to the child; closed below
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "executive", "serve", "--port", "0",
            env=dict(os.environ, EXECUTIVE_HOME=str(home)),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    finally:
        log.close()
    daemon = EmbeddedDaemon(proc, home)
    deadline = time.monotonic() + _START_TIMEOUT
    path = home / "daemon.json"
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise DaemonNotRunning(
                f"`executive serve` for {home} exited with {proc.returncode}; see {home / 'dap-daemon.log'}"
            )
        try:
            if json.loads(path.read_text()).get("pid") == proc.pid:
                return daemon
        except (OSError, ValueError):
            pass
        await asyncio.sleep(0.02)
    await daemon.stop()
    raise DaemonNotRunning(f"`executive serve` for {home} did not start within {_START_TIMEOUT:.0f} s")


async def open_daemon(home: Path) -> tuple[Client, EmbeddedDaemon | None]:
    """A client of the home's daemon, starting one (returned, to stop later) if none runs.

    Raises:
        DaemonNotRunning: none runs and one could not be started.
    """
    try:
        return await connect_home(home), None
    except DaemonNotRunning:
        pass
    daemon = await _start(home)
    try:
        return await connect_home(home), daemon
    except BaseException:
        await daemon.stop()
        raise
