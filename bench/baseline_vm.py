"""A plain HSX interpreter, written simply from the spec, as the speed baseline of vm_speed.py.

Every step: fetch the big-endian word, decode all fields, walk one if/elif chain, compute the
PSW eagerly. No caching, no compilation, no tricks - this is what "the obvious interpreter"
costs in CPython, and an independent second implementation the benchmark cross-checks
final register states against.
"""

from __future__ import annotations

from executive.hsx import f16

M = 0xFFFFFFFF


def _sx(v: int) -> int:
    return v - 0x1000 if v & 0x800 else v


def _s(v: int) -> int:
    return v - 0x100000000 if v & 0x80000000 else v


def _nz(r: int) -> int:
    return (1 if r == 0 else 0) | (4 if r & 0x80000000 else 0)


class BaselineVM:
    """R0..R15, internal SP, PSW, call depth, 64 KiB memory; halts on RET at depth 0."""

    def __init__(self, code: bytes, rodata: bytes = b"", entry: int = 0, sp: int = 0x8000) -> None:
        self.code = code
        self.mem = bytearray(0x10000)
        self.mem[0x4000 : 0x4000 + len(rodata)] = rodata[:0xC000]
        self.regs = [0] * 16
        self.pc = entry
        self.sp = sp
        self.psw = 0
        self.depth = 0
        self.steps = 0
        self.running = True
        self.fault: str | None = None

    def _rd(self, a: int, n: int) -> int:
        if a + n > 0x10000:
            raise IndexError("memory fault")
        return int.from_bytes(self.mem[a : a + n], "little")

    def _wr(self, a: int, n: int, v: int) -> None:
        if a + n > 0x10000:
            raise IndexError("memory fault")
        self.mem[a : a + n] = (v & ((1 << (8 * n)) - 1)).to_bytes(n, "little")

    def run(self, max_steps: int) -> int:
        start = self.steps
        while self.running and self.steps - start < max_steps:
            self.step()
        return self.steps - start

    def step(self) -> None:
        pc = self.pc
        if pc + 4 > len(self.code):
            self.running, self.fault = False, "pc"
            return
        word = int.from_bytes(self.code[pc : pc + 4], "big")
        op = (word >> 24) & 0xFF
        rd = (word >> 20) & 0xF
        rs1 = (word >> 16) & 0xF
        rs2 = (word >> 12) & 0xF
        imm = word & 0xFFF
        R = self.regs
        a, b = R[rs1], R[rs2]
        npc = pc + 4
        if op == 0x01:  # LDI
            R[rd] = _sx(imm) & M
        elif op == 0x02:  # LD
            R[rd] = self._rd((a + _sx(imm)) & 0xFFFF, 4)
        elif op == 0x03:  # ST
            self._wr((a + _sx(imm)) & 0xFFFF, 4, b)
        elif op == 0x04:  # MOV
            R[rd] = a
        elif op == 0x06:  # LDB
            R[rd] = self._rd((a + _sx(imm)) & 0xFFFF, 1)
        elif op == 0x07:  # LDH
            R[rd] = self._rd((a + _sx(imm)) & 0xFFFF, 2)
        elif op == 0x08:  # STB
            self._wr((a + _sx(imm)) & 0xFFFF, 1, b)
        elif op == 0x09:  # STH
            self._wr((a + _sx(imm)) & 0xFFFF, 2, b)
        elif op == 0x10:  # ADD
            r = (a + b) & M
            v = 8 if (~(a ^ b) & (a ^ r)) & 0x80000000 else 0
            R[rd] = r
            self.psw = _nz(r) | (2 if a + b > M else 0) | v
        elif op in (0x11, 0x20):  # SUB, CMP
            r = (a - b) & M
            v = 8 if ((a ^ b) & (a ^ r)) & 0x80000000 else 0
            if op == 0x11:
                R[rd] = r
            self.psw = _nz(r) | (2 if a >= b else 0) | v
        elif op == 0x12:  # MUL
            p = a * b
            r = p & M
            hi = 0xA if p > M else 0
            R[rd] = r
            self.psw = _nz(r) | hi
        elif op == 0x13:  # DIV
            if b == 0:
                R[0] = 0xFFFFFF05
                self.running, self.fault = False, "div"
                return
            q = abs(_s(a)) // abs(_s(b))
            if (_s(a) < 0) != (_s(b) < 0):
                q = -q
            R[rd] = q & M
            self.psw = _nz(q & M)
        elif op in (0x14, 0x15, 0x16, 0x17):  # AND OR XOR NOT
            r = {0x14: a & b, 0x15: a | b, 0x16: a ^ b, 0x17: ~a & M}[op]
            R[rd] = r
            self.psw = _nz(r)
        elif op == 0x21:  # JMP
            npc = imm
        elif op == 0x22:  # JZ
            if self.psw & 1:
                npc = imm
        elif op == 0x23:  # JNZ
            if not self.psw & 1:
                npc = imm
        elif op == 0x24:  # CALL
            base = a if rs1 else pc
            nsp = self.sp - 4
            if nsp < 0:
                R[0] = 0xFFFFFF03
                self.running, self.fault = False, "overflow"
                return
            self._wr(nsp, 4, pc + 4)
            self.sp = nsp
            R[15] = nsp
            self.depth += 1
            npc = (base + _sx(imm) * 4) & 0xFFFF
        elif op == 0x25:  # RET
            if self.depth == 0:
                self.running = False
                return
            npc = self._rd(self.sp, 4)
            self.sp += 4
            R[15] = self.sp
            self.depth -= 1
        elif op == 0x30:  # SVC: no host here
            R[0] = 0xFFFFFF01
        elif op in (0x31, 0x32, 0x33):  # LSL LSR ASR
            s = b & 31
            if op == 0x31:
                r, c = (a << s) & M, (a >> (32 - s)) & 1
            elif op == 0x32:
                r, c = a >> s, (a >> (s - 1)) & 1 if s else 0
            else:
                r, c = (_s(a) >> s) & M, (a >> (s - 1)) & 1 if s else 0
            R[rd] = r
            self.psw = _nz(r) | ((c << 1) if s else (self.psw & 2))
        elif op == 0x34:  # ADC
            c = (self.psw >> 1) & 1
            t = a + b + c
            r = t & M
            o = (b + c) & M
            v = 8 if (~(a ^ o) & (a ^ r)) & 0x80000000 else 0
            R[rd] = r
            self.psw = _nz(r) | (2 if t > M else 0) | v
        elif op == 0x35:  # SBC
            c = (self.psw >> 1) & 1
            sub = b + 1 - c
            r = (a - sub) & M
            v = 8 if ((a ^ (sub & M)) & (a ^ r)) & 0x80000000 else 0
            R[rd] = r
            self.psw = _nz(r) | (2 if a >= sub else 0) | v
        elif op == 0x40:  # PUSH
            nsp = self.sp - 4
            if nsp < 0:
                R[0] = 0xFFFFFF03
                self.running, self.fault = False, "overflow"
                return
            self._wr(nsp, 4, a)
            self.sp = nsp
            R[15] = nsp
        elif op == 0x41:  # POP
            v = self._rd(self.sp, 4)
            self.sp += 4
            R[15] = self.sp
            R[rd] = v
        elif op in (0x50, 0x51, 0x52, 0x53):  # FADD FSUB FMUL FDIV
            fn = {0x50: f16.fadd, 0x51: f16.fsub, 0x52: f16.fmul, 0x53: f16.fdiv}[op]
            R[rd] = (R[rd] & 0xFFFF0000) | fn(a, b)
        elif op == 0x54:  # I2F
            R[rd] = (R[rd] & 0xFFFF0000) | f16.i2f(a)
        elif op == 0x55:  # F2I
            R[rd] = f16.f2i(a)
        elif op == 0x60:  # LDI32
            R[rd] = int.from_bytes(self.code[pc + 4 : pc + 8], "big")
            npc = pc + 8
        elif op == 0x7F:  # BRK
            self.running = False
        else:
            self.running, self.fault = False, "illegal"
        self.pc = npc & M
        self.steps += 1
