"""Faults and halts (spec §3.1, §3.2, §7, §8, §18): what retires, what does not, R0 codes.

Aborting faults leave PC on the faulting instruction and do not count it; the instructions
before it in the same compiled block *are* counted. Stop-after-retire halts (BRK, illegal,
EXIT/SLEEP from an SVC) advance PC and count.
"""

from __future__ import annotations

import pytest

from executive.hsx.cpu import Cpu, CpuError, HaltReason
from executive.hsx.isa import (
    BY_MNEMONIC,
    ERR_DIV_ZERO,
    ERR_MEM_FAULT,
    ERR_STACK_OVERFLOW,
    ERR_STACK_UNDERFLOW,
    encode,
)


def w(mn: str, rd: int = 0, rs1: int = 0, rs2: int = 0, imm: int = 0) -> int:
    return encode(BY_MNEMONIC[mn].opcode, rd, rs1, rs2, imm)


def cpu_for(words: list[int], **kw: object) -> Cpu:
    return Cpu(b"".join(x.to_bytes(4, "big") for x in words), **kw)  # type: ignore[arg-type]


PRE = [w("LDI", 0, imm=7), w("LDI", 5, imm=1)]  # two retiring instructions before the fault

# (name, faulting instruction(s), setup regs, cpu kwargs, depth, halt, R0 after, info subset)
FAULTS = [
    ("LD at 0xFFFD", [w("LD", 2, 1)], {1: 0xFFFD}, {}, 0, HaltReason.MEM_FAULT, ERR_MEM_FAULT, {"op": "LD"}),
    (
        "ST at 0xFFFE",
        [w("ST", 0, 1, 2)],
        {1: 0xFFFE},
        {},
        0,
        HaltReason.MEM_FAULT,
        ERR_MEM_FAULT,
        {"op": "ST", "addr": 0xFFFE},
    ),
    ("LDH at 0xFFFF", [w("LDH", 2, 1)], {1: 0xFFFF}, {}, 0, HaltReason.MEM_FAULT, ERR_MEM_FAULT, {"width": 2}),
    ("STH at 0xFFFF", [w("STH", 0, 1, 2)], {1: 0x1FFFF}, {}, 0, HaltReason.MEM_FAULT, ERR_MEM_FAULT, {}),
    ("DIV by zero", [w("DIV", 3, 1, 2)], {1: 5}, {}, 0, HaltReason.DIV_ZERO, ERR_DIV_ZERO, {}),
    (
        "PUSH below 0",
        [w("PUSH", 0, 1)],
        {},
        {"sp": 0},
        0,
        HaltReason.STACK_OVERFLOW,
        ERR_STACK_OVERFLOW,
        {"op": "PUSH"},
    ),
    (
        "PUSH below stack_limit",
        [w("PUSH", 0, 1)],
        {},
        {"sp": 0x7000, "stack_limit": 0x7000},
        0,
        HaltReason.STACK_OVERFLOW,
        ERR_STACK_OVERFLOW,
        {},
    ),
    (
        "PUSH with SP above memory",
        [w("PUSH", 0, 1)],
        {},
        {"sp": 0x10004},
        0,
        HaltReason.STACK_OVERFLOW,
        ERR_STACK_OVERFLOW,
        {},
    ),
    (
        "CALL below stack_limit",
        [w("CALL", imm=1)],
        {},
        {"sp": 0x100, "stack_limit": 0xFE},
        0,
        HaltReason.STACK_OVERFLOW,
        ERR_STACK_OVERFLOW,
        {"op": "CALL"},
    ),
    (
        "POP at SP 0x10000",
        [w("POP", 2)],
        {},
        {"sp": 0x10000},
        0,
        HaltReason.STACK_UNDERFLOW,
        ERR_STACK_UNDERFLOW,
        {"op": "POP"},
    ),
    (
        "RET at SP 0x10000",
        [w("RET")],
        {},
        {"sp": 0x10000},
        1,
        HaltReason.STACK_UNDERFLOW,
        ERR_STACK_UNDERFLOW,
        {"op": "RET"},
    ),
    (
        "POP at SP 0xFFFE is a memory fault",
        [w("POP", 2)],
        {},
        {"sp": 0xFFFE},
        0,
        HaltReason.MEM_FAULT,
        ERR_MEM_FAULT,
        {},
    ),
    (
        "RET at SP 0xFFFD is a memory fault (reference crashes)",
        [w("RET")],
        {},
        {"sp": 0xFFFD},
        1,
        HaltReason.MEM_FAULT,
        ERR_MEM_FAULT,
        {},
    ),
    (
        "F2I of inf (reference crashes)",
        [w("F2I", 2, 1)],
        {1: 0x7C00},
        {},
        0,
        HaltReason.F2I_INVALID,
        7,
        {"value": 0x7C00},
    ),
    ("RET at depth 0 ends the program", [w("RET")], {}, {}, 0, HaltReason.RETURNED, 7, {"status": 7}),
]


