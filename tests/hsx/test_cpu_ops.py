"""Per-instruction behaviour from the spec tables (§1, §2, §4, §5, §7), as one case table.

Each case is a tiny program plus the expected machine state after running it to its halt; the
expectations are copied from the spec, not computed. Every case runs on the fast (compiled)
path and on the debug (interpreter) path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from executive.hsx.cpu import Cpu, HaltReason
from executive.hsx.isa import BY_MNEMONIC, encode


def w(mn: str, rd: int = 0, rs1: int = 0, rs2: int = 0, imm: int = 0) -> int:
    return encode(BY_MNEMONIC[mn].opcode, rd, rs1, rs2, imm)


RET = w("RET")


@dataclass
class Case:
    name: str
    words: list[int]
    regs: dict[int, int] = field(default_factory=dict)
    psw: int = 0
    sp: int = 0x8000
    depth: int = 0
    mem: dict[int, bytes] = field(default_factory=dict)
    # expectations
    want_regs: dict[int, int] = field(default_factory=dict)
    want_psw: int | None = None
    want_pc: int | None = None
    want_sp: int | None = None
    want_depth: int | None = None
    want_steps: int | None = None
    want_halt: HaltReason = HaltReason.RETURNED
    want_mem: dict[int, bytes] = field(default_factory=dict)


CASES = [
    # --- loads of immediates and moves (§5)
    Case(
        "LDI sign-extends",
        [w("LDI", 1, imm=0x800), w("LDI", 2, imm=0x7FF), RET],
        want_regs={1: 0xFFFFF800, 2: 0x7FF},
        want_psw=0,
    ),
    Case(
        "LDI32 loads the next word and skips it",
        [w("LDI32", 3), 0xDEADBEEF, RET],
        want_regs={3: 0xDEADBEEF},
        want_pc=8,
        want_steps=1,
    ),
    Case(
        "MOV copies, flags untouched",
        [w("MOV", 2, 1), RET],
        regs={1: 0x80000000},
        psw=0x5,
        want_regs={2: 0x80000000},
        want_psw=0x5,
    ),
    # --- memory (§1.2): little-endian, zero-extension, 16-bit address masking
    Case(
        "ST/LD little-endian word",
        [w("ST", 0, 1, 2, 4), w("LD", 3, 1, 0, 4), RET],
        regs={1: 0x100, 2: 0x11223344},
        want_regs={3: 0x11223344},
        want_mem={0x104: bytes([0x44, 0x33, 0x22, 0x11])},
    ),
    Case(
        "LDB and LDH zero-extend",
        [w("LDB", 3, 1), w("LDH", 4, 1), RET],
        regs={1: 0x200},
        mem={0x200: b"\xf0\xff"},
        want_regs={3: 0xF0, 4: 0xFFF0},
    ),
    Case(
        "STB/STH store the low bits only",
        [w("STB", 0, 1, 2), w("STH", 0, 1, 2, 2), RET],
        regs={1: 0x300, 2: 0xAABBCCDD},
        want_mem={0x300: b"\xdd\x00\xdd\xcc\x00"},
    ),
    Case(
        "effective address masked to 16 bits",
        [w("LD", 3, 1, 0, 0), w("LD", 4, 2, 0, 4), RET],
        regs={1: 0x1FFF8, 2: 0xFFFF0000},
        mem={0xFFF8: b"\x01\x00\x00\x00", 0x0004: b"\x02"},
        want_regs={3: 1, 4: 2},
    ),
    Case(
        "negative offset wraps below 0",
        [w("LD", 3, 1, 0, -4), RET],
        regs={1: 2},
        mem={0xFFFE: b"\x07\x08"},
        want_halt=HaltReason.MEM_FAULT,
        want_pc=0,
        want_steps=0,
    ),
    Case(
        "unaligned word access works bytewise",
        [w("ST", 0, 1, 2, 1), w("LDH", 3, 1, 0, 2), RET],
        regs={1: 0x400, 2: 0xA1B2C3D4},
        want_regs={3: 0xB2C3},
    ),
    Case(
        "word load at 0xFFFC is the last legal one",
        [w("LD", 3, 1), RET],
        regs={1: 0xFFFC},
        mem={0xFFFC: b"\x01\x02\x03\x04"},
        want_regs={3: 0x04030201},
    ),
    Case(
        "byte load at 0xFFFF is legal",
        [w("LDB", 3, 1), RET],
        regs={1: 0xFFFF},
        mem={0xFFFF: b"\x99"},
        want_regs={3: 0x99},
    ),
    # --- ALU and flags (§4)
    Case("ADD carry and zero", [w("ADD", 3, 1, 2), RET], regs={1: 0xFFFFFFFF, 2: 1}, want_regs={3: 0}, want_psw=0x3),
    Case(
        "ADD signed overflow is N and V",
        [w("ADD", 3, 1, 2), RET],
        regs={1: 0x7FFFFFFF, 2: 1},
        want_regs={3: 0x80000000},
        want_psw=0x0C,
    ),
    Case("SUB C means no borrow", [w("SUB", 3, 1, 2), RET], regs={1: 5, 2: 3}, want_regs={3: 2}, want_psw=0x2),
    Case("SUB borrow clears C", [w("SUB", 3, 1, 2), RET], regs={1: 3, 2: 5}, want_regs={3: 0xFFFFFFFE}, want_psw=0x4),
    Case(
        "CMP sets flags, writes nothing",
        [w("CMP", 0, 1, 2), RET],
        regs={1: 7, 2: 7, 0: 99},
        want_regs={0: 99, 1: 7, 2: 7},
        want_psw=0x3,
    ),
    Case(
        "ADC quirk: 0 + 0x7FFFFFFF + 1 reports V=0",
        [w("ADC", 3, 1, 2), RET],
        regs={1: 0, 2: 0x7FFFFFFF},
        psw=0x2,
        want_regs={3: 0x80000000},
        want_psw=0x4,
    ),
    Case(
        "ADC carry out", [w("ADC", 3, 1, 2), RET], regs={1: 0xFFFFFFFF, 2: 0}, psw=0x2, want_regs={3: 0}, want_psw=0x3
    ),
    Case(
        "SBC with C=1 is plain subtraction",
        [w("SBC", 3, 1, 2), RET],
        regs={1: 10, 2: 3},
        psw=0x2,
        want_regs={3: 7},
        want_psw=0x2,
    ),
    Case(
        "SBC with C=0 subtracts one more", [w("SBC", 3, 1, 2), RET], regs={1: 10, 2: 3}, want_regs={3: 6}, want_psw=0x2
    ),
    Case(
        "MUL high word sets C and V",
        [w("MUL", 3, 1, 2), RET],
        regs={1: 0x10000, 2: 0x10000},
        want_regs={3: 0},
        want_psw=0xB,
    ),
    Case("MUL aliasing reads sources first", [w("MUL", 1, 1, 1), RET], regs={1: 7}, want_regs={1: 49}, want_psw=0),
    Case(
        "DIV truncates toward zero",
        [w("DIV", 3, 1, 2), RET],
        regs={1: (-7) & 0xFFFFFFFF, 2: 2},
        psw=0xF,
        want_regs={3: (-3) & 0xFFFFFFFF},
        want_psw=0x4,
    ),
    Case(
        "DIV 0x80000000 / -1 = 0x80000000",
        [w("DIV", 3, 1, 2), RET],
        regs={1: 0x80000000, 2: 0xFFFFFFFF},
        want_regs={3: 0x80000000},
        want_psw=0x4,
    ),
    Case(
        "AND/OR/XOR clear C and V",
        [w("AND", 3, 1, 2), w("OR", 4, 1, 2), w("XOR", 5, 1, 2), RET],
        regs={1: 0xF0F0, 2: 0xFF00},
        psw=0xA,
        want_regs={3: 0xF000, 4: 0xFFF0, 5: 0x0FF0},
        want_psw=0,
    ),
    Case("NOT", [w("NOT", 3, 1), RET], regs={1: 0xFFFFFFFF}, psw=0xA, want_regs={3: 0}, want_psw=0x1),
    Case("LSL carry is bit 32-s", [w("LSL", 3, 1, 2), RET], regs={1: 0x80000001, 2: 1}, want_regs={3: 2}, want_psw=0x2),
    Case(
        "LSL uses only 5 bits of the amount", [w("LSL", 3, 1, 2), RET], regs={1: 1, 2: 33}, want_regs={3: 2}, want_psw=0
    ),
    Case(
        "shift by 0 keeps C",
        [w("LSR", 3, 1, 2), RET],
        regs={1: 0x80000000, 2: 32},
        psw=0x2,
        want_regs={3: 0x80000000},
        want_psw=0x6,
    ),
    Case("LSR carry is bit s-1", [w("LSR", 3, 1, 2), RET], regs={1: 0x6, 2: 2}, want_regs={3: 1}, want_psw=0x2),
    Case(
        "ASR keeps the sign",
        [w("ASR", 3, 1, 2), RET],
        regs={1: 0x80000000, 2: 31},
        want_regs={3: 0xFFFFFFFF},
        want_psw=0x4,
    ),
    # --- f16 (§6)
    Case(
        "FADD keeps the upper half of Rd",
        [w("FADD", 3, 1, 2), RET],
        regs={1: 0x3C00, 2: 0x3C00, 3: 0xABCD1234},
        psw=0x9,
        want_regs={3: 0xABCD4000},
        want_psw=0x9,
    ),
    Case("FSUB to a negative", [w("FSUB", 3, 1, 2), RET], regs={1: 0x3C00, 2: 0x4000}, want_regs={3: 0xBC00}),
    Case("FDIV by -0 divides by +inf", [w("FDIV", 3, 1, 2), RET], regs={1: 0xBC00, 2: 0x8000}, want_regs={3: 0x8000}),
    Case("FMUL NaN is 0x7E00", [w("FMUL", 3, 1, 2), RET], regs={1: 0xFE01, 2: 0x3C00}, want_regs={3: 0x7E00}),
    Case(
        "I2F keeps the upper half",
        [w("I2F", 3, 1), RET],
        regs={1: 0xFFFFFFFE, 3: 0x11110000},
        want_regs={3: 0x1111C000},
    ),
    Case("F2I truncates", [w("F2I", 3, 1), RET], regs={1: 0xFFFF4500}, want_regs={3: 5}),
    # --- control flow (§7)
    Case(
        "JMP is absolute and unscaled",
        [w("JMP", imm=8), w("LDI", 1, imm=1), RET],
        want_regs={1: 0},
        want_pc=8,
        want_steps=1,
    ),
    Case(
        "JMP to an odd byte address fetches unaligned",
        [w("JMP", imm=6), 0x00002500, 0x00000000],
        want_pc=6,
        want_steps=1,
    ),
    Case(
        "a jump may land on an LDI32 literal and execute it",
        [w("JMP", imm=8), w("LDI32", 1), w("LDI", 5, imm=7), RET],
        want_regs={1: 0, 5: 7},
        want_pc=12,
        want_steps=2,
    ),
    Case(
        "the same literal is data when LDI32 runs",
        [w("LDI32", 1), w("LDI", 5, imm=7), RET],
        want_regs={1: w("LDI", 5, imm=7), 5: 0},
        want_pc=8,
        want_steps=1,
    ),
    Case(
        "JZ taken on Z", [w("CMP", 0, 1, 1), w("JZ", imm=12), w("LDI", 2, imm=1), RET], want_regs={2: 0}, want_steps=2
    ),
    Case(
        "JNZ falls through on Z",
        [w("SUB", 3, 1, 1), w("JNZ", imm=12), w("LDI", 2, imm=1), RET],
        want_regs={2: 1},
        want_steps=3,
    ),
    Case(
        "JZ reads the PSW from before the block",
        [w("JZ", imm=8), w("LDI", 2, imm=1), RET],
        psw=0x1,
        want_regs={2: 0},
        want_steps=1,
    ),
    Case(
        "CALL pushes PC+4, mirrors SP into R15, RET returns",
        [w("CALL", imm=2), RET, w("LDI", 1, imm=5), RET],
        want_regs={1: 5, 15: 0x8000},
        want_sp=0x8000,
        want_pc=4,
        want_steps=3,
        want_depth=0,
        want_mem={0x7FFC: (4).to_bytes(4, "little")},
    ),
    Case(
        "CALL with an rs1 base register",
        [w("LDI", 2, imm=12), w("CALL", 0, 2, 0, 1), RET, 0, w("LDI", 1, imm=9), RET],
        want_regs={1: 9},
        want_steps=4,
        want_pc=8,
    ),
    Case(
        "CALL target masked to 16 bits",
        [w("LDI32", 2), 0x10014, w("CALL", 0, 2, 0, -1), RET, w("LDI", 1, imm=3), RET],
        want_regs={1: 3},
        want_pc=12,
        want_steps=4,
    ),
    Case(
        "RET at depth 0 ends the program without retiring",
        [w("LDI", 0, imm=42), RET],
        want_regs={0: 42},
        want_pc=4,
        want_steps=1,
    ),
    Case(
        "RET trusts memory, depth decides the end",
        [w("LDI", 1, imm=16), w("ST", 0, 15, 1), RET, RET, w("LDI", 3, imm=1), RET],
        regs={15: 0x7000},
        sp=0x7000,
        depth=1,
        want_regs={3: 1},
        want_depth=0,
        want_sp=0x7004,
        want_pc=20,
        want_steps=4,
    ),
    Case(
        "PUSH/POP move SP and R15",
        [w("PUSH", 0, 1), w("POP", 2), RET],
        regs={1: 0x1234},
        want_regs={2: 0x1234, 15: 0x8000},
        want_sp=0x8000,
    ),
    Case(
        "PUSH R15 pushes the old R15",
        [w("PUSH", 0, 15), w("POP", 3), RET],
        regs={15: 0xCAFE},
        want_regs={3: 0xCAFE, 15: 0x8000},
    ),
    Case(
        "POP R15 keeps the popped value, SP still moves",
        [w("PUSH", 0, 1), w("POP", 15), RET],
        regs={1: 0x55},
        want_regs={15: 0x55},
        want_sp=0x8000,
    ),
    Case(
        "writing R15 does not move SP",
        [w("LDI", 15, imm=0), w("PUSH", 0, 1), RET],
        regs={1: 3},
        want_regs={15: 0x7FFC},
        want_sp=0x7FFC,
        want_mem={0x7FFC: b"\x03\x00\x00\x00"},
    ),
    # --- stop-after-retire instructions
    Case(
        "BRK retires and stops with its code",
        [w("BRK", imm=0x2A), RET],
        want_halt=HaltReason.BRK,
        want_pc=4,
        want_steps=1,
    ),
    Case("illegal opcode retires then stops", [0x05000000, RET], want_halt=HaltReason.ILLEGAL, want_pc=4, want_steps=1),
    Case("SVC without a handler returns ENOSYS", [w("SVC", imm=0x101), RET], want_regs={0: 0xFFFFFF01}, want_steps=1),
]


def _run(case: Case, debug: bool) -> Cpu:
    code = b"".join(x.to_bytes(4, "big") for x in case.words)
    cpu = Cpu(code, sp=case.sp)
    for i, v in case.regs.items():
        cpu.set_register(i, v)
    cpu.psw = case.psw
    cpu.depth = case.depth
    for addr, data in case.mem.items():
        cpu.mem[addr : addr + len(data)] = data
    if debug:
        cpu.set_trace(lambda *a: None)
    cpu.run(100)
    return cpu


@pytest.mark.parametrize("debug", [False, True], ids=["fast", "debug"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, debug: bool) -> None:
    cpu = _run(case, debug)
    assert cpu.halt is case.want_halt, cpu.halt_info
    for r, v in case.want_regs.items():
        assert cpu.regs[r] == v, f"R{r} = 0x{cpu.regs[r]:X}, want 0x{v:X}"
    if case.want_psw is not None:
        assert cpu.psw == case.want_psw, f"psw 0x{cpu.psw:X}"
    for name in ("pc", "sp", "depth", "steps"):
        want = getattr(case, f"want_{name}")
        if want is not None:
            assert getattr(cpu, name) == want, name
    for addr, data in case.want_mem.items():
        assert bytes(cpu.mem[addr : addr + len(data)]) == data


def test_every_opcode_has_a_case() -> None:
    covered = {(c >> 24) for case in CASES for c in case.words}
    missing = {info.mnemonic for op, info in BY_MNEMONIC.items() if info.opcode not in covered}
    assert not missing
