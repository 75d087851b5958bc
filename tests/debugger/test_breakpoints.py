"""Breakpoints through Executive.debug: hit → event → step → continue; validation, limits, locks."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from executive.hsx.asm import assemble_text
from executive.kernel.errors import ErrorCode, ExecutiveError, LimitError, LockedError
from executive.kernel.limits import DEFAULT_LIMITS
from executive.service import Executive

from .conftest import COUNTER, next_event


async def test_breakpoint_hit_event_step_continue_to_exit(ex: Executive, program: Callable[..., Path]) -> None:
    path = program(COUNTER, "counter")
    sub = ex.subscribe(types=["debug_break", "task_state"])
    img = ex.vm.load(path=str(path), paused=True)
    pid = img["pid"]
    assert img["symbols"]["loaded"] and img["symbols"]["count"] >= 3
    bp = ex.debug.bp_add(pid, "loop")
    assert bp["breakpoints"] == [0x14] and bp["added"] and bp["breakpoint"]["symbol"] == "loop"
    ex.vm.resume(pid)

    ev = await next_event(sub, "debug_break")
    assert ev.pid == pid
    assert ev.data["pc"] == 0x14 and ev.data["reason"] == "breakpoint" and ev.data["phase"] == "pre"
    assert ev.data["symbol"] == "loop"
    # changed since load: the registers main set to non-zero values
    assert set(ev.data["changed_regs"]) == {"R1", "R4", "R5"}
    assert ex.vm.info(pid)["state"] == "paused"
    assert ex.debug.bp_list(pid)["details"][0]["hits"] == 1

    # step one instruction: ADD R3 changes R3 and the flags stay 0 (1 is not zero/negative)
    r = ex.debug.step(pid)
    assert r["executed"] == 1 and r["pc"] == 0x18 and r["changed_regs"] == ["R3"]
    assert r["symbol"] == "loop+0x4"

    # continue: the loop comes round to the breakpoint again, then delete it and run to the end
    ex.vm.resume(pid)
    ev = await next_event(sub, "debug_break")
    assert ev.data["pc"] == 0x14 and ev.data["changed_regs"] == ["PSW"]  # CMP 1, 5 set N and C; ADD not yet run
    ex.debug.bp_remove(pid, 0x14)
    assert ex.debug.bp_list(pid)["breakpoints"] == []
    ex.vm.resume(pid)
    done = await ex.task_wait(pid, timeout=10)
    assert done["end_reason"] == "exited" and done["exit_code"] == 5


async def test_breakpoint_at_address_zero_is_valid(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(COUNTER)), paused=True)["pid"]
    assert ex.debug.bp_add(pid, 0)["breakpoints"] == [0]
    assert ex.debug.bp_add(pid, "0x0")["added"] is False  # idempotent
    cleared = ex.debug.bp_clear(pid)
    assert cleared["removed"] == 1 and cleared["breakpoints"] == [] and cleared["details"] == []


@pytest.mark.parametrize(
    ("where", "needle"),
    [
        (2, "multiple of 4"),
        (0x28, "outside the code"),
        (4, "literal word of the LDI32"),  # LDI32 R1, greeting occupies 0x0..0x7
        ("greeting", "variable"),
        ("nosuch", "no symbol named"),
        ("loop+zz", "not a number"),
        ("counter.mvasm:999", "no instruction is recorded"),
        ("!!", "cannot read"),
    ],
)
async def test_bad_breakpoint_locations(
    ex: Executive, program: Callable[..., Path], where: object, needle: str
) -> None:
    pid = ex.vm.load(path=str(program(COUNTER, "counter")), paused=True)["pid"]
    with pytest.raises(ExecutiveError) as exc:
        ex.debug.bp_add(pid, where)  # type: ignore[arg-type]
    assert exc.value.code == ErrorCode.INVALID_PARAMS
    assert needle in exc.value.message


async def test_breakpoint_by_symbol_offset_and_source_line(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(COUNTER, "counter")), paused=True)["pid"]
    assert ex.debug.bp_add(pid, "loop+0x4")["breakpoints"] == [0x18]
    line = ex.debug.sym_line(pid, 0x14)["line"]["line"]
    assert ex.debug.bp_add(pid, f"counter.mvasm:{line}")["breakpoints"] == [0x14, 0x18]
    with pytest.raises(ExecutiveError, match="no breakpoint at 0x1C"):
        ex.debug.bp_remove(pid, 0x1C)


async def test_symbol_breakpoint_without_symbols_says_how_to_load_them(ex: Executive) -> None:
    data = base64.b64encode(assemble_text(COUNTER, "c.mvasm").hxe).decode()
    img = ex.vm.load(data_b64=data, paused=True)
    assert img["symbols"]["loaded"] is False and "symbols_unavailable" in img["warnings"]
    with pytest.raises(ExecutiveError, match="no symbols loaded"):
        ex.debug.bp_add(img["pid"], "loop")
    assert ex.debug.bp_add(img["pid"], 0x14)["breakpoints"] == [0x14]


async def test_unknown_task_and_process_task_are_refused(ex: Executive) -> None:
    with pytest.raises(ExecutiveError) as exc:
        ex.debug.bp_add(999, 0)
    assert exc.value.code == ErrorCode.TASK_NOT_FOUND
    proc = await ex.task_run(["sleep", "5"])
    with pytest.raises(ExecutiveError) as exc:
        ex.debug.bp_list(proc["id"])
    assert exc.value.code == ErrorCode.NOT_A_VM_TASK
    ex.task_kill(proc["id"])


async def test_breakpoint_limit(tmp_path: Path, program: Callable[..., Path]) -> None:
    ex = await Executive.open(tmp_path / "capped", limits=dataclasses.replace(DEFAULT_LIMITS, max_breakpoints=2))
    try:
        pid = ex.vm.load(path=str(program(COUNTER)), paused=True)["pid"]
        ex.debug.bp_add(pid, 0)
        ex.debug.bp_add(pid, 0x14)
        with pytest.raises(LimitError, match="limit max_breakpoints = 2"):
            ex.debug.bp_add(pid, 0x18)
        ex.debug.bp_add(pid, 0x14)  # an existing one is not a new one
    finally:
        await ex.aclose()


async def test_another_session_cannot_set_breakpoints_on_a_locked_task(
    ex: Executive, program: Callable[..., Path]
) -> None:
    owner = ex.session_open(client="owner")["id"]
    other = ex.session_open(client="other")["id"]
    pid = ex.vm.load(path=str(program(COUNTER)), paused=True, session_id=owner, lock=True)["pid"]
    with pytest.raises(LockedError):
        ex.debug.bp_add(pid, 0x14, session_id=other)
    with pytest.raises(LockedError):
        ex.debug.bp_add(pid, 0x14)  # no session at all
    assert ex.debug.bp_add(pid, 0x14, session_id=owner)["breakpoints"] == [0x14]
    with pytest.raises(LockedError):
        ex.debug.bp_clear(pid, session_id=other)
    assert ex.debug.bp_list(pid)["breakpoints"] == [0x14]  # reading is open to everyone


async def test_guest_brk_is_a_debug_break_with_symbol_and_changed_regs(
    ex: Executive, program: Callable[..., Path]
) -> None:
    src = ".entry main\n.export main\nmain:\n    LDI R2, 7\nstop_here:\n    BRK 3\n    LDI R0, 1\n    RET\n"
    sub = ex.subscribe(types=["debug_break"])
    pid = ex.vm.load(path=str(program(src, "brk")))["pid"]
    ev = await next_event(sub, "debug_break")
    assert ev.data["reason"] == "brk" and ev.data["phase"] == "post" and ev.data["code"] == 3
    assert ev.data["symbol"] == "stop_here+0x4" and ev.data["changed_regs"] == ["R2"]
    ex.vm.resume(pid)
    assert (await ex.task_wait(pid, timeout=10))["exit_code"] == 1


# Blocks in RECV on app:bpwake; the instruction after the SVC (label after_recv) has the breakpoint.
RECV_THEN_BREAK = """
.entry main
.export main
main:
    LDI32 R1, box
    LDI R2, 0
    SVC MOD=5, FN=0
    LDI32 R2, buf
    LDI R3, 8
    LDI32 R4, 0xFFFF
    LDI R5, 0
    SVC MOD=5, FN=3
