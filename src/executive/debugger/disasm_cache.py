"""Disassembly listings of a task's code space, annotated and cached (spec hsx-executive §8.6).

Theory of operation
-------------------
A listing decodes instructions from the task's **code** space (``Cpu.code``) — not data
memory as the reference does, which lists real programs as ``0x00`` words (§13 #15).
Each instruction comes from :func:`executive.hsx.disasm.disasm_word` (the one opcode
table, STYLE §8) and is annotated from the task's symbols: the nearest code ``symbol``
and ``symbol_offset``, ``label`` when a symbol sits exactly there, the containing
``function``, the source ``file``/``line``, and ``target_symbol`` for jumps and calls.

Instruction starts are exact: code holds only instructions, so the LDI32 literal words
(:func:`~executive.debugger.breakpoints.instruction_literals`) are the only words that
do not start one.  That makes "N instructions before an address" a walk backwards over
a set rather than a guess.

Listings are pure functions of (code, symbols, start, count), so they are cached in a
bounded LRU keyed by (pid, start, count).  A task's entries are dropped when its
symbols change or it is forgotten.  Marks that change on every stop (current PC,
breakpoints) are added by the caller on a copy, never stored in the cache.
"""

from __future__ import annotations

import collections
from typing import Any

from executive.debugger.symbols import SymbolIndex
from executive.hsx.disasm import disasm_word

__all__ = ["Disassembler", "back_up", "data_report"]


class Disassembler:
    """Annotated listings with a bounded LRU cache shared by all tasks."""

    def __init__(self, *, entries: int = 256) -> None:
        self._entries = entries  # cache capacity (listings)
        self._cache: collections.OrderedDict[tuple[int, int, int], list[dict[str, Any]]] = collections.OrderedDict()
        self.hits = 0
        self.misses = 0

    def listing(
        self, pid: int, code: bytes, start: int, count: int, symbols: SymbolIndex | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``count`` instructions from ``start`` (an instruction start in ``code``).

        Returns the instruction dicts (shared with the cache: copy before changing them)
        and whether they came from the cache.  Fewer than ``count`` come back when the
        code ends first.
        """
        key = (pid, start, count)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            self.hits += 1
            return hit, True
        self.misses += 1
        out = _decode(code, start, count, symbols)
        self._cache[key] = out
        while len(self._cache) > self._entries:
            self._cache.popitem(last=False)
        return out, False

    def invalidate(self, pid: int) -> None:
        """Drop a task's listings (its symbols changed, or it is gone)."""
        for key in [k for k in self._cache if k[0] == pid]:
            del self._cache[key]

    def statistics(self) -> dict[str, int]:
        return {"entries": len(self._cache), "capacity": self._entries, "hits": self.hits, "misses": self.misses}


def back_up(start: int, n: int, literals: frozenset[int]) -> int:
    """The instruction start ``n`` instructions before ``start`` (stops at address 0)."""
    pc = start
    for _ in range(n):
        if pc <= 0:
            break
        pc -= 4
        if pc in literals:
            pc -= 4
    return max(pc, 0)


def _decode(code: bytes, start: int, count: int, symbols: SymbolIndex | None) -> list[dict[str, Any]]:
    end = len(code) - len(code) % 4
    out: list[dict[str, Any]] = []
    pc = start
    while len(out) < count and pc + 4 <= end:
        word = int.from_bytes(code[pc : pc + 4], "big")
        nxt = int.from_bytes(code[pc + 4 : pc + 8], "big") if pc + 8 <= end else None
        ins = disasm_word(word, pc, nxt, index=len(out)).to_dict()
        if symbols is not None:
            _annotate(ins, symbols)
        out.append(ins)
        pc += ins["size"]
    return out


def _annotate(ins: dict[str, Any], symbols: SymbolIndex) -> None:
    pc = ins["pc"]
    near = symbols.at(pc)
    if near is not None:
        ins["symbol"], ins["symbol_offset"] = near[0].name, near[1]
        if near[1] == 0:
            ins["label"] = near[0].name
    fn = symbols.function_at(pc)
    if fn is not None:
        ins["function"] = fn[0].name
    ln = symbols.line_at(pc)
    if ln is not None:
        ins["file"], ins["line"] = ln.file, ln.line
    target = ins.get("target")
    if target is not None:
        t = symbols.exact(target)
        if t is not None:
            ins["target_symbol"] = t.name


def data_report(
    address: int, code_len: int, regions: list[dict[str, Any]], symbols: SymbolIndex | None, variable: str | None = None
) -> dict[str, Any]:
    """What to answer instead of disassembling an address that is not code.

    Names the data region (from ``Executive.vm.regions``) and the variable there, and
    says what to do instead — never decodes data bytes as if they were instructions.
    """
    region = next(
        (r["name"] for r in regions if r.get("space") == "data" and r["start"] <= address < r["start"] + r["length"]),
        None,
    )
    if variable is None and symbols is not None:
        hit = symbols.at(address, "data")
        if hit is not None and (not hit[0].size or hit[1] < hit[0].size):
            variable = hit[0].name if hit[1] == 0 else f"{hit[0].name}+0x{hit[1]:x}"
    what = ", ".join(x for x in (region, f"variable {variable}" if variable else None) if x)
    message = (
        f"0x{address:X} is {'data' if what else 'not code'}{f' ({what})' if what else ''}: the code space is "
        f"0x0..0x{max(code_len - 4, 0):X}, and code and data are separate address spaces; read data with "
        "vm.mem_read, or disassemble a code address or function"
    )
    return {"address": address, "is_data": True, "space": "data", "region": region, "variable": variable,
            "code_len": code_len, "count": 0, "instructions": [], "message": message}  # fmt: skip
