"""Binary output frames: task output as raw bytes in WebSocket binary messages (format version 1).

A subscription made with ``events.subscribe {..., "output": "binary"}`` receives its
``output`` events as binary WebSocket messages in this format; every other event
(task_state, quota, warning, ...) still arrives as JSON text in the usual ``events``
notification, on the same connection and in seq order with the output (see
"Ordering" below).  The bytes are the task's log bytes as they were read from its
pipe: no UTF-8 decoding, no JSON escaping, no base64.

Format
------
All integers are unsigned and **big-endian** (network order).  One binary message is
one *frame*: a 16-byte frame header followed by ``count`` chunks, back to back.  Several
chunks are packed in one frame (up to ``Limits.event_batch_events`` chunks and about
``Limits.event_batch_bytes`` of data): fewer, larger WebSocket messages cost less per
byte on both ends.

Frame header (16 bytes):

======  ====  ================  ==========================================================
offset  size  field             meaning
======  ====  ================  ==========================================================
0       2     magic             ``b"XO"`` (0x58 0x4F)
2       1     version           1; a decoder refuses any other
3       1     flags             0; a decoder refuses any bit it does not know
4       4     count             number of chunks that follow, >= 1
8       8     subscription      the id ``events.subscribe`` returned; 0: a reply's data (below)
======  ====  ================  ==========================================================

Chunk (32-byte header, then ``length`` data bytes):

======  ====  ================  ==========================================================
offset  size  field             meaning
======  ====  ================  ==========================================================
0       8     seq               the output event's seq (for ``events.ack`` and ``since_seq``)
8       8     task              task id
16      8     offset            byte offset of the first data byte in that stream's log
24      4     length            data bytes that follow (0 is allowed)
28      1     stream            0 = stdout, 1 = stderr
29      3     reserved          zero
32      len   data              the bytes, exactly as in the log
======  ====  ================  ==========================================================

A frame must end exactly after its last chunk's data; anything else (a short frame, a
length that runs past the end, trailing bytes, an unknown stream, a non-zero reserved
byte) is rejected with :class:`FrameError`, which says what was wrong and where.

Re-reading by offset
--------------------
``task.output {..., output: "binary"}`` answers with the usual JSON reply
``{task, stream, offset, next_offset, size, eof, output: "binary"}`` but without
``data``/``data_b64``: the slice travels in a binary frame sent right before that reply,
with subscription 0 (:data:`REPLY_DATA`, never a subscription's id) and one chunk whose
seq is 0 and whose task, stream and offset are the reply's.  A client keeps such a chunk
until the reply with the same (task, stream, offset) arrives (the clients in this
package put it in the reply as ``raw``).

Ordering and completeness
-------------------------
Within one subscription, frames (binary and JSON) leave in seq order, as the JSON
path's events do: all output a task wrote reaches the subscription before that task's
``task_state`` ``to: "ended"`` event, which carries the final log sizes
(``stdout_bytes``, ``stderr_bytes``).  For each (task, stream), the chunks' offsets are
contiguous unless output events were dropped.  Over its byte bound a binary subscription
keeps its oldest output as ranges of the log and the daemon reads them back when it sends
them (a chunk may then hold up to about 1 MiB, several events' worth, under the seq of the
first, so a client that resumes with ``since_seq`` after such a chunk may be sent bytes it
already has: place bytes by offset, as the clients in this package do); only past its
event bound does the ring drop the oldest output (never state events), and the stream
then carries a JSON ``warning`` ``{reason: "events_dropped", reread: [{task, stream,
offset}]}`` naming where to re-read with ``task.output``; the next chunk then starts past
the gap.  Across two subscriptions of one connection there is no ordering.

Why a format of our own: the header is what a client needs to place bytes (task,
stream, offset) and to acknowledge them (seq); a JSON header per chunk would bring back
the parsing this path exists to avoid, and a length-prefixed chunk list lets one
WebSocket message carry many chunks.

This module imports only the standard library (the quick CLI commands use it).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol

__all__ = [
    "CHUNK_HEADER",
    "FRAME_HEADER",
    "MAGIC",
    "MAX_CHUNK_BYTES",
    "REPLY_DATA",
    "STREAMS",
    "VERSION",
    "ChunkHead",
    "FrameError",
    "OutputChunk",
    "decode_frame",
    "encode_frame",
    "encode_reply_data",
    "event_bytes",
    "frame_buffer",
    "is_output_frame",
]

MAGIC = b"XO"
VERSION = 1
STREAMS = ("stdout", "stderr")  # stream byte -> name
_STREAM_CODE = {name: i for i, name in enumerate(STREAMS)}
FRAME_HEADER = struct.Struct(">2sBBIQ")  # magic, version, flags, count, subscription
CHUNK_HEADER = struct.Struct(">QQQIB3s")  # seq, task, offset, length, stream, reserved
MAX_CHUNK_BYTES = 2**32 - 1  # what the length field can say
REPLY_DATA = 0  # the subscription id of a frame that carries a task.output reply's bytes (no subscription has it)
_ZERO3 = b"\0\0\0"


class FrameError(ValueError):
    """A binary message that is not a valid output frame (truncated, garbage, or a newer version)."""


class OutputChunk(NamedTuple):
    """One chunk of a decoded frame.  ``data`` is a memoryview into the frame (``bytes(data)`` copies it)."""

    seq: int
    task: int
    stream: str
    offset: int
    data: memoryview

    def as_event(self, subscription: int) -> dict[str, Any]:
        """The chunk as the clients queue it: an ``output`` event whose data has ``raw`` for ``data``."""
        return {
            "seq": self.seq,
            "type": "output",
            "pid": self.task,
            "subscription": subscription,
            "data": {"stream": self.stream, "offset": self.offset, "raw": self.data},
        }


class ChunkSource(Protocol):
    """What :func:`encode_frame` reads from each output event."""

    @property
    def seq(self) -> int: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def stream(self) -> str: ...

    @property
    def offset(self) -> int: ...

    @property
    def chunk(self) -> bytes: ...


class _Slice(NamedTuple):
    seq: int
    pid: int | None
    stream: str
    offset: int
    chunk: bytes


def encode_frame(subscription: int, events: Iterable[ChunkSource]) -> bytes:
    """One binary frame carrying ``events`` (output events of one subscription, in seq order).

    The data is copied once, into the frame.

    Raises:
        ValueError: no events, an unknown stream, or a field out of its range.
    """
    pack = CHUNK_HEADER.pack
    parts: list[bytes] = [b""]
    codes = _STREAM_CODE
    count = 0
    with _format_errors():
        for ev in events:
            data = ev.chunk
            parts.append(pack(ev.seq, ev.pid or 0, ev.offset, len(data), codes[ev.stream], _ZERO3))
            parts.append(data)
            count += 1
        if not count:
            raise ValueError(_NO_CHUNK)
        parts[0] = FRAME_HEADER.pack(MAGIC, VERSION, 0, count, subscription)
    return b"".join(parts)


class ChunkHead(NamedTuple):
    """A chunk's header fields and data length, for :func:`frame_buffer`."""

    seq: int
    task: int
    stream: str
    offset: int
    length: int


