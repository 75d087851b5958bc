"""The sans-I/O core of the HSX port without sockets: framing, envelope, argument forms.

Spec hsx-executive §1.2, §2.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from executive.api.hsx_args import HsxError, pid_list, to_int
from executive.api.hsx_protocol import (
    OVERSIZE,
    HsxConnection,
    HsxCore,
    LineFramer,
    error_text,
)
from executive.kernel.errors import LockedError, NotFoundError
from executive.kernel.limits import DEFAULT_LIMITS
from executive.service import Executive

FRAMER_CASES = [  # (chunks fed, lines expected)
    ([b'{"a":1}\n'], [b'{"a":1}']),
    ([b'{"a"', b':1}\n{"b"', b":2}\n"], [b'{"a":1}', b'{"b":2}']),
    ([b'{"a":1}\r\n', b"\n", b"   \n"], [b'{"a":1}']),  # CRLF; blank lines are skipped
    ([b"x" * 20 + b"\n", b"ok\n"], [OVERSIZE, b"ok"]),  # an over-long line is dropped, the next one served
    ([b"x" * 20, b"yyy", b"\n", b"ok\n"], [OVERSIZE, b"ok"]),  # ... also when it arrives in pieces
    ([b"x" * 16 + b"\n"], [b"x" * 16]),  # exactly the limit
]


@pytest.mark.parametrize(("chunks", "lines"), FRAMER_CASES)
def test_line_framer(chunks: list[bytes], lines: list[object]) -> None:
    framer = LineFramer(16)
    out: list[object] = []
    for c in chunks:
        out += framer.feed(c)
    assert out == lines


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5), ("5", 5), ("0x200", 0x200), (" 0X1f ", 31), ("010", 10), (3.0, 3), ("-2", -2)],
)
def test_integer_arguments_accept_hex_strings(value: object, expected: int) -> None:
    assert to_int(value, "addr") == expected


@pytest.mark.parametrize("value", [True, None, "12abc", 1.5, [1]])
def test_integer_arguments_refuse_the_rest(value: object) -> None:
    with pytest.raises(HsxError, match="invalid addr"):
        to_int(value, "addr")


def test_pid_lists() -> None:
    assert pid_list(3, "pid_lock") == [3]
    assert pid_list([5, "0x1", 5], "pid_lock") == [1, 5]
    with pytest.raises(HsxError, match="must contain integer PIDs"):
        pid_list([True], "filters.pid")


def test_service_errors_become_the_reference_strings() -> None:
    assert error_text(LockedError("task 4 is locked", data={"task": 4, "session": "s"})) == "pid_locked:4"
    assert error_text(NotFoundError("no task 9", data={"task": 9})) == "unknown pid 9"


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[HsxCore]:
    limits = dataclasses.replace(DEFAULT_LIMITS, hsx_max_line_bytes=256)
    ex = await Executive.open(tmp_path / "home", limits=limits)
    try:
        yield HsxCore(ex, clock=lambda: 1000.0)
    finally:
        await ex.aclose()


def _replies(data: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in data.splitlines()]


async def test_bytes_in_bytes_out(core: HsxCore) -> None:
    """Requests fed as bytes give one compact reply line each, in order, without any socket."""
    conn = HsxConnection(core)
    woken: list[bool] = []
    conn.notify = lambda: woken.append(True)
    data = b'{"cmd":"ping"}\n{"cmd":"nope"}\nnot json\n{"cmd":"ping","version":3}\n{"cmd":"Ping","version":null}\n'
    for line in conn.receive_data(data):
        assert conn.handle_line(line) is None  # nothing here needs the loop
    out = conn.data_to_send()
    assert out.count(b"\n") == 5 and out.startswith(b'{"version":1,"status":"ok","reply":"pong"}\n')
    errors = [r.get("error") for r in _replies(out)]
    assert errors == [None, "unknown_cmd:nope", "invalid_json", "unsupported_version:3", None]
    assert woken and conn.data_to_send() == b""


async def test_an_over_long_line_is_refused_and_the_connection_goes_on(core: HsxCore) -> None:
    conn = HsxConnection(core)
    for line in conn.receive_data(b'{"cmd":"ping","pad":"' + b"x" * 300 + b'"}\n{"cmd":"ping"}\n'):
        conn.handle_line(line)
    first, second = _replies(conn.data_to_send())
    assert first["status"] == "error" and str(first["error"]).startswith("line_too_long")
    assert second["reply"] == "pong"


async def test_dmesg_records_requests_and_failures(core: HsxCore) -> None:
    core.handle(None, {"cmd": "bogus"})
    logs = core.handle(None, {"cmd": "dmesg"})
    assert isinstance(logs, dict)
    entries = logs["logs"]
    assert isinstance(entries, list)
    assert [e["message"] for e in entries] == ["shell request", "command failed", "shell request"]
    assert entries[1]["error"] == "unknown_cmd:bogus" and entries[0]["ts"] == 1000.0


async def test_event_lines_translate_output_and_skip_other_tasks(core: HsxCore) -> None:
    """`output` becomes stdout/stderr {text}; events of tasks that are not HSX programs never reach a stream."""
    from executive.hsx.asm import assemble_text

    ex = core.ex
    image = assemble_text(".entry main\nmain:\n    RET\n").hxe
    pid = ex.vm.load(data_b64=base64.b64encode(image).decode(), paused=True)["pid"]
    conn = HsxConnection(core)
    sid = core.handle(conn, {"cmd": "session.open"})["session"]["id"]  # type: ignore[index]
    assert (
        core.handle(
            conn, {"cmd": "events.subscribe", "session": sid, "filters": {"categories": ["stderr", "vm_error"]}}
        )["status"]
        == "ok"
    )  # type: ignore[index]
    conn.data_to_send()
    ex.bus.publish("output", pid, {"stream": "stdout", "offset": 0, "data": "not asked for\n"})
    ex.bus.publish("output", pid, {"stream": "stderr", "offset": 0, "data_b64": base64.b64encode(b"oops\n").decode()})
    ex.bus.publish("vm_error", 999_999, {"error": "not an HSX task"})
    ex.bus.publish("vm_error", pid, {"error": "pc_out_of_range"})
    lines = _replies(conn.data_to_send())
    assert [(e["type"], e["pid"]) for e in lines] == [("stderr", pid), ("vm_error", pid)]
    assert lines[0]["data"] == {"text": "oops\n", "offset": 0} and set(lines[1]) == {"seq", "ts", "type", "pid", "data"}
