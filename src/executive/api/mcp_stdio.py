"""``executive mcp``: the MCP server on stdin/stdout, as a client of the daemon.

It connects to the daemon recorded in ``$EXECUTIVE_HOME/daemon.json`` (how
every CLI command finds it, api/daemon_file.py).  When none runs, it starts
one embedded in this process (port 0, the same home, the same token) and
talks to it over the same WebSocket client, so the tasks it runs are visible
to ``executive ps`` while the MCP session lasts; when the host closes stdin,
the embedded daemon stops and cancels its live tasks, like ``executive serve``
on Ctrl-C.  Running ``executive serve`` separately keeps tasks alive across
MCP sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from mcp.server.stdio import stdio_server

from executive.api.client import DaemonNotRunning, connect_home
from executive.api.mcp import ExecutiveMcp
from executive.api.mcp_backend import ClientBackend

__all__ = ["open_daemon_backend", "serve_stdio"]

EMBEDDED_START_S = 30.0  # longest wait for an embedded daemon to listen


@contextlib.asynccontextmanager
async def open_daemon_backend(home: Path, *, embed: bool = True) -> AsyncIterator[ClientBackend]:
    """A backend connected to ``home``'s daemon, starting an embedded one if none runs (and ``embed``)."""
    stop: asyncio.Event | None = None
    daemon: asyncio.Task[None] | None = None
    try:
        client = await connect_home(home)
    except DaemonNotRunning:
        if not embed:
            raise
        from executive.api.server import ServeOptions, serve

        stop = asyncio.Event()
        ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        daemon = asyncio.ensure_future(
            serve(ServeOptions(home, port=0), on_ready=lambda info: ready.set_result(info), stop=stop)
        )
        waiting: set[asyncio.Future[Any]] = {ready, daemon}
        done, _ = await asyncio.wait(waiting, timeout=EMBEDDED_START_S, return_when=asyncio.FIRST_COMPLETED)
        if daemon in done:
            daemon.result()  # raises why it could not start
        if ready not in done:
            stop.set()
            raise DaemonNotRunning(f"the embedded daemon did not start within {EMBEDDED_START_S:.0f}s") from None
        client = await connect_home(home)
    backend = ClientBackend(client)
    try:
        yield backend
    finally:
        await backend.aclose()
        if stop is not None and daemon is not None:
            stop.set()
            await asyncio.wait_for(daemon, 30)


async def serve_stdio(home: Path, *, embed: bool = True) -> None:
    """Serve one MCP session on stdin/stdout until the host closes stdin.

    Raises:
        DaemonNotRunning: no daemon runs for ``home`` and ``embed`` is false.
    """
    async with open_daemon_backend(home, embed=embed) as backend:
        mcp = ExecutiveMcp(backend)
        try:
            async with stdio_server() as (read_stream, write_stream):
                await mcp.server.run(read_stream, write_stream, mcp.server.create_initialization_options())
        finally:
            mcp.close()
