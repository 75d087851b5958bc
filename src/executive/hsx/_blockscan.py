"""Finding and describing a basic block for the block compiler (``_compile.py``).

Decodes the straight-line run of instructions that starts at a PC and answers the questions
the code generator asks about each instruction: which registers it reads and writes, and
whether it has an inline check that can leave the block to the interpreter. Driven by
``isa.OPCODES``; only the block-ending rules live here.
"""

from __future__ import annotations

import struct
from collections.abc import Collection
from typing import NamedTuple

from .isa import OPCODES, decode_fields

__all__ = [
    "COMPILED",
    "FLAG_WRITERS",
    "INTERPRETED",
    "MAX_BLOCK",
    "STORES",
    "TERMINAL",
    "Ins",
    "can_bail",
    "decode_block",
    "reads",
    "writes",
]

_FETCH = struct.Struct(">I").unpack_from

#: longest block; bounds compile time and the size of the generated source
MAX_BLOCK = 64

#: mnemonics with a compile template in _compile.py
COMPILED = frozenset(
    {
        "LDI", "LD", "ST", "MOV", "LDB", "LDH", "STB", "STH", "ADD", "SUB", "MUL", "DIV", "AND",
        "OR", "XOR", "NOT", "CMP", "JMP", "JZ", "JNZ", "CALL", "RET", "LSL", "LSR", "ASR", "ADC",
        "SBC", "PUSH", "POP", "FADD", "FSUB", "FMUL", "FDIV", "I2F", "F2I", "LDI32",
    }
)  # fmt: skip
#: mnemonics always left to the interpreter (they stop, trap or are rare)
INTERPRETED = frozenset({"SVC", "BRK"})

#: control transfers: a block ends after them
TERMINAL = frozenset({"JMP", "JZ", "JNZ", "CALL", "RET"})
#: instructions that write data memory (the write-watch hook reports them)
STORES = frozenset({"ST", "STH", "STB", "PUSH", "CALL"})
#: instructions that write the PSW (all four bits; shifts keep C when the amount is 0)
FLAG_WRITERS = frozenset(
    {"ADD", "SUB", "MUL", "DIV", "AND", "OR", "XOR", "NOT", "CMP", "LSL", "LSR", "ASR", "ADC", "SBC"}
)


class Ins(NamedTuple):
    """One decoded instruction of a block."""

    pc: int
    mn: str
    rd: int
    rs1: int
    rs2: int
    imm: int  # raw imm12
    lit: int  # LDI32 literal, else 0
    size: int  # bytes: 4 or 8


def decode_block(code: bytes, pc0: int, stops: Collection[int] = ()) -> list[Ins]:
    """The instructions of the block starting at ``pc0`` (empty: the interpreter runs it).

    Ends after a TERMINAL, before an INTERPRETED/illegal instruction, an LDI32 whose literal is
    past the end of code or a self-CALL, at the end of code, or after MAX_BLOCK instructions.
    It also ends before any instruction whose PC is in ``stops`` (breakpoints), except the
    first: a block never runs past a breakpoint, so checking breakpoints at block entries is exact.
    """
    out: list[Ins] = []
    pc = pc0
    clen = len(code)
    while len(out) < MAX_BLOCK and pc + 4 <= clen:
        if out and pc in stops:
            break
        w = _FETCH(code, pc)[0]
        op, rd, rs1, rs2, imm = decode_fields(w)
        info = OPCODES.get(op)
        if info is None or info.mnemonic in INTERPRETED:
            break
        mn = info.mnemonic
        lit = 0
        if mn == "LDI32":
            if pc + 8 > clen:
                break  # overrun fault: interpreter
            lit = _FETCH(code, pc + 4)[0]
        if mn == "CALL" and rs1 == 0 and imm == 0:
            break  # self-CALL: the interpreter keeps the stuck-CALL counter (spec §3.2)
        out.append(Ins(pc, mn, rd, rs1, rs2, imm, lit, 4 * info.words))
        pc += 4 * info.words
        if mn in TERMINAL:
            break
    return out


def can_bail(ins: Ins, windowed: bool, watched: bool = False) -> bool:
    """Does this instruction have an inline check that exits to the interpreter?

    ``watched``: blocks compiled for a CPU with a write watch send every store that touches
    the watched span to the interpreter, which calls the hook (STB gains a check).
    """
    mn = ins.mn
    if mn in ("LD", "LDH", "ST", "STH", "DIV", "PUSH", "POP", "F2I", "CALL", "RET"):
        return True
    if mn == "STB":
        return windowed or watched
    return windowed and mn == "LDB"


def reads(ins: Ins) -> set[int]:
    """Registers the instruction reads (so the block loads them on entry)."""
    mn = ins.mn
    if mn in ("LDI", "LDI32", "JMP", "JZ", "JNZ", "RET", "POP"):
        return set()
    if mn in ("MOV", "NOT", "F2I", "LD", "LDB", "LDH", "PUSH"):
        return {ins.rs1}
    if mn == "CALL":
        return {ins.rs1} if ins.rs1 else set()
    if mn in ("FADD", "FSUB", "FMUL", "FDIV"):
        return {ins.rs1, ins.rs2, ins.rd}  # the upper half of Rd is kept
    if mn == "I2F":
        return {ins.rs1, ins.rd}
    return {ins.rs1, ins.rs2}  # ALU, CMP, stores (base rs1, value rs2)


def writes(ins: Ins) -> set[int]:
    """Registers the instruction writes (so the block writes them back on exit)."""
    mn = ins.mn
    if mn in ("ST", "STB", "STH", "CMP", "JMP", "JZ", "JNZ"):
        return set()
    if mn in ("PUSH", "CALL", "RET"):
        return {15}
    if mn == "POP":
        return {15, ins.rd}
    return {ins.rd}
