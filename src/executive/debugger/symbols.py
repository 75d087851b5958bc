"""Symbol tables for the debugger: read a `.sym` document into bisect-based indexes.

Theory of operation
-------------------
A `.sym` file (hsx-executive.md §11.1) names code addresses (functions and labels),
data addresses (variables) and maps instruction PCs to source lines.  The debugger asks
four questions of it, each answered without a scan:

* address → symbol: :meth:`SymbolIndex.at` bisects a sorted list of distinct addresses
  (one per space: code and data overlap numerically in the Harvard VM, hsx-vm §1.2, so
  they are kept apart rather than mixed as the reference does);
* address → function: :meth:`SymbolIndex.function_at` bisects the functions only, so a
  stack frame is named after its function even when a label sits closer;
* name → symbol: a dict;
* address → line and line → addresses: a sorted line table and a reverse dict.

Enumeration (:meth:`SymbolIndex.page`) filters by type and pages by offset/limit.

The reader is tolerant in the ways §11.1 lists (several layouts, ``address``/``addr``/…
aliases, ``0x`` strings) but never invents symbols: the standard ``symbols.labels``
object is read as labels, not as a symbol named ``labels`` (spec §8.8, §13 #17).  Any
entry of the wrong shape is a :class:`SymbolFileError` naming where it is, so a broken
file is refused as a whole instead of half-loaded.

:class:`SymbolCache` keeps parsed indexes by (path, size, mtime): a hundred tasks of one
program share one index.  Rejected alternative: reusing :class:`executive.hsx.symbols.
SymbolTable` — it resolves lines by exact PC only, has no function-only index and no
enumeration, and the debugger needs all three.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from executive.debugger.locals import LocalsFormatError, LocalTable, parse_locals

__all__ = ["KINDS", "SymbolCache", "SymbolEntry", "SymbolFileError", "SymbolIndex", "parse_sym"]

#: types a symbol can have; ``function`` and ``label`` live in code space, ``variable`` in data
KINDS = ("function", "label", "variable")
_CODE_KINDS = frozenset({"function", "label"})
_KIND_ALIASES = {
    "function": "function", "func": "function", "fn": "function", "text": "function", "code": "function",
    "label": "label", "variable": "variable", "var": "variable", "object": "variable", "data": "variable",
    "rodata": "variable", "bss": "variable", "global": "variable",
}  # fmt: skip
_ADDRESS_KEYS = ("address", "addr", "abs_addr", "absolute", "offset")
_PAGE_TYPES = {
    "all": None,
    "functions": {"function"},
    "labels": {"label"},
    "variables": {"variable"},
    "code": _CODE_KINDS,
}


class SymbolFileError(ValueError):
    """A `.sym` document is malformed; the message says where and what was expected."""


@dataclasses.dataclass(frozen=True, slots=True)
class SymbolEntry:
    """One named address."""

    name: str
    address: int
    kind: str  # one of KINDS
    size: int = 0  # bytes (0 = unknown)
    file: str | None = None
    line: int | None = None

    @property
    def space(self) -> str:
        """``code`` for functions and labels, ``data`` for variables (hsx-vm §1.2)."""
        return "code" if self.kind in _CODE_KINDS else "data"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "address": self.address,
            "type": self.kind,
            "space": self.space,
            "size": self.size,
        }
        if self.file is not None:
            d["file"] = self.file
        if self.line is not None:
            d["line"] = self.line
        return d


@dataclasses.dataclass(frozen=True, slots=True)
class LineEntry:
    address: int
    file: str | None
    line: int


class _Sorted:
    """Entries of one space sorted by address, with the preferred entry per address first."""

    def __init__(self, entries: Iterable[SymbolEntry]) -> None:
        order = {"function": 0, "label": 1, "variable": 2}
        self.entries: list[SymbolEntry] = sorted(entries, key=lambda e: (e.address, order[e.kind], e.name))
        self.addrs: list[int] = []  # distinct addresses, ascending (the bisect key)
        self.first: list[SymbolEntry] = []  # preferred entry at addrs[i]
        for e in self.entries:
            if not self.addrs or self.addrs[-1] != e.address:
                self.addrs.append(e.address)
                self.first.append(e)

    def floor(self, address: int) -> tuple[SymbolEntry, int] | None:
        """The preferred entry with the greatest address <= ``address`` and the offset from it."""
        i = bisect.bisect_right(self.addrs, address)
        if i == 0:
            return None
        e = self.first[i - 1]
        return e, address - e.address


class SymbolIndex:
    """Lookups over one program's symbols and line table (spec hsx-executive §8.8)."""

    def __init__(
        self,
        entries: Iterable[SymbolEntry],
        lines: Iterable[LineEntry] = (),
        *,
        crc: int | None = None,
        path: str | None = None,
        generated: Iterable[int] = (),
        locals: LocalTable | None = None,
    ) -> None:
        unique: dict[tuple[str, int, str], SymbolEntry] = {}
        for e in entries:
            unique.setdefault((e.name, e.address, e.kind), e)
        items = list(unique.values())
        self.path = path  # where it was read from (None for an uploaded document)
        self.crc = crc  # hxe_crc recorded in the .sym, if any
        self.generated = frozenset(generated)  # PCs of compiler-generated instructions (source_kind "compiler")
        self.locals = locals or LocalTable([])  # symbols.locals: local variables by PC range
        self._code = _Sorted(e for e in items if e.space == "code")
        self._data = _Sorted(e for e in items if e.space == "data")
        self._functions = _Sorted(e for e in items if e.kind == "function")
        self._all = sorted(items, key=lambda e: (e.space != "code", e.address, e.name))
        self._by_name: dict[str, SymbolEntry] = {}
        for e in sorted(items, key=lambda e: (("function", "variable", "label").index(e.kind), e.address)):
            self._by_name.setdefault(e.name, e)
        table: dict[int, LineEntry] = {}
        for ln in lines:
            table.setdefault(ln.address, ln)
        self._line_addrs = sorted(table)
        self._lines = [table[a] for a in self._line_addrs]
        self._by_line: dict[tuple[str, int], list[int]] = collections.defaultdict(list)
        for ln in self._lines:
            if ln.file:
                self._by_line[(ln.file, ln.line)].append(ln.address)
                self._by_line[(os.path.basename(ln.file), ln.line)].append(ln.address)

    def __len__(self) -> int:
        return len(self._all)

    # ------------------------------------------------------------------ address -> name
    def at(self, address: int, space: str = "code") -> tuple[SymbolEntry, int] | None:
        """The symbol with the greatest address <= ``address`` in ``space`` and the offset.

        ``space`` is ``code`` (functions and labels), ``data`` (variables) or ``any``
        (the closer of the two, as the reference does across all symbols, §8.8).
        """
        if space == "code":
            return self._code.floor(address)
        if space == "data":
            return self._data.floor(address)
        hits = [h for h in (self._code.floor(address), self._data.floor(address)) if h is not None]
        return min(hits, key=lambda h: h[1]) if hits else None

    def function_at(self, pc: int) -> tuple[SymbolEntry, int] | None:
        """The function containing ``pc`` (greatest start <= pc, within its size when known)."""
        hit = self._functions.floor(pc)
        if hit is None or (hit[0].size and hit[1] >= hit[0].size):
            return None
        return hit

    def exact(self, address: int, space: str = "code") -> SymbolEntry | None:
        """The preferred symbol exactly at ``address``."""
        hit = self.at(address, space)
        return hit[0] if hit is not None and hit[1] == 0 else None

    def describe(self, address: int, space: str = "code") -> str | None:
        """``name`` or ``name+0x1c`` for the nearest symbol, as shown in events and listings."""
        hit = self.at(address, space)
        if hit is None:
            return None
        sym, off = hit
        return sym.name if off == 0 else f"{sym.name}+0x{off:x}"

    # ------------------------------------------------------------------ name -> address
    def lookup(self, name: str) -> SymbolEntry | None:
        """A symbol by exact name (functions first, then variables, then labels)."""
        return self._by_name.get(name)

    # ------------------------------------------------------------------ lines
    def line_at(self, address: int) -> LineEntry | None:
        """The line entry with the greatest address <= ``address`` (§8.8 ``sym line``)."""
        i = bisect.bisect_right(self._line_addrs, address)
        return self._lines[i - 1] if i else None

    def addresses_for_line(self, file: str, line: int) -> list[int]:
        """Instruction addresses recorded for ``file:line`` (full path or base name), ascending."""
        return sorted(set(self._by_line.get((file, line), ())))

    def files(self) -> list[str]:
        """Source files named in the line table, as written there, sorted."""
        return sorted({ln.file for ln in self._lines if ln.file})

    def lines_of(self, file: str) -> dict[int, list[int]]:
        """Every line of ``file`` (full path as written, or base name) that has code, with
        its instruction addresses: the map a client needs to move a breakpoint to code."""
        exact = any(ln.file == file for ln in self._lines)
        base = os.path.basename(file)
        out: dict[int, list[int]] = {}
        for ln in self._lines:
            if ln.file and (ln.file == file if exact else os.path.basename(ln.file) == base):
                out.setdefault(ln.line, []).append(ln.address)
        return dict(sorted(out.items()))

    @property
    def has_lines(self) -> bool:
        return bool(self._lines)

    # ------------------------------------------------------------------ enumeration
    def page(self, kind: str = "all", offset: int = 0, limit: int = 256) -> tuple[int, list[SymbolEntry]]:
        """Symbols of one type (``all``, ``functions``, ``labels``, ``variables``, ``code``),
        code space first, each sorted by address; returns (total after filtering, the page).

        Raises:
            ValueError: an unknown type.
        """
        if kind not in _PAGE_TYPES:
            raise ValueError(f"unknown symbol type {kind!r}; use one of {', '.join(_PAGE_TYPES)}")
        wanted = _PAGE_TYPES[kind]
        items = self._all if wanted is None else [e for e in self._all if e.kind in wanted]
        return len(items), items[offset : offset + limit]

    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in KINDS}
        for e in self._all:
            out[e.kind] += 1
        out["lines"] = len(self._lines)
        return out


