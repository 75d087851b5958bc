"""A small blocking JSON-RPC client for ``/rpc``: what the quick CLI commands use.

``executive ps`` is typed dozens of times a minute; asyncio and the ``websockets``
package cost more to import than the whole command may take.  This client speaks
just the part of RFC 6455 a client of our own daemon needs (one plain ``ws://``
connection on loopback, text frames, ping/pong, close) with the standard library.
Replies are matched by request id; ``events`` notifications are queued for
:meth:`SyncClient.next_event`, and so are the chunks of binary output frames
(api/output_frames.py), as events whose ``data`` has ``raw`` bytes, in the order they
arrived (the async client presents them the same way); a ``task.output`` call with
``output="binary"`` returns the slice's bytes in the reply as ``raw``.
"""

from __future__ import annotations

import binascii
import collections
import json
import os
import select
import socket
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

try:  # the interpreter's own SHA-1 (0.2 ms to import); hashlib loads OpenSSL first (2.5 ms of every quick command)
    from _sha1 import sha1  # type: ignore[import-not-found]  # (a CPython module without a stub)
except ImportError:  # an interpreter built without it
    from hashlib import sha1

from executive.api.auth import read_token
from executive.api.daemon_file import DaemonNotRunning, read_daemon_file
from executive.api.output_frames import REPLY_DATA, FrameError, decode_frame
from executive.api.rpc_errors import DaemonClosedConnection, RpcError

