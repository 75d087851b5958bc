"""Why a CPU is not running: the :class:`HaltReason` leaf enum (spec §3.1, §3.2, §13.3).

Kept in a leaf module with no imports so the interpreter, the block compiler, the CPU and
hosts can all share it without import cycles (STYLE §2).
"""

from __future__ import annotations

import enum

__all__ = ["HaltReason"]


class HaltReason(enum.Enum):
    """Why ``Cpu.run`` stopped; ``RUNNING`` means it has not halted."""

    RUNNING = "running"  # not halted: run() may continue
    RETURNED = "returned"  # RET at call depth 0; exit status = R0 (aborting: PC stays, not counted)
    EXITED = "exited"  # SVC TASK_EXIT (stop after retire)
    BRK = "brk"  # BRK n executed (stop after retire); halt_info["code"] = n
    ILLEGAL = "illegal"  # opcode not in the table (stop after retire); halt_info["opcode"]
    MEM_FAULT = "mem_fault"  # access past 0xFFFF; R0 = 0xFFFFFF04 (aborting)
    DIV_ZERO = "div_zero"  # DIV by 0; R0 = 0xFFFFFF05 (aborting)
    STACK_OVERFLOW = "stack_overflow"  # PUSH/CALL below stack_limit or 0; R0 = 0xFFFFFF03 (aborting)
    STACK_UNDERFLOW = "stack_underflow"  # POP/RET with SP >= 0x10000; R0 = 0xFFFFFF02 (aborting)
    LDI32_OVERRUN = "ldi32_overrun"  # LDI32 literal past the end of code (aborting)
    PC_OUT_OF_RANGE = "pc_out_of_range"  # fetch with PC + 4 > code length (aborting, resumable)
    SLEEP = "sleep"  # an SVC asked to sleep (stop after retire)
    BLOCKED = "blocked"  # an SVC asked to block, e.g. a mailbox wait (stop after retire)
    BREAKPOINT = "breakpoint"  # stopped before an instruction at a breakpoint, or by a watch
    STEP_LIMIT = "step_limit"  # for hosts: the step budget ran out (run() itself never sets it)
    F2I_INVALID = "f2i_invalid"  # F2I of ±inf/NaN; the reference crashes (spec §18) (aborting)

    @property
    def is_fault(self) -> bool:
        """True for the aborting faults: the instruction did not retire (PC and steps unchanged)."""
        return self in _FAULTS

    @property
    def is_terminal(self) -> bool:
        """True when the program cannot meaningfully continue (``resume()`` refuses without force)."""
        return self in _TERMINAL


_FAULTS = frozenset(
    {
        HaltReason.MEM_FAULT,
        HaltReason.DIV_ZERO,
        HaltReason.STACK_OVERFLOW,
        HaltReason.STACK_UNDERFLOW,
        HaltReason.LDI32_OVERRUN,
        HaltReason.PC_OUT_OF_RANGE,
        HaltReason.F2I_INVALID,
    }
)
_TERMINAL = (_FAULTS - {HaltReason.PC_OUT_OF_RANGE}) | {
    HaltReason.RETURNED,
    HaltReason.EXITED,
    HaltReason.ILLEGAL,
}
