"""Stack reconstruction: a five-deep hsx-llc recursion, prologue/epilogue stops, corrupt frames, the cap."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from executive.kernel.limits import DEFAULT_LIMITS
from executive.service import Executive

from .conftest import RECURSE, next_event

# Addresses in RECURSE: main's CALL rec at 0x0C (returns to 0x10); rec at 0x18, its CALL at
# 0x3C (returns to 0x40); rec_base at 0x4C; the RET of rec at 0x58.
MAIN_RET, REC, REC_RET, REC_BASE, REC_END = 0x10, 0x18, 0x40, 0x4C, 0x58

FRAMELESS = """
.entry main
.export main
main:
    LDI R1, 3
    CALL fact
    RET
fact:
    LDI R0, 1
    LDI R2, 0
    CMP R1, R2
    JZ fact_done
    PUSH R1
    LDI R2, 1
    SUB R1, R1, R2
    CALL fact
    POP R1
    MUL R0, R0, R1
fact_done:
    RET
"""


async def run_to(ex: Executive, pid: int, where: str) -> None:
    sub = ex.subscribe(types=["debug_break"], tasks=[pid])
    ex.debug.bp_add(pid, where)
    ex.vm.resume(pid)
    await next_event(sub, "debug_break")
    ex.unsubscribe(sub.id)


async def test_five_deep_recursion_with_symbol_names(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(RECURSE, "rec")), paused=True)["pid"]
    await run_to(ex, pid, "rec_base")
    st = ex.debug.stack(pid)
    assert st["errors"] == [] and st["truncated"] is False and st["depth"] == 5
    frames = st["frames"]
    assert [f["func_name"] for f in frames] == ["rec"] * 5 + ["main"]
    assert [f["pc"] for f in frames] == [REC_BASE] + [REC_RET] * 4 + [MAIN_RET]
    assert [f["return_pc"] for f in frames] == [REC_RET] * 4 + [MAIN_RET, None]
    assert frames[0]["symbol"] == "rec_base" and frames[1]["symbol"] == "rec+0x28"
    assert [f["func_offset"] for f in frames] == [REC_BASE - REC] + [REC_RET - REC] * 4 + [MAIN_RET]
    assert all(f["file"] == "rec.mvasm" and isinstance(f["line"], int) for f in frames)
    fps = [f["fp"] for f in frames]
    assert fps == sorted(fps) and len(set(fps)) == 6 and all(st["stack_low"] <= fp < st["stack_high"] for fp in fps)
    assert all(f["sp"] <= f["fp"] for f in frames)
    # the values on the stack are right too: each rec frame's local [fp-4] holds its n
    regs = ex.vm.regs(pid)
    assert regs["R7"] == fps[0]
    locals_ = [int.from_bytes(bytes.fromhex(ex.vm.mem_read(pid, fp - 4, 4)["data"]), "little") for fp in fps[:5]]
    assert locals_ == [0, 1, 2, 3, 4]


async def test_stops_at_function_entry_in_the_prologue_and_at_ret(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(RECURSE, "rec")), paused=True)["pid"]
    await run_to(ex, pid, "rec")  # first instruction of rec: no frame yet (called from main)
    st = ex.debug.stack(pid)
    assert [(f["func_name"], f["pc"], f["position"]) for f in st["frames"]] == [
        ("rec", REC, "entry"),
        ("main", MAIN_RET, "body"),
    ]
    assert st["frames"][0]["fp"] is None and st["frames"][0]["return_pc"] == MAIN_RET and not st["errors"]

    ex.debug.step(pid)  # PUSH R7 done, MOV R7, R15 next
    st = ex.debug.stack(pid)
    assert [(f["pc"], f["position"]) for f in st["frames"]] == [(REC + 4, "prologue"), (MAIN_RET, "body")]

    ex.debug.bp_clear(pid)
    await run_to(ex, pid, REC_END)  # the innermost rec(0) about to return
    st = ex.debug.stack(pid)
    assert st["frames"][0]["position"] == "ret" and not st["errors"]
    assert [f["func_name"] for f in st["frames"]] == ["rec"] * 5 + ["main"]


async def test_corrupt_frames_are_detected(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(RECURSE, "rec")), paused=True)["pid"]
    await run_to(ex, pid, "rec_base")
    fp = ex.vm.regs(pid)["R7"]
    saved = ex.vm.mem_read(pid, fp, 4)["data"]
    for value, error in (
        (fp, "fp_cycle"),
        (fp + 2, "fp_unaligned"),
        (0x0100, "fp_out_of_range"),
        (fp - 16, "fp_cycle"),
    ):
        ex.vm.mem_write(pid, fp, value.to_bytes(4, "little").hex())
        st = ex.debug.stack(pid)
        assert st["truncated"] and st["errors"][0].startswith(error), (value, st["errors"])
        assert len(st["frames"]) == 2  # frame 0 read fine; its caller's FP is the bad one
    ex.vm.mem_write(pid, fp, saved)
    ex.vm.mem_write(pid, fp + 4, (0x44).to_bytes(4, "little").hex())  # a return PC that follows no CALL
    st = ex.debug.stack(pid)
    assert st["truncated"] and st["errors"] == ["return_pc_invalid:0x00000044"]


async def test_frameless_function_stops_the_walk_with_a_reason(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(FRAMELESS, "fact")), paused=True)["pid"]
    await run_to(ex, pid, "fact_done")
    st = ex.debug.stack(pid)
    assert st["frames"][0]["position"] == "ret"  # fact_done is the RET: unwinds fine from [SP]
    ex.debug.bp_clear(pid)
    await run_to(ex, pid, "fact+0x24")  # MUL after the recursive CALL: body of a frameless function
    st = ex.debug.stack(pid)
    assert st["truncated"] and st["errors"][0].startswith("no_frame_pointer:fact")
    assert st["frames"][0]["func_name"] == "fact"


async def test_frame_cap(tmp_path: Path, program: Callable[..., Path]) -> None:
    ex = await Executive.open(tmp_path / "capped", limits=dataclasses.replace(DEFAULT_LIMITS, max_stack_frames=3))
    try:
        pid = ex.vm.load(path=str(program(RECURSE, "rec")), paused=True)["pid"]
        await run_to(ex, pid, "rec_base")
        st = ex.debug.stack(pid, max_frames=100)
        assert st["max_frames"] == 3 and len(st["frames"]) == 3
        assert st["truncated"] and st["errors"] == ["frame_limit_reached:3"]
        assert len(ex.debug.stack(pid, max_frames=2)["frames"]) == 2
    finally:
        await ex.aclose()
