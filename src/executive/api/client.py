"""Async JSON-RPC client for ``/rpc`` (used by the CLI, the tests and the benchmarks).

One reader task demultiplexes the socket: replies resolve the future of their
request id, ``events`` notifications go to :meth:`Client.events`.  Binary output
frames (subscriptions made with ``output="binary"``, api/output_frames.py) join the
same queue in arrival order, one event per chunk::

    {"seq": 812, "type": "output", "pid": 7, "subscription": 3,
     "data": {"stream": "stdout", "offset": 4096, "raw": <memoryview of the bytes>}}

so a consumer sees output and state events in the order the daemon sent them, and
``output_frames.event_bytes(ev["data"])`` gives the bytes of any output event.  A
``task.output`` call with ``output="binary"`` returns its reply with the slice's bytes
added as ``raw`` (they travel in the binary frame just before the reply).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection, connect

from executive.api.auth import read_token
from executive.api.daemon_file import DaemonNotRunning, read_daemon_file
from executive.api.output_frames import REPLY_DATA, FrameError, decode_frame
from executive.api.rpc_errors import DaemonClosedConnection, RpcError

__all__ = ["Client", "DaemonClosedConnection", "DaemonNotRunning", "RpcError", "connect_home"]


class Client:
    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._events: collections.deque[dict[str, Any]] = collections.deque()
        self._event_ready = asyncio.Event()
        self._reply_data: dict[tuple[int, str, int], memoryview] = {}  # task.output bytes waiting for their reply
        self._closed_exc: BaseException | None = None
        self._reader = asyncio.ensure_future(self._read_loop())
        self.notifications: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=1000
        )  # non-event notifications

    @classmethod
    async def connect(
        cls,
        url: str,
        token: str | None = None,
        *,
        max_size: int | None = 64 * 1024 * 1024,
        tls_cert: str | None = None,
    ) -> Client:
        """Connect to ``url``; for wss:// with ``tls_cert``, trust exactly that certificate (the daemon's own)."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        extra: dict[str, Any] = {}
        if tls_cert is not None and url.startswith("wss://"):
            extra["ssl"] = pinned_tls_context(tls_cert)
        ws = await connect(
            url,
            additional_headers=headers,
            max_size=max_size,
            ping_interval=20,
            ping_timeout=60,
            compression=None,
            **extra,
        )
        return cls(ws)

    async def _read_loop(self) -> None:
        try:
            async for frame in self._ws:
                if isinstance(frame, bytes):  # a binary message: output chunks
                    self._output_frame(frame)
                    continue
                msg = orjson.loads(frame)
                if isinstance(msg, list):
                    for m in msg:
                        self._dispatch(m)
                else:
                    self._dispatch(msg)
        except (websockets.ConnectionClosed, OSError) as exc:
            self._closed_exc = exc
        except FrameError as exc:  # the daemon broke the format: nothing after it can be trusted
            self._closed_exc = exc
            await self._ws.close(1002, "bad binary frame")
        finally:
            err = self._closed_error()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(err)
            self._pending.clear()
            self._event_ready.set()

    def _output_frame(self, frame: bytes) -> None:
        sub, chunks = decode_frame(frame)
        if sub == REPLY_DATA:  # the bytes of the task.output reply that comes next
            for c in chunks:
                self._reply_data[(c.task, c.stream, c.offset)] = c.data
            return
        self._events.extend(c.as_event(sub) for c in chunks)
        self._event_ready.set()

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if "id" in msg and ("result" in msg or "error" in msg):
            fut = self._pending.pop(msg["id"], None) if msg["id"] is not None else None
            raw = None
            if "result" in msg and _binary_slice(msg["result"]):  # its bytes came in the frame just before it
                result = msg["result"]
                raw = self._reply_data.pop((result["task"], result["stream"], result["offset"]), None)
            if fut is not None and fut.done():  # the caller gave up (cancelled, timed out): drop the late reply
                return
            if fut is None:
                if msg.get("error"):
                    self.notifications.append(msg)
                return
            if "error" in msg:
                e = msg["error"]
                fut.set_exception(RpcError(e.get("code", 0), e.get("message", ""), e.get("data")))
            elif _binary_slice(msg["result"]):
                if raw is None:
                    fut.set_exception(ConnectionError("the daemon sent a binary task.output reply without its data"))
                else:
                    fut.set_result({**msg["result"], "raw": raw})
            else:
                fut.set_result(msg["result"])
        elif msg.get("method") == "events":
            self._events.extend(msg["params"]["events"])
            self._event_ready.set()
        else:
            self.notifications.append(msg)

    def _closed_error(self) -> ConnectionError:
        """Why the connection is gone: the daemon's own close reason when it gave one."""
        exc = self._closed_exc
        if isinstance(exc, FrameError):
            return ConnectionError(f"the daemon sent a bad binary frame: {exc}")
        if isinstance(exc, websockets.ConnectionClosed) and exc.rcvd is not None and exc.rcvd.reason:
            return DaemonClosedConnection(exc.rcvd.code, exc.rcvd.reason)
        return ConnectionError("connection to the daemon closed")

    async def call(self, method: str, **params: Any) -> Any:
        """Call one method; raises :class:`RpcError` on an error reply.

        Raises:
            DaemonClosedConnection: the daemon closed the connection with a reason.
            ConnectionError: the connection is gone for another reason.
        """
        if self._reader.done():
            raise self._closed_error()
        req_id = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        frame = orjson.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params}).decode()
        try:
            await self._ws.send(frame)
        except websockets.ConnectionClosed as exc:
            self._pending.pop(req_id, None)
            self._closed_exc = exc
            raise self._closed_error() from None
        return await fut

    async def subscribe(
        self,
        *,
        types: list[str] | None = None,
        tasks: list[int] | None = None,
        since_seq: int | None = None,
        ack_window: int | None = None,
        output: str = "json",
    ) -> dict[str, Any]:
        """``events.subscribe``; returns its reply (``subscription``, ``cursor``, ``oldest_seq``, ``output``).

        With ``output="binary"`` the subscription's output events arrive as binary frames
        and come out of :meth:`next_event` with ``data["raw"]`` (the bytes) instead of
        ``data["data"]``/``data["data_b64"]``; its other events are JSON as always.

        Raises:
            RpcError: bad params (a daemon older than binary output refuses ``output``
                with code -32602), or a limit.
        """
        params: dict[str, Any] = {"output": output} if output != "json" else {}
        for k, v in (("types", types), ("tasks", tasks), ("since_seq", since_seq), ("ack_window", ack_window)):
            if v is not None:
                params[k] = v
        return dict(await self.call("events.subscribe", **params))

    async def send_raw(self, frame: str | bytes) -> None:
        await self._ws.send(frame)

    async def next_event(self, timeout: float | None = None) -> dict[str, Any]:
        """The next event from any subscription of this client."""
        while not self._events:
            if self._reader.done():
                raise self._closed_error()
            self._event_ready.clear()
            if timeout is None:
                await self._event_ready.wait()
            else:
                await asyncio.wait_for(self._event_ready.wait(), timeout)
        return self._events.popleft()

    def take_events(self) -> list[dict[str, Any]]:
        out = list(self._events)
        self._events.clear()
        return out

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            try:
                yield await self.next_event()
            except ConnectionError:
                return

    async def close(self) -> None:
        await self._ws.close()
        try:
            await asyncio.wait_for(self._reader, 2.0)
        except (TimeoutError, Exception):
            self._reader.cancel()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


