"""Assemble one MVASM module into an object (the in-memory equivalent of an .hxo, spec §15.2–§15.5).

Like the reference, every symbol reference — local labels included — is left as a
relocation; :mod:`executive.hsx._asm_link` resolves them once all modules are known, so
errors such as "data symbol in LDI" are reported at the operand's file:line:column.

Extensions over the reference assembler (all strict supersets, used by the disassembler so
that its output always reassembles to the same words):

* ``.word`` is accepted in ``.text`` and emits raw code words;
* JMP/JZ/JNZ accept numbers 0..4095 as well as −2048..2047 (the field is unsigned);
* a character literal may be ``' '`` or ``','``.

Deliberate differences: too many operands is an error (the reference ignores extras);
``SVC a, b`` without ``=`` keeps the reference result (SVC 0x000) but adds a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from executive.hsx import isa
from executive.hsx._asm_meta import (
    PendingCommand,
    command_entry,
    mailbox_entry,
    parse_json_objects,
    value_entry,
)
from executive.hsx._asm_source import (
    Loc,
    SourceLine,
    SymRef,
    Token,
    is_symbol,
    parse_number,
    parse_string,
    parse_value,
    register_index,
    split_items,
    tokenize,
)
from executive.hsx._hxe_meta import MailboxEntry, ValueEntry
from executive.hsx.isa import Form

__all__ = ["MAX_CODE_BYTES", "MAX_DATA_BYTES", "CodeLine", "Label", "ObjModule", "Reloc", "assemble_module"]

MAX_CODE_BYTES = 0x10000
MAX_DATA_BYTES = 0x10000

_DIRECTIVE_RE = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)")
_MEM_RE = re.compile(r"\[([^\]+\-]*)([+-]?)(.*)\]\Z")
_DATA_ONLY = {"byte", "half", "hword", "word", "ascii", "asciz", "string", "align", "zero"}
_ANYWHERE = {"text", "data", "export", "extern", "import", "value", "cmd", "mailbox"}
_TEXT_ONLY = {"entry", "org"}


@dataclass(frozen=True, slots=True)
class Label:
    """A label definition: section ``text`` or ``data`` and offset within the module."""

    name: str
    section: str
    offset: int
    loc: Loc


@dataclass(frozen=True, slots=True)
class Reloc:
    """A symbol reference to patch at link time.

    ``type``: imm12 (LDI), mem (LD*/ST* offset), jump, call, imm32 (LDI32 literal),
    code_word (``.word`` in .text), data_word, data_half, data_byte. ``index`` is a code
    word index (code relocs) or a rodata byte offset (data relocs).
    """

    type: str
    index: int
    ref: SymRef
    loc: Loc
    text: str  # the instruction or directive, for messages


@dataclass(frozen=True, slots=True)
class CodeLine:
    """Where an instruction's words came from (for the .sym instruction table)."""

    offset: int
    words: int
    source: SourceLine


