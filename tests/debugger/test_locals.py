"""Source-level look-ups: locals live in a frame (symbols.locals), a file's line map, stopping watches."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from executive.kernel.errors import BadParamsError
from executive.service import Executive

from .conftest import RECURSE, STORES, next_event

# RECURSE (see conftest): rec stores n at [R7+-4]; its body runs from 0x20 (after PUSH R12) to the RET.


def _with_locals(path: Path, rec_start: int, rec_end: int) -> None:
    """Add C-style locals to the .sym of RECURSE: n on the stack, r2 in a register, a const."""
    sym_path = path.with_suffix(".sym")
    doc = json.loads(sym_path.read_text())
    doc["symbols"]["locals"] = [
        {"name": "n", "function": "rec", "type": "int", "size": 4,
         "locations": [{"start": rec_start + 16, "end": rec_end, "location": {"kind": "stack", "offset": -4}}]},
        {"name": "tmp", "function": "rec", "type": "int",
         "locations": [{"start": rec_start, "end": rec_end, "location": {"kind": "register", "register": "R2"}}]},
        {"name": "limit", "function": "rec",
         "locations": [{"start": rec_start, "end": rec_end, "location": {"kind": "const", "value": -1}}]},
        {"name": "other", "function": "main",
         "locations": [{"start": 0, "end": rec_start, "location": {"kind": "register", "register": 1}}]},
    ]  # fmt: skip
    sym_path.write_text(json.dumps(doc))


async def test_locals_of_the_innermost_and_an_outer_frame(ex: Executive, program: Callable[..., Path]) -> None:
    path = program(RECURSE, "rec")
    probe = ex.vm.load(path=str(path), paused=True)["pid"]
    rec = ex.debug.sym_lookup(probe, "rec")["symbol"]
    start, end = rec["address"], rec["address"] + rec["size"]
    _with_locals(path, start, end)
    pid = ex.vm.load(path=str(path), paused=True)["pid"]
    ex.debug.bp_add(pid, "rec_base")
    sub = ex.subscribe(types=["debug_break"], tasks=[pid])
    ex.vm.resume(pid)
    await next_event(sub, "debug_break")

    inner = ex.debug.locals(pid, 0)
    assert inner["function"] == "rec" and inner["fp"] == ex.vm.regs(pid)["regs"][7]
    by_name = {v["name"]: v for v in inner["locals"]}
    assert set(by_name) == {"n", "tmp", "limit"}
    assert by_name["n"]["value"] == 0 and by_name["n"]["location"] == "fp-0x4"  # the base case: n == 0
    assert by_name["n"]["address"] == (inner["fp"] - 4) & 0xFFFF
    assert by_name["tmp"]["register"] == "R2" and by_name["tmp"]["value"] == ex.vm.regs(pid)["regs"][2]
    assert by_name["limit"] == {
        "name": "limit",
        "type": None,
        "size": 4,
        "function": "rec",
        "location": "const",
        "value": -1,
    }

    outer = {v["name"]: v for v in ex.debug.locals(pid, 1)["locals"]}
    assert outer["n"]["value"] == 1  # the caller's frame holds n == 1
    assert "error" in outer["tmp"] and "value" not in outer["tmp"]  # outer registers are unknown
    with pytest.raises(BadParamsError, match="frame 9 does not exist"):
        ex.debug.locals(pid, 9)


async def test_a_malformed_locals_section_refuses_the_whole_file(ex: Executive, program: Callable[..., Path]) -> None:
    path = program(RECURSE, "bad")
    doc = json.loads(path.with_suffix(".sym").read_text())
    doc["symbols"]["locals"] = [{"name": "x", "locations": [{"start": 0, "end": 4, "location": {"kind": "heap"}}]}]
    path.with_suffix(".sym").write_text(json.dumps(doc))
    loaded = ex.vm.load(path=str(path), paused=True)
    assert any(w.startswith("symbols_failed:") and "kind" in w for w in loaded["warnings"])


async def test_lines_of_a_file_and_the_files(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(STORES, "stores")), paused=True)["pid"]
    assert ex.debug.sym_lines(pid)["files"] == ["stores.mvasm"]
    lines = ex.debug.sym_lines(pid, "/somewhere/else/stores.mvasm")["lines"]
    first = lines[0]
    assert first["addresses"] == [0] and [ln["line"] for ln in lines] == sorted(ln["line"] for ln in lines)
    assert ex.debug.sym_lines(pid, "other.c")["lines"] == []


async def test_a_stopping_watch_pauses_after_the_writing_instruction(
    ex: Executive, program: Callable[..., Path]
) -> None:
    pid = ex.vm.load(path=str(program(STORES, "stores")), paused=True)["pid"]
    sub = ex.subscribe(types=["debug_break"], tasks=[pid])
    w = ex.debug.watch_add(pid, "counter", stop=True)
    assert w["stop"] is True
    ex.vm.resume(pid)
    ev = await next_event(sub, "debug_break")
    assert ev.data["reason"] == "watch" and ev.data["watch_id"] == w["id"] and ev.data["writer_pc"] == 0x0C
    assert ev.data["pc"] == 0x10 and ex.debug.state(pid)["state"] == "paused"
    assert ex.debug.bp_list(pid)["details"] == []  # no breakpoint was counted
    ex.vm.resume(pid)  # the second store writes the same value: no stop until 9 lands
    ev = await next_event(sub, "debug_break")
    assert ev.data["writer_pc"] == 0x18
    ex.vm.resume(pid)
    assert (await ex.task_wait(pid, timeout=10))["exit_code"] == 9


async def test_evaluate_registers_locals_symbols_and_memory(ex: Executive, program: Callable[..., Path]) -> None:
    path = program(RECURSE, "ev")
    probe = ex.vm.load(path=str(path), paused=True)["pid"]
    rec = ex.debug.sym_lookup(probe, "rec")["symbol"]
    _with_locals(path, rec["address"], rec["address"] + rec["size"])
    pid = ex.vm.load(path=str(path), paused=True)["pid"]
    ex.debug.bp_add(pid, "rec_base")
    sub = ex.subscribe(types=["debug_break"], tasks=[pid])
    ex.vm.resume(pid)
    await next_event(sub, "debug_break")
    regs = ex.vm.regs(pid)["regs"]
    assert ex.debug.evaluate(pid, "R7")["value"] == regs[7]
    assert ex.debug.evaluate(pid, "n == 0 && R1 == 0")["value"] == 1
    n1 = ex.debug.evaluate(pid, "n", frame=1)
    assert n1["value"] == 1 and n1["kind"] == "local" and "address" in n1
    mem = ex.debug.evaluate(pid, f"*(u32*)0x{(regs[7] - 4) & 0xFFFF:X}")
    assert mem["value"] == 0 and mem["kind"] == "memory" and mem["address"] == (regs[7] - 4) & 0xFFFF
    assert ex.debug.evaluate(pid, "rec")["value"] == rec["address"]  # a function is its address
    assert ex.debug.evaluate(pid, "(i8)0xFF + 1")["value"] == 0
    with pytest.raises(BadParamsError, match="no symbol named"):
        ex.debug.evaluate(pid, "nosuch + 1")
    with pytest.raises(BadParamsError, match="past the end"):
        ex.debug.evaluate(pid, "*(u32*)0xFFFE")
    with pytest.raises(BadParamsError, match="expected"):
        ex.debug.evaluate(pid, "(R1 + 2")
