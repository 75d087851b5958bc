"""Link assembled MVASM modules into one program (what hld.py does, spec §15.5).

Modules are laid out in the order given: code concatenated from 0, data concatenated from
0x4000 (a module's data base is the sum of the earlier modules' data sizes). Symbols resolve
first to the module's own labels, then to the symbols other modules export (``.export``, or
``.extern`` of a symbol the module defines). Duplicate exports, unresolved imports, duplicate
metadata and out-of-range relocations are :class:`AsmError`\\ s at the offending source line.

Entry rule: ``_start`` if some module exports it; else the first module whose ``.entry``
symbol is exported; else module 0's entry (its ``.entry`` label, number or offset; 0 if none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from executive.hsx._asm_module import Label, ObjModule, Reloc
from executive.hsx._asm_source import AsmError, Loc, SymRef
from executive.hsx._hxe_meta import CommandEntry, MailboxEntry, ValueEntry
from executive.hsx.isa import RODATA_BASE

__all__ = ["Linked", "Placed", "link"]


@dataclass(frozen=True, slots=True)
class Placed:
    """A label at its final address (code byte address, or data address ≥ 0x4000)."""

    label: Label
    module: int
    address: int
    exported: bool

    @property
    def is_code(self) -> bool:
        return self.label.section == "text"


@dataclass(slots=True)
class Linked:
    """The linked program: what goes into the HXE plus what the .sym writer needs."""

    code: list[int]
    rodata: bytes
    entry: int
    values: list[ValueEntry]
    commands: list[CommandEntry]
    mailboxes: list[MailboxEntry]
    modules: list[ObjModule]
    code_bases: list[int]
    data_bases: list[int]
    symbols: list[Placed]  # every label of every module
    warnings: list[str] = field(default_factory=list)


Resolver = Callable[[int, str, Loc], "Placed"]


def link(modules: list[ObjModule]) -> Linked:
    """Resolve relocations across ``modules`` and merge their metadata.

    Raises:
        AsmError: at the source location of the first problem.
    """
    code_bases, data_bases = [], []
    code_total = data_total = 0
    for m in modules:
        code_bases.append(code_total)
        data_bases.append(data_total)
        code_total += len(m.code) * 4
        data_total += len(m.rodata)
    if code_total > 0x10000:
        raise AsmError(f"linked code is {code_total} bytes; the limit is 65536")
    if data_total > 0x10000:
        raise AsmError(f"linked data is {data_total} bytes; the limit is 65536")

    placed: list[list[Placed]] = []
    for i, m in enumerate(modules):
        exported = m.exports.keys() | (m.externs.keys() & m.labels.keys())
        placed.append(
            [
                Placed(lab, i, _address(lab, code_bases[i], data_bases[i]), lab.name in exported)
                for lab in m.labels.values()
            ]
        )
    globals_: dict[str, Placed] = {}
    for i, m in enumerate(modules):
        for p in placed[i]:
            if not p.exported:
                continue
            first = globals_.get(p.label.name)
            if first is not None:
                where = m.exports.get(p.label.name) or m.externs.get(p.label.name) or p.label.loc
                raise where.error(
                    f"symbol {p.label.name!r} is exported by both {modules[first.module].name} and {m.name}"
                )
            globals_[p.label.name] = p
    locals_ = [{p.label.name: p for p in mod} for mod in placed]

    def resolve(i: int, name: str, loc: Loc) -> Placed:
        found = locals_[i].get(name) or globals_.get(name)
        if found is None:
            raise loc.error(f"unresolved symbol {name!r}: no module defines and exports it")
        return found

    for m in modules:
        for name, loc in m.imports.items():
            if name not in globals_:
                raise loc.error(f"unresolved import {name!r}: no module exports it")

    code: list[int] = []
    rodata = bytearray()
    for m in modules:
        code.extend(m.code)
        rodata += m.rodata
    warnings: list[str] = [w for m in modules for w in m.warnings]
    for i, m in enumerate(modules):
        for reloc in m.relocs:
            target = resolve(i, reloc.ref.name, reloc.loc)
            _apply(reloc, target, code, rodata, code_bases[i], data_bases[i], warnings)

    values, commands, mailboxes = _merge_metadata(modules, resolve)
    entry = _entry(modules, globals_, resolve)
    if not code:
        raise AsmError("the program has no instructions (an HXE needs code to hold its entry point)")
    if entry >= len(code) * 4:
        raise AsmError(f"entry 0x{entry:X} is outside the code ({len(code) * 4} bytes)")
    return Linked(
        code, bytes(rodata), entry, values, commands, mailboxes, modules, code_bases, data_bases,
        [p for mod in placed for p in mod], warnings,
    )  # fmt: skip


def _address(label: Label, code_base: int, data_base: int) -> int:
    if label.section == "text":
        return code_base + label.offset
    return RODATA_BASE + data_base + label.offset


def _value(ref: SymRef, target: Placed, loc: Loc) -> int:
    addr = target.address
    if ref.kind == "lo16":
        return addr & 0xFFFF
    if ref.kind == "hi16":
        return (addr >> 16) & 0xFFFF
    if ref.kind == "off16":
        if target.is_code:
            raise loc.error(f"off16({ref.name}): off16 takes a data symbol, {ref.name!r} is a code label")
        return addr - RODATA_BASE
    return addr


def _apply(
    reloc: Reloc,
    target: Placed,
    code: list[int],
    rodata: bytearray,
    code_base: int,
    data_base: int,
    warnings: list[str],
) -> None:
    loc, ref = reloc.loc, reloc.ref
    value = _value(ref, target, loc)
    rtype = reloc.type
    if rtype in ("imm12", "mem"):
        if not 0 <= value <= 0xFFF:
            what = "data symbol" if not target.is_code and ref.kind == "symbol" else "value"
            if reloc.type == "imm12":
                rd = reloc.text.split(None, 2)[1].rstrip(",") if len(reloc.text.split()) > 1 else "Rd"
                fix = f"load it with LDI32 {rd}, {ref}"
            else:
                fix = (
                    "load the address with LDI32 into a register and use [Rn+0], "
                    f"or use off16({ref.name}) with a base register"
                )
            raise loc.error(f"{what} {ref} = 0x{value:X} does not fit a 12-bit field (0..4095); {fix}")
        if value >= 0x800:
            warnings.append(
                f"{loc.file}:{loc.line}:{loc.column}: warning: {ref} = 0x{value:X} is sign-extended by the VM "
                f"to {value - 0x1000}; use LDI32 for addresses >= 0x800"
            )
        index = code_base // 4 + reloc.index
        code[index] = (code[index] & ~0xFFF) | value
    elif rtype == "jump":
        if not target.is_code and ref.kind == "symbol":
            raise loc.error(f"jump target {ref.name!r} is a data symbol, not a code label")
        if not 0 <= value < 4096:
            raise loc.error(
                f"jump target {ref} = 0x{value:X} is beyond 4095: JMP/JZ/JNZ reach only the first 4 KiB; "
                "use CALL or move the code"
            )
        index = code_base // 4 + reloc.index
        code[index] = (code[index] & ~0xFFF) | value
    elif rtype == "call":
        if not target.is_code:
            raise loc.error(f"CALL target {ref.name!r} is a data symbol, not a code label")
        pc = code_base + reloc.index * 4
        offset = (value - pc) // 4
        if not -2048 <= offset <= 2047:
            raise loc.error(f"CALL target {ref.name!r} is {offset} words away; CALL reaches -2048..2047 words")
        index = code_base // 4 + reloc.index
        code[index] = (code[index] & ~0xFFF) | (offset & 0xFFF)
    elif rtype in ("imm32", "code_word"):
        code[code_base // 4 + reloc.index] = value & 0xFFFFFFFF
    else:
        width = {"data_byte": 1, "data_half": 2, "data_word": 4}[rtype]
        offset = data_base + reloc.index
        rodata[offset : offset + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")


def _merge_metadata(
    modules: list[ObjModule], resolve: Resolver
) -> tuple[list[ValueEntry], list[CommandEntry], list[MailboxEntry]]:
    values: dict[tuple[int, int], Loc] = {}
    commands: dict[tuple[int, int], Loc] = {}
    mailboxes: dict[str, Loc] = {}
    out_v: list[ValueEntry] = []
    out_c: list[CommandEntry] = []
    out_m: list[MailboxEntry] = []
    for i, m in enumerate(modules):
        for entry, loc in m.values:
            key = (entry.group, entry.value_id)
            if key in values:
                raise loc.error(f"duplicate .value group {key[0]} id {key[1]} (first at {_at(values[key])})")
            values[key] = loc
            out_v.append(entry)
        for cmd in m.commands:
            key = (cmd.entry.group, cmd.entry.cmd_id)
            if key in commands:
                raise cmd.loc.error(f"duplicate .cmd group {key[0]} id {key[1]} (first at {_at(commands[key])})")
            commands[key] = cmd.loc
            if cmd.handler is not None:
                target = resolve(i, cmd.handler.name, cmd.loc)
                if not target.is_code:
                    raise cmd.loc.error(f".cmd handler {cmd.handler.name!r} is a data symbol, not a code label")
                cmd.entry.handler_offset = target.address
            out_c.append(cmd.entry)
        for mbx, loc in m.mailboxes:
            if mbx.target in mailboxes:
                raise loc.error(f"duplicate .mailbox target {mbx.target!r} (first at {_at(mailboxes[mbx.target])})")
            mailboxes[mbx.target] = loc
            out_m.append(mbx)
    return out_v, out_c, out_m


def _at(loc: Loc) -> str:
    return f"{loc.file}:{loc.line}"


def _entry(modules: list[ObjModule], globals_: dict[str, Placed], resolve: Resolver) -> int:
    start = globals_.get("_start")
    if start is not None and start.is_code:
        return start.address
    for m in modules:
        if m.entry_symbol and m.entry_symbol in globals_ and globals_[m.entry_symbol].is_code:
            return globals_[m.entry_symbol].address
    if not modules:
        return 0
    first = modules[0]
    if first.entry_symbol:
        loc = first.entry_loc or Loc(first.name, 0, 0)
        target = resolve(0, first.entry_symbol, loc)
        if not target.is_code:
            raise loc.error(f".entry {first.entry_symbol}: the entry must be a code label, not data")
        return target.address
    return first.entry or 0
