"""The compiled blocks one CPU runs: shared per program, split at breakpoints, checked for watches.

Theory of operation
-------------------
Breakpoints and write watches used to send the whole task to the per-instruction
interpreter, so one breakpoint nobody ever reached made a counted loop ~30x slower. They now
cost nothing where they cannot fire (STYLE.md §9):

* **Breakpoints split blocks.** A block is compiled with the breakpoint PCs as ``stops``:
  it ends *before* any breakpoint other than its first instruction. So a breakpoint can
  only be the first instruction of a block, and the table maps a breakpoint PC to a tiny
  *breakpoint block* that halts with ``BREAKPOINT`` without executing anything. The fast
  loop does exactly what it does without breakpoints (one dict lookup per block); there is
  no per-block or per-instruction check at all. A block with no breakpoint inside it is the
  ordinary block, shared by all CPUs running the program.
* **Exactness.** A breakpoint block retires nothing, so the PC, registers, PSW and step
  count are those before the breakpoint instruction, as in the interpreter. The run's first
  instruction is never a hit (``Cpu.run`` steps over it in the interpreter, then enters the
  fast loop), which is how a resume continues from a breakpoint. A block with a step budget
  smaller than its length hands the rest to the interpreter, but that rest lies inside the
  block, where no breakpoint is.
* **Changing breakpoints** (even during a run, from a hook) drops exactly the entries whose
  span ``[start, end]`` contains an added or removed address: the block that now needs a
  split (or no longer does) and the breakpoint block itself. They are rebuilt on next use.
* **Watches** select the ``watched`` variant of the shared blocks (``_compile.py``): only
  stores, PUSH and CALL check the watched span, and only those that overlap it run in the
  interpreter, which calls the hook after the instruction retires — the same instruction,
  state and step count the per-instruction path reports. The span is read at block entry,
  so adding or moving a watch recompiles nothing; switching watching on/off clears the table.

Rejected: patching the code bytes with BRK (code is immutable and shared by many CPUs, and
BRK is a guest-visible instruction with its own halt); a ``pc in breakpoints`` test at every
block entry (costs a set lookup per block for all code, and still needs the split so a
breakpoint inside a block is seen). Code is never written (Harvard split, spec §1.2), so
there is no self-modifying code to invalidate for.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from ._compile import BlockFn, compile_block, slow_block
from ._halt import HaltReason

if TYPE_CHECKING:
    from .cpu import Cpu

__all__ = ["BlockTable", "breakpoint_block"]

# Compiled blocks depend only on the code bytes, on whether the register window is checked
# and on whether stores check a write watch, so CPUs running the same program share them
# (an executive may start many tasks of one image). Bounded LRU of {start_pc: block}.
_PROGRAM_CACHE: OrderedDict[tuple[bytes, bool, bool], dict[int, BlockFn]] = OrderedDict()
_PROGRAM_CACHE_SIZE = 32

#: more changed breakpoints than this at once: clear the whole table instead of scanning it
_BULK_CHANGE = 16


def _shared_blocks(code: bytes, windowed: bool, watched: bool) -> dict[int, BlockFn]:
    key = (code, windowed, watched)
    blocks = _PROGRAM_CACHE.get(key)
    if blocks is None:
        blocks = _PROGRAM_CACHE[key] = {}
        if len(_PROGRAM_CACHE) > _PROGRAM_CACHE_SIZE:
            _PROGRAM_CACHE.popitem(last=False)
    else:
        _PROGRAM_CACHE.move_to_end(key)
    return blocks


def breakpoint_block(pc: int) -> BlockFn:
    """A block that halts with BREAKPOINT before the instruction at ``pc`` (retires nothing)."""

    def hit(cpu: Cpu, regs: list[int], mem: bytearray, left: int) -> int:
        cpu.pc = pc
        cpu._set_halt(HaltReason.BREAKPOINT, {"pc": pc})
        return -1

    hit.source = None  # type: ignore[attr-defined]
    hit.end = pc  # type: ignore[attr-defined]
    return hit


class BlockTable:
    """The block functions of one CPU by start PC (``blocks``), filled on a miss by :meth:`fill`.

    ``blocks`` is one dict for the CPU's whole life (a running fast loop holds it), changed
    only in place.
    """

    __slots__ = ("_bps", "_code", "_ends", "_shared", "_watched", "_windowed", "blocks")

    def __init__(self, code: bytes, windowed: bool) -> None:
        self.blocks: dict[int, BlockFn] = {}
        self._ends: dict[int, int] = {}  # start PC -> address after the block's last instruction
        self._code = code
        self._windowed = windowed
        self._watched = False
        self._bps: frozenset[int] = frozenset()
        self._shared = _shared_blocks(code, windowed, False)

    def fill(self, pc: int) -> BlockFn:
        """The block starting at ``pc``; compiled or taken from the shared cache, then kept."""
        bps = self._bps
        if pc in bps:
            fn = breakpoint_block(pc)
        elif pc + 4 > len(self._code):
            return slow_block(pc)  # PC outside code: the interpreter halts; not kept
        else:
            fn = self._shared.get(pc)  # type: ignore[assignment]
            if fn is None:
                fn = self._shared[pc] = compile_block(self._code, pc, self._windowed, self._watched)
            end = fn.end  # type: ignore[attr-defined]
            if bps and any(pc < b < end for b in bps):
                fn = compile_block(self._code, pc, self._windowed, self._watched, bps)  # split: this CPU's own
        self.blocks[pc] = fn
        self._ends[pc] = fn.end  # type: ignore[attr-defined]
        return fn

    def set_breakpoints(self, bps: frozenset[int]) -> None:
        """Switch to a new breakpoint set, dropping the blocks an added/removed one affects."""
        changed = self._bps ^ bps
        self._bps = bps
        if len(changed) > _BULK_CHANGE:
            self.clear()
            return
        if changed:
            stale = [s for s, e in self._ends.items() if any(s <= b <= e for b in changed)]
            for s in stale:
                del self.blocks[s], self._ends[s]

    def set_watched(self, watched: bool) -> None:
        """Use store-checking blocks (a write watch is set) or plain ones."""
        if watched != self._watched:
            self._watched = watched
            self._shared = _shared_blocks(self._code, self._windowed, watched)
            self.clear()

    def clear(self) -> None:
        self.blocks.clear()
        self._ends.clear()
