"""Breakpoints of one HSX task: validated code addresses mirrored into the CPU.

Theory of operation
-------------------
The CPU owns the set it checks before each instruction (``Cpu.breakpoints``, used by its
per-instruction debug path); this table owns everything else about a breakpoint — how
the user named it, the symbol at the address, how often it was hit — and is the only
writer of the CPU's set, so the two never disagree.  An empty table leaves the CPU's set
empty, and the CPU runs its fast path again (breakpoints cost nothing while unused).

Addresses are validated against the code space (spec hsx-executive §8.1, hsx-vm §1.2):
a multiple of 4, inside the code, and the start of an instruction (not the literal word
of an LDI32).  Address 0 is a valid address (the reference treats it as "not given",
§13 #15).  A table holds at most ``limit`` breakpoints (``limits.max_breakpoints``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from executive.hsx.cpu import Cpu
from executive.kernel.errors import BadParamsError, LimitError

__all__ = ["Breakpoint", "BreakpointTable", "instruction_literals"]

_LDI32 = 0x60


@dataclasses.dataclass(slots=True)
class Breakpoint:
    address: int  # code byte address, multiple of 4
    where: str  # what the user wrote ("0x10", "loop", "main+0x8", "prog.mvasm:12")
    symbol: str | None = None  # nearest code symbol, "name" or "name+0xN", when symbols are loaded
    hits: int = 0  # times the task stopped here

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"address": self.address, "where": self.where, "hits": self.hits}
        if self.symbol is not None:
            d["symbol"] = self.symbol
        return d


def instruction_literals(code: bytes) -> frozenset[int]:
    """Addresses of LDI32 literal words: they sit in the code but are not instructions.

    Code holds only instructions (rodata is elsewhere, hsx-vm §1.2), so one linear sweep
    finds every instruction start exactly.
    """
    out = set()
    n = len(code) - len(code) % 4
    pc = 0
    while pc < n:
        if code[pc] == _LDI32 and pc + 4 < n:
            out.add(pc + 4)
            pc += 8
        else:
            pc += 4
    return frozenset(out)


class BreakpointTable:
    """The breakpoints of one task (spec hsx-executive §3.6 ``bp``, §8.1)."""

    def __init__(self, cpu: Cpu, *, limit: int) -> None:
        self._cpu = cpu
        self._limit = limit
        # invariant: keys == cpu.breakpoints; any set on the CPU before this table existed are adopted
        self._bps: dict[int, Breakpoint] = {a: Breakpoint(a, f"0x{a:X}") for a in sorted(cpu.breakpoints)}
        self._literals: frozenset[int] | None = None  # computed on first validation

    def __len__(self) -> int:
        return len(self._bps)

    def __contains__(self, address: int) -> bool:
        return address in self._bps

    def validate(self, address: int) -> None:
        """Refuse an address that is not an instruction start in the code space.

        Raises:
            BadParamsError: misaligned, outside the code, or an LDI32 literal word.
        """
        code_len = len(self._cpu.code)
        if address < 0 or address >= code_len:
            raise BadParamsError(
                f"breakpoint address 0x{address:X} is outside the code (0x0..0x{max(code_len - 4, 0):X}); "
                "give a code address or a function/label name",
                data={"address": address, "code_len": code_len},
            )
        if address % 4:
            raise BadParamsError(
                f"breakpoint address 0x{address:X} is not a multiple of 4; instructions start on 4-byte boundaries "
                f"(try 0x{address - address % 4:X})",
                data={"address": address},
            )
        if self._literals is None:
            self._literals = instruction_literals(self._cpu.code)
        if address in self._literals:
            raise BadParamsError(
                f"0x{address:X} is the literal word of the LDI32 at 0x{address - 4:X}, not an instruction; "
                f"break at 0x{address - 4:X} or 0x{address + 4:X}",
                data={"address": address},
            )

    def add(self, address: int, where: str, symbol: str | None = None) -> tuple[Breakpoint, bool]:
        """Set a breakpoint (idempotent); returns it and whether it is new.

        Raises:
            BadParamsError: see :meth:`validate`.
            LimitError: the table is full.
        """
        self.validate(address)
        bp = self._bps.get(address)
        if bp is not None:
            return bp, False
        if len(self._bps) >= self._limit:
            raise LimitError(
                f"task has {len(self._bps)} breakpoints (limit max_breakpoints = {self._limit}); delete some first",
                data={"limit": self._limit},
            )
        bp = self._bps[address] = Breakpoint(address, where, symbol)
        self._cpu.add_breakpoint(address)
        return bp, True

    def remove(self, address: int) -> Breakpoint:
        """Delete the breakpoint at ``address``.

        Raises:
            BadParamsError: there is none there (the message lists the ones that exist).
        """
        bp = self._bps.pop(address, None)
        if bp is None:
            have = ", ".join(f"0x{a:X}" for a in sorted(self._bps)) or "none"
            raise BadParamsError(f"no breakpoint at 0x{address:X} (set: {have})", data={"address": address})
        self._cpu.remove_breakpoint(address)
        return bp

    def clear(self) -> int:
        """Delete every breakpoint; returns how many there were."""
        n = len(self._bps)
        self._bps.clear()
        self._cpu.set_breakpoints(())
        return n

    def hit(self, address: int) -> Breakpoint | None:
        """Count a stop at ``address``; the breakpoint, or None when there is none there."""
        bp = self._bps.get(address)
        if bp is not None:
            bp.hits += 1
        return bp

    def addresses(self) -> list[int]:
        return sorted(self._bps)

    def entries(self) -> list[Breakpoint]:
        return [self._bps[a] for a in sorted(self._bps)]
