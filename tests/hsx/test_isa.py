"""The opcode table (spec §2, §5) and everything generated from it stays in sync."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from executive import hsx
from executive.hsx import _compile, _interp
from executive.hsx.isa import (
    BY_MNEMONIC,
    OPCODE_LIST,
    OPCODES,
    Form,
    decode_fields,
    encode,
    sext12,
)

# Copied from spec §5 (opcode, mnemonic, words).
SPEC_TABLE = {
    0x01: "LDI", 0x02: "LD", 0x03: "ST", 0x04: "MOV", 0x06: "LDB", 0x07: "LDH", 0x08: "STB",
    0x09: "STH", 0x10: "ADD", 0x11: "SUB", 0x12: "MUL", 0x13: "DIV", 0x14: "AND", 0x15: "OR",
    0x16: "XOR", 0x17: "NOT", 0x20: "CMP", 0x21: "JMP", 0x22: "JZ", 0x23: "JNZ", 0x24: "CALL",
    0x25: "RET", 0x30: "SVC", 0x31: "LSL", 0x32: "LSR", 0x33: "ASR", 0x34: "ADC", 0x35: "SBC",
    0x40: "PUSH", 0x41: "POP", 0x50: "FADD", 0x51: "FSUB", 0x52: "FMUL", 0x53: "FDIV",
    0x54: "I2F", 0x55: "F2I", 0x60: "LDI32", 0x7F: "BRK",
}  # fmt: skip

FORMS = {
    Form.NONE: {"RET"},
    Form.RD_RS: {"MOV", "NOT", "I2F", "F2I"},
    Form.RD_RA_RB: {
        "ADD",
        "SUB",
        "MUL",
        "DIV",
        "AND",
        "OR",
        "XOR",
        "LSL",
        "LSR",
        "ASR",
        "ADC",
        "SBC",
        "FADD",
        "FSUB",
        "FMUL",
        "FDIV",
    },
    Form.RA_RB: {"CMP"},
    Form.RS: {"PUSH"},
    Form.RD: {"POP"},
    Form.RD_IMM: {"LDI"},
    Form.RD_IMM32: {"LDI32"},
    Form.RD_MEM: {"LD", "LDB", "LDH"},
    Form.MEM_RT: {"ST", "STB", "STH"},
    Form.JUMP: {"JMP", "JZ", "JNZ"},
    Form.CALL: {"CALL"},
    Form.SVC: {"SVC"},
    Form.BRK: {"BRK"},
}


def test_table_is_exactly_the_spec() -> None:
    assert {op: info.mnemonic for op, info in OPCODES.items()} == SPEC_TABLE
    assert all(info.opcode == op for op, info in OPCODES.items())
    assert {m: i.opcode for m, i in BY_MNEMONIC.items()} == {m: op for op, m in SPEC_TABLE.items()}
    assert [i.opcode for i in OPCODE_LIST] == sorted(SPEC_TABLE)
    assert {i.mnemonic for i in OPCODES.values() if i.words == 2} == {"LDI32"}


def test_forms() -> None:
    for form, names in FORMS.items():
        assert {i.mnemonic for i in OPCODES.values() if i.form is form} == names, form


def test_flag_documentation() -> None:
    writers = {i.mnemonic for i in OPCODES.values() if i.flags}
    assert writers == {"ADD", "SUB", "MUL", "DIV", "AND", "OR", "XOR", "NOT", "CMP", "LSL", "LSR", "ASR", "ADC", "SBC"}


def test_illegal_bytes_include_0_and_5() -> None:
    assert 0x00 not in OPCODES and 0x05 not in OPCODES and 0xFF not in OPCODES


def test_every_table_entry_is_executed_by_both_paths() -> None:
    """The interpreter's dispatch list and the compiler's templates cover the table exactly."""
    names = {i.mnemonic for i in OPCODES.values()}
    assert _compile.COMPILED | _compile.INTERPRETED == names
    assert not _compile.COMPILED & _compile.INTERPRETED
    for op in range(256):
        handler = _interp.HANDLERS[op]
        assert (handler is _interp._illegal) == (op not in OPCODES), hex(op)


@given(
    op=st.integers(0, 255),
    rd=st.integers(0, 15),
    rs1=st.integers(0, 15),
    rs2=st.integers(0, 15),
    imm=st.integers(0, 4095),
)
def test_encode_decode_round_trip(op: int, rd: int, rs1: int, rs2: int, imm: int) -> None:
    word = encode(op, rd, rs1, rs2, imm)
    assert decode_fields(word) == (op, rd, rs1, rs2, imm)
    assert word == (op << 24) | (rd << 20) | (rs1 << 16) | (rs2 << 12) | imm


def test_encode_masks_negative_immediates() -> None:
    assert encode(0x01, 1, 0, 0, -1) == 0x01100FFF
    assert encode(0x01, 1, 0, 0, -2048) & 0xFFF == 0x800


def test_sext12() -> None:
    assert [sext12(v) for v in (0, 1, 0x7FF, 0x800, 0xFFF, 0x1FFF)] == [0, 1, 2047, -2048, -1, -1]


def test_package_exports() -> None:
    assert set(hsx.__all__) == {
        "BY_MNEMONIC",
        "Cpu",
        "CpuError",
        "ERR_DIV_ZERO",
        "ERR_ENOSYS",
        "ERR_MEM_FAULT",
        "ERR_STACK_OVERFLOW",
        "ERR_STACK_UNDERFLOW",
        "FLAG_C",
        "FLAG_N",
        "FLAG_V",
        "FLAG_Z",
        "Form",
        "HaltReason",
        "MailboxError",
        "MailboxManager",
        "MailboxStatus",
        "MemAccess",
        "OPCODES",
        "OpInfo",
        "RunResult",
        "StandaloneHost",
        "decode_fields",
        "encode",
        "run_standalone",
        "sext12",
    }
    for name in hsx.__all__:
        assert getattr(hsx, name) is not None
    assert (hsx.ERR_ENOSYS, hsx.ERR_STACK_UNDERFLOW, hsx.ERR_STACK_OVERFLOW, hsx.ERR_MEM_FAULT, hsx.ERR_DIV_ZERO) == (
        0xFFFFFF01,
        0xFFFFFF02,
        0xFFFFFF03,
        0xFFFFFF04,
        0xFFFFFF05,
    )
    assert (hsx.FLAG_Z, hsx.FLAG_C, hsx.FLAG_N, hsx.FLAG_V) == (1, 2, 4, 8)