@dataclass(slots=True)
class ObjModule:
    """One assembled source module, before linking."""

    name: str
    code: list[int] = field(default_factory=list)
    rodata: bytearray = field(default_factory=bytearray)
    labels: dict[str, Label] = field(default_factory=dict)
    exports: dict[str, Loc] = field(default_factory=dict)
    externs: dict[str, Loc] = field(default_factory=dict)
    imports: dict[str, Loc] = field(default_factory=dict)
    entry: int | None = None  # numeric entry or offset of a bare `.entry`
    entry_symbol: str | None = None
    entry_loc: Loc | None = None
    relocs: list[Reloc] = field(default_factory=list)
    lines: list[CodeLine] = field(default_factory=list)
    values: list[tuple[ValueEntry, Loc]] = field(default_factory=list)
    commands: list[PendingCommand] = field(default_factory=list)
    mailboxes: list[tuple[MailboxEntry, Loc]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    call_targets: set[str] = field(default_factory=set)


def _warn(module: ObjModule, loc: Loc, message: str) -> None:
    module.warnings.append(f"{loc.file}:{loc.line}:{loc.column}: warning: {message}")


def assemble_module(name: str, lines: list[SourceLine]) -> ObjModule:
    """Assemble one module's lines (already include-expanded and comment-free).

    Raises:
        AsmError: the first error, at its file:line:column.
    """
    module = ObjModule(name)
    state = _State(module)
    for line in lines:
        state.line(line)
    _check_symbols(module)
    return module


class _State:
    """The per-module pass: current section and emitters."""

    def __init__(self, module: ObjModule) -> None:
        self.m = module
        self.section = "text"

    # -- dispatch ---------------------------------------------------------------------
    def line(self, line: SourceLine) -> None:
        text = line.text
        if text.endswith(":"):
            self.label(text[:-1].strip(), line)
            return
        if text.startswith("."):
            match = _DIRECTIVE_RE.match(text)
            if match:
                self.directive(match.group(1).lower(), text[match.end() :], line, match.end())
                return
        tokens = tokenize(line)
        if not tokens:
            raise line.loc.error(f"expected an instruction, label or directive, got {text!r}")
        if tokens[0].text.endswith(":"):
            label = tokens[0].text[:-1]
            rest = line.text[tokens[1].column - line.column :] if len(tokens) > 1 else ""
            raise line.loc.error(
                f"labels must be on their own line: write '{label}:' and then '{rest}' on the next line"
            )
        if self.section != "text":
            raise line.loc.error(f"instruction {tokens[0].text} in the .data section (switch back with .text)")
        self.instruction(tokens, line)

    def label(self, name: str, line: SourceLine) -> None:
        if not is_symbol(name):
            raise line.loc.error(f"invalid label name {name!r} (letters, digits, _ . $; not starting with a digit)")
        if register_index(name) is not None:
            raise line.loc.error(f"label name {name!r} is a register name")
        previous = self.m.labels.get(name)
        if previous:
            first = previous.loc
            raise line.loc.error(f"duplicate label {name!r} (first defined at {first.file}:{first.line})")
        offset = len(self.m.code) * 4 if self.section == "text" else len(self.m.rodata)
        self.m.labels[name] = Label(name, self.section, offset, line.loc)

    # -- directives -------------------------------------------------------------------
    def directive(self, name: str, rest: str, line: SourceLine, name_end: int) -> None:
        loc = line.loc
        args_col = line.column + name_end + (len(rest) - len(rest.lstrip()))
        args = rest.strip()
        aloc = loc.at(args_col)
        known = _DATA_ONLY | _ANYWHERE | _TEXT_ONLY
        if name not in known:
            raise loc.error(f"unknown directive .{name}")
        if name in _TEXT_ONLY and self.section != "text":
            raise loc.error(f".{name} is only allowed in the .text section")
        if name in _DATA_ONLY and self.section != "data" and not (name == "word" and self.section == "text"):
            raise loc.error(f".{name} is only allowed in the .data section (add .data before it)")
        handler = getattr(self, f"d_{name}", None) or getattr(self, f"d_{_ALIASES[name]}")
        handler(args, aloc, line)

    def d_text(self, args: str, loc: Loc, line: SourceLine) -> None:
        self._no_args(".text", args, loc)
        self.section = "text"

    def d_data(self, args: str, loc: Loc, line: SourceLine) -> None:
        self._no_args(".data", args, loc)
        self.section = "data"

    def _no_args(self, directive: str, args: str, loc: Loc) -> None:
        if args:
            raise loc.error(f"{directive} takes no arguments, got {args!r}")

    def _symbols(self, directive: str, args: str, loc: Loc, one: bool) -> list[str]:
        names = [t for t in re.split(r"[\s,]+", args) if t]
        if not names:
            raise loc.error(f"{directive} needs a symbol name")
        if one and len(names) > 1:
            raise loc.error(f"{directive} takes exactly one symbol; write one {directive} line per symbol")
        for n in names:
            if not is_symbol(n):
                raise loc.error(f"{directive}: invalid symbol name {n!r}")
        return names

    def d_export(self, args: str, loc: Loc, line: SourceLine) -> None:
        for n in self._symbols(".export", args, loc, one=True):
            self.m.exports.setdefault(n, loc)

    def d_extern(self, args: str, loc: Loc, line: SourceLine) -> None:
        for n in self._symbols(".extern", args, loc, one=False):
            self.m.externs.setdefault(n, loc)

    def d_import(self, args: str, loc: Loc, line: SourceLine) -> None:
        for n in self._symbols(".import", args, loc, one=False):
            self.m.imports.setdefault(n, loc)

    def d_entry(self, args: str, loc: Loc, line: SourceLine) -> None:
        self.m.entry_loc = loc
        if not args:
            self.m.entry, self.m.entry_symbol = len(self.m.code) * 4, None
            return
        value = parse_value(args, loc)
        if isinstance(value, SymRef):
            if value.kind != "symbol":
                raise loc.error(".entry takes a label or a number")
            self.m.entry, self.m.entry_symbol = None, value.name
        else:
            if not 0 <= value < MAX_CODE_BYTES or value % 4:
                raise loc.error(f".entry {value}: the entry must be a code offset, a multiple of 4 in 0..0xFFFC")
            self.m.entry, self.m.entry_symbol = value, None

    def d_org(self, args: str, loc: Loc, line: SourceLine) -> None:
        target = self._count(".org", args, loc, MAX_CODE_BYTES)
        while len(self.m.code) * 4 < target:
            self.m.code.append(0)

    def _count(self, directive: str, args: str, loc: Loc, limit: int) -> int:
        value = parse_number(args, loc) if args else None
        if value is None:
            raise loc.error(f"{directive} needs a number")
        if not 0 <= value <= limit:
            raise loc.error(f"{directive} {value} is out of range 0..{limit}")
        return value

    def d_value(self, args: str, loc: Loc, line: SourceLine) -> None:
        for obj in parse_json_objects(args, loc, ".value"):
            self.m.values.append((value_entry(obj, loc, self.m.warnings), loc))

    def d_cmd(self, args: str, loc: Loc, line: SourceLine) -> None:
        for obj in parse_json_objects(args, loc, ".cmd"):
            self.m.commands.append(command_entry(obj, loc, self.m.warnings))

    def d_mailbox(self, args: str, loc: Loc, line: SourceLine) -> None:
        for obj in parse_json_objects(args, loc, ".mailbox"):
            self.m.mailboxes.append((mailbox_entry(obj, loc), loc))

    def _emit_data(self, data: bytes, loc: Loc) -> None:
        if len(self.m.rodata) + len(data) > MAX_DATA_BYTES:
            raise loc.error(f"data section exceeds {MAX_DATA_BYTES} bytes")
        self.m.rodata += data

    def _data_items(self, directive: str, width: int, args: str, loc: Loc, line: SourceLine) -> None:
        items = split_items(args, loc.column)
        if not items:
            raise loc.error(f"{directive} needs at least one value")
        rtype = {1: "data_byte", 2: "data_half", 4: "data_word"}[width]
        for item in items:
            iloc = loc.at(item.column)
            if width == 1 and item.text[:1] in "\"'":  # .byte takes strings; 'c' is the same byte
                self._emit_data(parse_string(item.text, iloc), iloc)
                continue
            value = parse_value(item.text, iloc)
            if isinstance(value, SymRef):
                self.m.relocs.append(Reloc(rtype, len(self.m.rodata), value, iloc, line.text))
                value = 0
            lo, hi = -(1 << (8 * width - 1)), (1 << (8 * width)) - 1
            if not lo <= value <= hi:
                _warn(self.m, iloc, f"{directive} value {value} does not fit {8 * width} bits; truncated")
            self._emit_data((value & hi).to_bytes(width, "little"), iloc)

    def d_byte(self, args: str, loc: Loc, line: SourceLine) -> None:
        self._data_items(".byte", 1, args, loc, line)

    def d_half(self, args: str, loc: Loc, line: SourceLine) -> None:
        self._data_items(".half", 2, args, loc, line)

    def d_word(self, args: str, loc: Loc, line: SourceLine) -> None:
        if self.section == "data":
            self._data_items(".word", 4, args, loc, line)
            return
        items = split_items(args, loc.column)  # extension: raw code words in .text
        if not items:
            raise loc.error(".word needs at least one value")
        start = len(self.m.code)
        for item in items:
            iloc = loc.at(item.column)
            value = parse_value(item.text, iloc)
            if isinstance(value, SymRef):
                self.m.relocs.append(Reloc("code_word", len(self.m.code), value, iloc, line.text))
                value = 0
            if not -(1 << 31) <= value <= 0xFFFFFFFF:
                raise iloc.error(f".word value {value} does not fit 32 bits")
            self._emit_code([value & 0xFFFFFFFF], iloc)
        self.m.lines.append(CodeLine(start * 4, len(self.m.code) - start, line))

    def d_ascii(self, args: str, loc: Loc, line: SourceLine) -> None:
        self._emit_data(parse_string(args, loc), loc)

    def d_asciz(self, args: str, loc: Loc, line: SourceLine) -> None:
        self._emit_data(parse_string(args, loc) + b"\0", loc)

    def d_align(self, args: str, loc: Loc, line: SourceLine) -> None:
        n = self._count(".align", args, loc, MAX_DATA_BYTES)
        if n == 0:
            raise loc.error(".align needs a positive number")
        self._emit_data(bytes(-len(self.m.rodata) % n), loc)

    def d_zero(self, args: str, loc: Loc, line: SourceLine) -> None:
        self._emit_data(bytes(self._count(".zero", args, loc, MAX_DATA_BYTES)), loc)

    # -- instructions -----------------------------------------------------------------
    def _emit_code(self, words: list[int], loc: Loc) -> None:
        if (len(self.m.code) + len(words)) * 4 > MAX_CODE_BYTES:
            raise loc.error(f"code exceeds {MAX_CODE_BYTES} bytes")
        self.m.code.extend(words)

    def instruction(self, tokens: list[Token], line: SourceLine) -> None:
        mnemonic = tokens[0].text.upper()
        info = isa.BY_MNEMONIC.get(mnemonic)
        if info is None:
            raise line.loc.error(f"unknown mnemonic {tokens[0].text!r}")
        ops = tokens[1:]
        index = len(self.m.code)
        ctx = _Operands(self, info, ops, line, index)
        words = ctx.encode()
        self._emit_code(words, line.loc)
        self.m.lines.append(CodeLine(index * 4, len(words), line))


_ALIASES = {"hword": "half", "string": "asciz"}

# expected operand shapes per form, for messages
_SHAPES = {
    Form.NONE: "", Form.RD_RS: "Rd, Rs", Form.RD_RA_RB: "Rd, Ra, Rb", Form.RA_RB: "Ra, Rb",
    Form.RS: "Rs", Form.RD: "Rd", Form.RD_IMM: "Rd, imm", Form.RD_IMM32: "Rd, value",
    Form.RD_MEM: "Rd, [Rs+off]", Form.MEM_RT: "[Rs+off], Rt", Form.JUMP: "label",
    Form.CALL: "label", Form.SVC: "MOD=m, FN=f", Form.BRK: "[n]",
}  # fmt: skip


class _Operands:
    """Encodes one instruction's operands according to its :class:`Form`."""

    def __init__(self, state: _State, info: isa.OpInfo, ops: list[Token], line: SourceLine, index: int) -> None:
        self.state, self.info, self.ops, self.line, self.index = state, info, ops, line, index
        self.m = state.m

    def loc(self, i: int) -> Loc:
        return self.line.loc.at(self.ops[i].column) if i < len(self.ops) else self.line.loc

    def count(self, n: int) -> None:
        if len(self.ops) != n:
            shape = _SHAPES[self.info.form]
            usage = f"{self.info.mnemonic} {shape}".strip()
            raise self.line.loc.error(
                f"{self.info.mnemonic} takes {n} operand{'s' if n != 1 else ''} ({usage}), got {len(self.ops)}"
            )

    def reg(self, i: int) -> int:
        text = self.ops[i].text
        r = register_index(text)
        if r is None:
            if text.startswith("["):
                raise self.loc(i).error(f"expected a register, got memory operand {text}")
            raise self.loc(i).error(f"expected a register R0..R15, got {text!r}")
        return r

    def reloc(self, rtype: str, index: int, ref: SymRef, i: int) -> None:
        self.m.relocs.append(Reloc(rtype, index, ref, self.loc(i), self.line.text))
        if rtype == "call":
            self.m.call_targets.add(ref.name)

    def imm12(self, i: int, rtype: str, lo: int = -2048, hi: int = 2047, text: str | None = None) -> int:
        text = self.ops[i].text if text is None else text
        value = parse_value(text, self.loc(i))
        if isinstance(value, SymRef):
            self.reloc(rtype, self.index, value, i)
            return 0
        if not lo <= value <= hi:
            hint = f"; use LDI32 {self.ops[0].text}, {text}" if self.info.mnemonic == "LDI" else ""
            raise self.loc(i).error(f"{self.info.mnemonic} value {value} is out of range {lo}..{hi}{hint}")
        return value & 0xFFF

    def mem(self, i: int) -> tuple[int, int]:
        text = self.ops[i].text
        loc = self.loc(i)
        if not text.startswith("["):
            raise loc.error(f"expected a memory operand like [R7+-4], got {text!r}")
        if not text.endswith("]"):
            raise loc.error("memory operands may not contain spaces: write e.g. [R7+-4]")
        m = _MEM_RE.match(text)
        base = m.group(1) if m else ""
        if not m or register_index(base) is None:
            raise loc.error(f"memory operand {text} needs a base register, e.g. [R7+-4]")
        if not m.group(2):
            raise loc.error(f"write {text[:-1]}+0] instead of {text} (the offset is required)")
        if m.group(2) == "-":
            raise loc.error(f"write [{base}+-{m.group(3)}] instead of {text} (offsets are added: [Rs+off])")
        if not m.group(3):
            raise loc.error(f"memory operand {text} is missing its offset after '+'")
        return register_index(base) or 0, self.imm12(i, "mem", text=m.group(3))

    def encode(self) -> list[int]:
        for i, tok in enumerate(self.ops):
            if tok.text.startswith("[") and "]" not in tok.text:
                raise self.loc(i).error("memory operands may not contain spaces: write e.g. [R7+-4]")
        form, op = self.info.form, self.info.opcode
        enc = isa.encode
        if form is Form.NONE:
            self.count(0)
            return [enc(op)]
        if form is Form.RD_RS:
            self.count(2)
            return [enc(op, rd=self.reg(0), rs1=self.reg(1))]
        if form is Form.RD_RA_RB:
            self.count(3)
            return [enc(op, rd=self.reg(0), rs1=self.reg(1), rs2=self.reg(2))]
        if form is Form.RA_RB:
            self.count(2)
            return [enc(op, rs1=self.reg(0), rs2=self.reg(1))]
        if form is Form.RS:
            self.count(1)
            return [enc(op, rs1=self.reg(0))]
        if form is Form.RD:
            self.count(1)
            return [enc(op, rd=self.reg(0))]
        if form is Form.RD_IMM:
            self.count(2)
            return [enc(op, rd=self.reg(0), imm12=self.imm12(1, "imm12"))]
        if form is Form.RD_IMM32:
            self.count(2)
            rd = self.reg(0)
            value = parse_value(self.ops[1].text, self.loc(1))
            if isinstance(value, SymRef):
                self.reloc("imm32", self.index + 1, value, 1)
                value = 0
            if not -(1 << 31) <= value <= 0xFFFFFFFF:
                raise self.loc(1).error(f"LDI32 value {value} does not fit 32 bits")
            return [enc(op, rd=rd), value & 0xFFFFFFFF]
        if form is Form.RD_MEM:
            self.count(2)
            rd = self.reg(0)
            base, off = self.mem(1)
            return [enc(op, rd=rd, rs1=base, imm12=off)]
        if form is Form.MEM_RT:
            self.count(2)
            base, off = self.mem(0)
            return [enc(op, rs1=base, rs2=self.reg(1), imm12=off)]
        if form is Form.JUMP:
            self.count(1)
            return [enc(op, imm12=self.imm12(0, "jump", hi=4095))]
        if form is Form.CALL:
            self.count(1)
            return [enc(op, imm12=self.imm12(0, "call"))]
        if form is Form.SVC:
            return [enc(op, imm12=self.svc())]
        if form is Form.BRK:
            if len(self.ops) > 1:
                self.count(1)
            code = 0
            if self.ops:
                code = self.number(0, 0, 255)
            return [enc(op, imm12=code)]
        raise AssertionError(form)  # pragma: no cover - every Form is handled above

    def number(self, i: int, lo: int, hi: int, text: str | None = None) -> int:
        text = self.ops[i].text if text is None else text
        value = parse_number(text, self.loc(i))
        if value is None:
            raise self.loc(i).error(f"{self.info.mnemonic} needs a number here, got {text!r}")
        if not lo <= value <= hi:
            raise self.loc(i).error(f"{self.info.mnemonic} value {value} is out of range {lo}..{hi}")
        return value

    def svc(self) -> int:
        """``SVC imm12`` or ``SVC MOD=m, FN=f`` (spec §15.4, including the `SVC a, b` pitfall)."""
        if len(self.ops) == 1 and "=" not in self.ops[0].text:
            return self.number(0, 0, 0xFFF)
        module = fn = 0
        ignored = []
        for i, tok in enumerate(self.ops):
            if "=" not in tok.text:
                ignored.append(tok.text)
                continue
            key, _, value = tok.text.partition("=")
            key = key.strip().upper()
            if key == "MOD":
                module = self.number(i, 0, 15, value)
            elif key == "FN":
                fn = self.number(i, 0, 255, value)
            else:
                raise self.loc(i).error(f"unknown SVC key {key!r}; write SVC MOD=m, FN=f")
        if ignored:
            guess = ""
            if len(ignored) == 2:
                guess = f"; did you mean SVC MOD={ignored[0]}, FN={ignored[1]}?"
            _warn(
                self.m,
                self.line.loc,
                f"SVC operands without '=' are ignored ({', '.join(ignored)}); "
                f"this assembles to SVC MOD=0x{module:X}, FN=0x{fn:02X}{guess}",
            )
        return (module << 8) | fn


def _check_symbols(module: ObjModule) -> None:
    """Every referenced symbol must be a label here or declared .import/.extern."""
    for name, loc in module.imports.items():
        if name in module.labels:
            raise loc.error(f"{name!r} is declared .import but defined in this file; use .export instead")
    for name, loc in module.exports.items():
        if name not in module.labels:
            hint = f" (it is declared .import at line {module.imports[name].line})" if name in module.imports else ""
            raise loc.error(f".export {name}: symbol is not defined in this file{hint}")
    declared = module.labels.keys() | module.imports.keys() | module.externs.keys()
    for reloc in module.relocs:
        if reloc.ref.name not in declared:
            raise reloc.loc.error(
                f"undefined symbol {reloc.ref.name!r} "
                f"(define the label, or declare '.import {reloc.ref.name}' if another file exports it)"
            )
    for cmd in module.commands:
        if cmd.handler and cmd.handler.name not in declared:
            raise cmd.loc.error(f".cmd handler {cmd.handler.name!r} is not a label in this file or an import")
    if module.entry_symbol and module.entry_symbol not in declared and module.entry_loc:
        raise module.entry_loc.error(f".entry {module.entry_symbol}: undefined symbol")