def frame_buffer(subscription: int, heads: Sequence[ChunkHead]) -> tuple[bytearray, list[int]]:
    """A frame with every header written and room for each chunk's data; also where each chunk's data goes.

    For a sender that fills the data in place (read from a log straight into the frame)
    instead of copying it in from bytes it holds, as :func:`encode_frame` does.

    Raises:
        ValueError: no chunks, an unknown stream, or a field out of its range.
    """
    if not heads:
        raise ValueError(_NO_CHUNK)
    size = FRAME_HEADER.size + sum(CHUNK_HEADER.size + h.length for h in heads)
    buf = bytearray(size)
    at: list[int] = []
    with _format_errors():
        FRAME_HEADER.pack_into(buf, 0, MAGIC, VERSION, 0, len(heads), subscription)
        pos = FRAME_HEADER.size
        for h in heads:
            CHUNK_HEADER.pack_into(buf, pos, h.seq, h.task, h.offset, h.length, _STREAM_CODE[h.stream], _ZERO3)
            pos += CHUNK_HEADER.size
            at.append(pos)
            pos += h.length
    return buf, at


_NO_CHUNK = "a binary output frame carries at least one chunk"


@contextlib.contextmanager
def _format_errors() -> Iterator[None]:
    """What the encoders' packing refuses, as a ValueError that says which rule of the format it breaks."""
    try:
        yield
    except KeyError as exc:
        raise ValueError(f"unknown output stream {exc.args[0]!r}; expected one of {STREAMS}") from None
    except struct.error as exc:
        raise ValueError(f"a binary output frame field is out of range: {exc}") from None


