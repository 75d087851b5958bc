"""The HSX CPU: machine state, the run loop, halts and debug hooks (spec §1, §3, §7, §9).

Two execution paths share one state object:

* the **fast path** (``_compile.py``): straight-line blocks compiled once to Python functions
  and cached by start PC (``_blocktable.py``); used unless a trace hook is set, also with
  breakpoints (blocks end before them; a breakpoint PC maps to a block that halts) and with a
  write watch (only stores that touch the watched span leave compiled code);
* the **debug path** (``_interp.py``): one instruction at a time through a 256-entry handler
  list; used when a trace hook is set, for step budgets smaller than a block, and to execute
  SVC/BRK/illegal/faulting and watched-store instructions.

Hooks cost nothing while unused, and breakpoints and watches cost nothing where they cannot
fire: ``run`` checks once per call which loop to enter.

The CPU never does I/O. System calls go to a host-supplied handler
``svc(cpu, module, function)``; it may call :meth:`Cpu.stop` to end the run after the SVC
retires (sleep, block, exit). Console messages of the VM itself (the stuck-CALL warning of
spec §3.2) go to the optional ``console`` callback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import _interp
from ._blocktable import BlockTable
from ._halt import HaltReason
from ._interp import MemAccess
from .isa import MEM_SIZE, RODATA_BASE

__all__ = ["Cpu", "CpuError", "HaltReason", "MemAccess", "SvcHandler", "TraceHook", "WriteHook"]

SvcHandler = Callable[["Cpu", int, int], None]
TraceHook = Callable[["Cpu", int, int, int, "MemAccess | None"], None]
WriteHook = Callable[["Cpu", int, int], None]

M32 = 0xFFFFFFFF


class CpuError(Exception):
    """Misuse of the CPU API by the host (not a guest fault; guest faults are halts)."""


class Cpu:
    """One HSX hart: registers, internal SP, PSW, 64 KiB data memory, read-only code.

    Args:
        code: code section, big-endian 32-bit words (spec §1.2); never written.
        rodata: copied to data address 0x4000, truncated at the end of memory.
        entry: initial PC (byte offset into code).
        sp: initial internal stack pointer (0x8000 stand-alone, spec §1.3).
        stack_limit: lowest legal SP for PUSH/CALL (0 stand-alone).
        reg_base: when set, guest loads/stores (and stack accesses) that touch
            ``[reg_base, reg_base+64)`` read/write R0..R15 instead (spec §1.1). The memory
            bytes of the window are refreshed from the registers at every SVC and when a run
            returns, so hosts reading memory see them; host *writes* into the window do not
            reach the registers.
        svc: system-call handler ``svc(cpu, module, function)``; None makes every SVC return
            ENOSYS in R0.
    """

    __slots__ = (
        "_access",
        "_blocks",
        "_bps",
        "_code",
        "_mem",
        "_regs",
        "_stop",
        "_stuck_count",
        "_stuck_key",
        "_table",
        "_trace",
        "_watch",
        "_whi",
        "_wlo",
        "console",
        "depth",
        "halt",
        "halt_info",
        "pc",
        "psw",
        "reg_base",
        "sp",
        "stack_limit",
        "steps",
        "svc",
    )

    def __init__(
        self,
        code: bytes,
        rodata: bytes = b"",
        *,
        entry: int = 0,
        sp: int = 0x8000,
        stack_limit: int = 0,
        reg_base: int | None = None,
        svc: SvcHandler | None = None,
    ) -> None:
        if reg_base is not None and not 0 <= reg_base <= MEM_SIZE - 64:
            raise CpuError(f"reg_base must be in 0..0x{MEM_SIZE - 64:X}, got 0x{reg_base:X}")
        self._code: bytes = bytes(code)  # read-only code space (Harvard); blocks are cached for it
        self._regs: list[int] = [0] * 16  # R0..R15, always 0 <= value < 2**32
        self.pc: int = entry & M32  # byte offset into code
        self.sp: int = sp  # internal SP, not one of R0..R15 (spec §1.1)
        self.psw: int = 0  # Z=1 C=2 N=4 V=8; upper bits always 0
        self.depth: int = 0  # CALLs not yet matched by a RET
        self.steps: int = 0  # retired instructions, exact after every halt
        self.stack_limit: int = stack_limit
        self._mem: bytearray = bytearray(MEM_SIZE)  # exactly 64 KiB, never resized
        ro = bytes(rodata)[: MEM_SIZE - RODATA_BASE]
        self._mem[RODATA_BASE : RODATA_BASE + len(ro)] = ro
        self.reg_base: int | None = reg_base
        self.svc: SvcHandler | None = svc
        self.console: Callable[[str], None] | None = None  # VM log lines (spec §3.2)
        self.halt: HaltReason = HaltReason.RUNNING
        self.halt_info: dict[str, Any] = {}
        self._bps: frozenset[int] = frozenset()
        self._trace: TraceHook | None = None
        self._watch: WriteHook | None = None
        self._wlo, self._whi = 0, MEM_SIZE  # the write watch reports writes overlapping [_wlo, _whi)
        self._table = BlockTable(self._code, reg_base is not None)
        self._blocks = self._table.blocks
        self._stop: tuple[HaltReason, dict[str, Any]] | None = None  # pending stop-after-retire
        self._access: MemAccess | None = None  # last memory access (debug path)
        self._stuck_key: tuple[int, int] | None = None
        self._stuck_count = 0

    @property
    def code(self) -> bytes:
        """The code space (read-only: compiled blocks are cached for exactly these bytes)."""
        return self._code

    @property
    def regs(self) -> list[int]:
        """R0..R15. Mutate in place (``regs[i] = v`` with 0 <= v < 2**32, or ``set_register``);
        the list object itself cannot be replaced because a running fast path holds it."""
        return self._regs

    @property
    def mem(self) -> bytearray:
        """The 64 KiB data memory. Mutate in place without changing its length."""
        return self._mem

    # -- running ----------------------------------------------------------------------------

    def run(self, max_steps: int) -> int:
        """Retire up to ``max_steps`` instructions; stop early on any halt.

        Returns the number of instructions retired by this call. Afterwards ``halt`` says
        whether the CPU stopped (``RUNNING`` = budget used up, call again). A halted CPU
        retires nothing until :meth:`resume` is called.
        """
        if self.halt is not HaltReason.RUNNING or max_steps <= 0:
            return 0
        if self._stop is not None:  # stop() called between runs: honour it before executing
            self._apply_stop()
            return 0
        start = self.steps
        try:
            if self._trace is not None:
                self._run_debug(max_steps)
            elif self.pc not in self._bps or self._slow(self.pc, 1) >= 0:  # a run steps over its first bp
                self._run_fast(start + max_steps)
        finally:
            if self.reg_base is not None:
                _interp._window_out(self)
        return self.steps - start

    def _run_fast(self, end: int) -> None:
        # HACK (speed): everything the loop touches is a local; one dict lookup and one call
        # per block. Blocks return the next PC, or -1 after setting cpu.halt and cpu.pc.
        blocks = self._blocks
        fill = self._table.fill
        regs = self.regs
        mem = self.mem
        pc = self.pc
        while True:
            left = end - self.steps
            if left <= 0:
                break
            try:
                fn = blocks[pc]
            except KeyError:
                fn = fill(pc)
            pc = fn(self, regs, mem, left)
            if pc < 0:
                return
        self.pc = pc

    def _slow(self, pc: int, n: int) -> int:
        """Run ``n`` (>= 1) instructions from ``pc`` in the interpreter; next PC or -1 on halt.

        Calls the write watch (when set) after each instruction that wrote the watched span.
        """
        self.pc = pc
        step = _interp.step
        watch = self._watch
        for _ in range(n):
            if watch is None:
                status = step(self)
                if status:
                    if status == _interp.STEP_STOP:
                        self._apply_stop()
                    return -1
                continue
            self._access = None
            if step(self) == _interp.STEP_HALT:
                return -1
            access = self._access
            if access is not None and access.kind == "w" and self._wlo - access.width < access.addr < self._whi:
                watch(self, access.addr, access.width)
            if self._stop is not None:
                self._apply_stop()
                return -1
        return self.pc

    def _run_debug(self, max_steps: int) -> None:
        step = _interp.step
        bps = self._bps
        first = True
        remaining = max_steps
        while remaining > 0:
            pc = self.pc
            if not first and pc in bps:
                self._set_halt(HaltReason.BREAKPOINT, {"pc": pc})
                return
            first = False
            self._access = None
            trace = self._trace
            word = int.from_bytes(self.code[pc : pc + 4], "big") if trace is not None else 0
            status = step(self)
            if status == _interp.STEP_HALT:
                return
            remaining -= 1
            access = self._access
            if (
                self._watch is not None
                and access is not None
                and access.kind == "w"
                and self._wlo - access.width < access.addr < self._whi
            ):
                self._watch(self, access.addr, access.width)
            if trace is not None:
                trace(self, pc, word, self.pc, access)
            if self._stop is not None:
                self._apply_stop()
                return

    def step(self) -> int:
        """Execute one instruction (``run(1)``); returns 1 if it retired, else 0."""
        return self.run(1)

    # -- halts ------------------------------------------------------------------------------

    def stop(self, reason: HaltReason, **info: Any) -> None:
        """Request a stop after the current instruction retires (PC += 4, counted).

        Called by an SVC handler (SLEEP, BLOCKED, EXITED) or a debug hook (BREAKPOINT for a
        data watch). The run returns once the instruction has retired. Called between runs,
        the next ``run()`` halts before executing anything.
        """
        if reason is HaltReason.RUNNING:
            raise CpuError("stop() needs a halt reason other than RUNNING")
        self._stop = (reason, dict(info))

    def resume(self, *, force: bool = False) -> None:
        """Clear a halt so :meth:`run` continues.

        Resumable without ``force``: SLEEP, BLOCKED, BREAKPOINT, STEP_LIMIT, BRK and
        PC_OUT_OF_RANGE (after the debugger fixed PC). Terminal halts (program end, exit,
        illegal opcode, aborting faults) raise :class:`CpuError` unless ``force=True``; a
        forced resume of an aborting fault re-executes the faulting instruction.
        """
        if self.halt.is_terminal and not force:
            raise CpuError(
                f"cannot resume after terminal halt {self.halt.name} at PC=0x{self.pc:04X}; "
                "pass force=True to re-execute"
            )
        self.halt = HaltReason.RUNNING
        self.halt_info = {}
        self._stop = None

    def _apply_stop(self) -> None:
        assert self._stop is not None
        reason, info = self._stop
        self._stop = None
        self._set_halt(reason, info)

    def _set_halt(self, reason: HaltReason, info: dict[str, Any]) -> None:
        self.halt = reason
        self.halt_info = info

    # -- registers and hooks ----------------------------------------------------------------

    def set_register(self, n: int, value: int) -> None:
        """Write R<n> (masked to 32 bits); use this rather than assigning ``regs`` raw."""
        if not 0 <= n < 16:
            raise CpuError(f"register index must be 0..15, got {n}")
        self.regs[n] = value & M32

    @property
    def breakpoints(self) -> frozenset[int]:
        """The breakpoint PCs (read-only: change them with the methods below, which keep the
        compiled blocks split at them)."""
        return self._bps

    def set_breakpoints(self, pcs: Iterable[int]) -> None:
        """Replace the breakpoint set (code byte addresses)."""
        self._bps = frozenset(int(p) for p in pcs)
        self._table.set_breakpoints(self._bps)

    def add_breakpoint(self, pc: int) -> None:
        """Stop before executing the instruction at ``pc`` (not the first one of a run)."""
        self.set_breakpoints(self._bps | {pc})

    def remove_breakpoint(self, pc: int) -> None:
        """Remove a breakpoint; absent ones are ignored."""
        self.set_breakpoints(self._bps - {pc})

    def set_trace(self, callback: TraceHook | None) -> None:
        """Call ``callback(cpu, pc, word, next_pc, access)`` after each retired instruction."""
        self._trace = callback

    def set_write_watch(self, callback: WriteHook | None, span: tuple[int, int] | None = None) -> None:
        """Call ``callback(cpu, addr, width)`` after each retired guest store/PUSH/CALL that
        wrote a byte in ``span = (lo, hi)`` (all of data memory when None).

        Stores that cannot touch the span keep running compiled, so give the tightest span.
        """
        lo, hi = (0, MEM_SIZE) if span is None or callback is None else span
        if not 0 <= lo <= hi <= MEM_SIZE:
            raise CpuError(f"watch span must satisfy 0 <= lo <= hi <= 0x{MEM_SIZE:X}, got ({lo:#x}, {hi:#x})")
        self._watch = callback
        self._wlo, self._whi = lo, hi
        self._table.set_watched(callback is not None)

    def read_word(self, addr: int) -> int:
        """Host helper: little-endian 32-bit data word at ``addr & 0xFFFF`` (no fault checks)."""
        a = addr & 0xFFFF
        return int.from_bytes(self.mem[a : a + 4], "little")

    def __repr__(self) -> str:
        return (
            f"<Cpu pc=0x{self.pc:04X} sp=0x{self.sp:04X} psw=0x{self.psw:X} steps={self.steps} halt={self.halt.name}>"
        )
