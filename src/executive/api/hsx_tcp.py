"""The HSX TCP port: a thin asyncio shell around the sans-I/O core (spec hsx-executive §1.2, §12).

``start_hsx_server(ex, host=..., port=...)`` listens (127.0.0.1 by default;
port 0 picks a free one) and serves HSX's own clients — ``shell_client.py``
(one connection per request), hsxdbg and the VS Code adapter (one persistent
connection with events and replies interleaved).  All protocol decisions are
in hsx_protocol.py; this file only moves bytes:

* a reader loop per connection feeds what it reads to the core and runs each
  line in order (one reply per request, in order);
* a writer loop per connection writes what the core has queued whenever the
  core wakes it, awaiting ``drain()`` — so a client that stops reading only
  stalls its own writer while its events wait (and drop oldest first) in the
  bounded subscription ring; its reader stops taking requests once ~1 MiB of
  replies is queued;
* a 1 s ticker lets the core end the streams of expired sessions, and a pacing
  ticker runs while a ``clock rate`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from executive.api.auth import is_loopback
from executive.api.hsx_protocol import HsxConnection, HsxCore, encode_line
from executive.kernel.errors import BadParamsError

__all__ = ["HsxServer", "start_hsx_server"]

log = structlog.get_logger("executive.hsx_tcp")

_READ_CHUNK = 64 * 1024
_MAX_REPLY_BACKLOG = 1024 * 1024  # queued reply bytes at which a connection stops taking requests
_RATE_TICK_S = 0.01  # pacing of `clock rate`


class HsxServer:
    """A listening HSX port; :meth:`close` stops it and drops every connection."""

    def __init__(self, core: HsxCore) -> None:
        self.core = core
        self.server: asyncio.Server | None = None
        self.host = ""
        self.port = 0
        self._conns: dict[HsxConnection, asyncio.StreamWriter] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._rate_task: asyncio.Task[None] | None = None
        core.on_rate_clock = self._rate_clock

    # --- lifecycle -------------------------------------------------------------------------------
    async def _listen(self, host: str, port: int) -> None:
        try:
            self.server = await asyncio.start_server(self._serve, host, port, reuse_address=True, limit=_READ_CHUNK)
        except OSError as exc:
            raise BadParamsError(
                f"cannot listen on {host}:{port} for the HSX port: {exc.strerror or exc}; "
                "pick another --hsx-port (0 = any free port)"
            ) from exc
        self.host, self.port = self.server.sockets[0].getsockname()[:2]
        self._spawn(self._housekeep())

    def close(self) -> None:
        """Stop listening, end every stream and close every connection (idempotent).

        Connection handlers are not cancelled (asyncio's stream server reports a cancelled
        handler as an error); closing their sockets ends them.
        """
        if self.server is not None:
            self.server.close()
            self.server = None
        self.core.close()
        for writer in list(self._conns.values()):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._rate_task is not None:
            self._rate_task.cancel()
            self._rate_task = None

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        self.close()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.core.tick()

    def _rate_clock(self, on: bool) -> None:
        if self._rate_task is not None:
            self._rate_task.cancel()
            self._rate_task = None
        if on:
            self._rate_task = asyncio.ensure_future(self._pace())

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(_RATE_TICK_S)
            now = loop.time()
            try:
                self.core.rate_tick(now - last)
            except Exception:
                log.exception("hsx_rate_tick_failed")
            last = now

    # --- one connection --------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        limits = self.core.ex.limits
        peer = writer.get_extra_info("peername")
        if len(self._conns) >= limits.hsx_max_connections:
            writer.write(
                encode_line(
                    {
                        "version": 1,
                        "status": "error",
                        "error": (
                            f"too many connections ({limits.hsx_max_connections}, limit hsx_max_connections); "
                            "close idle clients and retry"
                        ),
                    }
                )
            )
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
            return
        conn = HsxConnection(self.core, peer=str(peer))
        wake = asyncio.Event()
        room = asyncio.Event()
        conn.notify = wake.set
        self._conns[conn] = writer
        out = self._spawn(self._write_loop(conn, writer, wake, room))
        try:
            await self._read_loop(conn, reader, out, room)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            out.cancel()
            conn.connection_lost()
            self._conns.pop(conn, None)
            rest = conn.take_replies()  # a client that half-closed after its request still gets the reply
            if rest and not writer.is_closing():
                writer.write(rest)
            writer.close()

    async def _read_loop(
        self, conn: HsxConnection, reader: asyncio.StreamReader, out: asyncio.Task[None], room: asyncio.Event
    ) -> None:
        while not conn.want_close and not out.done():
            data = await reader.read(_READ_CHUNK)
            if not data:
                return
            for line in conn.receive_data(data):
                pending = conn.handle_line(line)
                if pending is not None:
                    await pending
                while conn.reply_backlog > _MAX_REPLY_BACKLOG and not out.done():
                    room.clear()
                    await room.wait()

    async def _write_loop(
        self, conn: HsxConnection, writer: asyncio.StreamWriter, wake: asyncio.Event, room: asyncio.Event
    ) -> None:
        try:
            while True:
                await wake.wait()
                wake.clear()
                while True:
                    data = conn.data_to_send()
                    if data:
                        writer.write(data)
                        await writer.drain()
                        room.set()
                    if conn.want_close:
                        writer.close()  # the stream ended on a stream-only connection: EOF (spec §5.4)
                        return
                    if not data:
                        break
                if conn.closed:
                    return
        except (ConnectionError, RuntimeError):
            writer.close()
        finally:
            room.set()


async def start_hsx_server(
    ex: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 9998,
    allow_shutdown: bool = False,
    on_shutdown: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.time,
    allow_remote: bool = False,
) -> HsxServer:
    """Serve the HSX executive protocol for ``ex`` (an :class:`~executive.service.Executive`).

    Args:
        host: address to bind (loopback by default: the protocol has no authentication, spec §1.1).
        port: TCP port; 0 picks a free one (read it from ``.port``).
        allow_shutdown: let the ``shutdown`` command call ``on_shutdown`` (off by default: the
            daemon serves other clients too).
        allow_remote: bind a non-loopback ``host`` although the protocol has no authentication.

    Raises:
        BadParamsError: the address cannot be bound, or is not loopback (without ``allow_remote``).
    """
    if not allow_remote and not is_loopback(host):
        raise BadParamsError(
            f"refusing to serve the HSX port on {host}: the HSX protocol has no authentication (spec §1.1), so it "
            "listens on loopback only; serve it on 127.0.0.1 and tunnel it (ssh -L) to reach it from elsewhere"
        )
    server = HsxServer(HsxCore(ex, clock=clock, allow_shutdown=allow_shutdown, on_shutdown=on_shutdown))
    await server._listen(host, port)
    log.info("hsx_port_ready", host=server.host, port=server.port)
    return server
