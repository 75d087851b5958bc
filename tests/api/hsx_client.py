"""A small line-JSON client for the HSX TCP port, and a daemon that serves the port (tests only).

``HsxClient`` speaks like hsxdbg: one persistent connection on which replies
(lines with ``status``) and event lines (``{seq, ts, type, pid, data}``) are
interleaved; :meth:`HsxClient.request` returns the reply and keeps the events
that arrived before it in ``events``.  :func:`one_shot` speaks like HSX's
``ExecutiveSession``: a new connection for one request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from executive.api.server import ServeOptions, serve
from executive.hsx.asm import assemble_text
from executive.kernel.limits import DEFAULT_LIMITS, Limits

TIMEOUT = 15.0  # a safety net against hangs, never a timing assertion


class HsxClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.events: list[dict[str, Any]] = []  # event lines in arrival order
        self.replies_between_events = 0  # replies that arrived after at least one event line

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> HsxClient:
        reader, writer = await asyncio.open_connection(host, port, limit=16 * 1024 * 1024)
        return cls(reader, writer)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, **msg: Any) -> None:
        await self.send_raw(json.dumps(msg).encode() + b"\n")

    async def read_line(self, timeout: float = TIMEOUT) -> dict[str, Any] | None:
        """The next line as JSON; None at EOF."""
        raw = await asyncio.wait_for(self.reader.readline(), timeout)
        if not raw:
            return None
        assert raw.endswith(b"\n"), raw
        return json.loads(raw)

    async def reply(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Read up to the next reply line (one with ``status``); event lines on the way go to ``events``."""
        while True:
            line = await self.read_line(timeout)
            assert line is not None, "connection closed before the reply"
            if "status" in line:
                assert line["version"] == 1
                if self.events:
                    self.replies_between_events += 1
                return line
            self.events.append(line)

    async def request(self, **msg: Any) -> dict[str, Any]:
        await self.send(**msg)
        return await self.reply()

    async def ok(self, **msg: Any) -> dict[str, Any]:
        r = await self.request(**msg)
        assert r["status"] == "ok", r
        return r

    async def error(self, **msg: Any) -> str:
        r = await self.request(**msg)
        assert r["status"] == "error", r
        return r["error"]

    async def event(self, pred: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT) -> dict[str, Any]:
        """The first event (already received or arriving) that satisfies ``pred``."""
        for ev in self.events:
            if pred(ev):
                return ev
        while True:
            line = await self.read_line(timeout)
            assert line is not None, "connection closed while waiting for an event"
            assert "status" not in line, f"unexpected reply {line}"
            self.events.append(line)
            if pred(line):
                return line

    async def skip_to(self, needle: bytes, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Skip raw lines (cheaply, without parsing) up to the first that contains ``needle``; return it parsed."""
        while True:
            raw = await asyncio.wait_for(self.reader.readline(), timeout)
            assert raw, f"connection closed before a line with {needle!r}"
            if needle in raw:
                return json.loads(raw)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


async def one_shot(port: int, **msg: Any) -> dict[str, Any]:
    """One request on its own connection, as HSX's ExecutiveSession does."""
    c = await HsxClient.connect(port)
    try:
        return await c.request(**msg)
    finally:
        await c.close()


@dataclasses.dataclass
class HsxDaemon:
    home: Path
    info: dict[str, Any]
    stop: asyncio.Event
    task: asyncio.Task[None]

    @property
    def port(self) -> int:
        return int(self.info["hsx_port"])

    async def connect(self) -> HsxClient:
        return await HsxClient.connect(self.port)

    async def skip_to(self, needle: bytes, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Skip raw lines (cheaply, without parsing) up to the first that contains ``needle``; return it parsed."""
        while True:
            raw = await asyncio.wait_for(self.reader.readline(), timeout)
            assert raw, f"connection closed before a line with {needle!r}"
            if needle in raw:
                return json.loads(raw)

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 20)


async def start_hsx_daemon(home: Path, *, limits: Limits = DEFAULT_LIMITS) -> HsxDaemon:
    """A real daemon (``serve``) on 127.0.0.1 with the HSX port on a free port."""
    ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    opts = ServeOptions(home, host="127.0.0.1", port=0, hsx_port=0, limits=limits)
    task = asyncio.ensure_future(serve(opts, on_ready=ready.set_result, stop=stop))
    done, _ = await asyncio.wait([ready, task], return_when=asyncio.FIRST_COMPLETED, timeout=20)
    if task in done:
        task.result()
    return HsxDaemon(home, ready.result(), stop, task)


@pytest.fixture
async def hsx(tmp_path: Path) -> AsyncIterator[HsxDaemon]:
    """A daemon serving the HSX port (import this fixture into a test module)."""
    d = await start_hsx_daemon(tmp_path / "home")
    try:
        yield d
    finally:
        await d.close()


@pytest.fixture
async def conn(hsx: HsxDaemon) -> AsyncIterator[HsxClient]:
    """One persistent connection to ``hsx``."""
    c = await hsx.connect()
    try:
        yield c
    finally:
        await c.close()


# A program that loops forever: main calls `work` (prints "hi" over the UART) and counts in R4.
LOOP_PROGRAM = """\
.entry main
.export main
main:
    LDI R4, 0
    LDI R5, 1
loop:
    CALL work
    ADD R4, R4, R5
    JMP loop
work:
    PUSH R7                 ; the hsx-llc prologue: R7 is the frame pointer
    MOV R7, R15
    LDI32 R1, msg
    LDI R2, 3
    SVC MOD=1, FN=1
    POP R7
    RET
.data
msg:
    .ascii "hi\\n"
"""


# Prints "tick" about every 1000 instructions, forever: a steady event source that leaves the loop responsive.
CHATTY_PROGRAM = """\
.entry main
.export main
main:
    LDI R5, 1
    LDI R6, 300
outer:
    LDI32 R1, msg
    LDI R2, 5
    SVC MOD=1, FN=1
    LDI R4, 0
spin:
    ADD R4, R4, R5
    CMP R4, R6
    JNZ spin
    JMP outer
.data
msg:
    .ascii "tick\\n"
"""


# Increments the word `counter` (in data memory) forever: LDI32, LDI, then LD/ADD/ST/JMP per round.
COUNTER_PROGRAM = """\
.entry main
.export main
main:
    LDI32 R1, counter
    LDI R2, 1
loop:
    LD R3, [R1+0]
    ADD R3, R3, R2
    ST [R1+0], R3
    JMP loop
.data
counter:
    .word 0
"""


def write_program(directory: Path, name: str = "loop", source: str = LOOP_PROGRAM) -> tuple[Path, dict[str, Any]]:
    """Assemble ``source`` and write ``<name>.hxe`` plus its ``.sym``; returns the image path and the .sym."""
    result = assemble_text(source, f"{name}.mvasm")
    hxe = directory / f"{name}.hxe"
    hxe.write_bytes(result.hxe)
    hxe.with_suffix(".sym").write_text(json.dumps(result.sym))
    return hxe, result.sym


def symbol_address(sym: dict[str, Any], name: str) -> int:
    for f in sym["symbols"]["functions"]:
        if f["name"] == name:
            return int(f["address"])
    raise KeyError(name)
