"""Build the `.sym` JSON document for a linked program (hsx-executive.md §11.1, version 1).

Which code labels are *functions*: the entry label, every exported code label and every
CALL target; a function's size runs to the next function (or the end of its module's code).
All code labels appear in ``symbols.labels``; data labels are ``symbols.variables`` with a
size running to the next data label of the module. ``instructions`` has one record per
instruction (LDI32 included once, with its literal as ``extended_word``).
"""

from __future__ import annotations

import bisect
import os.path
from typing import Any

from executive.hsx._asm_link import Linked, Placed
from executive.hsx.isa import RODATA_BASE

__all__ = ["SYM_VERSION", "build_sym"]

SYM_VERSION = 1


def build_sym(linked: Linked, hxe_crc: int, hxe_path: str = "") -> dict[str, Any]:
    """The `.sym` document for ``linked``; ``hxe_crc`` is the header CRC of the written image."""
    function_names = {name for m in linked.modules for name in m.call_targets}
    code_syms = sorted((p for p in linked.symbols if p.is_code), key=lambda p: (p.address, p.label.name))
    data_syms = sorted((p for p in linked.symbols if not p.is_code), key=lambda p: (p.address, p.label.name))
    entry_names = {m.entry_symbol for m in linked.modules if m.entry_symbol}
    functions = [
        p
        for p in code_syms
        if p.exported
        or p.label.name in function_names
        or (p.address == linked.entry and (not entry_names or p.label.name in entry_names))
    ]
    # one function per address is enough to decide sizes; keep every name though
    code_end = {
        i: base + len(m.code) * 4 for i, (m, base) in enumerate(zip(linked.modules, linked.code_bases, strict=True))
    }
    data_end = {
        i: RODATA_BASE + base + len(m.rodata)
        for i, (m, base) in enumerate(zip(linked.modules, linked.data_bases, strict=True))
    }
    fn_records = []
    fn_addresses = [p.address for p in functions]
    for p in functions:
        end = _next_start(p, functions, fn_addresses, code_end[p.module])
        fn_records.append(
            {
                "name": p.label.name,
                "linkage_name": p.label.name,
                "address": p.address,
                "size": end - p.address,
                "file": p.label.loc.file,
                "line": p.label.loc.line,
            }
        )
    var_records = []
    data_addresses = [p.address for p in data_syms]
    for p in data_syms:
        end = _next_start(p, data_syms, data_addresses, data_end[p.module])
        var_records.append(
            {
                "name": p.label.name,
                "address": p.address,
                "size": end - p.address,
                "scope": "global" if p.exported else "local",
                "type": "object",
                "file": p.label.loc.file,
                "line": p.label.loc.line,
            }
        )
    labels: dict[str, list[str]] = {}
    for p in code_syms:
        labels.setdefault(f"0x{p.address:08X}", []).append(p.label.name)

    fn_starts = sorted({p.address: p.label.name for p in reversed(functions)}.items())
    instructions = []
    ordinal = 0
    for m, base in zip(linked.modules, linked.code_bases, strict=True):
        for cl in m.lines:
            pc = base + cl.offset
            word = linked.code[pc // 4]
            record: dict[str, Any] = {
                "pc": pc,
                "word": word,
                "mvasm_line": cl.source.line,
                "ordinal": ordinal,
                "function": _containing(fn_starts, pc),
                "file": cl.source.file,
                "directory": os.path.dirname(cl.source.file),
                "line": cl.source.line,
                "column": cl.source.column,
                "source": cl.source.text,
                "source_kind": "asm",
            }
            if cl.words == 2 and cl.source.text.split(None, 1)[0].upper() == "LDI32":
                record["extended_word"] = linked.code[pc // 4 + 1]
            instructions.append(record)
            ordinal += 1
    regions = [{"name": "code", "type": "code", "start": 0, "end": len(linked.code) * 4 - 1}]
    if linked.rodata:
        regions.append(
            {"name": "rodata", "type": "data", "start": RODATA_BASE, "end": RODATA_BASE + len(linked.rodata) - 1}
        )
    return {
        "version": SYM_VERSION,
        "hxe_path": hxe_path,
        "hxe_crc": hxe_crc,
        "entry": linked.entry,
        "symbols": {"functions": fn_records, "variables": var_records, "labels": labels},
        "instructions": instructions,
        "memory_regions": regions,
    }


def _next_start(p: Placed, ordered: list[Placed], addresses: list[int], module_end: int) -> int:
    """Address of the next symbol after ``p`` in the same module, else the module end.

    ``ordered`` is sorted by address and modules occupy disjoint, increasing ranges, so the
    first greater address is the answer when it is still inside ``p``'s module.
    """
    i = bisect.bisect_right(addresses, p.address)
    if i < len(ordered) and ordered[i].module == p.module:
        return ordered[i].address
    return module_end


def _containing(starts: list[tuple[int, str]], pc: int) -> str | None:
    i = bisect.bisect_right(starts, (pc, "\U0010ffff"))
    return starts[i - 1][1] if i else None