after_recv:
    MOV R0, R1
    RET
.data
box:
    .asciz "app:bpwake"
buf:
    .zero 8
"""


async def test_breakpoint_right_after_a_blocking_receive_is_hit_when_the_task_wakes(
    ex: Executive, program: Callable[..., Path]
) -> None:
    """A task woken from a wait resumes at a breakpoint's PC: the scheduler's next slice must stop there
    (only a debugger resume/step steps over the breakpoint it stopped at)."""
    sub = ex.subscribe(types=["debug_break"])
    pid = ex.vm.load(path=str(program(RECV_THEN_BREAK, "rb")), paused=True)["pid"]
    at = ex.debug.bp_add(pid, "after_recv")["breakpoints"][0]
    ex.vm.resume(pid)
    for _ in range(200):
        if ex.vm.info(pid)["vm_state"] == "waiting_mbx":
            break
        await asyncio.sleep(0.005)
    assert ex.vm.info(pid)["vm_state"] == "waiting_mbx" and ex.vm.task(pid).cpu.pc == at
    ex.vm.mailbox_send(target="app:bpwake", data=b"hey")
    ev = await next_event(sub, "debug_break", timeout=5)
    assert ev.pid == pid and ev.data["pc"] == at and ev.data["reason"] == "breakpoint"
    assert ex.vm.info(pid)["state"] == "paused" and ex.vm.task(pid).cpu.regs[1] == 3
    ex.vm.resume(pid)  # continuing from the breakpoint steps over it
    done = await ex.task_wait(pid, timeout=5)
    assert done["exit_code"] == 3
