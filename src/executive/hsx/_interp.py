"""The per-instruction HSX interpreter: the reference semantics, table-driven (spec §3–§7).

This is the *slow* path. It runs every instruction when a debug hook (breakpoints, trace,
write watch) is active, and it is the fallback of the block compiler (``_compile.py``) for
everything the compiled code does not do itself: SVC, BRK, illegal opcodes, LDI32 past the
end of code, self-CALLs (which feed the "stuck CALL" counter), a step budget smaller than a
block, register-window hits, and every fault. A compiled block that detects a fault writes
back its state and re-executes the faulting instruction here, so fault handling (R0 code,
``halt_info``, PC and step count left alone) exists exactly once.

Dispatch is a 256-entry list indexed by the opcode byte (STYLE §8: a list index is the
cheapest dispatch in CPython). Each handler is ``h(cpu, word, pc) -> next_pc``; an aborting
fault raises :class:`Abort`; a stop-after-retire (BRK, illegal, an SVC that calls
``cpu.stop``) sets ``cpu._stop`` and returns the next PC as usual.

PSW here is computed eagerly with the formulas of spec §4; the test suite compares this path
with the compiled one on random programs.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from . import f16
from ._halt import HaltReason
from .isa import (
    ERR_DIV_ZERO,
    ERR_ENOSYS,
    ERR_MEM_FAULT,
    ERR_STACK_OVERFLOW,
    ERR_STACK_UNDERFLOW,
    MEM_SIZE,
    OPCODES,
)

if TYPE_CHECKING:
    from .cpu import Cpu

__all__ = ["HANDLERS", "STEP_HALT", "STEP_OK", "STEP_STOP", "Abort", "MemAccess", "step"]

M32 = 0xFFFFFFFF
_FETCH = struct.Struct(">I").unpack_from

#: step() results
STEP_OK = 0  # retired, keep going
STEP_STOP = 1  # retired, and a stop-after-retire is pending in cpu._stop
STEP_HALT = 2  # not retired: aborting fault / program end / PC out of range; cpu.halt is set


class MemAccess(NamedTuple):
    """The data-memory access of one instruction, as reported to the trace hook."""

    kind: str  # "r" (load, POP, RET) or "w" (store, PUSH, CALL)
    addr: int  # first byte address (0..0xFFFF)
    width: int  # 1, 2 or 4
    value: int  # value read or written


class Abort(Exception):
    """An instruction that does not retire: PC and steps stay, R0 optionally gets a code."""

    def __init__(self, reason: HaltReason, r0: int | None = None, **info: object) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.r0 = r0
        self.info = info


def _sext12(v: int) -> int:
    return v - 0x1000 if v & 0x800 else v


def _s32(v: int) -> int:
    return v - 0x100000000 if v & 0x80000000 else v


def _nz(r: int) -> int:
    """Z and N bits of a 32-bit result."""
    return (r == 0) | ((r >> 31) << 2)


# --- data memory (bounds, register window, access record) -------------------------------


def _window_hit(cpu: Cpu, a: int, n: int) -> bool:
    rb = cpu.reg_base
    return rb is not None and a < rb + 64 and a + n > rb


def _window_out(cpu: Cpu) -> None:
    """Copy the registers into their memory window (spec §1.1) so byte accesses see them."""
    rb = cpu.reg_base
    assert rb is not None
    raw = struct.pack("<16I", *cpu.regs)
    end = min(rb + 64, MEM_SIZE)
    cpu.mem[rb:end] = raw[: end - rb]


def _window_in(cpu: Cpu) -> None:
    """Reload the registers from their memory window after a guest store into it."""
    rb = cpu.reg_base
    assert rb is not None
    end = min(rb + 64, MEM_SIZE)
    raw = bytes(cpu.mem[rb:end]).ljust(64, b"\0")
    regs = cpu.regs
    for i, v in enumerate(struct.unpack("<16I", raw)):
        if rb + 4 * i + 4 <= end:
            regs[i] = v


def mem_read(cpu: Cpu, a: int, n: int, op: str) -> int:
    """Guest load of ``n`` bytes at 16-bit address ``a`` (little-endian); faults past 0xFFFF."""
    if a + n > MEM_SIZE:
        raise Abort(HaltReason.MEM_FAULT, ERR_MEM_FAULT, op=op, addr=a, width=n)
    if _window_hit(cpu, a, n):
        _window_out(cpu)
    v = int.from_bytes(cpu.mem[a : a + n], "little")
    cpu._access = MemAccess("r", a, n, v)
    return v


def mem_write(cpu: Cpu, a: int, n: int, v: int, op: str) -> None:
    """Guest store of the low ``n`` bytes of ``v`` at ``a``; faults past 0xFFFF."""
    if a + n > MEM_SIZE:
        raise Abort(HaltReason.MEM_FAULT, ERR_MEM_FAULT, op=op, addr=a, width=n)
    v &= (1 << (8 * n)) - 1
    hit = _window_hit(cpu, a, n)
    if hit:
        _window_out(cpu)
    cpu.mem[a : a + n] = v.to_bytes(n, "little")
    if hit:
        _window_in(cpu)
    cpu._access = MemAccess("w", a, n, v)


# --- handlers ---------------------------------------------------------------------------
# Field extraction is inlined in each handler: rd = w >> 20 & 15, rs1 = w >> 16 & 15,
# rs2 = w >> 12 & 15, imm12 = w & 0xFFF.

Handler = Callable[["Cpu", int, int], int]


def _illegal(cpu: Cpu, w: int, pc: int) -> int:
    # Stop after retire (spec §3.1): PC advances, the step counts, then the VM stops.
    cpu._stop = (HaltReason.ILLEGAL, {"opcode": w >> 24, "pc": pc})
    return pc + 4


def _ldi(cpu: Cpu, w: int, pc: int) -> int:
    cpu.regs[w >> 20 & 15] = _sext12(w & 0xFFF) & M32
    return pc + 4


def _load(width: int, name: str) -> Handler:
    def h(cpu: Cpu, w: int, pc: int) -> int:
        a = (cpu.regs[w >> 16 & 15] + _sext12(w & 0xFFF)) & 0xFFFF
        cpu.regs[w >> 20 & 15] = mem_read(cpu, a, width, name)
        return pc + 4

    h.__name__ = f"_{name.lower()}"
    return h


def _store(width: int, name: str) -> Handler:
    def h(cpu: Cpu, w: int, pc: int) -> int:
        regs = cpu.regs
        a = (regs[w >> 16 & 15] + _sext12(w & 0xFFF)) & 0xFFFF
        mem_write(cpu, a, width, regs[w >> 12 & 15], name)
        return pc + 4

    h.__name__ = f"_{name.lower()}"
    return h


def _mov(cpu: Cpu, w: int, pc: int) -> int:
    cpu.regs[w >> 20 & 15] = cpu.regs[w >> 16 & 15]
    return pc + 4


def _alu(fn: Callable[[Cpu, int, int], tuple[int, int]]) -> Handler:
    """Wrap ``fn(cpu, a, b) -> (result, psw)`` as a three-register handler."""

    def h(cpu: Cpu, w: int, pc: int) -> int:
        regs = cpu.regs
        r, cpu.psw = fn(cpu, regs[w >> 16 & 15], regs[w >> 12 & 15])
        regs[w >> 20 & 15] = r
        return pc + 4

    h.__name__ = fn.__name__
    return h


def _add(cpu: Cpu, a: int, b: int) -> tuple[int, int]:
    s = a + b
    r = s & M32
    v = ((~(a ^ b) & (a ^ r)) >> 31) & 1
    return r, _nz(r) | ((s >> 32) << 1) | (v << 3)


def _sub_flags(a: int, b: int) -> tuple[int, int]:
    r = (a - b) & M32
    v = (((a ^ b) & (a ^ r)) >> 31) & 1
    return r, _nz(r) | ((a >= b) << 1) | (v << 3)


def _sub(cpu: Cpu, a: int, b: int) -> tuple[int, int]:
    return _sub_flags(a, b)


def _mul(cpu: Cpu, a: int, b: int) -> tuple[int, int]:
    p = a * b
    r = p & M32
    hi = int(p > M32)
    return r, _nz(r) | (hi << 1) | (hi << 3)  # MUL: V = C = (high word != 0)


def _bitwise(op: Callable[[int, int], int], name: str) -> Callable[[Cpu, int, int], tuple[int, int]]:
    def f(cpu: Cpu, a: int, b: int) -> tuple[int, int]:
        r = op(a, b) & M32
        return r, _nz(r)  # C = V = 0

    f.__name__ = name
    return f


def _div(cpu: Cpu, w: int, pc: int) -> int:
    regs = cpu.regs
    b = regs[w >> 12 & 15]
    if b == 0:
        raise Abort(HaltReason.DIV_ZERO, ERR_DIV_ZERO, op="DIV")
    sa, sb = _s32(regs[w >> 16 & 15]), _s32(b)
    q = abs(sa) // abs(sb)
    if (sa < 0) != (sb < 0):
        q = -q
    r = q & M32  # 0x80000000 / -1 wraps back to 0x80000000
    regs[w >> 20 & 15] = r
    cpu.psw = _nz(r)  # C = V = 0
    return pc + 4


def _not(cpu: Cpu, w: int, pc: int) -> int:
    r = cpu.regs[w >> 16 & 15] ^ M32
    cpu.regs[w >> 20 & 15] = r
    cpu.psw = _nz(r)
    return pc + 4


def _cmp(cpu: Cpu, w: int, pc: int) -> int:
    _, cpu.psw = _sub_flags(cpu.regs[w >> 16 & 15], cpu.regs[w >> 12 & 15])
    return pc + 4


def _jmp(cpu: Cpu, w: int, pc: int) -> int:
    return w & 0xFFF  # unsigned absolute byte address (spec §7)


def _jz(cpu: Cpu, w: int, pc: int) -> int:
    return w & 0xFFF if cpu.psw & 1 else pc + 4


def _jnz(cpu: Cpu, w: int, pc: int) -> int:
    return pc + 4 if cpu.psw & 1 else w & 0xFFF


def _push_word(cpu: Cpu, v: int, op: str) -> None:
    """PUSH/CALL: nsp = SP-4, overflow test, store, SP <- nsp, R15 <- SP (spec §7)."""
    nsp = cpu.sp - 4
    if nsp < 0 or nsp < cpu.stack_limit or nsp + 4 > MEM_SIZE:
        raise Abort(HaltReason.STACK_OVERFLOW, ERR_STACK_OVERFLOW, op=op, sp=cpu.sp)
    mem_write(cpu, nsp & 0xFFFF, 4, v, op)
    cpu.sp = nsp
    cpu.regs[15] = nsp & M32


def _pop_word(cpu: Cpu, op: str) -> int:
    """POP/RET: underflow test, load (mem fault at 0xFFFD..0xFFFF), SP += 4, R15 <- SP."""
    sp = cpu.sp
    if sp >= MEM_SIZE:
        raise Abort(HaltReason.STACK_UNDERFLOW, ERR_STACK_UNDERFLOW, op=op, sp=sp)
    # Defect fix (spec §18): the reference crashes for SP in 0xFFFD..0xFFFF; we fault.
    v = mem_read(cpu, sp & 0xFFFF, 4, op)
    cpu.sp = sp + 4
    cpu.regs[15] = (sp + 4) & M32
    return v


def _call(cpu: Cpu, w: int, pc: int) -> int:
    rs1 = w >> 16 & 15
    base = cpu.regs[rs1] if rs1 else pc  # rs1 = 0 means "PC", not R0
    target = (base + _sext12(w & 0xFFF) * 4) & 0xFFFF
    _push_word(cpu, (pc + 4) & M32, "CALL")
    cpu.depth += 1
    if target == pc:
        _note_stuck_call(cpu, pc)
    return target


def _note_stuck_call(cpu: Cpu, pc: int) -> None:
    """Reference console quirk (spec §3.2): log a self-CALL repeated 32+ times in a row."""
    key = (pc, cpu.steps)  # cpu.steps has not been incremented for this CALL yet
    if cpu._stuck_key == key:
        cpu._stuck_count += 1
    else:
        cpu._stuck_count = 1
    cpu._stuck_key = (pc, cpu.steps + 1)
    if cpu._stuck_count >= 32 and cpu.console is not None:
        cpu.console(f"[VM] Possible stuck CALL at PC=0x{pc:04X}; check stack state")


def _ret(cpu: Cpu, w: int, pc: int) -> int:
    if cpu.depth == 0:
        raise Abort(HaltReason.RETURNED, None, status=cpu.regs[0])
    target = _pop_word(cpu, "RET")
    cpu.depth -= 1
    return target


def _svc(cpu: Cpu, w: int, pc: int) -> int:
    # The handler runs while PC still points at the SVC and steps excludes it (spec §9).
    cpu.pc = pc
    if cpu.reg_base is not None:
        _window_out(cpu)  # the host sees the registers in their memory window
    handler = cpu.svc
    if handler is None:
        cpu.regs[0] = ERR_ENOSYS
    else:
        handler(cpu, (w >> 8) & 0xF, w & 0xFF)
        regs = cpu.regs
        # Keep the invariant the compiled blocks rely on: plain ints in 0..2**32-1, even if a
        # host handler stored -1 or an IntEnum.
        regs[:] = [int(v) & M32 for v in regs]
    return pc + 4


def _shift(kind: str) -> Handler:
    def h(cpu: Cpu, w: int, pc: int) -> int:
        regs = cpu.regs
        a = regs[w >> 16 & 15]
        s = regs[w >> 12 & 15] & 31
        if kind == "LSL":
            r = (a << s) & M32
            c = (a >> (32 - s)) & 1
        elif kind == "LSR":
            r = a >> s
            c = (a >> (s - 1)) & 1 if s else 0
        else:
            r = (_s32(a) >> s) & M32
            c = (a >> (s - 1)) & 1 if s else 0
        regs[w >> 20 & 15] = r
        cbit = (c << 1) if s else (cpu.psw & 2)  # shift by 0 keeps C
        cpu.psw = _nz(r) | cbit
        return pc + 4

    h.__name__ = f"_{kind.lower()}"
    return h


def _adc(cpu: Cpu, a: int, b: int) -> tuple[int, int]:
    c = (cpu.psw >> 1) & 1
    s = a + b + c
    r = s & M32
    op = (b + c) & M32  # overflow rule uses the wrapped operand (spec §4)
    v = ((~(a ^ op) & (a ^ r)) >> 31) & 1
    return r, _nz(r) | ((s >> 32) << 1) | (v << 3)


def _sbc(cpu: Cpu, a: int, b: int) -> tuple[int, int]:
    c = (cpu.psw >> 1) & 1
    sub = b + 1 - c
    r = (a - sub) & M32
    op = sub & M32
    v = (((a ^ op) & (a ^ r)) >> 31) & 1
    return r, _nz(r) | ((a >= sub) << 1) | (v << 3)


def _push(cpu: Cpu, w: int, pc: int) -> int:
    _push_word(cpu, cpu.regs[w >> 16 & 15], "PUSH")  # PUSH R15 pushes R15's old value
    return pc + 4


def _pop(cpu: Cpu, w: int, pc: int) -> int:
    v = _pop_word(cpu, "POP")  # writes R15 <- SP first ...
    cpu.regs[w >> 20 & 15] = v  # ... then Rd, so POP R15 leaves R15 = popped value
    return pc + 4


def _fop(fn: Callable[[int, int], int], name: str) -> Handler:
    def h(cpu: Cpu, w: int, pc: int) -> int:
        regs = cpu.regs
        rd = w >> 20 & 15
        regs[rd] = (regs[rd] & 0xFFFF0000) | fn(regs[w >> 16 & 15], regs[w >> 12 & 15])
        return pc + 4

    h.__name__ = f"_{name.lower()}"
    return h


def _i2f(cpu: Cpu, w: int, pc: int) -> int:
    regs = cpu.regs
    rd = w >> 20 & 15
    regs[rd] = (regs[rd] & 0xFFFF0000) | f16.i2f(regs[w >> 16 & 15])
    return pc + 4


def _f2i(cpu: Cpu, w: int, pc: int) -> int:
    regs = cpu.regs
    a = regs[w >> 16 & 15]
    try:
        regs[w >> 20 & 15] = f16.f2i(a)
    except f16.F2IInvalid:
        # Defect fix (spec §18): the reference crashes; we halt with a typed fault, R0 intact.
        raise Abort(HaltReason.F2I_INVALID, None, value=a & 0xFFFF) from None
    return pc + 4


def _ldi32(cpu: Cpu, w: int, pc: int) -> int:
    if pc + 8 > len(cpu.code):
        raise Abort(HaltReason.LDI32_OVERRUN, None, pc=pc)
    cpu.regs[w >> 20 & 15] = _FETCH(cpu.code, pc + 4)[0]
    return pc + 8


def _brk(cpu: Cpu, w: int, pc: int) -> int:
    cpu._stop = (HaltReason.BRK, {"code": w & 0xFF, "pc": pc})
    return pc + 4


_IMPL: dict[str, Handler] = {
    "LDI": _ldi,
    "LD": _load(4, "LD"),
    "ST": _store(4, "ST"),
    "MOV": _mov,
    "LDB": _load(1, "LDB"),
    "LDH": _load(2, "LDH"),
    "STB": _store(1, "STB"),
    "STH": _store(2, "STH"),
    "ADD": _alu(_add),
    "SUB": _alu(_sub),
    "MUL": _alu(_mul),
    "DIV": _div,
    "AND": _alu(_bitwise(lambda a, b: a & b, "_and")),
    "OR": _alu(_bitwise(lambda a, b: a | b, "_or")),
    "XOR": _alu(_bitwise(lambda a, b: a ^ b, "_xor")),
    "NOT": _not,
    "CMP": _cmp,
    "JMP": _jmp,
    "JZ": _jz,
    "JNZ": _jnz,
    "CALL": _call,
    "RET": _ret,
    "SVC": _svc,
    "LSL": _shift("LSL"),
    "LSR": _shift("LSR"),
    "ASR": _shift("ASR"),
    "ADC": _alu(_adc),
    "SBC": _alu(_sbc),
    "PUSH": _push,
    "POP": _pop,
    "FADD": _fop(f16.fadd, "FADD"),
    "FSUB": _fop(f16.fsub, "FSUB"),
    "FMUL": _fop(f16.fmul, "FMUL"),
    "FDIV": _fop(f16.fdiv, "FDIV"),
    "I2F": _i2f,
    "F2I": _f2i,
    "LDI32": _ldi32,
    "BRK": _brk,
}

#: opcode byte -> handler; built from isa.OPCODES so the table stays the source of truth.
HANDLERS: list[Handler] = [_illegal] * 256
for _op, _info in OPCODES.items():
    HANDLERS[_op] = _IMPL[_info.mnemonic]
del _op, _info


def step(cpu: Cpu) -> int:
    """Execute the instruction at ``cpu.pc``; return STEP_OK, STEP_STOP or STEP_HALT.

    On STEP_OK/STEP_STOP the instruction retired (PC moved, steps + 1). On STEP_HALT nothing
    retired and ``cpu.halt`` / ``cpu.halt_info`` describe why (R0 holds the fault code when
    the spec defines one). A pending stop (STEP_STOP) is applied by the caller, so debug hooks
    can still observe the retired instruction first.
    """
    pc = cpu.pc
    code = cpu.code
    if pc + 4 > len(code):
        cpu._set_halt(HaltReason.PC_OUT_OF_RANGE, {"pc": pc, "code_len": len(code)})
        return STEP_HALT
    w = _FETCH(code, pc)[0]
    try:
        npc = HANDLERS[w >> 24](cpu, w, pc)
    except Abort as e:
        cpu.pc = pc
        if e.r0 is not None:
            cpu.regs[0] = e.r0
        info = dict(e.info)
        info.setdefault("pc", pc)
        cpu._set_halt(e.reason, info)
        return STEP_HALT
    cpu.pc = npc & M32
    cpu.steps += 1
    return STEP_STOP if cpu._stop is not None else STEP_OK
