"""The compiled fast path must be indistinguishable from the per-instruction debug path.

Random small programs (every opcode, jumps and calls inside the program, memory bases near
the faulting top of memory and near the register window, random PSW/SP/depth) run once with
``run(n)`` on the fast path and once as ``n`` single steps on the debug path (a no-op trace
hook forces it). Everything observable must match: registers, PC, SP, PSW, depth, exact
step count, halt reason and info, and all of data memory.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executive.hsx.cpu import Cpu, HaltReason
from executive.hsx.isa import BY_MNEMONIC, OPCODE_LIST, encode

MNEMONICS = [i.mnemonic for i in OPCODE_LIST]
COMMON = ["ILLEGAL", "LDI", "ADD", "SUB", "CMP", "JNZ", "JZ", "LD", "ST", "PUSH", "POP", "LSL", "ADC"]
REG_BASE = 0x1000


def _w(mn: str, rd: int = 0, rs1: int = 0, rs2: int = 0, imm: int = 0) -> int:
    return encode(BY_MNEMONIC[mn].opcode, rd, rs1, rs2, imm)


def _svc(cpu: Cpu, module: int, fn: int) -> None:
    """Deterministic handler: some calls stop the run, others write registers."""
    if module == 1 and fn == 0:
        cpu.stop(HaltReason.EXITED, code=cpu.regs[0])
    elif module == 6:
        cpu.regs[0] = 0
        cpu.stop(HaltReason.SLEEP)
    else:
        cpu.regs[0] = cpu.steps & 0xFFFFFFFF
        cpu.regs[1] = (module << 8) | fn


regs_st = st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 12, 14, 15])
interesting = st.sampled_from(
    [
        0,
        1,
        2,
        31,
        32,
        0x7FFFFFFF,
        0x80000000,
        0xFFFFFFFF,
        0xFFFE,
        0xFFFC,
        0xFFFD,
        0xFFFF,
        0x1FFFC,
        0x4000,
        REG_BASE,
        REG_BASE + 8,
        REG_BASE - 2,
        REG_BASE + 62,
        0x3C00,
        0x7C00,
        0x7E00,
    ]
)
values_st = st.one_of(interesting, st.integers(0, 0xFFFFFFFF), st.integers(0, 40))


@st.composite
def programs(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    n = draw(st.integers(1, 20))
    words: list[int] = []
    idx = 0
    while idx < n:
        kind = draw(st.sampled_from(MNEMONICS + COMMON))
        rd, ra, rb = draw(regs_st), draw(regs_st), draw(regs_st)
        if kind == "ILLEGAL" and draw(st.integers(0, 3)) == 0:
            words.append(draw(st.sampled_from([0x00, 0x05, 0x18, 0x7E, 0xFF])) << 24)
        elif kind in ("JMP", "JZ", "JNZ"):
            tgt = draw(st.one_of(st.integers(0, n).map(lambda i: 4 * i), st.integers(0, 4095)))
            if draw(st.integers(0, 7)):
                tgt = 4 * draw(st.integers(0, n))
            words.append(_w(kind, imm=tgt))
        elif kind == "CALL":
            off = draw(st.integers(-idx, n - idx))
            base = draw(st.sampled_from([0] * 7 + [ra]))
            words.append(_w("CALL", rs1=base, imm=off))
        elif kind == "SVC":
            words.append(_w("SVC", imm=draw(st.sampled_from([0x000, 0x100, 0x600, 0x203, 0xF11]))))
        elif kind in ("LD", "LDB", "LDH", "ST", "STB", "STH", "LDI"):
            imm = draw(st.one_of(st.integers(-8, 8), st.integers(0, 4095)))
            words.append(_w(kind, rd, ra, rb, imm))
        elif kind == "LDI32":
            words.append(_w(kind, rd))
            words.append(draw(values_st))
            idx += 1
        elif kind in ("BRK", "ILLEGAL") or (kind in ("SVC", "RET") and draw(st.booleans())):
            words.append(_w("MOV", rd, ra))
        else:
            words.append(_w(kind, rd, ra, rb, draw(st.integers(0, 4095))))
        idx += 1
    if draw(st.booleans()):
        words.append(_w("JMP", imm=draw(st.sampled_from([0, 4]))))
    init = [draw(values_st) for _ in range(16)]
    return b"".join(w.to_bytes(4, "big") for w in words), init


def _state(cpu: Cpu) -> tuple:
    return (
        list(cpu.regs),
        cpu.pc,
        cpu.sp,
        cpu.psw,
        cpu.depth,
        cpu.steps,
        cpu.halt,
        cpu.halt_info,
        hashlib.sha1(cpu.mem).hexdigest(),
    )


def _make(code: bytes, init: list[int], sp: int, psw: int, depth: int, windowed: bool) -> Cpu:
    cpu = Cpu(code, b"\x11\x22\x33", sp=sp, stack_limit=0, svc=_svc, reg_base=REG_BASE if windowed else None)
    for i, v in enumerate(init):
        cpu.set_register(i, v)
    cpu.psw = psw
    cpu.depth = depth
    cpu.mem[0xFFF0:0x10000] = bytes(range(0xA0, 0xB0))
    return cpu


@settings(max_examples=800, deadline=None)
@given(
    prog=programs(),
    budget=st.integers(1, 200),
    chunks=st.lists(st.integers(1, 50), max_size=4),
    sp=st.sampled_from([0x8000, 0x10000, 0xFFFE, 8, 0, 0x10008, REG_BASE + 64]),
    psw=st.integers(0, 15),
    depth=st.integers(0, 3),
    windowed=st.booleans(),
)
def test_fast_path_equals_single_steps(prog, budget, chunks, sp, psw, depth, windowed) -> None:
    code, init = prog
    fast = _make(code, init, sp, psw, depth, windowed)
    slow = _make(code, init, sp, psw, depth, windowed)
    slow.set_trace(lambda *a: None)  # any hook forces the per-instruction debug path

    # fast: the budget in a few run() calls (block boundaries land anywhere)
    left = budget
    for c in [*chunks, budget]:
        if left <= 0 or fast.halt is not HaltReason.RUNNING:
            break
        k = min(c, left)
        left -= fast.run(k)
        if fast.halt is HaltReason.RUNNING:
            assert fast.steps == budget - left
    # slow: single steps
    for _ in range(budget):
        if slow.step() == 0:
            break
    assert _state(fast) == _state(slow)


def test_fast_path_is_used_and_cached() -> None:
    code = b"".join(
        w.to_bytes(4, "big")
        for w in [
            _w("LDI", 1, imm=5),
            _w("LDI", 2, imm=1),
            _w("SUB", 1, 1, 2),
            _w("JNZ", imm=8),
            _w("RET"),
        ]
    )
    cpu = Cpu(code)
    assert cpu.run(1000) == 12
    assert cpu.halt is HaltReason.RETURNED
    assert 8 in cpu._blocks and cpu._blocks[8].source  # the loop block was compiled
    assert "while True" in cpu._blocks[8].source  # and runs as an in-function loop


@pytest.mark.parametrize("budget", range(1, 40))
def test_run_budget_exact_on_loop(budget: int) -> None:
    code = b"".join(
        w.to_bytes(4, "big")
        for w in [
            _w("LDI", 1, imm=100),
            _w("LDI", 2, imm=1),
            _w("ADD", 3, 3, 2),
            _w("SUB", 1, 1, 2),
            _w("JNZ", imm=8),
            _w("RET"),
        ]
    )
    a = Cpu(code)
    assert a.run(budget) == budget
    b = Cpu(code)
    for _ in range(budget):
        b.set_trace(lambda *x: None)
        b.step()
    assert _state(a) == _state(b)


@pytest.mark.parametrize("budget", [1, 63, 64, 65, 127, 128, 129, 150, 1000])
def test_long_straight_line_code_splits_into_max_size_blocks(budget: int) -> None:
    words = []
    for i in range(150):
        words.append(_w(("ADD", "SUB", "XOR", "LSL")[i % 4], 1 + i % 5, 1 + (i + 1) % 5, 1 + (i + 2) % 5))
    words.append(_w("RET"))
    code = b"".join(x.to_bytes(4, "big") for x in words)
    init = [0, 3, 0xFFFFFFFF, 0x80000000, 7, 12] + [0] * 10
    fast = _make(code, init, 0x8000, 0, 0, False)
    slow = _make(code, init, 0x8000, 0, 0, False)
    slow.set_trace(lambda *a: None)
    fast.run(budget)
    for _ in range(budget):
        slow.step()
    assert _state(fast) == _state(slow)