# ---------------------------------------------------------------------- parsing
def parse_sym(doc: Any, *, path: str | None = None) -> SymbolIndex:
    """Build an index from a parsed `.sym` document (spec hsx-executive §11.1).

    Raises:
        SymbolFileError: the document or one of its entries has the wrong shape.
    """
    if not isinstance(doc, Mapping):
        raise SymbolFileError(f"a .sym document is a JSON object, got {type(doc).__name__}")
    entries: list[SymbolEntry] = []
    section = doc.get("symbols")
    if isinstance(section, Mapping):
        entries += _entries(section.get("functions"), "function", "symbols.functions")
        entries += _entries(section.get("variables"), "variable", "symbols.variables")
        entries += _entries(section.get("symbols"), None, "symbols.symbols")
        entries += _labels(section.get("labels"))
    elif isinstance(section, list):
        entries += _entries(section, None, "symbols")
    elif section is not None:
        raise SymbolFileError(f"'symbols' must be an object or a list, got {type(section).__name__}")
    entries += _entries(doc.get("functions"), "function", "functions")
    entries += _entries(doc.get("variables"), "variable", "variables")
    crc = doc.get("hxe_crc")
    try:
        local_table = parse_locals(doc)
    except LocalsFormatError as exc:
        raise SymbolFileError(str(exc)) from None
    return SymbolIndex(
        entries,
        _lines(doc),
        crc=_int_or_none(crc, "hxe_crc"),
        path=path,
        generated=_generated(doc),
        locals=local_table,
    )


