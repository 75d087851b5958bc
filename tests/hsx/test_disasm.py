"""Disassembler (spec §2, §5, §15.4; debugger fields of hsx-executive.md §8.6) and its round trip."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executive.hsx import isa
from executive.hsx.asm import assemble, assemble_text
from executive.hsx.disasm import Instruction, disasm_word, disassemble, render, render_data
from executive.hsx.symbols import Symbol, SymbolError, SymbolTable

TEXTS = [
    (0x25000000, "RET"),
    (0x04120000, "MOV R1, R2"),
    (0x10123000, "ADD R1, R2, R3"),
    (0x20045000, "CMP R4, R5"),
    (0x40070000, "PUSH R7"),
    (0x41700000, "POP R7"),
    (0x01100FFF, "LDI R1, -1"),
    (0x011007FF, "LDI R1, 2047"),
    (0x02170FFC, "LD R1, [R7+-4]"),
    (0x06120000, "LDB R1, [R2+0]"),
    (0x03073FFC, "ST [R7+-4], R3"),
    (0x09012002, "STH [R1+2], R2"),
    (0x21000040, "JMP 0x0040"),
    (0x22000FFC, "JZ 0x0FFC"),  # JZ uses the field unsigned
    (0x24000FFF, "CALL -1"),
    (0x30000101, "SVC MOD=0x1, FN=0x01"),
    (0x30000600, "SVC MOD=0x6, FN=0x00"),
    (0x7F000000, "BRK"),
    (0x7F000005, "BRK 5"),
    (0x54120000, "I2F R1, R2"),
    (0x53FED000, "FDIV R15, R14, R13"),
]


@pytest.mark.parametrize(("word", "text"), TEXTS, ids=[t[1] for t in TEXTS])
def test_word_to_text(word: int, text: str) -> None:
    ins = disasm_word(word, pc=0x100)
    assert ins.text == text and ins.canonical
    assert assemble_text(f".org 0x100\n{text}\n").code_words[0x40] == word


def test_ldi32_consumes_literal() -> None:
    ins = disasm_word(0x60300000, 8, next_word=0x80000001)
    assert (ins.text, ins.size, ins.extended_word) == ("LDI32 R3, 0x80000001", 8, 0x80000001)
    listing = disassemble(bytes.fromhex("603000002500000025000000"))
    assert [(i.pc, i.text) for i in listing] == [(0, "LDI32 R3, 0x25000000"), (8, "RET")]


def test_ldi32_overrunning_code() -> None:
    (ins,) = disassemble(bytes.fromhex("60300000"))
    assert ins.text == ".word 0x60300000" and not ins.canonical and "overruns" in ins.comment


@pytest.mark.parametrize("word", [0x00000000, 0x05123456, 0xFF000000, 0x7E000001])
def test_illegal_opcode_renders_as_word(word: int) -> None:
    ins = disasm_word(word)
    assert ins.text == f".word 0x{word:08X}"
    assert ins.mnemonic == f"0x{word >> 24:02X}" and "illegal opcode" in ins.comment


@pytest.mark.parametrize(
    ("word", "why"),
    [
        (0x25300000, "RET with rd set"),
        (0x24010003, "CALL with a base register"),
        (0x7F000105, "BRK with bits 8..11 set"),
        (0x21100040, "JMP with rd set"),
        (0x01120005, "LDI with rs1 set"),
        (0x20145000, "CMP with rd set"),
    ],
)
def test_non_canonical_words_render_as_word(word: int, why: str) -> None:
    ins = disasm_word(word)
    assert ins.text == f".word 0x{word:08X}" and not ins.canonical and "non-canonical" in ins.comment


def test_non_canonical_ldi32_keeps_its_literal() -> None:
    (ins, ret) = disassemble(bytes.fromhex("603100000000000725000000"))
    assert ins.text == ".word 0x60310000, 0x00000007" and ins.size == 8 and ret.pc == 8


def test_fields_for_the_debugger() -> None:
    ins = disasm_word(0x02170FFC, pc=0x20)
    assert (ins.mnemonic, ins.rd, ins.rs1, ins.imm, ins.imm_raw, ins.pc, ins.size) == ("LD", 1, 7, -4, 0xFFC, 0x20, 4)
    d = ins.to_dict()
    assert d["operands"] == "R1, [R7+-4]" and "target" not in d and d["bytes"] == "02170ffc"
    assert disasm_word(0x60300000, 0, next_word=7).to_dict()["bytes"] == "6030000000000007"


def test_public_names() -> None:
    from executive.hsx import asm, disasm, hxe, symbols

    assert set(disasm.__all__) == {
        "Instruction", "SymbolsLike", "disasm_word", "disassemble", "render", "render_data", "as_symbol_table"
    }  # fmt: skip
    assert {"AsmError", "AsmResult", "assemble", "assemble_text"} <= set(asm.__all__)
    assert {"HxeError", "HxeImage", "load_hxe", "write_hxe", "hxe_crc"} <= set(hxe.__all__)
    assert set(symbols.__all__) == {"Symbol", "SymbolError", "SymbolTable", "LineInfo"}
    for module in (asm, disasm, hxe, symbols):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)


# ------------------------------------------------------------------------------------------
# symbols

SRC = """
.entry main
.export main
main:
    LDI32 R1, msg
    CALL helper
    JNZ main
    RET
