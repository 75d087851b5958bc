"""The debugger's state for one HSX task and the CPU hooks that feed it.

Theory of operation
-------------------
:class:`TaskDebug` gathers the per-task tables — breakpoints, watches, the trace ring,
symbols — and owns the two CPU callbacks the debugger uses:

* the **write watch** (``Cpu.set_write_watch``), installed only while the task has
  watches: it turns a store that changed a watched value into a ``watch_update`` event
  at that instruction (spec hsx-executive §8.9);
* the **trace hook** (``Cpu.set_trace``), installed only while tracing is on: one
  ``hsx.trace/1`` record and one ``trace_step`` event per retired instruction (§9).

The trace hook moves the CPU to its per-instruction path; the write watch is installed with
the span of all watches, so only stores into that span leave the compiled fast path
(hsx/_blocktable.py).  :meth:`TaskDebug.sync_hooks` removes each hook as soon as it is not
needed and keeps the span current.  Events go out through the ``publish`` callable the service passes in;
this module knows nothing of the bus.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from executive.debugger.breakpoints import BreakpointTable, instruction_literals
from executive.debugger.regdiff import RegDiff
from executive.debugger.symbols import SymbolIndex
from executive.debugger.trace import TraceBuffer, make_record
from executive.debugger.watches import WatchSet
from executive.hsx.cpu import Cpu, HaltReason, MemAccess
from executive.hsx.isa import BY_MNEMONIC, sext12
from executive.runtimes.vm import VmTask

__all__ = ["Publish", "TaskDebug"]

Publish = Callable[[str, int, dict[str, Any]], object]  # (event type, pid, data); the result is ignored
_CALL = BY_MNEMONIC["CALL"].opcode


class TaskDebug:
    """Everything the debugger knows about one task."""

    def __init__(
        self,
        vt: VmTask,
        *,
        max_breakpoints: int,
        max_watches: int,
        trace_capacity: int,
        publish: Publish,
        trace_seq: Callable[[], int],
        trace_diff: RegDiff,
    ) -> None:
        self.vt = vt
        self.pid = vt.pid
        self.breakpoints = BreakpointTable(vt.cpu, limit=max_breakpoints)
        self.watches = WatchSet(limit=max_watches)
        self.trace = TraceBuffer(trace_capacity)
        self.tracing = False  # trace hook installed: one record + event per instruction
        self.symbols: SymbolIndex | None = None  # None until a .sym is loaded
        self.sym_path: str | None = None  # file the symbols came from (None for a document)
        self.sym_error: str | None = None  # why the last load failed, if it did
        self.sym_warnings: list[str] = []
        self._literals: frozenset[int] | None = None
        self._publish = publish
        self._trace_seq = trace_seq
        self._trace_diff = trace_diff

    @property
    def literals(self) -> frozenset[int]:
        """Addresses of LDI32 literal words in the code (computed once)."""
        if self._literals is None:
            self._literals = instruction_literals(self.vt.cpu.code)
        return self._literals

    def sync_hooks(self) -> None:
        """Install exactly the CPU hooks this task needs now (none keeps the fast path)."""
        cpu = self.vt.cpu
        cpu.set_write_watch(self._on_write if len(self.watches) else None, (self.watches.lo, self.watches.hi))
        cpu.set_trace(self._on_trace if self.tracing else None)

    def _on_write(self, cpu: Cpu, addr: int, width: int) -> None:
        """CPU write hook: a guest store/PUSH/CALL wrote ``width`` bytes at ``addr``."""
        changes = self.watches.on_write(cpu.mem, addr, width)
        if not changes:
            return
        pc = _writer_pc(cpu, addr)
        for w, old, new in changes:
            self._publish(
                "watch_update", self.pid, w.update(old, new) | {"pc": pc, "steps": cpu.steps, "source": "store"}
            )
        stopping = next((w for w, _, _ in changes if w.stop), None)
        if stopping is not None:  # a data breakpoint: pause once the writing instruction has retired
            cpu.stop(HaltReason.BREAKPOINT, watch_id=stopping.id, writer_pc=pc)

    def _on_trace(self, cpu: Cpu, pc: int, word: int, next_pc: int, access: MemAccess | None) -> None:
        """CPU trace hook: one retired instruction → one record and one ``trace_step`` event."""
        regs = list(cpu.regs)
        changed = self._trace_diff.update(self.pid, regs, cpu.psw)
        rec = make_record(
            self._trace_seq(), self.pid, pc, word, next_pc, cpu.steps, cpu.psw, regs, changed,
            (access.kind, access.addr, access.width, access.value) if access is not None else None,
        )  # fmt: skip
        self.trace.append(rec)
        self._publish("trace_step", self.pid, rec)

    def resample_watches(self) -> int:
        """Re-read every watch and publish the changes no store reported; returns how many."""
        changes = self.watches.resample(self.vt.cpu.mem)
        for w, old, new in changes:
            self._publish(
                "watch_update",
                self.pid,
                w.update(old, new) | {"pc": self.vt.cpu.pc, "steps": self.vt.cpu.steps, "source": "sample"},
            )
        return len(changes)


def _writer_pc(cpu: Cpu, addr: int) -> int:
    """The PC of the instruction that just wrote at ``addr`` (the hook runs after it retired).

    A CALL wrote its return address (its own PC + 4) and jumped to the current PC; any
    other writer (ST/STB/STH/PUSH) fell through, so it is at ``PC - 4``.
    """
    code = cpu.code
    call = cpu.read_word(addr) - 4
    if 0 <= call and call % 4 == 0 and call + 4 <= len(code) and code[call] == _CALL:
        imm = int.from_bytes(code[call + 2 : call + 4], "big") & 0xFFF
        if (call + sext12(imm) * 4) & 0xFFFF == cpu.pc:
            return call
    return (cpu.pc - 4) & 0xFFFFFFFF