@pytest.mark.parametrize("debug", [False, True], ids=["fast", "debug"])
@pytest.mark.parametrize(
    ("name", "instr", "regs", "kw", "depth", "halt", "r0", "info"), FAULTS, ids=[f[0] for f in FAULTS]
)
def test_aborting_fault(name, instr, regs, kw, depth, halt, r0, info, debug) -> None:
    cpu = cpu_for(PRE + instr + [w("LDI", 9, imm=1), w("RET")], **kw)
    for r, v in regs.items():
        cpu.set_register(r, v)
    cpu.depth = depth
    cpu.psw = 0x5
    if debug:
        cpu.set_trace(lambda *a: None)
    sp_before = cpu.sp
    retired = cpu.run(50)
    assert cpu.halt is halt
    assert retired == 2 and cpu.steps == 2  # the faulting instruction is not counted
    assert cpu.pc == 8  # PC still at the faulting instruction
    assert cpu.regs[0] == r0
    assert cpu.regs[9] == 0 and cpu.sp == sp_before and cpu.depth == depth and cpu.psw == 0x5
    assert cpu.halt_info["pc"] == 8
    for k, v in info.items():
        assert cpu.halt_info[k] == v
    assert cpu.halt.is_fault == (halt is not HaltReason.RETURNED)
    assert cpu.run(10) == 0  # halted: nothing more retires


@pytest.mark.parametrize("debug", [False, True], ids=["fast", "debug"])
def test_ldi32_overrun_does_not_retire(debug: bool) -> None:
    cpu = cpu_for([w("LDI", 0, imm=3), w("LDI32", 1)])
    if debug:
        cpu.set_trace(lambda *a: None)
    cpu.run(10)
    assert (cpu.halt, cpu.pc, cpu.steps, cpu.regs[0]) == (HaltReason.LDI32_OVERRUN, 4, 1, 3)


@pytest.mark.parametrize("debug", [False, True], ids=["fast", "debug"])
def test_pc_outside_code(debug: bool) -> None:
    cpu = cpu_for([w("LDI", 1, imm=1), w("JMP", imm=0x100)])
    if debug:
        cpu.set_trace(lambda *a: None)
    assert cpu.run(10) == 2
    assert cpu.halt is HaltReason.PC_OUT_OF_RANGE and cpu.pc == 0x100
    assert cpu.halt_info == {"pc": 0x100, "code_len": 8}
    cpu.pc = 0  # a debugger may fix PC and continue
    cpu.resume()
    assert cpu.run(1) == 1 and cpu.pc == 4


@pytest.mark.parametrize("debug", [False, True], ids=["fast", "debug"])
def test_stop_after_retire_halts(debug: bool) -> None:
    cpu = cpu_for([w("BRK", imm=0x1FF), 0xFF000000, w("RET")])
    if debug:
        cpu.set_trace(lambda *a: None)
    assert cpu.run(10) == 1
    assert (cpu.halt, cpu.pc, cpu.halt_info["code"]) == (HaltReason.BRK, 4, 0xFF)
    cpu.resume()  # BRK is resumable
    assert cpu.run(10) == 1
    assert (cpu.halt, cpu.pc, cpu.halt_info["opcode"]) == (HaltReason.ILLEGAL, 8, 0xFF)
    with pytest.raises(CpuError, match="ILLEGAL"):
        cpu.resume()  # terminal
    cpu.resume(force=True)
    cpu.run(10)
    assert cpu.halt is HaltReason.RETURNED and cpu.steps == 2


@pytest.mark.parametrize("budget", [1, 5, 13, 19, 20, 21, 100])
def test_fault_inside_compiled_loop_counts_exactly(budget: int) -> None:
    # loop: LD R3,[R1] ; ADD R1,R1,R2 ; SUB R4,R4,R2 ; JMP loop  -- faults when R1 = 0xFFFD
    cpu = cpu_for([w("LD", 3, 1), w("ADD", 1, 1, 2), w("SUB", 4, 4, 2), w("JMP", imm=0)])
    cpu.regs[1:5] = [0xFFF8, 1, 0, 10]
    total = cpu.run(budget)
    while cpu.halt is HaltReason.RUNNING:
        total += cpu.run(budget)
    assert cpu.halt is HaltReason.MEM_FAULT
    assert total == cpu.steps == 20  # five full iterations of four instructions
    assert cpu.pc == 0 and cpu.regs[1] == 0xFFFD and cpu.regs[4] == 5
    assert cpu.regs[0] == ERR_MEM_FAULT
    assert cpu.psw == 0x2  # from the last SUB: 6 - 1, no borrow


def test_svc_stop_and_steps_seen_by_handler() -> None:
    seen: list[int] = []

    def handler(cpu: Cpu, module: int, fn: int) -> None:
        seen.append(cpu.steps)
        assert cpu.pc == 8  # PC still points at the SVC
        cpu.stop(HaltReason.SLEEP, ms=5)

    cpu = cpu_for([w("LDI", 1, imm=1), w("LDI", 2, imm=2), w("SVC", imm=0x600), w("RET")], svc=handler)
    assert cpu.run(100) == 3
    assert seen == [2] and cpu.halt is HaltReason.SLEEP and cpu.halt_info == {"ms": 5} and cpu.pc == 12
    cpu.resume()
    cpu.run(100)
    assert cpu.halt is HaltReason.RETURNED


def test_stop_requires_a_reason() -> None:
    with pytest.raises(CpuError):
        cpu_for([w("RET")]).stop(HaltReason.RUNNING)


def test_reg_base_validation() -> None:
    with pytest.raises(CpuError, match="reg_base"):
        cpu_for([w("RET")], reg_base=0xFFF0)


def test_stop_between_runs_halts_before_executing() -> None:
    cpu = cpu_for([w("LDI", 1, imm=1), w("RET")])
    cpu.stop(HaltReason.BLOCKED, why="host")
    assert cpu.run(10) == 0
    assert (cpu.halt, cpu.halt_info, cpu.pc) == (HaltReason.BLOCKED, {"why": "host"}, 0)
    cpu.resume()
    assert cpu.run(10) == 1 and cpu.halt is HaltReason.RETURNED
