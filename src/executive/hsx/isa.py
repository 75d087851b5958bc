"""HSX instruction set: the one checked-in opcode table (spec hsx-vm.md §2, §4, §5, §8).

Every consumer — the interpreter (cpu.py and its block compiler), the assembler, the
disassembler and the debugger — reads :data:`OPCODES`; nothing else lists opcodes
(STYLE §8). This module is a leaf: it imports only the standard library.

Word layout (spec §2)::

    31..24 opcode | 23..20 rd | 19..16 rs1 | 15..12 rs2 | 11..0 imm12

``imm12`` is returned raw (0..4095) by :func:`decode_fields`; LDI, LD*, ST* and CALL
sign-extend it (:func:`sext12`), JMP/JZ/JNZ use it unsigned, SVC splits it into
module (bits 11..8) and function (bits 7..0), BRK uses bits 7..0 as its code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "BY_MNEMONIC",
    "ERR_DIV_ZERO",
    "ERR_ENOSYS",
    "ERR_MEM_FAULT",
    "ERR_STACK_OVERFLOW",
    "ERR_STACK_UNDERFLOW",
    "FLAG_C",
    "FLAG_N",
    "FLAG_V",
    "FLAG_Z",
    "MEM_SIZE",
    "OPCODES",
    "OPCODE_LIST",
    "RODATA_BASE",
    "Form",
    "OpInfo",
    "decode_fields",
    "encode",
    "sext12",
]


class Form(enum.Enum):
    """Operand form of an instruction; drives the assembler, disassembler and decoder."""

    NONE = "none"  # RET                                  -> ""
    RD_RS = "rd_rs"  # MOV NOT I2F F2I                     -> "Rd, Rs" (rs1 = Rs)
    RD_RA_RB = "rd_ra_rb"  # ADD SUB ... FDIV              -> "Rd, Ra, Rb" (rs1 = Ra, rs2 = Rb)
    RA_RB = "ra_rb"  # CMP                                 -> "Ra, Rb" (rs1 = Ra, rs2 = Rb, rd = 0)
    RS = "rs"  # PUSH                                      -> "Rs" (rs1)
    RD = "rd"  # POP                                       -> "Rd"
    RD_IMM = "rd_imm"  # LDI                               -> "Rd, imm"
    RD_IMM32 = "rd_imm32"  # LDI32 (two words)             -> "Rd, value"
    RD_MEM = "rd_mem"  # LD LDB LDH                        -> "Rd, [Rs+off]"
    MEM_RT = "mem_rt"  # ST STB STH                        -> "[Rs+off], Rt" (rs1 base, rs2 value)
    JUMP = "jump"  # JMP JZ JNZ (unsigned absolute 12-bit byte address)
    CALL = "call"  # CALL (PC-relative word offset sext12; rs1 base register, 0 = PC)
    SVC = "svc"  # SVC (module = imm >> 8, fn = imm & 0xFF)
    BRK = "brk"  # BRK [n]


@dataclass(frozen=True, slots=True)
class OpInfo:
    """One row of the opcode table (spec §5)."""

    opcode: int  # opcode byte (bits 31..24)
    mnemonic: str  # upper-case mnemonic
    form: Form  # operand form
    words: int  # instruction length in 32-bit words: 1, or 2 for LDI32
    flags: str  # PSW bits written ("ZNCV", "ZN" ...); "" = PSW unchanged (spec §4)


# fmt: off
_TABLE: tuple[tuple[int, str, Form, int, str], ...] = (
    (0x01, "LDI",   Form.RD_IMM,   1, ""),
    (0x02, "LD",    Form.RD_MEM,   1, ""),
    (0x03, "ST",    Form.MEM_RT,   1, ""),
    (0x04, "MOV",   Form.RD_RS,    1, ""),
    (0x06, "LDB",   Form.RD_MEM,   1, ""),
    (0x07, "LDH",   Form.RD_MEM,   1, ""),
    (0x08, "STB",   Form.MEM_RT,   1, ""),
    (0x09, "STH",   Form.MEM_RT,   1, ""),
    (0x10, "ADD",   Form.RD_RA_RB, 1, "ZNCV"),
    (0x11, "SUB",   Form.RD_RA_RB, 1, "ZNCV"),
    (0x12, "MUL",   Form.RD_RA_RB, 1, "ZNCV"),
    (0x13, "DIV",   Form.RD_RA_RB, 1, "ZNCV"),
    (0x14, "AND",   Form.RD_RA_RB, 1, "ZNCV"),
    (0x15, "OR",    Form.RD_RA_RB, 1, "ZNCV"),
    (0x16, "XOR",   Form.RD_RA_RB, 1, "ZNCV"),
    (0x17, "NOT",   Form.RD_RS,    1, "ZNCV"),
    (0x20, "CMP",   Form.RA_RB,    1, "ZNCV"),
    (0x21, "JMP",   Form.JUMP,     1, ""),
    (0x22, "JZ",    Form.JUMP,     1, ""),
    (0x23, "JNZ",   Form.JUMP,     1, ""),
    (0x24, "CALL",  Form.CALL,     1, ""),
    (0x25, "RET",   Form.NONE,     1, ""),
    (0x30, "SVC",   Form.SVC,      1, ""),
    (0x31, "LSL",   Form.RD_RA_RB, 1, "ZNCV"),  # C unchanged when the shift is 0
    (0x32, "LSR",   Form.RD_RA_RB, 1, "ZNCV"),  # C unchanged when the shift is 0
    (0x33, "ASR",   Form.RD_RA_RB, 1, "ZNCV"),  # C unchanged when the shift is 0
    (0x34, "ADC",   Form.RD_RA_RB, 1, "ZNCV"),
    (0x35, "SBC",   Form.RD_RA_RB, 1, "ZNCV"),
    (0x40, "PUSH",  Form.RS,       1, ""),
    (0x41, "POP",   Form.RD,       1, ""),
    (0x50, "FADD",  Form.RD_RA_RB, 1, ""),
    (0x51, "FSUB",  Form.RD_RA_RB, 1, ""),
    (0x52, "FMUL",  Form.RD_RA_RB, 1, ""),
    (0x53, "FDIV",  Form.RD_RA_RB, 1, ""),
    (0x54, "I2F",   Form.RD_RS,    1, ""),
    (0x55, "F2I",   Form.RD_RS,    1, ""),
    (0x60, "LDI32", Form.RD_IMM32, 2, ""),
    (0x7F, "BRK",   Form.BRK,      1, ""),
)
# fmt: on

#: opcode byte -> info, exactly the table of spec §5. Any byte not present is illegal.
OPCODES: dict[int, OpInfo] = {row[0]: OpInfo(*row) for row in _TABLE}
#: upper-case mnemonic -> info.
BY_MNEMONIC: dict[str, OpInfo] = {info.mnemonic: info for info in OPCODES.values()}
#: the table in opcode order (for generators and documentation).
OPCODE_LIST: tuple[OpInfo, ...] = tuple(sorted(OPCODES.values(), key=lambda i: i.opcode))

# Error codes written to R0 (spec §8).
ERR_ENOSYS = 0xFFFFFF01
ERR_STACK_UNDERFLOW = 0xFFFFFF02
ERR_STACK_OVERFLOW = 0xFFFFFF03
ERR_MEM_FAULT = 0xFFFFFF04
ERR_DIV_ZERO = 0xFFFFFF05

# PSW bits (spec §4).
FLAG_Z = 0x01
FLAG_C = 0x02
FLAG_N = 0x04
FLAG_V = 0x08

#: size of the data memory in bytes (spec §1.2)
MEM_SIZE = 0x10000
#: data address where rodata is placed at load (spec §1.2)
RODATA_BASE = 0x4000


def sext12(v: int) -> int:
    """Sign-extend a 12-bit field (bit 11 propagated); used by LDI, LD*, ST*, CALL."""
    v &= 0xFFF
    return v - 0x1000 if v & 0x800 else v


def decode_fields(word: int) -> tuple[int, int, int, int, int]:
    """Split an instruction word into ``(op, rd, rs1, rs2, imm12)``; imm12 is raw 0..4095."""
    return (
        (word >> 24) & 0xFF,
        (word >> 20) & 0xF,
        (word >> 16) & 0xF,
        (word >> 12) & 0xF,
        word & 0xFFF,
    )


def encode(op: int, rd: int = 0, rs1: int = 0, rs2: int = 0, imm12: int = 0) -> int:
    """Build an instruction word; ``imm12`` may be negative and is masked to 12 bits.

    Register fields are masked to 4 bits and the opcode to 8; no validation is done here
    (the assembler validates operands, tests want to encode illegal words too).
    """
    return ((op & 0xFF) << 24) | ((rd & 0xF) << 20) | ((rs1 & 0xF) << 16) | ((rs2 & 0xF) << 12) | (imm12 & 0xFFF)
