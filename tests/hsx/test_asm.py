"""MVASM assembler and linker (spec hsx-vm.md §15): encodings, directives, linking, .sym, errors."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executive.hsx.asm import AsmError, AsmResult, assemble, assemble_text
from executive.hsx.hxe import load_hxe


def words(src: str, **kw: object) -> list[int]:
    return assemble_text(src, **kw).code_words  # type: ignore[arg-type]


def one(line: str) -> list[int]:
    return words(line + "\n")


# ------------------------------------------------------------------------------------------
# encodings, derived by hand from the bit layout of spec §2 (op | rd | rs1 | rs2 | imm12)

ENCODINGS = [
    ("RET", [0x25000000]),
    ("MOV R1, R2", [0x04120000]),
    ("NOT R3, R4", [0x17340000]),
    ("I2F R1, R2", [0x54120000]),
    ("F2I R1, R2", [0x55120000]),
    ("ADD R1, R2, R3", [0x10123000]),
    ("add r1, r2, r3", [0x10123000]),
    ("SUB R15, R14, R13", [0x11FED000]),
    ("MUL R1,R1,R1", [0x12111000]),
    ("DIV R1, R2, R3", [0x13123000]),
    ("AND R1, R2, R3", [0x14123000]),
    ("OR R1, R2, R3", [0x15123000]),
    ("XOR R1, R2, R3", [0x16123000]),
    ("LSL R1, R2, R3", [0x31123000]),
    ("LSR R1, R2, R3", [0x32123000]),
    ("ASR R1, R2, R3", [0x33123000]),
    ("ADC R1, R2, R3", [0x34123000]),
    ("SBC R1, R2, R3", [0x35123000]),
    ("FADD R1, R2, R3", [0x50123000]),
    ("FSUB R1, R2, R3", [0x51123000]),
    ("FMUL R1, R2, R3", [0x52123000]),
    ("FDIV R1, R2, R3", [0x53123000]),
    ("CMP R4, R5", [0x20045000]),
    ("PUSH R7", [0x40070000]),
    ("POP R7", [0x41700000]),
    ("LDI R1, 5", [0x01100005]),
    ("LDI R1, -1", [0x01100FFF]),
    ("LDI R1, -2048", [0x01100800]),
    ("LDI R1, 2047", [0x011007FF]),
    ("LDI R1, 0x7FF", [0x011007FF]),
    ("LDI R1, 0b101", [0x01100005]),
    ("LDI R1, 1_000", [0x011003E8]),
    ("LDI R1, +7", [0x01100007]),
    ("LDI R1, 'A'", [0x01100041]),
    ("LDI R1, ' '", [0x01100020]),
    ("LDI R1, ','", [0x0110002C]),
    ("LDI R1, '\\n'", [0x0110000A]),
    ("LDI32 R2, -1", [0x60200000, 0xFFFFFFFF]),
    ("LDI32 R2, 0xDEADBEEF", [0x60200000, 0xDEADBEEF]),
    ("LDI32 R2, -2147483648", [0x60200000, 0x80000000]),
    ("LD R1, [R7+-4]", [0x02170FFC]),
    ("LDB R1, [R2+0]", [0x06120000]),
    ("LDH R1, [r2+2047]", [0x071207FF]),
    ("ST [R7+-4], R3", [0x03073FFC]),
    ("STB [R1+1], R2", [0x08012001]),
    ("STH [R1+2], R2", [0x09012002]),
    ("JMP 0x40", [0x21000040]),
    ("JZ -4", [0x22000FFC]),
    ("JNZ 4095", [0x23000FFF]),
    ("CALL 3", [0x24000003]),
    ("CALL -1", [0x24000FFF]),
    ("SVC MOD=1, FN=1", [0x30000101]),
    ("svc mod=0x6, fn=0", [0x30000600]),
    ("SVC FN=0x10, MOD=5", [0x30000510]),
    ("SVC 0x101", [0x30000101]),
    ("SVC", [0x30000000]),
    ("SVC 0x01, 0x01", [0x30000000]),  # the reference pitfall (spec §15.4, §18.8)
    ("BRK", [0x7F000000]),
    ("BRK 255", [0x7F0000FF]),
]


@pytest.mark.parametrize(("line", "expected"), ENCODINGS, ids=[e[0] for e in ENCODINGS])
def test_encoding(line: str, expected: list[int]) -> None:
    assert one(line) == expected


def test_svc_pitfall_warns() -> None:
    result = assemble_text("SVC 0x01, 0x01\n", name="p.mvasm")
    assert result.code_words == [0x30000000]
    (warning,) = result.warnings
    assert warning.startswith("p.mvasm:1:1: warning:") and "MOD=0x01, FN=0x01" in warning


def test_comments_and_blank_lines() -> None:
    src = "; header\n\n   LDI R1, 1 ; first ; second\n\t; only comment\nRET;trailing\n"
    assert words(src) == [0x01100001, 0x25000000]


def test_semicolon_truncates_strings() -> None:
    with pytest.raises(AsmError, match="expected a quoted string"):
        assemble_text('RET\n.data\n.ascii "a;b"\n')


# ------------------------------------------------------------------------------------------
# labels and relocations


def test_labels_jumps_and_calls() -> None:
    src = """
