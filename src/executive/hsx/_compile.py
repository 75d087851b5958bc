"""Basic-block compiler: HSX code -> Python source functions (the fast path of ``Cpu.run``).

Theory of operation
-------------------
Code is immutable (Harvard split, spec §1.2), so a straight-line run of instructions starting
at a PC can be translated once and cached by that start PC forever. A jump may land anywhere,
even on an LDI32 literal or at an odd byte offset; keying blocks by start PC makes that work
without any invalidation.

A block (found by ``_blockscan.py``) is a run of instructions ending *after* a control transfer
(JMP JZ JNZ CALL RET), or *before* an instruction the compiler leaves to the interpreter (SVC, BRK, illegal opcode,
LDI32 past the end of code, the self-CALL that feeds the stuck-CALL counter), or at the end
of code, or after ``MAX_BLOCK`` instructions. It becomes one function::

    def _blk_XXXX(cpu, regs, mem, left) -> next_pc   (or -1 when the CPU halted)

* Registers live in local variables ``r0..r15`` inside the block: loaded on entry, written
  back at every exit.
* Flags are computed only where they are needed. A backward liveness pass over the block
  finds, for each flag-writing instruction, which of Z/C/N/V are observed later: by JZ/JNZ
  (Z), ADC/SBC and shift-by-0 (C), or at an exit (every exit must leave the exact PSW). For
  observed flags the instruction snapshots its operands/result into per-instruction temps
  (``a7``, ``b7``, ``t7``), and the PSW is *materialised from the temps only at exits*. A flag
  write overwritten before any read is dead and costs nothing.
* A block whose last instruction jumps back to its own start runs as a ``while`` loop inside
  the function for as long as the step budget allows a full iteration.
* Exact step counting: the function runs only when ``left >= N`` (N = block length); with a
  smaller budget it hands the remainder to the interpreter one instruction at a time.
* Faults: every instruction that can fault (or hit the register window) checks its condition
  inline. On a hit the block writes back its state as of *before* that instruction, counts the
  instructions before it, and returns ``cpu._slow(pc, 1)``: the interpreter re-executes the
  instruction from identical state, so fault behaviour (R0 code, halt info, PC and steps not
  advanced) is implemented once, in ``_interp.py``.
* Debug variants (chosen by ``_blocktable.py``): ``stops`` ends a block before any breakpoint
  PC, so a breakpoint can only be at a block's first instruction; ``watched`` adds a check to
  every store/PUSH/CALL whose bytes overlap the write-watch span ``[cpu._wlo, cpu._whi)``
  (read at block entry, so changing the span needs no recompile) and lets the interpreter
  execute exactly those, which calls the hook. Stores elsewhere run compiled.

Rejected alternatives: a per-instruction closure list (dispatch + call per instruction,
about 10x slower); lazy flags carried across blocks (every ALU op pays 3-4 stores to record
its operands even when the flags die); generating handlers into a checked-in
``_generated_*.py`` (the templates below *are* the per-opcode code and are keyed by the
mnemonics of ``isa.OPCODES``; a test checks every table entry is covered).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from . import f16
from ._blockscan import (
    COMPILED,
    FLAG_WRITERS,
    INTERPRETED,
    MAX_BLOCK,
    STORES,
    TERMINAL,
    Ins,
    can_bail,
    decode_block,
    reads,
    writes,
)
from .isa import sext12

if TYPE_CHECKING:
    from .cpu import Cpu

__all__ = ["COMPILED", "INTERPRETED", "MAX_BLOCK", "BlockFn", "compile_block", "slow_block"]

BlockFn = Callable[["Cpu", list[int], bytearray, int], int]

Z, C, N, V = 0, 1, 2, 3  # flag index == PSW bit position

_ALL_FLAGS = (Z, C, N, V)
_BITOPS = {"AND": "&", "OR": "|", "XOR": "^"}


def _div(a: int, b: int) -> int:
    """DIV result: signed 32-bit quotient truncated toward zero, wrapped (b != 0)."""
    sa = a - ((a & 0x80000000) << 1)
    sb = b - ((b & 0x80000000) << 1)
    q = abs(sa) // abs(sb)
    if (sa < 0) != (sb < 0):
        q = -q
    return q & 0xFFFFFFFF


# Globals of every generated function (read-only).
_NS: dict[str, object] = {
    "_u32": struct.Struct("<I").unpack_from,
    "_u16": struct.Struct("<H").unpack_from,
    "_p32": struct.Struct("<I").pack_into,
    "_p16": struct.Struct("<H").pack_into,
    "_div": _div,
    "_fadd": f16.fadd,
    "_fsub": f16.fsub,
    "_fmul": f16.fmul,
    "_fdiv": f16.fdiv,
    "_i2f": f16.i2f,
    "_D": f16.DECODE_TABLE,
    "__builtins__": __builtins__,
}


def slow_block(pc: int) -> BlockFn:
    """A 'block' that single-steps one instruction through the interpreter."""

    def run_one(cpu: Cpu, regs: list[int], mem: bytearray, left: int) -> int:
        return cpu._slow(pc, 1)

    run_one.source = None  # type: ignore[attr-defined]
    run_one.end = pc + 4  # type: ignore[attr-defined]
    return run_one


class _Gen:
    """Generates the source of one block; see the module docstring for the scheme."""

    def __init__(self, pc0: int, block: list[Ins], windowed: bool, watched: bool = False) -> None:
        self.pc0 = pc0
        self.b = block
        self.n = len(block)
        self.windowed = windowed
        self.watched = watched
        last = block[-1]
        self.loop = last.mn in ("JMP", "JZ", "JNZ") and last.imm == pc0
        self.uses_psw0 = False
        self.uses_looped = False
        self.lines: list[str] = []
        self._analyse_flags()
        self._analyse_regs()

    # -- analysis ---------------------------------------------------------------------------

    def _src(self, f: int, p: int) -> int | None:
        """Index of the last instruction before point ``p`` that writes flag ``f``."""
        for i in range(p - 1, -1, -1):
            if self.b[i].mn in FLAG_WRITERS:
                return i
        return None

    def _analyse_flags(self) -> None:
        b, n = self.b, self.n
        need: set[tuple[int, int]] = set()

        def mark(f: int, p: int) -> None:
            i = self._src(f, p)
            if i is not None:
                need.add((i, f))

        points = [i for i, ins in enumerate(b) if can_bail(ins, self.windowed, self.watched)] + [n]
        for p in points:
            for f in _ALL_FLAGS:
                mark(f, p)
        for i, ins in enumerate(b):
            if ins.mn in ("JZ", "JNZ"):
                mark(Z, i)
            elif ins.mn in ("ADC", "SBC"):
                mark(C, i)
        # A shift by 0 keeps C, so a live shift-C makes the previous C live (to a fixpoint).
        changed = True
        while changed:
            changed = False
            for i, ins in enumerate(b):
                if ins.mn in ("LSL", "LSR", "ASR") and (i, C) in need:
                    j = self._src(C, i)
                    if j is not None and (j, C) not in need:
                        need.add((j, C))
                        changed = True
        self.need = need
        self.any_flag_writer = any(ins.mn in FLAG_WRITERS for ins in b)

    def _analyse_regs(self) -> None:
        live_in: set[int] = set()
        written: set[int] = set()
        self.written_before: list[set[int]] = []
        for ins in self.b:
            self.written_before.append(set(written))
            live_in |= reads(ins) - written
            written |= writes(ins)
        self.written_before.append(set(written))
        self.written = written
        self.loads = sorted(live_in | written) if self.loop else sorted(live_in)
        mns = {ins.mn for ins in self.b}
        self.uses_sp = bool(mns & {"PUSH", "POP", "CALL", "RET"})
        self.uses_depth = bool(mns & {"CALL", "RET"})
        self.uses_slo = bool(mns & {"PUSH", "CALL"})
        self.uses_window = self.windowed and bool(
            mns & {"LD", "LDB", "LDH", "ST", "STB", "STH", "PUSH", "POP", "CALL", "RET"}
        )
        self.uses_watch = self.watched and bool(mns & STORES)
        self.sp_mod_at = next((i for i, ins in enumerate(self.b) if ins.mn in ("PUSH", "POP", "CALL", "RET")), None)

    # -- flag expressions -------------------------------------------------------------------

    def _fexpr(self, i: int, f: int) -> str:
        mn = self.b[i].mn
        if f == Z:
            return f"(t{i} == 0)"
        if f == N:
            return f"(t{i} >> 31)"
        if f == C:
            if mn == "ADD":
                return f"((a{i} + b{i}) >> 32)"
            if mn in ("SUB", "CMP"):
                return f"(a{i} >= b{i})"
            if mn == "MUL":
                return f"(p{i} > 0xFFFFFFFF)"
            if mn in ("LSL", "LSR", "ASR", "ADC", "SBC"):
                return f"c{i}"
            return "0"
        if mn == "ADD":
            return f"((~(a{i} ^ b{i}) & (a{i} ^ t{i})) >> 31)"
        if mn in ("SUB", "CMP"):
            return f"(((a{i} ^ b{i}) & (a{i} ^ t{i})) >> 31)"
        if mn == "MUL":
            return f"(p{i} > 0xFFFFFFFF)"
        if mn in ("ADC", "SBC"):
            return f"v{i}"
        return "0"

    def _entry(self, f: int) -> str:
        self.uses_psw0 = True
        base = "(psw0 & 1)" if f == Z else f"(psw0 >> {f} & 1)"
        last = self._src(f, self.n)
        if self.loop and last is not None:
            # From the second iteration on, "entry" flags are those of the previous
            # iteration's last writer, whose temps still hold that iteration's values.
            self.uses_looped = True
            return f"({self._fexpr(last, f)} if looped else {base})"
        return base

    def _flag(self, f: int, p: int) -> str:
        i = self._src(f, p)
        return self._entry(f) if i is None else self._fexpr(i, f)

    def _psw_line(self, p: int) -> str | None:
        # HACK (speed): the PSW is never kept up to date inside a block; it is rebuilt here,
        # once per exit, from the operand/result temps of the last writer of each flag.
        if not self.any_flag_writer:
            return None
        if not self.loop and self._src(Z, p) is None:
            return None  # nothing written yet: PSW unchanged
        parts = []
        for f in _ALL_FLAGS:
            e = self._flag(f, p)
            if e == "0":
                continue
            parts.append(e if f == Z else f"({e} << {f})")
        if not parts:
            return "cpu.psw = 0"
        if len(parts) == 1 and parts[0].startswith("(t"):
            return f"cpu.psw = int({parts[0]})"  # a lone Z test would store a bool
        return "cpu.psw = " + " | ".join(parts)

    # -- exits ------------------------------------------------------------------------------

    def _exit(self, p: int, ret: str, count: str, indent: str) -> None:
        """Emit the code that leaves the block at point ``p`` (before instruction p)."""
        regs = self.written if self.loop else self.written_before[p]
        out = [f"regs[{r}] = r{r}" for r in sorted(regs)]
        sp_mod = self.sp_mod_at is not None and (self.loop or self.sp_mod_at < p)
        if sp_mod:
            out.append("cpu.sp = sp")
        if self.uses_depth and self.b[-1].mn in ("CALL", "RET") and p == self.n:
            out.append("cpu.depth = depth")
        psw = self._psw_line(p)
        if psw:
            out.append(psw)
        if count != "0":
            out.append(f"cpu.steps += {count}")
        out.append(f"return {ret}")
        self.lines.extend(indent + line for line in out)

    def _count(self, p: int) -> str:
        if self.loop:
            return f"left0 - left + {p}" if p else "left0 - left"
        return str(p)

    def _bail(self, i: int, cond: str, indent: str) -> None:
        """Inline check: if ``cond`` holds, let the interpreter execute instruction i."""
        self.lines.append(f"{indent}if {cond}:")
        self._exit(i, f"cpu._slow({self.b[i].pc}, 1)", self._count(i), indent + "    ")

    def _window(self, addr: str, width: int) -> str:
        # An access of `width` bytes at a overlaps [rb, rb+64) iff rb - width < a < rb + 64.
        return f" or wlo{width} < {addr} < whi" if self.windowed else ""

    def _watch(self, addr: str, width: int) -> str:
        # The same overlap test against the write-watch span [xlo, xhi): xlo{w} = xlo - w.
        return f" or xlo{width} < {addr} < xhi" if self.watched else ""

    # -- instructions -----------------------------------------------------------------------

    def _emit(self, i: int, ins: Ins, ind: str) -> None:
        L = self.lines.append
        mn, rd, ra, rb = ins.mn, ins.rd, ins.rs1, ins.rs2
        need = {f for f in _ALL_FLAGS if (i, f) in self.need}
        L(f"{ind}# 0x{ins.pc:04X} {mn} rd={rd} rs1={ra} rs2={rb} imm=0x{ins.imm:03X}")
        if mn == "LDI":
            L(f"{ind}r{rd} = {sext12(ins.imm) & 0xFFFFFFFF}")
        elif mn == "LDI32":
            L(f"{ind}r{rd} = {ins.lit}")
        elif mn == "MOV":
            if rd != ra:
                L(f"{ind}r{rd} = r{ra}")
        elif mn in ("LD", "LDH", "LDB", "ST", "STH", "STB"):
            off = sext12(ins.imm)
            L(f"{ind}ea = (r{ra} + {off}) & 0xFFFF" if off else f"{ind}ea = r{ra} & 0xFFFF")
            width = {"LD": 4, "ST": 4, "LDH": 2, "STH": 2}.get(mn, 1)
            cond = f" or ea > {0x10000 - width}" if width > 1 else ""
            cond += self._window("ea", width)
            if mn in STORES:
                cond += self._watch("ea", width)
            if cond:
                self._bail(i, cond[4:], ind)
            if mn == "LD":
                L(f"{ind}r{rd} = _u32(mem, ea)[0]")
            elif mn == "LDH":
                L(f"{ind}r{rd} = _u16(mem, ea)[0]")
            elif mn == "LDB":
                L(f"{ind}r{rd} = mem[ea]")
            elif mn == "ST":
                L(f"{ind}_p32(mem, ea, r{rb})")
            elif mn == "STH":
                L(f"{ind}_p16(mem, ea, r{rb} & 0xFFFF)")
            else:
                L(f"{ind}mem[ea] = r{rb} & 0xFF")
        elif mn in FLAG_WRITERS:
            self._emit_alu(i, ins, need, ind)
        elif mn in ("FADD", "FSUB", "FMUL", "FDIV"):
            L(f"{ind}r{rd} = (r{rd} & 0xFFFF0000) | _{mn.lower()}(r{ra}, r{rb})")
        elif mn == "I2F":
            L(f"{ind}r{rd} = (r{rd} & 0xFFFF0000) | _i2f(r{ra})")
        elif mn == "F2I":
            L(f"{ind}fx = _D[r{ra} & 0xFFFF]")
            # inf - inf and nan - nan are NaN (truthy); a finite x gives 0.0 (falsy)
            self._bail(i, "fx - fx", ind)
            L(f"{ind}r{rd} = int(fx) & 0xFFFFFFFF")
        elif mn == "PUSH":
            L(f"{ind}nsp = sp - 4")
            self._bail(i, "not (slo <= nsp <= 0xFFFC)" + self._window("nsp", 4) + self._watch("nsp", 4), ind)
            L(f"{ind}_p32(mem, nsp, r{ra})")
            L(f"{ind}sp = nsp")
            L(f"{ind}r15 = nsp")
        elif mn == "POP":
            self._bail(i, "not (0 <= sp <= 0xFFFC)" + self._window("sp", 4), ind)
            L(f"{ind}pv = _u32(mem, sp)[0]")
            L(f"{ind}sp += 4")
            if rd != 15:  # POP writes R15 <- SP first, then Rd (POP R15: R15 = value)
                L(f"{ind}r15 = sp")
            L(f"{ind}r{rd} = pv")
        else:  # pragma: no cover - guarded by COMPILED
            raise AssertionError(mn)

    def _emit_alu(self, i: int, ins: Ins, need: set[int], ind: str) -> None:
        L = self.lines.append
        mn, rd, ra, rb = ins.mn, ins.rd, ins.rs1, ins.rs2
        A, B = f"r{ra}", f"r{rb}"
        want_t = bool(need & {Z, N, V})
        # HACK (speed): operands are snapshotted into a{i}/b{i} only when a live C or V needs
        # them at an exit; the result goes through t{i} only when Z, N or V is live.
        if mn in ("ADD", "SUB", "CMP"):
            if mn == "CMP" and not need:
                L(f"{ind}pass  # CMP with dead flags")
                return
            if need & {C, V}:
                L(f"{ind}a{i} = {A}; b{i} = {B}")
                A, B = f"a{i}", f"b{i}"
            res = f"({A} + {B}) & 0xFFFFFFFF" if mn == "ADD" else f"({A} - {B}) & 0xFFFFFFFF"
        elif mn == "MUL":
            if need & {C, V}:
                L(f"{ind}p{i} = {A} * {B}")
                res = f"p{i} & 0xFFFFFFFF"
            else:
                res = f"({A} * {B}) & 0xFFFFFFFF"
        elif mn == "DIV":
            self._bail(i, f"not {B}", ind)
            res = f"_div({A}, {B})"
        elif mn in ("AND", "OR", "XOR"):
            res = f"{A} {_BITOPS[mn]} {B}"
        elif mn == "NOT":
            res = f"{A} ^ 0xFFFFFFFF"
        elif mn in ("LSL", "LSR", "ASR"):
            L(f"{ind}s{i} = {B} & 31")
            if C in need:
                bit = f"(({A} >> (32 - s{i})) & 1)" if mn == "LSL" else f"(({A} >> (s{i} - 1)) & 1)"
                L(f"{ind}c{i} = {bit} if s{i} else {self._flag(C, i)}")  # shift by 0 keeps C
            if mn == "LSL":
                res = f"({A} << s{i}) & 0xFFFFFFFF"
            elif mn == "LSR":
                res = f"{A} >> s{i}"
            else:
                res = f"(({A} - (({A} & 0x80000000) << 1)) >> s{i}) & 0xFFFFFFFF"
        else:  # ADC / SBC: rare, computed eagerly
            L(f"{ind}ci{i} = {self._flag(C, i)}")
            L(f"{ind}a{i} = {A}; b{i} = {B}")
            if mn == "ADC":
                L(f"{ind}sm{i} = a{i} + b{i} + ci{i}")
                L(f"{ind}t{i} = sm{i} & 0xFFFFFFFF")
                if C in need:
                    L(f"{ind}c{i} = sm{i} >> 32")
                if V in need:
                    L(f"{ind}o{i} = (b{i} + ci{i}) & 0xFFFFFFFF")
                    L(f"{ind}v{i} = (~(a{i} ^ o{i}) & (a{i} ^ t{i})) >> 31")
            else:
                L(f"{ind}sb{i} = b{i} + 1 - ci{i}")
                L(f"{ind}t{i} = (a{i} - sb{i}) & 0xFFFFFFFF")
                if C in need:
                    L(f"{ind}c{i} = int(a{i} >= sb{i})")
                if V in need:
                    L(f"{ind}v{i} = ((a{i} ^ (sb{i} & 0xFFFFFFFF)) & (a{i} ^ t{i})) >> 31")
            L(f"{ind}r{rd} = t{i}")
            return
        if want_t:
            L(f"{ind}t{i} = {res}")
            if mn != "CMP":
                L(f"{ind}r{rd} = t{i}")
        elif mn != "CMP":
            L(f"{ind}r{rd} = {res}")

    def _emit_terminal(self, ins: Ins, ind: str) -> None:
        L = self.lines.append
        n, mn = self.n, ins.mn
        i = n - 1
        nxt = ins.pc + ins.size
        L(f"{ind}# 0x{ins.pc:04X} {mn} rd={ins.rd} rs1={ins.rs1} rs2={ins.rs2} imm=0x{ins.imm:03X}")
        if mn == "CALL":
            off = sext12(ins.imm) * 4
            if ins.rs1:
                L(f"{ind}tg = (r{ins.rs1} + {off}) & 0xFFFF")
                self._bail(i, f"tg == {ins.pc}", ind)  # self-CALL: stuck counter lives in _interp
                tg = "tg"
            else:
                tg = str((ins.pc + off) & 0xFFFF)
            L(f"{ind}nsp = sp - 4")
            self._bail(i, "not (slo <= nsp <= 0xFFFC)" + self._window("nsp", 4) + self._watch("nsp", 4), ind)
            L(f"{ind}_p32(mem, nsp, {nxt})")
            L(f"{ind}sp = nsp")
            L(f"{ind}r15 = nsp")
            L(f"{ind}depth += 1")
            self._exit(n, tg, self._count(n), ind)
        elif mn == "RET":
            self._bail(i, "not depth or not (0 <= sp <= 0xFFFC)" + self._window("sp", 4), ind)
            L(f"{ind}tg = _u32(mem, sp)[0]")
            L(f"{ind}sp += 4")
            L(f"{ind}r15 = sp")
            L(f"{ind}depth -= 1")
            self._exit(n, "tg", self._count(n), ind)
        elif mn == "JMP":
            if self.loop:
                L(f"{ind}left -= {n}")
                if self.uses_looped:
                    L(f"{ind}looped = True")
                L(f"{ind}if left < {n}:")
                self._exit(n, str(self.pc0), "left0 - left", ind + "    ")
            else:
                self._exit(n, str(ins.imm), self._count(n), ind)
        else:  # JZ / JNZ: taken when Z is set / clear
            src = self._src(Z, i)
            if src is not None:
                cond = f"not t{src}" if mn == "JZ" else f"t{src}"
            else:
                z = self._flag(Z, i)
                cond = z if mn == "JZ" else f"not {z}"
            L(f"{ind}if {cond}:")
            if self.loop:
                L(f"{ind}    left -= {n}")
                if self.uses_looped:
                    L(f"{ind}    looped = True")
                L(f"{ind}    if left >= {n}:")
                L(f"{ind}        continue")
                self._exit(n, str(self.pc0), "left0 - left", ind + "    ")
            else:
                self._exit(n, str(ins.imm), self._count(n), ind + "    ")
            self._exit(n, str(nxt), self._count(n), ind)

    def source(self) -> str:
        b, n, pc0 = self.b, self.n, self.pc0
        body_ind = "        " if self.loop else "    "
        spin = self.loop and n == 1 and b[0].mn == "JMP"
        if spin:
            # HACK (speed): `JMP .` spins until the budget is gone; retire it all at once.
            self.loop = False
            self.lines = ["    cpu.steps += left", f"    return {pc0}"]
        else:
            for i, ins in enumerate(b):
                if i == n - 1 and ins.mn in TERMINAL:
                    self._emit_terminal(ins, body_ind)
                else:
                    self._emit(i, ins, body_ind)
            if b[-1].mn not in TERMINAL:
                last = b[-1]
                self._exit(n, str(last.pc + last.size), self._count(n), body_ind)
        head = [
            f"def _blk_{pc0:04x}(cpu, regs, mem, left):",
            f"    if left < {n}:",
            f"        return cpu._slow({pc0}, left)",
        ]
        head += [f"    r{r} = regs[{r}]" for r in self.loads]
        if self.uses_psw0:
            head.append("    psw0 = cpu.psw")
        if self.uses_sp:
            head.append("    sp = cpu.sp")
        if self.uses_depth:
            head.append("    depth = cpu.depth")
        if self.uses_slo:
            head.append("    slo = cpu.stack_limit")
            head.append("    if slo < 0: slo = 0")
        if self.uses_window:
            head.append("    rb = cpu.reg_base")
            head.append("    whi = rb + 64; wlo1 = rb - 1; wlo2 = rb - 2; wlo4 = rb - 4")
        if self.uses_watch:
            head.append("    xhi = cpu._whi; xlo1 = cpu._wlo - 1; xlo2 = xlo1 - 1; xlo4 = xlo1 - 3")
        if self.loop:
            head.append("    left0 = left")
            if self.uses_looped:
                head.append("    looped = False")
            head.append("    while True:")
        return "\n".join(head + self.lines) + "\n"


def compile_block(
    code: bytes, pc0: int, windowed: bool = False, watched: bool = False, stops: Collection[int] = ()
) -> BlockFn:
    """Translate the block starting at ``pc0`` into a Python function (see module docstring).

    Returns an interpreter-backed one-instruction block when the first instruction is not
    compiled (SVC, BRK, illegal, LDI32 overrun, self-CALL, PC outside code). The function's
    ``end`` attribute is the address after its last instruction.
    """
    block = decode_block(code, pc0, stops)
    if not block:
        return slow_block(pc0)
    src = _Gen(pc0, block, windowed, watched).source()
    ns: dict[str, object] = {}
    exec(compile(src, f"<hsx block 0x{pc0:04X}>", "exec"), _NS, ns)
    fn = ns[f"_blk_{pc0:04x}"]
    fn.source = src  # type: ignore[attr-defined]  # for debugging and tests
    fn.end = block[-1].pc + block[-1].size  # type: ignore[attr-defined]  # for breakpoint invalidation
    return fn  # type: ignore[return-value]
