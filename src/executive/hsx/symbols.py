"""Symbol tables for HSX programs: read a `.sym` document (hsx-executive.md §11.1) into lookups.

Code and data addresses are separate spaces (Harvard, hsx-vm.md §1.2) that overlap
numerically, so the table keeps code symbols (functions and labels) apart from data symbols
(variables). The reader is tolerant like the reference executive (missing keys are fine),
but a document of the wrong shape raises :class:`SymbolError` rather than anything else.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

__all__ = ["LineInfo", "Symbol", "SymbolError", "SymbolTable"]


class SymbolError(ValueError):
    """A `.sym` document is not shaped as §11.1 describes."""


@dataclass(frozen=True, slots=True)
class Symbol:
    """A named address; ``kind`` is ``function``, ``label`` (code) or ``variable`` (data)."""

    name: str
    address: int
    kind: str = "label"
    size: int = 0
    file: str | None = None
    line: int | None = None

    @property
    def is_code(self) -> bool:
        """Functions and labels live in code space; variables in data space."""
        return self.kind != "variable"


@dataclass(frozen=True, slots=True)
class LineInfo:
    """Source position of the instruction at a PC."""

    file: str | None
    line: int | None
    text: str | None = None


class SymbolTable:
    """Address ↔ name lookups over code and data symbols, plus a PC → source line map."""

    def __init__(self, symbols: Iterable[Symbol] = (), lines: Mapping[int, LineInfo] | None = None) -> None:
        self._code: dict[int, list[Symbol]] = {}
        self._data: dict[int, list[Symbol]] = {}
        self._by_name: dict[str, Symbol] = {}
        for sym in symbols:
            table = self._code if sym.is_code else self._data
            bucket = table.setdefault(sym.address, [])
            if all(s.name != sym.name for s in bucket):
                # functions sort before plain labels at the same address
                bucket.append(sym)
                bucket.sort(key=lambda s: (s.kind != "function", s.name))
            self._by_name.setdefault(sym.name, sym)
        self._code_addrs = sorted(self._code)
        self._lines = dict(lines or {})

    def __len__(self) -> int:
        return sum(len(v) for v in self._code.values()) + sum(len(v) for v in self._data.values())

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, int]]) -> SymbolTable:
        """Code labels from ``(name, address)`` pairs."""
        return cls(Symbol(name, addr) for name, addr in pairs)

    @classmethod
    def from_sym(cls, doc: Mapping[str, Any]) -> SymbolTable:
        """Build from a parsed `.sym` JSON document (§11.1).

        Raises:
            SymbolError: the document or one of its lists/entries has the wrong shape.
        """
        if not isinstance(doc, Mapping):
            raise SymbolError("a .sym document must be a JSON object")
        section = doc.get("symbols", {})
        if not isinstance(section, Mapping):
            raise SymbolError("'symbols' must be an object")
        out: list[Symbol] = []
        for key, kind in (("functions", "function"), ("variables", "variable")):
            items = section.get(key, [])
            if not isinstance(items, list):
                raise SymbolError(f"symbols.{key} must be a list")
            for item in items:
                out.append(_entry(item, kind, f"symbols.{key}"))
        labels = section.get("labels", {})
        if not isinstance(labels, Mapping):
            raise SymbolError("symbols.labels must be an object")
        for addr_text, names in labels.items():
            try:
                addr = int(str(addr_text), 0)
            except ValueError:
                raise SymbolError(f"symbols.labels: bad address {addr_text!r}") from None
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise SymbolError(f"symbols.labels[{addr_text!r}] must be a list of names")
            out.extend(Symbol(n, addr) for n in names)
        lines: dict[int, LineInfo] = {}
        instructions = doc.get("instructions", [])
        if not isinstance(instructions, list):
            raise SymbolError("'instructions' must be a list")
        for ins in instructions:
            if not isinstance(ins, Mapping) or not _is_int(ins.get("pc")):
                raise SymbolError("each instruction needs an integer 'pc'")
            line = ins.get("line")
            source = ins.get("source")
            lines[ins["pc"]] = LineInfo(
                ins.get("file") if isinstance(ins.get("file"), str) else None,
                line if _is_int(line) else None,
                source if isinstance(source, str) else None,
            )
        return cls(out, lines)

    def code_symbols(self) -> list[Symbol]:
        """Every code symbol (functions and labels), by address."""
        return [s for addr in self._code_addrs for s in self._code[addr]]

    def data_symbols(self) -> list[Symbol]:
        """Every data symbol (variables), by address."""
        return [s for addr in sorted(self._data) for s in self._data[addr]]

    def code_names(self, address: int) -> list[str]:
        """Names of the code symbols at exactly ``address`` (functions first)."""
        return [s.name for s in self._code.get(address, [])]

    def code_name(self, address: int) -> str | None:
        """The preferred code symbol name at exactly ``address``."""
        names = self._code.get(address)
        return names[0].name if names else None

    def data_name(self, address: int) -> str | None:
        """The data symbol (variable) at exactly ``address``."""
        names = self._data.get(address)
        return names[0].name if names else None

    def nearest_code(self, address: int) -> tuple[Symbol, int] | None:
        """The code symbol with the greatest address ≤ ``address`` and the offset from it."""
        i = bisect.bisect_right(self._code_addrs, address)
        if i == 0:
            return None
        base = self._code_addrs[i - 1]
        return self._code[base][0], address - base

    def lookup(self, name: str) -> Symbol | None:
        """A symbol by exact name (the first one seen when names repeat across modules)."""
        return self._by_name.get(name)

    def line(self, pc: int) -> LineInfo | None:
        """Source position of the instruction at ``pc``, if the .sym recorded one."""
        return self._lines.get(pc)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _entry(item: object, kind: str, where: str) -> Symbol:
    if not isinstance(item, Mapping):
        raise SymbolError(f"{where}: entries must be objects")
    name = item.get("name")
    address = next((item[k] for k in ("address", "addr", "abs_addr", "offset") if _is_int(item.get(k))), None)
    if not isinstance(name, str) or address is None:
        raise SymbolError(f"{where}: each entry needs a string 'name' and an integer 'address'")
    size = item.get("size")
    line = item.get("line")
    file = item.get("file")
    return Symbol(
        name,
        address,
        kind,
        size if _is_int(size) else 0,
        file if isinstance(file, str) else None,
        line if _is_int(line) else None,
    )