start:
    JMP end
back:
    CALL start
    CALL fwd
fwd:
    JZ back
end:
    RET
"""
    # start=0 back=4 fwd=12 end=16; CALL start at 4 -> (0-4)/4=-1; CALL fwd at 8 -> (12-8)/4=1
    assert words(src) == [0x21000010, 0x24000FFF, 0x24000001, 0x22000004, 0x25000000]


def test_ldi_with_code_label_and_sign_extension_warning() -> None:
    src = ".org 0x800\nhigh:\n    LDI R1, high\n    LDI R2, low\nlow:\n    RET\n"
    result = assemble_text(src, name="s.mvasm")
    assert result.code_words[0x200:] == [0x01100800, 0x01200808, 0x25000000]
    assert any("s.mvasm:3:13: warning" in w and "sign-extended" in w for w in result.warnings)


def test_data_symbols_words_and_expressions() -> None:
    src = """
    LDI32 R1, msg
    LDI32 R2, hi16(tbl)
    LDI R3, off16(tbl)
    RET
.data
msg:
    .asciz "hi"
tbl:
    .word msg, lo16(msg), off16(tbl)
    .half msg
    .byte msg, 1
"""
    result = assemble_text(src)
    assert result.code_words == [0x60100000, 0x4000, 0x60200000, 0, 0x01300003, 0x25000000]
    ro = result.image.rodata
    assert ro[:3] == b"hi\0"
    assert struct.unpack_from("<III", ro, 3) == (0x4000, 0x4000, 3)
    assert ro[15:17] == b"\x00\x40" and ro[17:19] == b"\x00\x01"


def test_data_directives() -> None:
    src = r"""
RET
.data
a:  ; label on its own line
    .byte 1, -1, 0x7F, 'A', "BC", 'x y'
    .align 4
    .half 0x1234, -2
    .hword 5
    .word 0x11223344, -1
    .ascii "\n\r\t\\\0\x41\q"
    .string "z"
    .zero 3
    .align 3
"""
    ro = assemble_text(src).image.rodata
    expected = bytes([1, 0xFF, 0x7F, 0x41, 0x42, 0x43]) + b"x y"
    expected += bytes(-len(expected) % 4)
    expected += b"\x34\x12\xfe\xff\x05\x00" + b"\x44\x33\x22\x11\xff\xff\xff\xff"
    expected += b"\n\r\t\\\0Aq" + b"z\0" + bytes(3)
    expected += bytes(-len(expected) % 3)
    assert ro == expected


def test_org_pads_with_zero_words() -> None:
    assert words("LDI R1, 1\n.org 12\nRET\n.org 4\n") == [0x01100001, 0, 0, 0x25000000]


def test_word_in_text_is_raw_code() -> None:
    assert words("main:\n.word 0x12345678, main\n") == [0x12345678, 0]


def test_entry_forms() -> None:
    assert assemble_text("RET\n.entry\nRET\n").image.entry == 4
    assert assemble_text(".entry 8\nRET\nRET\nRET\n").image.entry == 8
    assert assemble_text(".entry main\nRET\nmain:\nRET\n").image.entry == 4
    assert assemble_text("RET\nRET\n").image.entry == 0


# ------------------------------------------------------------------------------------------
# linking several modules


LIB = """
.export twice
.export table
twice:
    ADD R0, R1, R1
    RET