__all__ = ["SyncClient", "connect_home_sync"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
Wake = int | Sequence[int] | None  # descriptors that end a wait for the daemon early
_MAX_MESSAGE = 64 * 1024 * 1024  # as the async client's max_size
_MAX_HEADER = 64 * 1024
_TEXT, _BINARY, _CONT, _CLOSE, _PING, _PONG = 1, 2, 0, 8, 9, 10


def _b64(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False)


def _open_socket(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection; an address literal (the daemon's usual 127.0.0.1) skips the resolver and its IDNA codec."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.inet_pton(family, host)
    except OSError:
        sock = socket.create_connection((host, port), timeout=timeout)
    else:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _mask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``key`` repeated (client frames are always masked)."""
    n = len(payload)
    if not n:
        return payload
    keys = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(keys, "little")).to_bytes(n, "little")


class SyncClient:
    """One blocking WebSocket connection to the daemon."""

    def __init__(self, sock: socket.socket, leftover: bytes = b"") -> None:
        self._sock = sock
        self._buf = bytearray(leftover)
        self._next_id = 1
        self._events: collections.deque[dict[str, Any]] = collections.deque()
        self._reply_data: dict[tuple[int, str, int], memoryview] = {}  # task.output bytes waiting for their reply
        self._outstanding: set[int] = set()  # ids of requests sent and not yet collected
        self._replies: dict[int, dict[str, Any]] = {}  # replies that arrived, by id, until collected
        self._closed: ConnectionError | None = None

    @classmethod
    def connect(cls, url: str, token: str | None, *, timeout: float = 10.0) -> SyncClient:
        """Open ``url`` (``ws://host:port/path``) and finish the opening handshake.

        Raises:
            OSError: the connection failed.  ConnectionError: the handshake was refused.
        """
        if not url.startswith("ws://"):
            raise ConnectionError(f"only ws:// URLs are supported here, not {url[:40]!r}")
        hostport, _, path = url[5:].partition("/")
        host, _, port = hostport.rpartition(":")
        sock = _open_socket(host.strip("[]"), int(port), timeout)
        key = _b64(os.urandom(16))
        lines = [
            f"GET /{path} HTTP/1.1",
            f"Host: {hostport}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key.decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if token:
            lines.append(f"Authorization: Bearer {token}")
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            head = bytearray()
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk or len(head) > _MAX_HEADER:
                    raise ConnectionError("the daemon closed the connection during the handshake")
                head += chunk
        except BaseException:
            sock.close()
            raise
        raw, _, rest = bytes(head).partition(b"\r\n\r\n")
        status, *header_lines = raw.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        if status.split(" ", 2)[1:2] != ["101"]:
            sock.close()
            raise ConnectionError(f"the daemon refused the connection: {status}")
        expected = _b64(sha1(key + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            sock.close()
            raise ConnectionError("the daemon's handshake reply is not a WebSocket accept")
        sock.settimeout(None)
        return cls(sock, rest)

    # -- frames ---------------------------------------------------------------

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        key = os.urandom(4)
        try:
            self._sock.sendall(head + key + _mask(payload, key))
        except OSError as exc:  # not a BrokenPipeError: that is our own stdout's (`| head`), handled elsewhere
            raise ConnectionError(f"connection to the daemon closed ({exc.strerror or exc})") from None

    def _read_exact(self, n: int, timeout: float | None, wake: Wake = None) -> bytes | None:
        """``n`` bytes, or None when ``timeout`` passed (or a ``wake`` descriptor became readable) first.

        Only before the first byte of a frame: once a frame has begun it is read to its end.
        """
        while len(self._buf) < n:
            if (timeout is not None or wake is not None) and not self._buf:
                sock = self._sock.fileno()
                wakes = [] if wake is None else [wake] if isinstance(wake, int) else list(wake)
                ready, _, _ = select.select([sock, *wakes], [], [], timeout)
                if sock not in ready:  # the timeout, or ``wake``
                    return None
            chunk = self._sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise ConnectionError("connection to the daemon closed")
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _read_payload(self, n: int) -> bytes | bytearray:
        """A frame's ``n``-byte payload; a large one is received straight into its own buffer (one copy)."""
        have = len(self._buf)
        if n <= have or n < 65536:
            return self._read_exact(n, None) or b""
        out = bytearray(n)
        view = memoryview(out)
        view[:have] = self._buf
        self._buf.clear()
        while have < n:
            got = self._sock.recv_into(view[have:])
            if not got:
                raise ConnectionError("connection to the daemon closed")
            have += got
        return out

    def _next_messages(self, timeout: float | None, wake: Wake = None) -> list[dict[str, Any]] | None:
        """Read one data message: the JSON messages of a text one ([] for a binary output frame, whose
        chunks are queued as events), or None when ``timeout`` passed (or ``wake`` became readable) first."""
        opcode, payload = self._read_data(timeout, wake)
        if opcode is None:
            return None
        if opcode != _BINARY:
            msg = json.loads(payload)
            return msg if isinstance(msg, list) else [msg]
        try:
            sub, chunks = decode_frame(payload)
        except FrameError as exc:
            self._close_socket()
            self._closed = ConnectionError(f"the daemon sent a bad binary frame: {exc}")
            raise self._closed from None
        if sub == REPLY_DATA:  # the bytes of the task.output reply that comes next
            for c in chunks:
                self._reply_data[(c.task, c.stream, c.offset)] = c.data
            return []
        self._events.extend(c.as_event(sub) for c in chunks)
        return []

    def _read_data(self, timeout: float | None, wake: Wake = None) -> tuple[int | None, bytes | bytearray]:
        """The next complete data message and its opcode; answers pings, raises on a close frame."""
        parts: list[bytes | bytearray] = []
        size = 0
        first = _TEXT
        while True:
            head = self._read_exact(2, timeout, wake) if not parts else self._read_exact(2, None)
            if head is None:
                return None, b""
            fin, opcode, length = head[0] & 0x80, head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read_exact(2, None) or b"")[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read_exact(8, None) or b"")[0]
            if head[1] & 0x80:
                raise ConnectionError("the daemon sent a masked frame")
            if size + length > _MAX_MESSAGE:
                raise ConnectionError(f"a message from the daemon exceeds {_MAX_MESSAGE} bytes")
            payload = self._read_payload(length)
            if opcode == _PING:
                self._send_frame(_PONG, bytes(payload))
                continue
            if opcode == _PONG:
                continue
            if opcode == _CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                reason = payload[2:].decode("utf-8", "replace")
                self._close_socket()
                self._closed = (
                    DaemonClosedConnection(code, reason)
                    if reason
                    else ConnectionError("connection to the daemon closed")
                )
                raise self._closed
            if not parts:
                first = opcode
            parts.append(payload)
            size += length
            if fin:
                return first, parts[0] if len(parts) == 1 else b"".join(parts)

    # -- JSON-RPC -------------------------------------------------------------

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if msg.get("method") == "events":
            self._events.extend(msg["params"]["events"])
            return
        req_id = msg.get("id")
        if req_id in self._outstanding and ("result" in msg or "error" in msg):
            result = msg.get("result")
            if isinstance(result, dict) and result.get("output") == "binary" and "next_offset" in result:
                # Its bytes came in the frame just before it: put them in the reply now, in arrival order.
                raw = self._reply_data.pop((result["task"], result["stream"], result["offset"]), None)
                if raw is not None:
                    result["raw"] = raw
            self._replies[req_id] = msg

    def call(self, method: str, **params: Any) -> Any:
        """Call one method and wait for its reply; events that arrive meanwhile are queued.

        Raises:
            RpcError: an error reply.  ConnectionError: the connection is gone (DaemonClosedConnection with a reason).
        """
        return self.wait_reply(self.send_request(method, **params))

    def send_request(self, method: str, **params: Any) -> int:
        """Send one request without waiting; :meth:`wait_reply` with the returned id collects its reply.

        Several requests may be outstanding at once (a follower reads the next log slice while
        it writes the last one); each reply is kept until it is asked for.
        """
        if self._closed is not None:
            raise self._closed
        req_id = self._next_id
        self._next_id += 1
        frame = {"jsonrpc": "2.0", "id": req_id, "method": method, "params": params}
        self._send_frame(_TEXT, json.dumps(frame, separators=(",", ":")).encode())
        self._outstanding.add(req_id)
        return req_id

    def wait_reply(self, req_id: int) -> Any:
        """The result of the request ``req_id`` (sent with :meth:`send_request`), waiting for it if need be.

        Raises:
            RpcError: an error reply.  ConnectionError: the connection is gone.
        """
        while req_id not in self._replies:
            if req_id not in self._outstanding:
                raise KeyError(f"no request {req_id} is outstanding")
            msgs = self._next_messages(None)
            assert msgs is not None  # no timeout given
            for m in msgs:
                self._dispatch(m)
        self._outstanding.discard(req_id)
        m = self._replies.pop(req_id)
        if "error" in m:
            e = m["error"]
            raise RpcError(e.get("code", 0), e.get("message", ""), e.get("data"))
        result = m["result"]
        if isinstance(result, dict) and result.get("output") == "binary" and "next_offset" in result:
            if "raw" not in result:
                raise ConnectionError("the daemon sent a binary task.output reply without its data")
        return result

    def next_event(self, timeout: float | None = None, wake: Wake = None) -> dict[str, Any] | None:
        """The next event of this connection's subscriptions, or None when ``timeout`` seconds pass first.

        With ``wake`` (a descriptor or several, e.g. a signal wakeup pipe) it also returns None as
        soon as one becomes readable; the caller drains it.
        """
        while not self._events:
            msgs = self._next_messages(timeout, wake)
            if msgs is None:
                return None
            for m in msgs:
                self._dispatch(m)
        return self._events.popleft()

    def _close_socket(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def close(self) -> None:
        """Send a normal close frame and drop the connection (the daemon's close reply is not waited for)."""
        if self._closed is None:
            try:
                self._send_frame(_CLOSE, struct.pack("!H", 1000))
            except OSError:
                pass
            self._closed = ConnectionError("connection closed by this client")
        self._close_socket()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect_home_sync(home: Path) -> SyncClient:
    """Connect to the daemon of ``home`` using its daemon.json and token.

    Raises:
        DaemonNotRunning: with a message that says how to start one.
    """
    info = read_daemon_file(home)
    token = read_token(home) if info.get("auth", True) else None
    try:
        return SyncClient.connect(info["url"], token)
    except OSError as exc:
        raise DaemonNotRunning(
            f"the daemon at {info.get('url')} does not answer ({exc}); start one with `executive serve`"
        ) from exc
