"""The DAP wire framing, sans-I/O: ``Content-Length: N\\r\\n\\r\\n`` then N bytes of JSON.

Bytes go in (:meth:`DapCodec.receive_data`), whole messages come out
(:meth:`DapCodec.next_messages`); :func:`encode` gives the bytes of one message.  The
shells (stdio, TCP) only move bytes, so the same codec serves both and the tests.  A
header block or a body over the limits is a :class:`FramingError`: the peer is not
speaking DAP and the connection ends (there is no way to resynchronise a byte stream).
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["MAX_BODY", "DapCodec", "FramingError", "encode"]

MAX_BODY = 16 * 1024 * 1024  # bytes in one message (a writeMemory of a whole data space fits)
_MAX_HEADER = 1024  # bytes of one header block


class FramingError(ValueError):
    """The byte stream is not DAP framing; the message says what was found."""


def encode(message: dict[str, Any]) -> bytes:
    """One message as it goes on the wire."""
    body = orjson.dumps(message)
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class DapCodec:
    """Incremental decoder: feed any chunking of the stream, take whole messages."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def receive_data(self, data: bytes) -> None:
        self._buf += data

    def next_messages(self) -> list[dict[str, Any]]:
        """Every complete message buffered so far, in order.

        Raises:
            FramingError: a header without Content-Length, a bad length, a body that is not
                a JSON object.
        """
        out: list[dict[str, Any]] = []
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > _MAX_HEADER and b"\r\n\r\n" not in self._buf[: _MAX_HEADER + 4]:
                    raise FramingError(f"no end of header within {_MAX_HEADER} bytes; is the peer speaking DAP?")
                return out
            length = _content_length(bytes(self._buf[:end]))
            start = end + 4
            if len(self._buf) < start + length:
                return out
            body = bytes(self._buf[start : start + length])
            del self._buf[: start + length]
            try:
                msg = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise FramingError(f"a message body is not JSON: {exc}") from None
            if not isinstance(msg, dict):
                raise FramingError(f"a message is a JSON object, got {type(msg).__name__}")
            out.append(msg)


def _content_length(header: bytes) -> int:
    for line in header.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                n = int(value.strip())
            except ValueError:
                raise FramingError(f"Content-Length is not a number: {value.strip()[:40]!r}") from None
            if not 0 <= n <= MAX_BODY:
                raise FramingError(f"Content-Length {n} is outside 0..{MAX_BODY}")
            return n
    raise FramingError(f"a header block without Content-Length: {header[:80]!r}")
