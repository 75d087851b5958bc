"""Breakpoints and write watches on the compiled fast path must stop exactly where the
per-instruction interpreter stops (hsx/_blocktable.py).

Each case runs the same program on two CPUs driven by the same plan of ``run(n)`` calls,
breakpoint edits between calls and resumes after stops: one on the fast path (breakpoints
and a write watch with a span), one on the reference per-instruction path (a no-op trace
hook forces it; its watch sees every write and the test filters by the span). After every
call the stop (retired count, halt reason and info, PC, steps, registers, PSW, SP) must be
the same, and at the end all of memory and every watch report (address, width, and the
state when the hook ran).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executive.hsx.asm import assemble
from executive.hsx.cpu import Cpu, HaltReason
from executive.hsx.hxe import load_hxe
from executive.hsx.isa import BY_MNEMONIC, OPCODE_LIST, encode
from executive.hsx.runner import STANDALONE_SP
from executive.hsx.svc import StandaloneHost

REG_BASE = 0x1000
MNEMONICS = [i.mnemonic for i in OPCODE_LIST]
# loops and memory traffic are what breakpoints and watches interact with
COMMON = ["LDI", "ADD", "SUB", "JNZ", "JZ", "JMP", "ST", "STB", "STH", "PUSH", "POP", "CALL", "RET", "LD"]


def _w(mn: str, rd: int = 0, rs1: int = 0, rs2: int = 0, imm: int = 0) -> int:
    return encode(BY_MNEMONIC[mn].opcode, rd, rs1, rs2, imm)


def _svc(cpu: Cpu, module: int, fn: int) -> None:
    if module == 1 and fn == 0:
        cpu.stop(HaltReason.EXITED, code=cpu.regs[0])
    elif module == 6:
        cpu.stop(HaltReason.SLEEP)
    else:
        cpu.regs[0] = cpu.steps & 0xFFFFFFFF


regs_st = st.sampled_from([0, 1, 2, 3, 4, 5, 12, 15])
values_st = st.one_of(
    st.sampled_from([0, 1, 2, 3, 0x100, 0x104, 0x7FF8, 0xFFFC, 0xFFFF, REG_BASE, REG_BASE + 60, 0x80000000]),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 12),
)


@st.composite
def programs(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    n = draw(st.integers(2, 24))
    words: list[int] = []
    while len(words) < n:
        idx = len(words)
        kind = draw(st.sampled_from(MNEMONICS + COMMON * 2))
        rd, ra, rb = draw(regs_st), draw(regs_st), draw(regs_st)
        if kind in ("JMP", "JZ", "JNZ"):
            words.append(_w(kind, imm=4 * draw(st.integers(0, n))))
        elif kind == "CALL":
            words.append(_w("CALL", rs1=0, imm=draw(st.integers(-idx, n - idx)) & 0xFFF))
        elif kind == "SVC":
            words.append(_w("SVC", imm=draw(st.sampled_from([0x100, 0x600, 0x203]))))
        elif kind in ("LD", "LDB", "LDH", "ST", "STB", "STH", "LDI"):
            words.append(_w(kind, rd, ra, rb, draw(st.integers(-8, 8)) & 0xFFF))
        elif kind == "LDI32":
            words += [_w(kind, rd), draw(values_st)]
        else:
            words.append(_w(kind, rd, ra, rb, draw(st.integers(0, 4095))))
    init = [draw(values_st) for _ in range(16)]
    return b"".join(x.to_bytes(4, "big") for x in words), init


def _make(code: bytes, init: list[int], windowed: bool, reference: bool, svc: Any = _svc) -> Cpu:
    cpu = Cpu(code, b"\x11\x22", sp=0x8000, svc=svc, reg_base=REG_BASE if windowed else None)
    for i, v in enumerate(init):
        cpu.set_register(i, v)
    if reference:
        cpu.set_trace(lambda *a: None)  # the per-instruction reference path
    return cpu


def _snapshot(cpu: Cpu, retired: int) -> tuple:
    return (retired, cpu.halt, dict(cpu.halt_info), cpu.pc, cpu.steps, tuple(cpu.regs), cpu.psw, cpu.sp, cpu.depth)


def _watcher(span: tuple[int, int], reports: list[tuple], filtered: bool, stop_every: int):
    lo, hi = span

    def hook(cpu: Cpu, addr: int, width: int) -> None:
        if filtered and not (addr < hi and lo < addr + width):
            return  # the reference sees every write; the fast CPU only those in the span
        reports.append((addr, width, cpu.pc, cpu.steps, tuple(cpu.regs), cpu.psw))
        if stop_every and len(reports) % stop_every == 0:
            cpu.stop(HaltReason.BREAKPOINT, watch=addr)

    return hook


def _drive(cpu: Cpu, plan: list[tuple[int, list[tuple[bool, int]]]]) -> list[tuple]:
    stops = []
    for budget, edits in plan:
        if cpu.halt is not HaltReason.RUNNING:
            if cpu.halt.is_terminal:
                break
            cpu.resume()
        for add, pc in edits:
            (cpu.add_breakpoint if add else cpu.remove_breakpoint)(pc)
        stops.append(_snapshot(cpu, cpu.run(budget)))
    return stops


edits_st = st.lists(st.tuples(st.booleans(), st.integers(0, 26).map(lambda i: 4 * i)), max_size=3)


@settings(max_examples=600, deadline=None)
@given(
    prog=programs(),
    bps=st.lists(st.integers(0, 26).map(lambda i: 4 * i), max_size=5),
    plan=st.lists(st.tuples(st.integers(1, 120), edits_st), min_size=1, max_size=8),
    watch=st.one_of(
        st.none(),
        st.tuples(st.sampled_from([0, 0xF8, 0x100, 0x7FF0, 0x7FFC, REG_BASE, 0xFFF0]), st.integers(1, 64)),
    ),
    stop_every=st.sampled_from([0, 0, 1, 3]),
    windowed=st.booleans(),
)
def test_fast_breakpoints_and_watches_stop_like_the_interpreter(prog, bps, plan, watch, stop_every, windowed) -> None:
    code, init = prog
    fast = _make(code, init, windowed, reference=False)
    ref = _make(code, init, windowed, reference=True)
    fast_reports: list[tuple] = []
    ref_reports: list[tuple] = []
    for cpu in (fast, ref):
        cpu.set_breakpoints(bps)
    if watch is not None:
        span = (watch[0], min(watch[0] + watch[1], 0x10000))
        fast.set_write_watch(_watcher(span, fast_reports, False, stop_every), span)
        ref.set_write_watch(_watcher(span, ref_reports, True, stop_every))
    assert _drive(fast, plan) == _drive(ref, plan)
    assert fast_reports == ref_reports
    assert hashlib.sha1(fast.mem).digest() == hashlib.sha1(ref.mem).digest()


# -- the program corpus, with breakpoints on random instructions ----------------------------------

PROGRAMS = Path(__file__).parent / "programs"
NAMES = sorted(p.stem for p in PROGRAMS.glob("*.mvasm"))


def _image(name: str) -> Any:
    path = PROGRAMS / f"{name}.mvasm"
    result = assemble([(str(path), path.read_text())], include_loader=lambda p: Path(p).read_text())
    return load_hxe(result.hxe)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_corpus_programs_stop_at_the_same_breakpoints(name: str, data: st.DataObject) -> None:
    image = _image(name)
    n = len(image.code) // 4
    bps = data.draw(st.lists(st.integers(0, n - 1).map(lambda i: 4 * i), max_size=16))
    max_steps = json.loads((PROGRAMS / f"{name}.json").read_text()).get("max_steps", 100_000)
    runs = []
    for reference in (False, True):
        host = StandaloneHost()
        cpu = Cpu(image.code, image.rodata, entry=image.entry, sp=STANDALONE_SP, svc=host)
        if reference:
            cpu.set_trace(lambda *a: None)
        cpu.set_breakpoints(bps)
        stops = []
        while cpu.steps < max_steps and len(stops) < 2000:
            if cpu.halt is not HaltReason.RUNNING:
                if cpu.halt.is_terminal:
                    break
                cpu.resume()
            stops.append(_snapshot(cpu, cpu.run(max_steps - cpu.steps)))
        runs.append((stops, list(host.output), hashlib.sha1(cpu.mem).digest()))
    assert runs[0] == runs[1]


# -- targeted cases -----------------------------------------------------------------------------

# R1 = 50; loop@8: R3 += 1; ST R3 -> [0x200]; R1 -= 1; JNZ loop; RET
LOOP = [
    _w("LDI", 1, imm=50), _w("LDI", 2, imm=1), _w("ADD", 3, 3, 2), _w("ST", 0, 4, 3, 0x200),
    _w("SUB", 1, 1, 2), _w("JNZ", imm=8), _w("RET"),
]  # fmt: skip


def _code(words: list[int]) -> bytes:
    return b"".join(x.to_bytes(4, "big") for x in words)


def test_unreached_breakpoint_keeps_the_loop_compiled() -> None:
    cpu = Cpu(_code([*LOOP, _w("BRK")]))  # own code bytes: nothing cached by other tests
    cpu.set_breakpoints(range(0x100, 0x140, 4))  # sixteen, none reachable
    cpu.run(1000)
    assert (
        cpu.halt is HaltReason.RETURNED and cpu.steps == 2 + 50 * 4
    )  # RET at depth 0 ends the program without retiring
    assert "while True" in cpu._blocks[8].source  # the loop ran as one compiled block


def test_breakpoint_inside_a_block_splits_it_and_hits_every_iteration() -> None:
    cpu = Cpu(_code(LOOP))
    cpu.add_breakpoint(16)  # the SUB in the middle of the loop block
    hits = []
    while cpu.halt is not HaltReason.RETURNED:
        cpu.run(10_000)
        if cpu.halt is HaltReason.BREAKPOINT:
            hits.append((cpu.pc, cpu.steps, cpu.regs[1], cpu.regs[3]))
            cpu.resume()
    assert hits == [(16, 4 + 4 * i, 50 - i, i + 1) for i in range(50)]
    assert cpu._blocks[8].source is not None and "while True" not in cpu._blocks[8].source


def test_breakpoint_added_and_removed_between_runs_invalidates_blocks() -> None:
    cpu = Cpu(_code(LOOP))
    cpu.run(10)  # loop block compiled without breakpoints
    cpu.add_breakpoint(20)
    cpu.run(1000)
    assert (cpu.halt, cpu.pc, cpu.regs[1]) == (HaltReason.BREAKPOINT, 20, 47)
    cpu.remove_breakpoint(20)
    cpu.resume()
    cpu.run(1000)
    assert cpu.halt is HaltReason.RETURNED and cpu.regs[3] == 50
    assert "while True" in cpu._blocks[8].source  # whole again


def test_breakpoint_added_by_a_hook_during_a_run_is_hit() -> None:
    # LDI R1,3 ; loop@4: SVC 0x203 ; SUB R1,R1,R2 ; JNZ 4 ; RET  (R2 = 1)
    words = [_w("LDI", 1, imm=3), _w("SVC", imm=0x203), _w("SUB", 1, 1, 2), _w("JNZ", imm=4), _w("RET")]

    def svc(cpu: Cpu, module: int, fn: int) -> None:
        cpu.add_breakpoint(12)  # the JNZ, inside the block after the SVC

    cpu = Cpu(_code(words), svc=svc)
    cpu.set_register(2, 1)
    cpu.run(100)
    assert (cpu.halt, cpu.pc, cpu.steps, cpu.regs[1]) == (HaltReason.BREAKPOINT, 12, 3, 2)


def test_watch_outside_the_written_range_keeps_stores_compiled() -> None:
    reports: list[tuple[int, int, int]] = []
    cpu = Cpu(_code(LOOP))
    cpu.set_write_watch(lambda c, a, w: reports.append((a, w, c.pc)), (0x300, 0x304))
    cpu.run(1000)
    assert cpu.halt is HaltReason.RETURNED and reports == []
    assert "while True" in cpu._blocks[8].source and "xlo4" in cpu._blocks[8].source


def test_watch_on_the_written_word_reports_each_store_at_its_instruction() -> None:
    reports: list[tuple[int, int, int, int]] = []
    cpu = Cpu(_code(LOOP))
    cpu.set_write_watch(lambda c, a, w: reports.append((a, w, c.pc, c.steps)), (0x202, 0x203))
    cpu.run(1000)
    assert reports == [(0x200, 4, 16, 4 + 4 * i) for i in range(50)]  # the ST at 12 retired; PC is 16


def test_watch_span_must_fit_data_memory() -> None:
    from executive.hsx.cpu import CpuError

    with pytest.raises(CpuError, match="watch span"):
        Cpu(_code(LOOP)).set_write_watch(lambda *a: None, (0x10, 0x20000))
