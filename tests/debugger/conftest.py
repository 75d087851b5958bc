"""Fixtures and programs for the debugger tests: an Executive, images with their .sym."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from executive.hsx.asm import assemble_text
from executive.kernel.events import Subscription
from executive.kernel.limits import DEFAULT_LIMITS, Limits
from executive.service import Executive

# A loop that counts R3 to 5, with data the program never touches as code.
COUNTER = """
.entry main
.export main
main:
    LDI32 R1, greeting
    LDI R3, 0
    LDI R4, 1
    LDI R5, 5
loop:
    ADD R3, R3, R4
    CMP R3, R5
    JNZ loop
    MOV R0, R3
    RET

.data
greeting:
    .ascii "Hello"
"""

# hsx-llc style (hsx-vm §9): prologue PUSH R7; MOV R7, R15, a local at [R7+-4] allocated by
# PUSH R12, epilogue POP R12; POP R7; RET.  rec(n) = n + rec(n-1), rec(0) = 0; main calls
# rec(4): five rec frames under main at the base case.
RECURSE = """
.entry main
.export main
main:
    PUSH R7
    MOV R7, R15
    LDI R1, 4
    CALL rec
    POP R7
    RET

rec:
    PUSH R7
    MOV R7, R15
    PUSH R12
    ST [R7+-4], R1
    LDI R2, 0
    CMP R1, R2
    JZ rec_base
    LDI R2, 1
    SUB R1, R1, R2
    CALL rec
    LD R1, [R7+-4]
    ADD R0, R0, R1
    JMP rec_out
rec_base:
    LDI R0, 0
rec_out:
    POP R12
    POP R7
    RET
"""

# Stores to a variable: 7, 7 again (no change), then 9; then exits with the value.
STORES = """
.entry main
.export main
main:
    LDI32 R1, counter
    LDI R2, 7
    ST [R1+0], R2
    ST [R1+0], R2
    LDI R2, 9
    ST [R1+0], R2
    LDI32 R4, ptr
    LD R5, [R4+0]
    LDI R6, 3
    STB [R5+1], R6
    LD R0, [R1+0]
    RET

.data
counter:
    .word 0
ptr:
    .word 0x4010
pad:
    .word 0, 0
target:
    .word 0
"""


@pytest.fixture
def limits() -> Limits:
    return dataclasses.replace(DEFAULT_LIMITS, vm_quantum=1000)


@pytest.fixture
async def ex(tmp_path: Path, limits: Limits) -> AsyncIterator[Executive]:
    e = await Executive.open(tmp_path / "home", limits=limits)
    try:
        yield e
    finally:
        await e.aclose()


@pytest.fixture
def program(tmp_path: Path) -> Callable[..., Path]:
    """``program(src, name)`` writes NAME.hxe and NAME.sym into a temp dir; returns the .hxe path."""

    def make(src: str, name: str = "prog", *, sym: bool = True) -> Path:
        res = assemble_text(src, f"{name}.mvasm")
        d = tmp_path / "progs"
        d.mkdir(exist_ok=True)
        path = d / f"{name}.hxe"
        path.write_bytes(res.hxe)
        if sym:
            import json

            (d / f"{name}.sym").write_text(json.dumps(res.sym))
        return path

    return make


async def next_event(
    sub: Subscription, type_: str, timeout: float = 10.0, pred: Callable[[Any], bool] | None = None
) -> Any:
    """The next event of ``type_`` on ``sub`` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ev in sub.drain(1000, 1 << 24):
            if ev.type == type_ and (pred is None or pred(ev)):
                return ev
        await asyncio.sleep(0.005)
    raise AssertionError(f"no {type_} event within {timeout}s")


def events_of(sub: Subscription, type_: str) -> list[Any]:
    return [ev for ev in sub.drain(100000, 1 << 26) if ev.type == type_]
