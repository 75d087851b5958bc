"""The shells around :class:`~executive.dap.session.DapSession`: stdio and TCP.

Each only moves bytes: it reads the editor's stream into the codec, queues the decoded
requests and the daemon's events on **one** queue, and lets one consumer hand them to the
session in order — so a request handler and an event never interleave (the session
relies on that; see its theory of operation).  Writes are the encoded messages the
session emits.  The session ends at ``disconnect``, at end of input, or when the daemon
connection drops; the tasks the adapter launched are then killed unless the editor asked to
leave it running, and a daemon the adapter started is stopped.  SIGTERM and SIGINT (an
editor ending the adapter) cancel the sessions, so that clean-up still runs; only a
SIGKILL can leave a started daemon behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from executive.api.client import Client
from executive.dap.codec import DapCodec, FramingError, encode
from executive.dap.daemon import open_daemon
from executive.dap.session import DapSession

__all__ = ["run_session", "serve_stdio", "serve_tcp"]

_READ = 64 * 1024


async def run_session(reader: asyncio.StreamReader, write: Callable[[bytes], None], home: Path) -> None:
    """Serve one DAP session on a byte stream until disconnect or end of input."""
    client, embedded = await open_daemon(home)
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    session = DapSession(client, lambda msg: write(encode(msg)))
    tasks = [asyncio.ensure_future(_read_requests(reader, queue)), asyncio.ensure_future(_pump_events(client, queue))]
    try:
        while not session.closed:
            kind, item = await queue.get()
            if kind == "request":
                await session.handle(item)
            elif kind == "event":
                await session.on_event(item)
            else:
                if kind == "error":
                    sys.stderr.write(f"executive dap: {item}\n")
                break
    finally:
        for t in tasks:
            t.cancel()
        if not session.closed:
            for pid in session.orphans():
                with contextlib.suppress(Exception):  # the editor went away: do not leave its programs behind
                    await client.call("vm.kill", task=pid)
        await session.aclose()
        await client.close()
        if embedded is not None:
            await embedded.stop()


async def _read_requests(reader: asyncio.StreamReader, queue: asyncio.Queue[tuple[str, Any]]) -> None:
    codec = DapCodec()
    try:
        while True:
            data = await reader.read(_READ)
            if not data:
                break
            codec.receive_data(data)
            for msg in codec.next_messages():
                queue.put_nowait(("request", msg))
    except FramingError as exc:
        queue.put_nowait(("error", str(exc)))
        return
    queue.put_nowait(("eof", None))


async def _pump_events(client: Client, queue: asyncio.Queue[tuple[str, Any]]) -> None:
    async for ev in client.events():
        queue.put_nowait(("event", ev))
    queue.put_nowait(("error", "the connection to the daemon closed"))


def _cancel_on_signals() -> None:
    """SIGTERM/SIGINT cancel the running main task, so every ``finally`` clean-up runs."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)


async def serve_stdio(home: Path) -> None:
    """One session over this process's stdin/stdout (how VS Code runs an adapter)."""
    _cancel_on_signals()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_READ)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer

    def write(data: bytes) -> None:
        out.write(data)
        out.flush()

    with contextlib.suppress(asyncio.CancelledError):
        await run_session(reader, write, home)


async def serve_tcp(home: Path, port: int, *, on_ready: Callable[[int], None] | None = None) -> None:
    """Sessions on 127.0.0.1:``port`` (0 picks one), one per connection, until a signal."""
    _cancel_on_signals()
    sessions: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        sessions.add(task)
        try:
            await run_session(reader, writer.write, home)
        except Exception as exc:  # one editor's failure must not end the server
            sys.stderr.write(f"executive dap: session failed: {exc}\n")
        finally:
            sessions.discard(task)
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    bound = server.sockets[0].getsockname()[1]
    if on_ready is not None:
        on_ready(bound)
    try:
        async with server:
            await server.serve_forever()
    except asyncio.CancelledError:
        for t in list(sessions):
            t.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)
