"""Debug hooks (breakpoints, trace, write watch) and register windows (spec §1.1, §3.3)."""

from __future__ import annotations

import struct

import pytest

from executive.hsx.cpu import Cpu, HaltReason, MemAccess
from executive.hsx.isa import BY_MNEMONIC, encode


def w(mn: str, rd: int = 0, rs1: int = 0, rs2: int = 0, imm: int = 0) -> int:
    return encode(BY_MNEMONIC[mn].opcode, rd, rs1, rs2, imm)


def cpu_for(words: list[int], **kw: object) -> Cpu:
    return Cpu(b"".join(x.to_bytes(4, "big") for x in words), **kw)  # type: ignore[arg-type]


# counted loop: R1 = 3; loop@8: R3 += R2(1) ; R1 -= R2 ; JNZ loop ; RET
LOOP = [w("LDI", 1, imm=3), w("LDI", 2, imm=1), w("ADD", 3, 3, 2), w("SUB", 1, 1, 2), w("JNZ", imm=8), w("RET")]


def test_breakpoint_stops_before_and_continue_steps_over() -> None:
    cpu = cpu_for(LOOP)
    cpu.add_breakpoint(8)
    assert cpu.run(100) == 2
    assert (cpu.halt, cpu.pc, cpu.halt_info) == (HaltReason.BREAKPOINT, 8, {"pc": 8})
    assert cpu.regs[3] == 0  # the instruction at the breakpoint has not run
    cpu.resume()
    assert cpu.run(100) == 3  # steps over the breakpoint, stops on the next iteration
    assert cpu.pc == 8 and cpu.regs[3] == 1
    cpu.remove_breakpoint(8)
    cpu.resume()
    cpu.run(100)
    assert cpu.halt is HaltReason.RETURNED and cpu.regs[3] == 3 and cpu.steps == 11


def test_breakpoint_on_the_first_instruction_of_a_run_is_not_hit() -> None:
    cpu = cpu_for(LOOP)
    cpu.set_breakpoints([0, 20])
    assert cpu.run(100) == 11  # entry breakpoint skipped: it is the run's first instruction
    assert cpu.halt is HaltReason.BREAKPOINT and cpu.pc == 20


def test_trace_hook_sees_every_retired_instruction_with_its_access() -> None:
    records: list[tuple[int, int, int, MemAccess | None]] = []
    words = [
        w("LDI", 1, imm=0x100),
        w("LDI", 2, imm=0x55),
        w("ST", 0, 1, 2, 4),
        w("LD", 3, 1, 0, 4),
        w("PUSH", 0, 3),
        w("CALL", imm=2),
        w("DIV", 0, 0, 0),
        w("RET"),
    ]
    cpu = cpu_for(words)
    cpu.set_trace(lambda c, pc, word, npc, acc: records.append((pc, word, npc, acc)))
    cpu.run(100)
    # CALL@20 -> RET@28 -> back to DIV R0,R0,R0 @24, which faults (R0 = 0)
    assert cpu.halt is HaltReason.DIV_ZERO and cpu.pc == 24
    pcs = [r[0] for r in records]
    assert pcs == [0, 4, 8, 12, 16, 20, 28]  # the faulting DIV is not reported
    assert records[6][3] == MemAccess("r", 0x7FF8, 4, 24)
    assert records[2][3] == MemAccess("w", 0x104, 4, 0x55)
    assert records[3][3] == MemAccess("r", 0x104, 4, 0x55)
    assert records[4][3] == MemAccess("w", 0x7FFC, 4, 0x55)
    assert records[5][1] == words[5] and records[5][2] == 28
    assert records[0][3] is None


def test_write_watch_reports_stores_and_can_stop() -> None:
    writes: list[tuple[int, int]] = []

    def watch(cpu: Cpu, addr: int, width: int) -> None:
        writes.append((addr, width))
        if addr == 0x202:
            cpu.stop(HaltReason.BREAKPOINT, watch=addr)

    words = [
        w("LDI", 1, imm=0x200),
        w("STB", 0, 1, 2, 1),
        w("STH", 0, 1, 2, 2),
        w("LDI", 4, imm=1),
        w("PUSH", 0, 4),
        w("RET"),
    ]
    cpu = cpu_for(words)
    cpu.set_write_watch(watch)
    assert cpu.run(100) == 3
    assert writes == [(0x201, 1), (0x202, 2)]
    assert cpu.halt is HaltReason.BREAKPOINT and cpu.halt_info == {"watch": 0x202} and cpu.pc == 12
    cpu.resume()
    cpu.run(100)
    assert writes[-1] == (0x7FFC, 4) and cpu.halt is HaltReason.RETURNED