_U32_END = 1 << 32  # addresses, sizes, lines and the CRC are 32-bit in HSX (and must fit a JSON reply)


def _int(value: Any, where: str) -> int:
    """An unsigned 32-bit integer from an int or a decimal/``0x`` string; booleans are refused."""
    if isinstance(value, bool):
        raise SymbolFileError(f"{where}: expected an integer, got a boolean")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str):
        try:
            n = int(value, 0)
        except ValueError:
            raise SymbolFileError(f"{where}: expected an integer or a 0x string, got {value[:40]!r}") from None
    else:
        raise SymbolFileError(f"{where}: expected an integer, got {type(value).__name__}")
    if not 0 <= n < _U32_END:
        shown = str(n) if abs(n) < 10**30 else f"a {n.bit_length()}-bit number"
        raise SymbolFileError(f"{where}: expected an integer in 0..0xFFFFFFFF, got {shown}")
    return n


def _int_or_none(value: Any, where: str) -> int | None:
    return None if value is None else _int(value, where)


def _entries(items: Any, kind: str | None, where: str) -> list[SymbolEntry]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise SymbolFileError(f"{where} must be a list, got {type(items).__name__}")
    out = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise SymbolFileError(f"{at}: each symbol is an object with 'name' and 'address'")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise SymbolFileError(f"{at}: 'name' must be a non-empty string")
        key = next((k for k in _ADDRESS_KEYS if item.get(k) is not None), None)
        if key is None:
            raise SymbolFileError(f"{at} ({name}): no address (one of {', '.join(_ADDRESS_KEYS)})")
        address = _int(item[key], f"{at}.{key}")
        k = kind
        if k is None:
            raw = next((item[f] for f in ("type", "kind", "section") if isinstance(item.get(f), str)), "label")
            k = _KIND_ALIASES.get(raw.lower(), "variable")
        file = item.get("file", item.get("source"))
        out.append(SymbolEntry(
            name, address, k, _int_or_none(item.get("size"), f"{at}.size") or 0,
            file if isinstance(file, str) else None, _int_or_none(item.get("line"), f"{at}.line"),
        ))  # fmt: skip
    return out


