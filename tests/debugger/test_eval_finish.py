"""`debug.eval` (the prompt's ``p``) and `debug.finish` (step out of the current function)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from executive.kernel.errors import BadParamsError
from executive.service import Executive

from .conftest import RECURSE, STORES


async def test_finish_returns_from_the_innermost_recursive_call(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(RECURSE, "rec")), paused=True)["pid"]
    ex.debug.bp_add(pid, "rec_base")
    ex.debug.step(pid, 1000)  # stops early at the breakpoint, in rec(0)
    assert ex.debug.state(pid)["depth"] == 5
    r = await ex.debug.step_out(pid)
    # rec(0) returned into rec(1), just after its CALL, one level up (not into main)
    assert r["stop"] == "returned" and r["pc"] == 0x40 and r["symbol"] == "rec+0x28"
    assert ex.debug.state(pid)["depth"] == 4 and r["regs"][0] == 0
    r = await ex.debug.step_out(pid)
    assert r["pc"] == 0x40 and ex.debug.state(pid)["depth"] == 3 and r["regs"][0] == 1  # rec(1) = 1


async def test_finish_stops_at_a_breakpoint_on_the_way_and_refuses_at_depth_0(
    ex: Executive, program: Callable[..., Path]
) -> None:
    pid = ex.vm.load(path=str(program(RECURSE, "rec")), paused=True)["pid"]
    with pytest.raises(BadParamsError, match="not inside a call"):
        await ex.debug.step_out(pid)
    ex.debug.step(pid, 4)  # into rec(4)
    assert ex.debug.state(pid)["depth"] == 1
    ex.debug.bp_add(pid, "rec_base")
    r = await ex.debug.step_out(pid)  # the recursion reaches rec_base before rec(4) returns
    assert r["stop"] == "breakpoint" and r["pc"] == 0x4C and ex.debug.state(pid)["depth"] == 5


async def test_eval_registers_numbers_variables_pointers_and_code(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(STORES, "stores")), paused=True)["pid"]
    ex.debug.step(pid, 3)  # LDI32 R1, counter; LDI R2, 7; ST [R1], R2
    counter = ex.debug.sym_lookup(pid, "counter")["symbol"]["address"]
    assert ex.debug.evaluate(pid, "R2") == {"pid": pid, "expr": "R2", "kind": "register", "value": 7}
    assert ex.debug.evaluate(pid, "$r1")["value"] == counter
    assert ex.debug.evaluate(pid, "pc")["value"] == ex.debug.state(pid)["pc"]
    v = ex.debug.evaluate(pid, "counter")
    assert (v["kind"], v["value"], v["address"], v["symbol"]) == ("variable", 7, counter, "counter")
    assert ex.debug.evaluate(pid, "*R1")["value"] == 7  # R1 points at counter
    assert ex.debug.evaluate(pid, f"*0x{counter:X}")["value"] == 7
    ptr = ex.debug.evaluate(pid, "ptr")
    assert ptr["value"] == 0x4010
    deref = ex.debug.evaluate(pid, "*ptr")
    assert deref == {"pid": pid, "expr": "*ptr", "kind": "memory", "address": 0x4010, "size": 4, "value": 0}
    assert ex.debug.evaluate(pid, "42")["value"] == 42
    main = ex.debug.evaluate(pid, "main+4")
    assert main["kind"] == "code" and main["value"] == 4
    for bad, msg in [("", "print what"), ("nosuch", "no symbol named"), ("*0xFFFE", "past the end"),
                     ("x" * 300, "at most 256")]:  # fmt: skip
        with pytest.raises(BadParamsError, match=msg):
            ex.debug.evaluate(pid, bad)