def test_hooks_cost_nothing_when_cleared() -> None:
    cpu = cpu_for([*LOOP, w("BRK")])  # own code bytes: compiled blocks are shared per program
    cpu.set_trace(lambda *a: None)
    cpu.run(3)
    assert not cpu._blocks.get(8)  # debug path: nothing compiled yet
    cpu.set_trace(None)
    cpu.run(100)
    assert cpu._blocks[8].source  # fast path again
    assert cpu.halt is HaltReason.RETURNED and cpu.steps == 11


# -- register windows ---------------------------------------------------------------------------

RB = 0x1000


@pytest.mark.parametrize("debug", [False, True], ids=["fast", "debug"])
def test_window_loads_and_stores_alias_registers(debug: bool) -> None:
    words = [
        w("LDI32", 1),
        RB,
        w("LDI32", 2),
        0xA1B2C3D4,
        w("ST", 0, 1, 2, 4 * 5),  # R5 <- R2 through memory
        w("LD", 6, 1, 0, 4 * 2),  # R6 <- R2 through memory
        w("STB", 0, 1, 2, 4 * 7 + 1),  # byte 1 of R7 <- 0xD4
        w("LDH", 8, 1, 0, 4 * 2 + 2),  # upper half of R2
        w("LD", 9, 1, 0, -2),  # straddles the window start: 2 bytes below + low half of R0
        w("RET"),
    ]
    cpu = cpu_for(words, reg_base=RB)
    cpu.regs[0] = 0x00001234
    cpu.mem[RB - 2 : RB] = b"\xee\xff"
    if debug:
        cpu.set_trace(lambda *a: None)
    cpu.run(100)
    assert cpu.halt is HaltReason.RETURNED
    assert cpu.regs[5] == 0xA1B2C3D4 and cpu.regs[6] == 0xA1B2C3D4
    assert cpu.regs[7] == 0xD400
    assert cpu.regs[8] == 0xA1B2
    assert cpu.regs[9] == 0x1234FFEE
    # after the run the window in memory mirrors the registers
    assert struct.unpack_from("<16I", cpu.mem, RB) == tuple(cpu.regs)


@pytest.mark.parametrize("debug", [False, True], ids=["fast", "debug"])
def test_window_push_lands_in_r15_slot(debug: bool) -> None:
    # SP just above the window: PUSH writes R15's slot, then R15 <- SP (the mirror wins)
    cpu = cpu_for([w("LDI", 4, imm=77), w("PUSH", 0, 4), w("POP", 6), w("RET")], reg_base=RB, sp=RB + 64)
    if debug:
        cpu.set_trace(lambda *a: None)
    cpu.run(100)
    assert cpu.halt is HaltReason.RETURNED
    assert cpu.regs[6] == RB + 60  # POP read R15's slot, which holds the mirrored SP
    assert cpu.sp == RB + 64 and cpu.regs[15] == RB + 64


def test_no_window_checks_without_reg_base() -> None:
    cpu = cpu_for([w("ST", 0, 1, 2), w("LD", 3, 1), w("RET")])
    cpu.run(10)
    assert "wlo" not in cpu._blocks[0].source
    cpu2 = cpu_for([w("ST", 0, 1, 2), w("LD", 3, 1), w("RET")], reg_base=RB)
    cpu2.run(10)
    assert "wlo4" in cpu2._blocks[0].source


def test_svc_handler_sees_window_memory() -> None:
    seen = []
    cpu = cpu_for(
        [w("LDI", 3, imm=0x42), w("SVC", imm=0x100), w("RET")],
        reg_base=RB,
        svc=lambda c, m, f: seen.append(c.mem[RB + 12]),
    )
    cpu.run(10)
    assert seen == [0x42]


def test_register_list_and_memory_cannot_be_replaced() -> None:
    cpu = cpu_for([w("RET")])
    with pytest.raises(AttributeError):
        cpu.regs = [0] * 16  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cpu.mem = bytearray(10)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cpu.code = b""  # type: ignore[misc]
    cpu.set_register(3, -1)
    assert cpu.regs[3] == 0xFFFFFFFF


def test_svc_results_are_normalised_to_u32() -> None:
    def handler(cpu: Cpu, module: int, fn: int) -> None:
        cpu.regs[0] = -1  # a careless host
        cpu.regs[1] = 1 << 40

    cpu = cpu_for([w("SVC", imm=0x123), w("ADD", 2, 0, 0), w("RET")], svc=handler)
    cpu.run(10)
    assert cpu.regs[0:3] == [0xFFFFFFFF, 0, 0xFFFFFFFE] and cpu.psw == 0x6
