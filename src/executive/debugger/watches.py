"""Data watches of one HSX task: report a value exactly when it changes (spec hsx-executive §8.9).

Theory of operation
-------------------
A watch is a range ``[address, address + length)`` of data memory (length 1, 2 or 4)
and the bytes last seen there.  The CPU calls the task's write hook after every guest
store, PUSH and CALL (``Cpu.set_write_watch``) with the address and width written;
:meth:`WatchSet.on_write` rejects writes outside ``[lo, hi)`` — the span of all
watches — with two comparisons, then compares the bytes of each overlapping watch with
what it saw last.  A store of the value already there changes nothing and reports
nothing; a store that changes it is reported at once, at the instruction that made it.
The reference instead re-reads every watch after each step request, which misses
changes that are undone within one request and cannot say which instruction made them.

Writes the CPU does not make — the host writing memory (a mailbox receive, a debugger
``mem_write``), or an ALU result landing in a watched register-window word — are caught
by :meth:`WatchSet.resample`, which the debugger runs after each step and on listing.

Expressions are resolved once, at creation (``*ptr`` reads the pointer then and watches
its target); resolution lives in the debugger service, which has the symbols.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from executive.debugger.expr import data_address, parse_int
from executive.debugger.symbols import SymbolIndex
from executive.kernel.errors import BadParamsError, LimitError

__all__ = ["WIDTHS", "Watch", "WatchSet", "hex_value", "resolve"]

WIDTHS = (1, 2, 4)
_MEM_END = 0x10000


def hex_value(data: bytes) -> str:
    """A watched value as the reference shows it: the bytes in memory order as hex, like
    ``peek`` (so 1 stored little-endian in a word is ``"01000000"``)."""
    return data.hex()


@dataclasses.dataclass(slots=True)
class Watch:
    id: int  # from one daemon-wide counter starting at 1
    pid: int
    expr: str  # as the user wrote it
    type: str  # "address", "symbol" or "pointer"
    address: int  # first watched byte
    length: int  # 1, 2 or 4
    value: bytes  # the bytes last seen; invariant: len(value) == length
    symbol: str | None = None  # the variable the address belongs to
    location: str | None = None  # e.g. "counter+0x4", "*ptr -> 0x4010"
    stop: bool = False  # a data breakpoint: a change also pauses the task, after the writing instruction

    def to_dict(self) -> dict[str, Any]:
        """The exported record (spec §8.9)."""
        d: dict[str, Any] = {
            "id": self.id, "pid": self.pid, "expr": self.expr, "type": self.type, "length": self.length,
            "address": self.address, "value": hex_value(self.value), "mode": "memory",
        }  # fmt: skip
        if self.stop:  # only data breakpoints carry it, so the HSX record (spec §8.9) stays as it was
            d["stop"] = True
        if self.symbol is not None:
            d["symbol"] = self.symbol
        if self.location is not None:
            d["location"] = self.location
        return d

    def update(self, old: bytes, new: bytes) -> dict[str, Any]:
        """The ``watch_update`` event data for a change from ``old`` to ``new`` (spec §5.3)."""
        d: dict[str, Any] = {
            "watch_id": self.id, "address": self.address, "expr": self.expr, "type": self.type,
            "length": self.length, "old": hex_value(old), "new": hex_value(new),
        }  # fmt: skip
        if self.symbol is not None:
            d["symbol"] = self.symbol
        if self.location is not None:
            d["location"] = self.location
        return d


class WatchSet:
    """The watches of one task, with the fast reject span for the write hook."""

    def __init__(self, *, limit: int) -> None:
        self._limit = limit
        self._watches: dict[int, Watch] = {}
        self.lo = _MEM_END  # invariant: min(address) over watches (MEM_END when empty)
        self.hi = 0  # invariant: max(address + length) over watches (0 when empty)

    def __len__(self) -> int:
        return len(self._watches)

    @staticmethod
    def check_range(address: int, length: int) -> None:
        """Refuse a width other than 1/2/4 or a range past the end of data memory.

        Raises:
            BadParamsError: with the fix in the message.
        """
        if length not in WIDTHS:
            raise BadParamsError(f"watch length must be 1, 2 or 4 bytes, got {length}", data={"length": length})
        if not 0 <= address or address + length > _MEM_END:
            raise BadParamsError(
                f"a {length}-byte watch at 0x{address:X} does not fit in data memory (0x0..0xFFFF)",
                data={"address": address},
            )

    def add(self, watch: Watch) -> Watch:
        """Add a resolved watch.

        Raises:
            BadParamsError: bad width or range.
            LimitError: the task has ``limit`` watches already.
        """
        self.check_range(watch.address, watch.length)
        if len(self._watches) >= self._limit:
            raise LimitError(
                f"task has {len(self._watches)} watches (limit max_watches = {self._limit}); remove some first",
                data={"limit": self._limit},
            )
        self._watches[watch.id] = watch
        self._span()
        return watch

    def remove(self, watch_id: int) -> Watch:
        """Remove a watch by id.

        Raises:
            BadParamsError: no such watch on this task (the message lists the ids there are).
        """
        w = self._watches.pop(watch_id, None)
        if w is None:
            have = ", ".join(str(i) for i in self._watches) or "none"
            raise BadParamsError(f"no watch {watch_id} on this task (watches: {have})", data={"watch": watch_id})
        self._span()
        return w

    def entries(self) -> list[Watch]:
        return list(self._watches.values())

    def _span(self) -> None:
        ws = self._watches.values()
        self.lo = min((w.address for w in ws), default=_MEM_END)
        self.hi = max((w.address + w.length for w in ws), default=0)

    def on_write(self, mem: bytearray, addr: int, width: int) -> list[tuple[Watch, bytes, bytes]]:
        """The watches whose bytes a write of ``width`` bytes at ``addr`` changed: (watch, old, new)."""
        if addr >= self.hi or addr + width <= self.lo:
            return []
        out = []
        end = addr + width
        for w in self._watches.values():
            if addr < w.address + w.length and w.address < end:
                new = bytes(mem[w.address : w.address + w.length])
                if new != w.value:
                    out.append((w, w.value, new))
                    w.value = new
        return out

    def resample(self, mem: bytearray) -> list[tuple[Watch, bytes, bytes]]:
        """Re-read every watch; the ones whose bytes changed by means other than a guest store."""
        out = []
        for w in self._watches.values():
            new = bytes(mem[w.address : w.address + w.length])
            if new != w.value:
                out.append((w, w.value, new))
                w.value = new
        return out


def resolve(
    expr: int | str, kind: str | None, symbols: SymbolIndex | None, mem: bytearray
) -> tuple[int, str, str | None, str | None]:
    """Where a watch expression points (spec §8.9); returns (address, type, symbol, location).

    ``kind`` forces the reading: ``address``/``addr`` (a number), ``symbol``/``name`` (a
    variable), ``pointer`` (like a leading ``*``); None reads the expression as written:
    a number, ``name``, ``name±off`` or ``*expr``.  A pointer is read once, now: the watch
    then follows the address it held.

    Raises:
        BadParamsError: unknown name, a code symbol, or an expression of the wrong kind.
    """
    text = expr.strip() if isinstance(expr, str) else expr
    pointer = kind == "pointer"
    if isinstance(text, str) and text.startswith("*"):
        pointer, text = True, text[1:].strip()
    if kind in ("address", "addr") and parse_int(text) is None:
        raise BadParamsError(f"type {kind} needs a number, got {expr!r}")
    if kind in ("symbol", "name") and (not isinstance(text, str) or parse_int(text) is not None):
        raise BadParamsError(f"type {kind} needs a variable name, got {expr!r}")
    if kind not in (None, "address", "addr", "symbol", "name", "pointer"):
        raise BadParamsError(f"unknown watch type {kind!r}; use address, symbol or pointer")
    address, how, sym = data_address(text, symbols)
    where = None
    if how == "symbol" and isinstance(text, str) and sym is not None and sym.name != text:
        where = f"{sym.name}+0x{address - sym.address:x}"
    if not pointer:
        return address, how, sym.name if sym else None, where
    if not 0 <= address <= _MEM_END - 4:
        raise BadParamsError(f"pointer at 0x{address:X} cannot be read (data memory is 0x0..0xFFFF)")
    target = int.from_bytes(mem[address : address + 4], "little") & 0xFFFF
    owner = symbols.at(target, "data") if symbols is not None else None
    name = owner[0].name if owner is not None and (not owner[0].size or owner[1] < owner[0].size) else None
    return target, "pointer", name, f"*{text} -> 0x{target:04X}"