def encode_reply_data(task: int, stream: str, offset: int, data: bytes) -> bytes:
    """The frame that carries a ``task.output {output: "binary"}`` reply's bytes: subscription 0, one chunk, seq 0."""
    return encode_frame(REPLY_DATA, [_Slice(0, task, stream, offset, data)])


def is_output_frame(frame: bytes | bytearray | memoryview) -> bool:
    """Whether a binary message claims to be an output frame (its magic; :func:`decode_frame` checks the rest)."""
    return bytes(frame[:2]) == MAGIC


def decode_frame(frame: bytes | bytearray | memoryview) -> tuple[int, list[OutputChunk]]:
    """The subscription id and the chunks of one binary frame; no data is copied.

    Raises:
        FrameError: the frame is truncated, has trailing bytes, or is not an output frame
            of version 1; the message names the field and the byte position.
    """
    view = memoryview(frame).cast("B") if not isinstance(frame, memoryview) or frame.format != "B" else frame
    size = len(view)
    if size < FRAME_HEADER.size:
        raise FrameError(
            f"binary output frame too short: {size} bytes, the header alone is {FRAME_HEADER.size}"
            + ("" if bytes(view[:2]) == MAGIC[:size] else f" (and magic {bytes(view[:2])!r} is not {MAGIC!r})")
        )
    magic, version, flags, count, subscription = FRAME_HEADER.unpack_from(view, 0)
    if magic != MAGIC:
        raise FrameError(f"not a binary output frame: magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise FrameError(f"binary output frame version {version} is not supported (this client reads {VERSION})")
    if flags:
        raise FrameError(f"binary output frame has unknown flags 0x{flags:02x}")
    if count == 0:
        raise FrameError("binary output frame declares 0 chunks")
    chunks: list[OutputChunk] = []
    pos = FRAME_HEADER.size
    unpack = CHUNK_HEADER.unpack_from
    hsize = CHUNK_HEADER.size
    for i in range(count):
        if size - pos < hsize:
            raise FrameError(
                f"binary output frame truncated: chunk {i + 1} of {count} needs a {hsize}-byte header "
                f"at byte {pos}, {size - pos} bytes remain"
            )
        seq, task, offset, length, stream, reserved = unpack(view, pos)
        pos += hsize
        if stream >= len(STREAMS):
            raise FrameError(f"binary output frame chunk {i + 1}: unknown stream {stream} (0 stdout, 1 stderr)")
        if reserved != _ZERO3:
            raise FrameError(f"binary output frame chunk {i + 1}: reserved bytes are not zero")
        if size - pos < length:
            raise FrameError(
                f"binary output frame truncated: chunk {i + 1} of {count} declares {length} data bytes "
                f"at byte {pos}, {size - pos} remain"
            )
        chunks.append(OutputChunk(seq, task, STREAMS[stream], offset, view[pos : pos + length]))
        pos += length
    if pos != size:
        raise FrameError(f"binary output frame has {size - pos} bytes after its {count} chunks")
    return subscription, chunks


def event_bytes(data: dict[str, Any]) -> bytes | memoryview:
    """The bytes of an ``output`` event's data, whichever way it travelled.

    ``raw`` (a binary chunk, as the clients present it), ``data`` (UTF-8 text in a JSON
    event) or ``data_b64`` (bytes that are not UTF-8, in a JSON event).
    """
    raw = data.get("raw")
    if raw is not None:
        return raw  # type: ignore[no-any-return]
    if "data" in data:
        return str(data["data"]).encode("utf-8")
    import base64

    return base64.b64decode(data["data_b64"])