.data
    .byte 9
    .align 4
table:
    .word 7
"""

MAIN = """
.entry main
.export main
.import twice
.import table
main:
    LDI R1, 21
    CALL twice
    LDI32 R2, table
    RET
.data
local:
    .byte 1, 2, 3
"""


def test_link_two_modules_in_order() -> None:
    result = assemble([("main.mvasm", MAIN), ("lib.mvasm", LIB)])
    # main code: 0 LDI, 4 CALL, 8 LDI32 (2 words), 16 RET; lib code at 20
    assert result.image.entry == 0
    assert result.code_words[1] == 0x24000004  # (20 - 4) / 4
    # main data 3 bytes at 0x4000; lib data base 3: .byte at 0x4003, .align 4 relative to
    # the module's own data start pads 3 bytes, so table is at lib offset 4 -> 0x4007
    assert result.code_words[3] == 0x4007
    assert result.image.rodata == bytes([1, 2, 3, 9, 0, 0, 0, 7, 0, 0, 0])


def test_local_labels_do_not_clash_between_modules() -> None:
    a = ".export main\nmain:\nloop:\n    JMP loop\n"
    b = "helper:\nloop:\n    JMP loop\n"
    assert assemble([("a", a), ("b", b)]).code_words == [0x21000000, 0x21000004]


def test_extern_allows_undefined_and_exports_definitions() -> None:
    a = ".extern helper\nmain:\n    CALL helper\n"
    b = ".extern helper\nhelper:\n    RET\n"
    assert assemble([("a", a), ("b", b)]).code_words == [0x24000001, 0x25000000]


@pytest.mark.parametrize(
    ("modules", "fragment"),
    [
        (
            [("a", ".export f\nf:\nRET\n"), ("b", ".export f\nf:\nRET\n")],
            "b:1:9: symbol 'f' is exported by both a and b",
        ),
        ([("a", ".import g\nRET\n")], "a:1:9: unresolved import 'g'"),
        ([("a", ".extern g\nCALL g\n")], "a:2:6: unresolved symbol 'g'"),
        ([("a", "CALL g\n"), ("b", "g:\nRET\n")], "a:1:6: undefined symbol 'g'"),
        (
            [("a", '.value {"group":1,"id":1}\nRET\n'), ("b", '.value {"group":1,"id":1}\n')],
            "b:1:8: duplicate .value group 1 id 1",
        ),
        ([("a", '.mailbox {"target":"x"}\n.mailbox {"target":"x"}\nRET\n')], "a:2:10: duplicate .mailbox target 'x'"),
    ],
)
def test_link_errors(modules: list[tuple[str, str]], fragment: str) -> None:
    with pytest.raises(AsmError) as info:
        assemble(modules)
    assert fragment in str(info.value)


def test_entry_rule_prefers_exported_start() -> None:
    a = ".entry main\n.export main\nmain:\nRET\n"
    b = ".export _start\nRET\n_start:\nRET\n"
    assert assemble([("a", a), ("b", b)]).image.entry == 8


def test_entry_rule_first_exported_entry_symbol() -> None:
    a = ".entry m\nRET\nm:\nRET\n"  # entry symbol not exported
    b = ".entry go\n.export go\nRET\ngo:\nRET\n"
    assert assemble([("a", a), ("b", b)]).image.entry == 12
    assert assemble([("a", a)]).image.entry == 4  # fallback: module 0's own entry


def test_metadata_merged_and_cmd_handler_resolved() -> None:
    a = (
        '.value {"group": 1, "id": 2, "name": "temp", "unit": "degC", "init": 1.5, "flags": "RO|PERSIST", '
        '"auth": "ADMIN"}\nRET\n'
    )
    b = '.cmd {"group": 3, "id": 4, "name": "go", "help": "run it", "handler": "on_go", "flags": "ASYNC"}\n'
    b += '.mailbox [{"target": "app:log", "capacity": 64, "mode": "FANOUT"}]\nRET\non_go:\nRET\n'
    image = load_hxe(assemble([("a", a), ("b", b)]).hxe)
    (v,) = image.values
    assert (v.group, v.value_id, v.name, v.unit, v.init, v.flags, v.auth) == (1, 2, "temp", "degC", 0x3E00, 3, 2)
    (c,) = image.commands
    assert (c.group, c.cmd_id, c.handler_offset, c.flags, c.help) == (
        3,
        4,
        8,
        2,
        "run it",
    )  # module a is 4 bytes, on_go is b's second word
    (m,) = image.mailboxes
    assert (m.target, m.capacity, m.mode_mask) == ("app:log", 64, 8)


def test_metadata_raw_f16_fields() -> None:
    src = '.value {"group": 1, "id": 1, "init_raw": 15360, "min": -1, "max_raw": 31744, "epsilon": 0.5}\nRET\n'
    (v,) = load_hxe(assemble_text(src).hxe).values
    assert (v.init, v.min, v.max, v.epsilon) == (0x3C00, 0xBC00, 0x7C00, 0x3800)


# ------------------------------------------------------------------------------------------
# includes


def test_include_relative_to_including_file() -> None:
    files = {
        "src/lib/consts.mvasm": 'LDI R2, 2\n.include "more.mvasm"\n',
        "src/lib/more.mvasm": "LDI R3, 3\n",
    }
    result = assemble(
        [("src/main.mvasm", 'LDI R1, 1\n.include "lib/consts.mvasm"\nRET\n')], include_loader=files.__getitem__
    )
    assert result.code_words == [0x01100001, 0x01200002, 0x01300003, 0x25000000]
    assert result.sym["instructions"][2]["file"] == "src/lib/more.mvasm"


def test_include_recursion_is_an_error() -> None:
    files = {"b.mvasm": ".include a.mvasm\n", "a.mvasm": ".include b.mvasm\n"}
    with pytest.raises(AsmError, match=r"include recursion: a.mvasm -> b.mvasm -> a.mvasm"):
        assemble([("a.mvasm", files["a.mvasm"])], include_loader=files.__getitem__)


def test_include_missing_file() -> None:
    def loader(path: str) -> str:
        raise FileNotFoundError(2, "No such file", path)

    with pytest.raises(AsmError) as info:
        assemble([("m.mvasm", 'RET\n  .include "nope.mvasm"\n')], include_loader=loader)
    assert str(info.value).startswith("m.mvasm:2:3: cannot include 'nope.mvasm'")


# ------------------------------------------------------------------------------------------
# error messages: file:line:column, what is wrong, what to write instead

ERRORS = [
    ("foo: RET", "1:1", "labels must be on their own line: write 'foo:' and then 'RET'"),
    ("a:\na:\nRET", "2:1", "duplicate label 'a' (first defined at t.mvasm:1)"),
    ("LD R1, [R7-4]", "1:8", "write [R7+-4] instead of [R7-4]"),
    ("ST [R7-8], R1", "1:4", "write [R7+-8] instead of [R7-8]"),
    ("LD R1, [R7]", "1:8", "write [R7+0] instead of [R7]"),
    ("LD R1, [R7 + 4]", "1:8", "may not contain spaces"),
    ("LD R1, [X+4]", "1:8", "needs a base register"),
    ("LD R1, [R7+5000]", "1:8", "out of range -2048..2047"),
    ("LDI R1, 5000", "1:9", "out of range -2048..2047; use LDI32 R1, 5000"),
    (
        "LDI R1, msg\n.data\nmsg:\n.byte 1",
        "1:9",
        "data symbol msg = 0x4000 does not fit a 12-bit field (0..4095); load it with LDI32 R1, msg",
    ),
    ("ADD R1, R2", "1:1", "ADD takes 3 operands (ADD Rd, Ra, Rb), got 2"),
    ("RET R1", "1:1", "RET takes 0 operands (RET), got 1"),
    ("PUSH", "1:1", "PUSH takes 1 operand (PUSH Rs), got 0"),
    ("LDI32 R1", "1:1", "LDI32 takes 2 operands"),
    ("BRK 1, 2", "1:1", "BRK takes 1 operand"),
    ("MOV R1, R16", "1:9", "expected a register R0..R15, got 'R16'"),
    ("MOV R1, [R2+0]", "1:9", "expected a register, got memory operand"),
    ("FROB R1", "1:1", "unknown mnemonic 'FROB'"),
    ("LDI R1, -0x10", "1:9", "signed hex/binary number '-0x10' is not accepted; write -16"),
    ("LDI R1, 0xZZ", "1:9", "bad hex number '0xZZ'"),
    ("LDI R1, 1__0", "1:9", "underscores only between digits"),
    ("LDI R1, R2", "1:9", "expected a number or symbol, got register R2"),
    ("LDI R1, foo+4", "1:9", "MVASM has no arithmetic"),
    ("JMP far\n.org 0x1000\nfar:\nRET", "1:5", "beyond 4095"),
    ("JMP 5000", "1:5", "out of range -2048..4095"),
    ("CALL msg\n.data\nmsg:\n.byte 0", "1:6", "CALL target 'msg' is a data symbol"),
    ("JMP msg\n.data\nmsg:\n.byte 0", "1:5", "jump target 'msg' is a data symbol"),
    ("SVC MOD=16, FN=1", "1:5", "out of range 0..15"),
    ("SVC MOD=1, FN=256", "1:12", "out of range 0..255"),
    ("SVC MODULE=1", "1:5", "unknown SVC key 'MODULE'"),
    ("BRK 256", "1:5", "out of range 0..255"),
    ("CALL nowhere", "1:6", "undefined symbol 'nowhere' (define the label, or declare '.import nowhere'"),
    (".byte 1", "1:1", ".byte is only allowed in the .data section"),
    (".data\nRET", "2:1", "instruction RET in the .data section"),
    (".data\n.entry", "2:1", ".entry is only allowed in the .text section"),
    (".frob 1", "1:1", "unknown directive .frob"),
    (".export a, b\na:\nb:\nRET", "1:9", ".export takes exactly one symbol"),
    (".export ghost\nRET", "1:9", ".export ghost: symbol is not defined in this file"),
    (".import x\nx:\nRET", "1:9", "declared .import but defined in this file"),
    ('.data\n.ascii "abc', "2:8", "expected a quoted string"),
    ('.data\n.ascii "\\xZ1"', "2:8", "bad escape"),
    ('.data\n.ascii "é€"', "2:8", "is not a byte"),
    (".data\n.align 0", "2:8", ".align needs a positive number"),
    ('.value {"group": 1', "1:8", ".value: invalid JSON"),
    ('.value {"id": 1}', "1:8", "missing required key 'group'"),
    ('.value {"group": 256, "id": 1}', "1:8", "group = 256 is out of range 0..255"),
    ('.value {"group": 1, "id": 1, "flags": "FAST"}', "1:8", "unknown name 'FAST'"),
    ('.value {"group": 1, "id": 1, "init": 1e6}', "1:8", "does not fit a half float"),
    ('.cmd {"group": 1, "id": 1, "handler": "nope"}\nRET', "1:6", ".cmd handler 'nope' is not a label"),
    ('.mailbox {"capacity": 4}', "1:10", "needs a non-empty string 'target'"),
    ("1abc:\nRET", "1:1", "invalid label name '1abc'"),
    ("LDI R1, lo16(1)", "1:9", "lo16() takes one symbol name"),
    ("LDI R1, off16(main)\nmain:\nRET", "1:9", "off16 takes a data symbol"),
    ("", "", "the program has no instructions"),
    (".data\nx:\n.byte 1", "", "the program has no instructions"),
    (".entry 64\nRET", "", "entry 0x40 is outside the code"),
    (".entry -4\nRET", "1:8", "the entry must be a code offset"),
    (".entry 2\nRET", "1:8", "a multiple of 4"),
]


@pytest.mark.parametrize(("src", "where", "fragment"), ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_error_messages(src: str, where: str, fragment: str) -> None:
    with pytest.raises(AsmError) as info:
        assemble_text(src + "\n", name="t.mvasm")
    err = info.value
    text = str(err)
    assert fragment in text, text
    if where:
        line, column = (int(p) for p in where.split(":"))
        assert (err.file, err.line, err.column) == ("t.mvasm", line, column)
        assert text.startswith(f"t.mvasm:{where}: ")


def test_limits() -> None:
    with pytest.raises(AsmError, match="code exceeds 65536 bytes"):
        assemble_text(".org 65536\nRET\n")
    with pytest.raises(AsmError, match="data section exceeds"):
        assemble_text("RET\n.data\n.zero 65536\n.byte 1\n")
    with pytest.raises(AsmError, match="source too large"):
        assemble_text("RET\n" * 600_000)
    deep = {f"f{i}.mvasm": f".include f{i + 1}.mvasm\n" for i in range(40)}
    with pytest.raises(AsmError, match="nested deeper than 16"):
        assemble([("f0.mvasm", deep["f0.mvasm"])], include_loader=deep.__getitem__)


_FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
_VOCAB = ["LDI", "LD", "ST", "JMP", "CALL", "SVC", "BRK", "R1", "R7", "[R7+-4]", "[R7", "-4]", ".data", ".text",
          ".byte", ".word", ".align", ".entry", ".export", ".import", ".value", "{", "}", '"x"', "'a'", "0x10",
          "-5", "lab", "lab:", "lo16(lab)", "MOD=1", "FN=2", ",", "=", "[", "]", "99999999999", ".org",
          "1_0"]  # fmt: skip


@_FUZZ
@given(st.lists(st.lists(st.sampled_from(_VOCAB), max_size=5).map(" ".join), max_size=12))
def test_fuzz_assembler_raises_only_asm_error(lines: list[str]) -> None:
    try:
        assemble_text("\n".join(lines) + "\nRET\n")
    except AsmError:
        pass


@_FUZZ
@given(st.text(max_size=200))
def test_fuzz_arbitrary_text(text: str) -> None:
    try:
        assemble_text(text)
    except AsmError:
        pass


# ------------------------------------------------------------------------------------------
# output options and the .sym document


def test_versions_and_header_options() -> None:
    v1 = load_hxe(assemble_text("RET\n", version=1).hxe)
    assert v1.version == 1 and v1.allow_multiple_instances
    v2 = load_hxe(assemble_text("RET\n", app_name="blinky", single_instance=True, req_caps=0x12345).hxe)
    assert (v2.version, v2.app_name, v2.allow_multiple_instances, v2.req_caps) == (2, "blinky", False, 0x2345)
    assert load_hxe(assemble_text("RET\n").hxe).allow_multiple_instances
    with pytest.raises(AsmError, match="cannot carry"):
        assemble_text('.value {"group":1,"id":1}\nRET\n', version=1)
    with pytest.raises(AsmError, match="no app name"):
        assemble_text("RET\n", version=1, app_name="x")
    with pytest.raises(AsmError, match="longer than 32"):
        assemble_text("RET\n", app_name="x" * 40)


def _sym() -> AsmResult:
    return assemble([("main.mvasm", MAIN), ("lib.mvasm", LIB)], hxe_path="out/prog.hxe")


def test_sym_document() -> None:
    result = _sym()
    sym = result.sym
    json.dumps(sym)  # JSON-ready
    assert sym["version"] == 1 and sym["hxe_path"] == "out/prog.hxe"
    assert sym["hxe_crc"] == int.from_bytes(result.hxe[0x1C:0x20], "big")
    functions = {f["name"]: f for f in sym["symbols"]["functions"]}
    assert functions["main"] == {
        "name": "main",
        "linkage_name": "main",
        "address": 0,
        "size": 20,
        "file": "main.mvasm",
        "line": 6,
    }
    assert functions["twice"]["address"] == 20 and functions["twice"]["size"] == 8
    variables = {v["name"]: v for v in sym["symbols"]["variables"]}
    assert variables["local"] == {
        "name": "local",
        "address": 0x4000,
        "size": 3,
        "scope": "local",
        "type": "object",
        "file": "main.mvasm",
        "line": 12,
    }
    assert variables["table"]["address"] == 0x4007 and variables["table"]["scope"] == "global"
    assert sym["symbols"]["labels"] == {"0x00000000": ["main"], "0x00000014": ["twice"]}
    ins = sym["instructions"]
    assert [i["pc"] for i in ins] == [0, 4, 8, 16, 20, 24]
    assert ins[2]["word"] == 0x60200000 and ins[2]["extended_word"] == 0x4007
    assert (ins[4]["file"], ins[4]["line"], ins[4]["mvasm_line"], ins[4]["function"]) == ("lib.mvasm", 5, 5, "twice")
    assert ins[0]["source"] == "LDI R1, 21" and ins[5]["ordinal"] == 5
    assert sym["memory_regions"] == [
        {"name": "code", "type": "code", "start": 0, "end": 27},
        {"name": "rodata", "type": "data", "start": 0x4000, "end": 0x400A},
    ]
