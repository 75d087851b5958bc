"""The binary output frame format (api/output_frames.py): encode/decode from one case table, and
every way a frame can be broken is refused with an error that says what and where."""

from __future__ import annotations

import dataclasses
import struct

import pytest

from executive.api import output_frames as of
from executive.api.output_frames import FrameError, decode_frame, encode_frame, event_bytes
from executive.kernel.limits import DEFAULT_LIMITS

BIG = bytes(range(256)) * (DEFAULT_LIMITS.output_chunk_bytes // 256)  # the daemon's largest output slice


@dataclasses.dataclass
class Chunk:
    """What encode_frame reads from an output event."""

    seq: int
    pid: int | None
    stream: str
    offset: int
    chunk: bytes


# (name, subscription, chunks)
CASES = [
    ("one stdout chunk", 1, [Chunk(1, 7, "stdout", 0, b"hello\n")]),
    ("one stderr chunk", 2, [Chunk(9, 7, "stderr", 12, b"oops\n")]),
    ("an empty chunk", 3, [Chunk(5, 1, "stdout", 40, b"")]),
    ("not UTF-8, both streams", 4, [Chunk(3, 2, "stdout", 0, b"\xff\xfe\x00"), Chunk(4, 2, "stderr", 0, b"\x80")]),
    (
        "contiguous offsets of two tasks",
        5,
        [Chunk(10, 1, "stdout", 0, b"ab"), Chunk(11, 2, "stdout", 0, b"x"), Chunk(12, 1, "stdout", 2, b"cd")],
    ),
    ("the largest slice the daemon makes", 6, [Chunk(20, 3, "stdout", 1 << 40, BIG), Chunk(21, 3, "stdout", 0, b"")]),
    ("the largest field values", 2**64 - 1, [Chunk(2**64 - 1, 2**64 - 1, "stderr", 2**64 - 1, b"z")]),
]


@pytest.mark.parametrize(("name", "sub", "chunks"), CASES, ids=[c[0] for c in CASES])
def test_a_frame_round_trips(name: str, sub: int, chunks: list[Chunk]) -> None:
    frame = encode_frame(sub, chunks)
    assert len(frame) == of.FRAME_HEADER.size + sum(of.CHUNK_HEADER.size + len(c.chunk) for c in chunks)
    assert of.is_output_frame(frame)
    got_sub, got = decode_frame(frame)
    assert got_sub == sub
    assert [(c.seq, c.task, c.stream, c.offset, bytes(c.data)) for c in got] == [
        (c.seq, c.pid, c.stream, c.offset, c.chunk) for c in chunks
    ]
    assert all(isinstance(c.data, memoryview) for c in got)  # no copy of the data
    assert decode_frame(bytearray(frame))[1] == got and decode_frame(memoryview(frame))[1] == got


@pytest.mark.parametrize(("name", "sub", "chunks"), CASES, ids=[c[0] for c in CASES])
def test_a_frame_filled_in_place_is_the_same_frame(name: str, sub: int, chunks: list[Chunk]) -> None:
    heads = [of.ChunkHead(c.seq, c.pid or 0, c.stream, c.offset, len(c.chunk)) for c in chunks]
    buf, at = of.frame_buffer(sub, heads)
    for c, pos in zip(chunks, at, strict=True):
        buf[pos : pos + len(c.chunk)] = c.chunk
    assert bytes(buf) == encode_frame(sub, chunks)


def test_frame_buffer_refuses_what_the_format_cannot_carry() -> None:
    with pytest.raises(ValueError, match="at least one chunk"):
        of.frame_buffer(1, [])
    with pytest.raises(ValueError, match="unknown output stream 'stdin'"):
        of.frame_buffer(1, [of.ChunkHead(1, 1, "stdin", 0, 1)])
    with pytest.raises(ValueError, match="out of range"):
        of.frame_buffer(1, [of.ChunkHead(-1, 1, "stdout", 0, 1)])


def test_the_header_layout_is_the_documented_one() -> None:
    frame = encode_frame(0x0102, [Chunk(3, 4, "stderr", 5, b"xyz")])
    assert frame[:16] == b"XO" + bytes([1, 0]) + (1).to_bytes(4, "big") + (0x0102).to_bytes(8, "big")
    assert frame[16:48] == struct.pack(">QQQI", 3, 4, 5, 3) + b"\x01\0\0\0"
    assert frame[48:] == b"xyz"


def _frame() -> bytes:
    return encode_frame(9, [Chunk(1, 2, "stdout", 0, b"abcdef"), Chunk(2, 2, "stderr", 0, b"gh")])


def _patch(frame: bytes, at: int, value: bytes) -> bytes:
    return frame[:at] + value + frame[at + len(value) :]


SECOND = 16 + 32 + 6  # where the second chunk's header starts in _frame()
BROKEN = [
    ("empty", b"", "too short: 0 bytes"),
    ("garbage", b'{"jsonrpc": "2.0", "id": 1}', "not a binary output frame: magic b'{\"', expected b'XO'"),
    ("short garbage", b"hi", "too short: 2 bytes, the header alone is 16 (and magic b'hi' is not b'XO')"),
    ("a short header", _frame()[:10], "too short: 10 bytes"),
    ("another version", _patch(_frame(), 2, b"\x02"), "version 2 is not supported"),
    ("unknown flags", _patch(_frame(), 3, b"\x80"), "unknown flags 0x80"),
    ("no chunks", _patch(_frame(), 4, (0).to_bytes(4, "big")), "declares 0 chunks"),
    ("a cut chunk header", _frame()[: SECOND + 20], "chunk 2 of 2 needs a 32-byte header"),
    ("cut data", _frame()[:-1], "chunk 2 of 2 declares 2 data bytes at byte 86, 1 remain"),
    ("a length past the end", _patch(_frame(), 16 + 24, (2**32 - 1).to_bytes(4, "big")), "declares 4294967295"),
    ("more chunks declared than sent", _patch(_frame(), 4, (3).to_bytes(4, "big")), "chunk 3 of 3 needs"),
    ("trailing bytes", _frame() + b"\0", "1 bytes after its 2 chunks"),
    ("an unknown stream", _patch(_frame(), SECOND + 28, b"\x02"), "chunk 2: unknown stream 2"),
    ("reserved bytes set", _patch(_frame(), 16 + 29, b"\x01"), "chunk 1: reserved bytes"),
]


@pytest.mark.parametrize(("name", "frame", "says"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_frame_is_refused_with_a_clear_error(name: str, frame: bytes, says: str) -> None:
    with pytest.raises(FrameError) as err:
        decode_frame(frame)
    assert says in str(err.value)


def test_encode_refuses_what_the_format_cannot_carry() -> None:
    with pytest.raises(ValueError, match="at least one chunk"):
        encode_frame(1, [])
    with pytest.raises(ValueError, match="unknown output stream 'stdin'"):
        encode_frame(1, [Chunk(1, 1, "stdin", 0, b"")])
    with pytest.raises(ValueError, match="out of range"):
        encode_frame(1, [Chunk(1, 1, "stdout", -1, b"")])


def test_event_bytes_reads_every_form_of_output() -> None:
    assert event_bytes({"raw": memoryview(b"\xff")}) == b"\xff"
    assert event_bytes({"data": "é\n"}) == "é\n".encode()
    assert event_bytes({"data_b64": "/w=="}) == b"\xff"
