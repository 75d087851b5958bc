"""Fuzzing the HSX line-JSON port without sockets: the line framer and the protocol core behind it.

* :class:`LineFramer` splits any byte stream, however it is chunked, into the same lines as a
  one-line reference model (CR stripped, blank lines skipped, over-long lines one marker each).
* :class:`HsxConnection` answers every request line with exactly one reply line, a JSON object with
  ``version`` 1 and ``status`` ``ok``/``error``, whatever the line holds; an ``internal error`` reply
  (an exception that is neither :class:`HsxError` nor :class:`ExecutiveError`) is a bug, and so is an
  error text that grows with the request.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import inspect
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from executive.api.hsx_protocol import OVERSIZE, HsxConnection, HsxCore, LineFramer
from executive.hsx.asm import assemble_text
from executive.kernel.limits import DEFAULT_LIMITS
from executive.service import Executive

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))  # FUZZ_SCALE=20 for a longer hunt than CI affords
MAX_LINE = 64
ERROR_TEXT_BOUND = 1024  # characters of an error text, whatever the request held

# --- the framer -----------------------------------------------------------------------------------------


def _reference_lines(stream: bytes, max_line: int) -> list[Any]:
    """What the framer must yield for ``stream``: complete lines, then the marker for an over-long tail."""
    *complete, tail = stream.split(b"\n")
    out: list[Any] = []
    for raw in complete:
        if len(raw) > max_line:
            out.append(OVERSIZE)
        elif raw.rstrip(b"\r").strip():
            out.append(raw.rstrip(b"\r"))
    if len(tail) > max_line:
        out.append(OVERSIZE)  # announced as soon as the limit is passed, before its newline arrives
    return out


_stream_bytes = st.lists(
    st.one_of(
        st.sampled_from([b"\n", b"\r\n", b"\r", b" ", b'{"cmd":"ping"}']),
        st.binary(max_size=20),
        st.integers(MAX_LINE - 2, MAX_LINE + 2).map(lambda n: b"x" * n),
    ),
    max_size=20,
).map(b"".join)


@settings(max_examples=400 * SCALE, deadline=1000, database=None)
@given(_stream_bytes, st.lists(st.integers(0, 80), max_size=12))
@example(b"x" * MAX_LINE + b"\n", [MAX_LINE])  # exactly the limit, the newline in the next chunk
@example(b"x" * (MAX_LINE + 1) + b"\nok\n", [MAX_LINE + 1, 0, 1])
def test_fuzz_line_framer_is_chunking_invariant(stream: bytes, cuts: list[int]) -> None:
    framer = LineFramer(MAX_LINE)
    out: list[Any] = []
    pos = 0
    for size in cuts:
        out += framer.feed(stream[pos : pos + size])
        pos += size
    out += framer.feed(stream[pos:])
    assert out == _reference_lines(stream, MAX_LINE)


# --- the protocol core ----------------------------------------------------------------------------------

UNSAFE = {"shutdown", "restart", "load", "exec", "reload"}  # would stop the daemon or read programs from disk
ARG_NAMES = [
    "pid", "addr", "address", "length", "data", "data_hex", "value", "steps", "count", "session", "filters",
    "categories", "name", "group", "id", "oid", "target", "op", "mode", "max", "limit", "offset", "since_seq",
    "stream", "expr", "space", "kind", "channel", "rate", "pid_lock", "max_events", "heartbeat_s", "capabilities",
]  # fmt: skip

_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["0x0", "0x10", "1", "-1", "0xffffffff", "main", "stdout", "*", "all"]),
    st.integers(0, 5000).map(lambda n: "z" * n),
)
_json = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(ARG_NAMES), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def hsx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[asyncio.AbstractEventLoop, HsxCore, int]]:
    """A core over a real service with one paused VM program loaded, on a loop of its own."""
    loop = asyncio.new_event_loop()
    limits = dataclasses.replace(DEFAULT_LIMITS, hsx_max_line_bytes=16 * 1024, max_sessions=8, max_subscriptions=8)
    home: Path = tmp_path_factory.mktemp("hsx-fuzz") / "home"
    ex = loop.run_until_complete(Executive.open(home, limits=limits))
    image = assemble_text(".entry main\nmain:\n    LDI R1, 7\n    ADD R2, R1, R1\n    RET\n").hxe

    async def load() -> int:
        return int(ex.vm.load(data_b64=base64.b64encode(image).decode(), paused=True)["pid"])

    pid = loop.run_until_complete(load())
    try:
        yield loop, HsxCore(ex, clock=lambda: 1000.0), pid
    finally:
        loop.run_until_complete(ex.aclose())
        loop.close()


def _requests(pid: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda cmd, args, with_pid: {"cmd": cmd, **args, **({"pid": pid} if with_pid else {})},
        st.one_of(st.sampled_from(sorted(set(COMMANDS) - UNSAFE)), st.text(max_size=10)),
        st.dictionaries(st.sampled_from([*ARG_NAMES, "version"]), _json, max_size=5),
        st.booleans(),
    )


async def _feed(conn: HsxConnection, data: bytes) -> bytes:
    """What the shell does with bytes read from the socket: serve each line on the loop, in order."""
    for line in conn.receive_data(data):
        pending = conn.handle_line(line)
        if pending is not None:
            assert inspect.isawaitable(pending)
            await asyncio.wait_for(pending, 10)
    return conn.data_to_send()


def _serve(loop: asyncio.AbstractEventLoop, conn: HsxConnection, data: bytes) -> list[dict[str, Any]]:
    out = loop.run_until_complete(_feed(conn, data))
    replies = [orjson.loads(r) for r in out.splitlines()]
    for reply in replies:
        assert isinstance(reply, dict) and reply.get("version") == 1 and reply.get("status") in ("ok", "error"), reply
        if reply["status"] == "error":
            text = reply.get("error")
            assert isinstance(text, str) and not text.startswith("internal error"), text
            assert len(text) <= ERROR_TEXT_BOUND, f"an error text of {len(text)} characters echoes the request"
    return replies


COMMANDS: dict[str, Any] = {}


def _commands(core: HsxCore) -> None:
    COMMANDS.update(core.commands)


_FUZZ = settings(
    max_examples=300 * SCALE,
    deadline=3000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def test_fuzz_hsx_requests(hsx: tuple[asyncio.AbstractEventLoop, HsxCore, int]) -> None:
    loop, core, pid = hsx
    _commands(core)

    @_FUZZ
    @given(st.lists(_requests(pid), min_size=1, max_size=4))
    @example([{"cmd": "q" * 10_000}])  # an unknown command is not quoted whole
    @example([{"cmd": "ping", "version": "v" * 10_000}])
    @example([{"cmd": "ping", "version": [[[[[[[[1]]]]]]]]}])
    @example([{"cmd": "bp", "pid": "z" * 5000}])  # an invalid argument is not quoted whole
    @example([{"cmd": "peek", "pid": 1, "addr": [[[[[[[[[[1]]]]]]]]]]}])
    @example([{"cmd": "clock", "op": "rate", "rate": "r" * 5000}])
    def run(requests: list[dict[str, Any]]) -> None:
        conn = HsxConnection(core)
        data = b"".join(json.dumps(r).encode() + b"\n" for r in requests)
        assert len(_serve(loop, conn, data)) == len(requests)
        conn.connection_lost()

    run()


def test_fuzz_hsx_raw_lines(hsx: tuple[asyncio.AbstractEventLoop, HsxCore, int]) -> None:
    loop, core, _ = hsx

    @_FUZZ
    @given(st.lists(st.one_of(st.binary(max_size=40), _json.map(lambda v: json.dumps(v).encode())), max_size=6))
    @example([b"[" * 5000 + b"]" * 5000])
    @example([b'{"cmd":"ping","version":' + b"[" * 1000 + b"]" * 1000 + b"}"])
    def run(lines: list[bytes]) -> None:
        conn = HsxConnection(core)
        lines = [line.replace(b"\n", b" ") for line in lines]
        expected = sum(1 for line in lines if line.rstrip(b"\r").strip())
        assert len(_serve(loop, conn, b"".join(line + b"\n" for line in lines))) == expected
        conn.connection_lost()

    run()
