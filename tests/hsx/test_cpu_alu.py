"""Property tests: every ALU and f16 opcode against a small model written from spec §4–§6.

The model below is deliberately formulated differently from the implementation (textbook
signed-range overflow where the spec says it is equivalent, Fractions for DIV, ``struct``'s
IEEE half codec plus the two documented exceptions for f16) so a shared mistake is unlikely.
Each case runs on both execution paths: the compiled fast path and the debug interpreter.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executive.hsx.cpu import Cpu, HaltReason
from executive.hsx.isa import BY_MNEMONIC, encode

M = 0xFFFFFFFF
Z, C, N, V = 1, 2, 4, 8


def _s(x: int) -> int:
    return x - (1 << 32) if x >= 1 << 31 else x


def _zn(r: int) -> int:
    return (Z if r == 0 else 0) | (N if r >= 1 << 31 else 0)


def _fits32(x: int) -> bool:
    return -(1 << 31) <= x < (1 << 31)


def model(op: str, a: int, b: int, psw: int) -> tuple[int | None, int]:
    """(result, psw) per spec §4/§5; result None = no register write (CMP)."""
    cin = 1 if psw & C else 0
    if op == "ADD":
        r = (a + b) % (1 << 32)
        return r, _zn(r) | (C if a + b >= 1 << 32 else 0) | (0 if _fits32(_s(a) + _s(b)) else V)
    if op in ("SUB", "CMP"):
        r = (a - b) % (1 << 32)
        flags = _zn(r) | (C if a >= b else 0) | (0 if _fits32(_s(a) - _s(b)) else V)
        return (None if op == "CMP" else r), flags
    if op == "ADC":
        total = a + b + cin
        r = total % (1 << 32)
        sop, sa, sr = _s((b + cin) % (1 << 32)), _s(a), _s(r)
        v = (sa >= 0 and sop >= 0 and sr < 0) or (sa < 0 and sop < 0 and sr >= 0)
        return r, _zn(r) | (C if total >= 1 << 32 else 0) | (V if v else 0)
    if op == "SBC":
        sub = b + (1 - cin)
        r = (a - sub) % (1 << 32)
        sop, sa, sr = _s(sub % (1 << 32)), _s(a), _s(r)
        v = (sa >= 0 and sop < 0 and sr < 0) or (sa < 0 and sop >= 0 and sr >= 0)
        return r, _zn(r) | (C if a >= sub else 0) | (V if v else 0)
    if op == "MUL":
        p = a * b
        hi = C | V if p >= 1 << 32 else 0
        return p % (1 << 32), _zn(p % (1 << 32)) | hi
    if op == "DIV":
        r = int(Fraction(_s(a), _s(b))) % (1 << 32)  # int() of a Fraction truncates toward 0
        return r, _zn(r)
    if op in ("AND", "OR", "XOR"):
        r = {"AND": a & b, "OR": a | b, "XOR": a ^ b}[op]
        return r, _zn(r)
    if op == "NOT":
        r = M - a
        return r, _zn(r)
    s = b & 31
    if op == "LSL":
        wide = a << s
        r, out = wide % (1 << 32), (wide >> 32) & 1
    elif op == "LSR":
        r, out = a >> s, ((a << 1) >> s) & 1
    else:  # ASR
        r, out = (_s(a) >> s) % (1 << 32), ((a << 1) >> s) & 1
    carry = (C if out else 0) if s else (psw & C)  # shift by 0 keeps C
    return r, _zn(r) | carry


def _run(words: list[int], regs: dict[int, int], psw: int, debug: bool) -> Cpu:
    code = b"".join(w.to_bytes(4, "big") for w in words)
    cpu = Cpu(code)
    for i, v in regs.items():
        cpu.set_register(i, v)
    cpu.psw = psw
    if debug:
        cpu.set_trace(lambda *a: None)
    cpu.run(len(words) + 1)
    return cpu


def _w(mn: str, rd: int = 0, rs1: int = 0, rs2: int = 0, imm: int = 0) -> int:
    return encode(BY_MNEMONIC[mn].opcode, rd, rs1, rs2, imm)


words32 = st.one_of(
    st.integers(0, M),
    st.sampled_from([0, 1, 2, 31, 32, 33, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFE, M]),
)
ALU = ["ADD", "SUB", "MUL", "DIV", "AND", "OR", "XOR", "NOT", "CMP", "LSL", "LSR", "ASR", "ADC", "SBC"]


@pytest.mark.parametrize("op", ALU)
@pytest.mark.parametrize("debug", [False, True], ids=["fast", "debug"])
@settings(max_examples=60, deadline=None)
@given(a=words32, b=words32, psw=st.integers(0, 15), alias=st.booleans())
def test_alu_matches_model(op: str, debug: bool, a: int, b: int, psw: int, alias: bool) -> None:
    if op == "DIV" and b == 0:
        b = 1
    rd = 1 if alias else 3  # alias: Rd is also Ra (sources are read before the write)
    if op == "NOT":
        word = _w("NOT", rd, 1)
    elif op == "CMP":
        word = _w("CMP", 0, 1, 2)
    else:
        word = _w(op, rd, 1, 2)
    cpu = _run([word, _w("RET")], {1: a, 2: b, 3: 0x5A5A5A5A}, psw, debug)
    result, flags = model(op, a, b, psw)
    assert cpu.halt is HaltReason.RETURNED and cpu.steps == 1
    assert cpu.psw == flags, f"{op} a=0x{a:X} b=0x{b:X} psw_in=0x{psw:X}"
    if result is None:
        assert cpu.regs[1:4] == [a, b, 0x5A5A5A5A]
    else:
        assert cpu.regs[rd] == result


def test_flag_reads_see_live_flags_across_dead_writes() -> None:
    """JZ reads Z of the *last* writer; ADC reads C through a shift by 0 (C kept)."""
    words = [
        _w("LDI", 1, imm=1),
        _w("LDI", 2, imm=1),
        _w("SUB", 3, 1, 2),  # Z=1, C=1 (dead for Z: overwritten below)
        _w("ADD", 4, 1, 2),  # Z=0, C=0
        _w("LDI", 5, imm=0),
        _w("LSL", 6, 1, 5),  # shift by 0: C stays 0
        _w("ADC", 7, 1, 2),  # 1 + 1 + C(0) = 2
        _w("JZ", imm=0x40),  # not taken (ADC result 2)
        _w("RET"),
    ]
    for debug in (False, True):
        cpu = _run(words, {}, 0, debug)
        assert cpu.regs[7] == 2 and cpu.pc == 32 and cpu.halt is HaltReason.RETURNED


# -- half precision ---------------------------------------------------------------------------


def _half(h: int) -> float:
    return struct.unpack("<e", struct.pack("<H", h & 0xFFFF))[0]


def _ref_enc(x: float) -> int:
    """IEEE round-to-nearest-even via struct, plus the spec §6 exceptions."""
    if math.isnan(x):
        return 0x7E00
    if abs(x) < 2.0**-14 and abs(x) >= 1023.5 * 2.0**-24:
        return (0x8000 if math.copysign(1, x) < 0 else 0) | 0x03FF  # subnormal clamp
    try:
        return struct.unpack("<H", struct.pack("<e", x))[0]
    except OverflowError:
        return 0xFC00 if x < 0 else 0x7C00


def _ref_fop(op: str, a: int, b: int) -> int:
    x, y = _half(a), _half(b)
    if op == "FADD":
        return _ref_enc(x + y)
    if op == "FSUB":
        return _ref_enc(x - y)
    if op == "FMUL":
        return _ref_enc(x * y)
    if y == 0:
        y = math.inf  # FDIV by ±0 divides by +inf
    return _ref_enc(x / y)


halves = st.one_of(
    st.integers(0, 0xFFFF),
    st.sampled_from(
        [0, 0x8000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFFFF]
    ),
)


@pytest.mark.parametrize("op", ["FADD", "FSUB", "FMUL", "FDIV"])
@pytest.mark.parametrize("debug", [False, True], ids=["fast", "debug"])
@settings(max_examples=80, deadline=None)
@given(a=halves, b=halves, upper=st.integers(0, 0xFFFF), psw=st.integers(0, 15))
def test_f16_ops_match_model(op: str, debug: bool, a: int, b: int, upper: int, psw: int) -> None:
    cpu = _run([_w(op, 3, 1, 2), _w("RET")], {1: 0xABCD0000 | a, 2: 0x12340000 | b, 3: upper << 16}, psw, debug)
    assert cpu.regs[3] == (upper << 16) | _ref_fop(op, a, b)  # upper half of Rd kept
    assert cpu.psw == psw  # f16 ops never touch the PSW


@pytest.mark.parametrize("debug", [False, True], ids=["fast", "debug"])
@settings(max_examples=150, deadline=None)
@given(a=words32, upper=st.integers(0, 0xFFFF))
def test_i2f_matches_model(debug: bool, a: int, upper: int) -> None:
    cpu = _run([_w("I2F", 3, 1), _w("RET")], {1: a, 3: upper << 16}, 0, debug)
    assert cpu.regs[3] == (upper << 16) | _ref_enc(float(_s(a)))


@pytest.mark.parametrize("debug", [False, True], ids=["fast", "debug"])
@settings(max_examples=150, deadline=None)
@given(h=halves, upper=st.integers(0, 0xFFFF))
def test_f2i_matches_model(debug: bool, h: int, upper: int) -> None:
    cpu = _run([_w("LDI", 0, imm=9), _w("F2I", 3, 1), _w("RET")], {1: (upper << 16) | h}, 0, debug)
    x = _half(h)
    if math.isnan(x) or math.isinf(x):
        assert cpu.halt is HaltReason.F2I_INVALID
        assert cpu.pc == 4 and cpu.steps == 1 and cpu.regs[0] == 9  # not retired, R0 untouched
    else:
        assert cpu.halt is HaltReason.RETURNED
        assert cpu.regs[3] == int(x) % (1 << 32)