helper:
    RET
.data
msg:
    .asciz "x"
"""


def test_symbol_annotation_from_sym() -> None:
    result = assemble([("m.mvasm", SRC)])
    listing = disassemble(result.image.code, result.sym)
    ldi, call, jnz, _ret, helper_ret = listing
    assert (ldi.label, ldi.symbol, ldi.symbol_offset, ldi.file, ldi.line) == ("main", "main", 0, "m.mvasm", 5)
    assert ldi.comment == "msg"
    assert (call.text, call.target, call.target_symbol) == ("CALL helper", 0x14, "helper")
    assert (jnz.text, jnz.target, jnz.target_symbol) == ("JNZ main", 0, "main")
    assert (call.symbol, call.symbol_offset, call.label) == ("main", 8, None)
    assert helper_ret.label == "helper"


def test_symbol_list_input_and_nearest() -> None:
    table = SymbolTable.from_pairs([("start", 0), ("loop", 8)])
    ins = disasm_word(0x21000008, pc=12, symbols=table)
    assert (ins.text, ins.symbol, ins.symbol_offset) == ("JMP loop", "loop", 4)
    assert disasm_word(0x24000FFE, pc=16, symbols=[("loop", 8)]).text == "CALL loop"


def test_render_listing_reassembles_with_labels() -> None:
    result = assemble([("m.mvasm", SRC)])
    text = render(disassemble(result.image.code, result.sym), result.sym)
    assert "main:\n    LDI32 R1, 0x00004000" in text and "helper:\n    RET" in text
    assert assemble_text(text).image.code == result.image.code


def test_render_data_reproduces_rodata_with_labels() -> None:
    src = "RET\n.data\na:\n.byte 1, 2\nb:\n.zero 20\nend:\n"
    result = assemble([("d.mvasm", src)])
    text = render_data(result.image.rodata, result.sym)
    assert text.startswith(".data\na:\n    .byte 0x01, 0x02") and "\nb:\n" in text and text.rstrip().endswith("end:")
    again = assemble_text("RET\n" + text)
    assert again.image.rodata == result.image.rodata
    assert {v["name"]: v["address"] for v in again.sym["symbols"]["variables"]} == {
        "a": 0x4000,
        "b": 0x4002,
        "end": 0x4016,
    }


def test_duplicate_local_names_are_not_used_as_labels() -> None:
    a = ".export main\n.import f\nmain:\nloop:\n    JMP loop\n    CALL f\n"
    b = ".export f\nf:\nloop:\n    JMP loop\n    RET\n"
    result = assemble([("a", a), ("b", b)])
    text = render(disassemble(result.image.code, result.sym), result.sym)
    assert "loop:" not in text and "JMP main" in text and "f:\n    JMP f" in text
    assert assemble_text(text).image.code == result.image.code


def test_label_inside_ldi32_literal_is_not_emitted() -> None:
    table = SymbolTable([Symbol("inside", 4), Symbol("after", 8)])
    code = bytes.fromhex("601000002100000421000004")
    text = render(disassemble(code, table), table)
    assert "inside:" not in text and "after:" in text and "JMP 0x0004" in text
    assert assemble_text(text).image.code == code


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"symbols": []},
        {"symbols": {"functions": {}}},
        {"symbols": {"functions": [{"name": 1}]}},
        {"symbols": {"labels": {"zz": ["a"]}}},
        {"instructions": [{"pc": "0"}]},
    ],
)
def test_bad_sym_documents(doc: object) -> None:
    with pytest.raises(SymbolError):
        SymbolTable.from_sym(doc)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# round trip: disassemble -> assemble reproduces any code exactly


def _legal_words() -> st.SearchStrategy[int]:
    ops = sorted(isa.OPCODES)
    canonical = st.builds(
        lambda op, rd, rs1, rs2, imm, keep: isa.encode(op, rd, rs1, rs2, imm) & (0xFFFFFFFF if keep else 0xFF000FFF),
        st.sampled_from(ops), st.integers(0, 15), st.integers(0, 15), st.integers(0, 15),
        st.integers(0, 4095), st.booleans(),
    )  # fmt: skip
    return st.one_of(canonical, st.integers(0, 0xFFFFFFFF))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_legal_words(), min_size=1, max_size=40))
def test_round_trip_arbitrary_code(ws: list[int]) -> None:
    code = b"".join(w.to_bytes(4, "big") for w in ws)
    listing: list[Instruction] = disassemble(code)
    assert sum(i.size for i in listing) == len(code)
    assert assemble_text(render(listing)).image.code == code