def _labels(labels: Any) -> list[SymbolEntry]:
    """``symbols.labels``: ``{"0x00000010": ["loop", ...]}`` — labels, never a symbol named 'labels'."""
    if labels is None:
        return []
    if not isinstance(labels, Mapping):
        raise SymbolFileError(
            f"symbols.labels must be an object mapping addresses to name lists, got {type(labels).__name__}"
        )
    out = []
    for addr_text, names in labels.items():
        address = _int(addr_text, f"symbols.labels[{addr_text!r}]")
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise SymbolFileError(f"symbols.labels[{addr_text!r}] must be a list of names")
        out += [SymbolEntry(n, address, "label") for n in names]
    return out


def _lines(doc: Mapping[str, Any]) -> list[LineEntry]:
    """The line table: ``lines``/``line_table``/``line_map``, else ``instructions`` with a line."""
    for key in ("lines", "line_table", "line_map"):
        table = doc.get(key)
        if table is None:
            continue
        if isinstance(table, Mapping):
            rows = [({"line": v} if not isinstance(v, Mapping) else dict(v)) | {"address": k} for k, v in table.items()]
        elif isinstance(table, list):
            rows = table
        else:
            raise SymbolFileError(f"'{key}' must be a list or an object, got {type(table).__name__}")
        return _line_rows(rows, key, "address")
    instructions = doc.get("instructions")
    if instructions is None:
        return []
    if not isinstance(instructions, list):
        raise SymbolFileError(f"'instructions' must be a list, got {type(instructions).__name__}")
    return _line_rows(instructions, "instructions", "pc")


def _generated(doc: Mapping[str, Any]) -> set[int]:
    """PCs whose ``instructions`` entry says ``source_kind: "compiler"`` (skipped by source steps, §3.5)."""
    instructions = doc.get("instructions")
    if not isinstance(instructions, list):
        return set()
    return {
        _int(ins["pc"], f"instructions[{i}].pc")
        for i, ins in enumerate(instructions)
        if isinstance(ins, Mapping) and ins.get("source_kind") == "compiler" and ins.get("pc") is not None
    }


def _line_rows(rows: list[Any], where: str, addr_key: str) -> list[LineEntry]:
    out = []
    for i, row in enumerate(rows):
        at = f"{where}[{i}]"
        if not isinstance(row, Mapping):
            raise SymbolFileError(f"{at}: each entry is an object")
        raw_addr = row.get(addr_key, row.get("address", row.get("addr")))
        if raw_addr is None:
            raise SymbolFileError(f"{at}: missing '{addr_key}'")
        address = _int(raw_addr, f"{at}.{addr_key}")
        if row.get("line") is None:
            continue
        line = _int(row["line"], f"{at}.line")
        file = row.get("file", row.get("source"))
        out.append(LineEntry(address, file if isinstance(file, str) else None, line))
    return out


# ---------------------------------------------------------------------- loading + cache
class SymbolCache:
    """Parsed `.sym` files by (path, size, mtime), bounded LRU (many tasks share one program)."""

    def __init__(self, *, max_bytes: int, entries: int = 16) -> None:
        self.max_bytes = max_bytes  # refuse files larger than this before reading them
        self._entries = entries
        self._cache: collections.OrderedDict[tuple[str, int, int], SymbolIndex] = collections.OrderedDict()

    def load(self, path: str | os.PathLike[str]) -> SymbolIndex:
        """Read and parse a `.sym` file (or return the cached index of the same file).

        Raises:
            FileNotFoundError: no such file.
            SymbolFileError: too large, unreadable, not JSON, or malformed.
        """
        p = Path(path)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise SymbolFileError(f"cannot read {p}: {exc.strerror or exc}") from exc
        if st.st_size > self.max_bytes:
            raise SymbolFileError(
                f"{p} is {st.st_size} bytes; .sym files are limited to {self.max_bytes} (limit max_sym_bytes)"
            )
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise SymbolFileError(f"cannot read {p}: {exc.strerror or exc}") from exc
        index = self.parse_bytes(raw, path=str(p))
        self._cache[key] = index
        while len(self._cache) > self._entries:
            self._cache.popitem(last=False)
        return index

    def parse_bytes(self, raw: bytes | str, *, path: str | None = None) -> SymbolIndex:
        """Parse `.sym` JSON text within the size limit.

        Raises:
            SymbolFileError: too large, not JSON, or malformed.
        """
        where = path or "the .sym document"
        if len(raw) > self.max_bytes:
            raise SymbolFileError(
                f"{where} is {len(raw)} bytes; .sym files are limited to {self.max_bytes} (limit max_sym_bytes)"
            )
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SymbolFileError(f"{where} is not JSON: {exc}") from None
        except RecursionError:  # the parser recurses per nesting level
            raise SymbolFileError(f"{where} nests arrays/objects too deeply to be a .sym file") from None
        try:
            return parse_sym(doc, path=path)
        except SymbolFileError as exc:
            raise SymbolFileError(f"{where}: {exc}") from None