def _binary_slice(result: Any) -> bool:
    """Whether a reply is a ``task.output {output: "binary"}`` slice (its bytes came in the frame before it)."""
    return isinstance(result, dict) and result.get("output") == "binary" and "next_offset" in result


async def connect_home(home: Path) -> Client:
    """Connect to the daemon of ``home`` using its daemon.json and token.

    Raises:
        DaemonNotRunning: with a message that says how to start one.
    """
    info = read_daemon_file(home)
    token = read_token(home) if info.get("auth", True) else None
    try:
        return await Client.connect(info["url"], token, tls_cert=info.get("tls_cert"))
    except (OSError, websockets.InvalidHandshake) as exc:
        raise DaemonNotRunning(
            f"the daemon at {info.get('url')} does not answer ({exc}); start one with `executive serve`"
        ) from exc


def pinned_tls_context(cert_file: str) -> ssl.SSLContext:
    """A client TLS context that trusts one certificate: the daemon's, named in its daemon.json.

    A self-signed certificate and a CA-issued one both work (the file's certificate is an
    anchor by itself); the host name is not checked, because the client reached this daemon
    through its own home directory and compares the certificate itself.
    """
    ctx = ssl.create_default_context(cafile=cert_file)
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    ctx.check_hostname = False
    return ctx
