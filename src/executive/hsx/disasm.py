"""HSX disassembler: code words → MVASM text that reassembles to the same words (spec §2, §5, §15.4).

Every word is rendered in assembler syntax. A word the assembler could not produce — an
illegal opcode, or a legal one with bits set in fields the assembler always writes as 0
(e.g. ``RET`` with rd=3, ``CALL`` with a base register) — is rendered as ``.word 0x…``
(the assembler accepts ``.word`` in ``.text``), so ``assemble(render(disassemble(code)))``
reproduces ``code`` exactly. LDI32 consumes its literal word; an LDI32 in the last word
overruns the code and is rendered as ``.word``.

Symbols (a :class:`~executive.hsx.symbols.SymbolTable`, a `.sym` dict or ``(name, addr)``
pairs) add label lines, name jump/call targets and annotate instructions with the fields a
debugger wants (hsx-executive.md §8.6: ``target``, ``target_symbol``, ``symbol`` + offset,
``label``, source ``line``). Only names that are unique and sit at an instruction start are
used in operands, so the text always reassembles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from executive.hsx import isa
from executive.hsx._asm_source import is_symbol, register_index
from executive.hsx.isa import RODATA_BASE, Form
from executive.hsx.symbols import SymbolTable

__all__ = ["Instruction", "SymbolsLike", "as_symbol_table", "disasm_word", "disassemble", "render", "render_data"]

SymbolsLike = SymbolTable | Mapping[str, Any] | Iterable[tuple[str, int]] | None


@dataclass(frozen=True, slots=True)
class Instruction:
    """One decoded instruction (1 word, or 2 for LDI32).

    ``text`` is assemblable MVASM; ``comment`` is an annotation for listings.
    """

    index: int  # position in the listing
    pc: int  # code byte address
    size: int  # 4, or 8 for LDI32
    word: int  # first word
    mnemonic: str  # upper-case mnemonic; "0x%02X" for an illegal opcode
    operands: str  # operand text as written after the mnemonic ("" if none)
    text: str  # full assemblable line, e.g. "LD R1, [R7+-4]" or ".word 0x12000000"
    comment: str = ""  # e.g. "-> 0x0040 main", "msg", "illegal opcode 0x12"
    rd: int = 0
    rs1: int = 0
    rs2: int = 0
    imm: int = 0  # sign-extended imm12 (unsigned for JMP/JZ/JNZ, SVC and BRK)
    imm_raw: int = 0  # the raw 12-bit field
    extended_word: int | None = None  # LDI32 literal
    target: int | None = None  # JMP/JZ/JNZ/CALL destination
    target_symbol: str | None = None
    symbol: str | None = None  # nearest code symbol at or before pc
    symbol_offset: int | None = None
    label: str | None = None  # symbol name when pc is exactly at a symbol
    file: str | None = None
    line: int | None = None
    canonical: bool = True  # False: rendered as .word (illegal or non-canonical)

    @property
    def raw_bytes(self) -> bytes:
        """The bytes this instruction occupies in the code (big-endian words)."""
        data = self.word.to_bytes(4, "big")
        if self.size == 8 and self.extended_word is not None:
            data += self.extended_word.to_bytes(4, "big")
        return data

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (None values dropped) plus ``bytes`` as hex (hsx-executive.md §8.6)."""
        doc = {k: v for k, v in asdict(self).items() if v is not None}
        doc["bytes"] = self.raw_bytes.hex()
        return doc


def as_symbol_table(symbols: SymbolsLike) -> SymbolTable | None:
    """Accept a SymbolTable, a `.sym` document or ``(name, address)`` pairs."""
    if symbols is None or isinstance(symbols, SymbolTable):
        return symbols
    if isinstance(symbols, Mapping):
        return SymbolTable.from_sym(symbols)
    return SymbolTable.from_pairs(symbols)


def disasm_word(
    word: int,
    pc: int = 0,
    next_word: int | None = None,
    symbols: SymbolsLike = None,
    *,
    index: int = 0,
) -> Instruction:
    """Decode one instruction at ``pc`` (``next_word`` is the LDI32 literal, if any).

    Any code symbol name may be used for targets; :func:`disassemble` restricts names to
    those it emits as labels.
    """
    table = as_symbol_table(symbols)
    return _decode(word, pc, next_word, table, (table.code_name if table else _no_name), index)


def disassemble(code: bytes, symbols: SymbolsLike = None, *, base: int = 0) -> list[Instruction]:
    """Decode a whole code section (big-endian words) starting at address ``base``.

    A trailing partial word (``len(code) % 4``) is ignored.
    """
    table = as_symbol_table(symbols)
    words = [int.from_bytes(code[i : i + 4], "big") for i in range(0, len(code) - len(code) % 4, 4)]
    # first pass: instruction starts (an LDI32 literal is not a start)
    starts: list[int] = []
    i = 0
    while i < len(words):
        starts.append(i)
        i += 2 if _is_ldi32(words, i) else 1
    names = _usable_names(table, {base + 4 * s for s in starts} | {base + 4 * len(words)})
    out = []
    for n, s in enumerate(starts):
        nxt = words[s + 1] if s + 1 < len(words) else None
        out.append(_decode(words[s], base + 4 * s, nxt, table, names.get, n))
    return out


def render(
    instructions: list[Instruction],
    symbols: SymbolsLike = None,
    *,
    addresses: bool = True,
    end: int | None = None,
) -> str:
    """MVASM text for ``instructions``, with label lines for usable symbol names.

    ``addresses`` adds ``; 0x0000: 01100005`` comments (still assemblable). ``end`` is the
    code length, so labels just past the last instruction are kept.
    """
    table = as_symbol_table(symbols)
    starts = {ins.pc for ins in instructions}
    if end is None and instructions:
        end = instructions[-1].pc + instructions[-1].size
    if end is not None:
        starts.add(end)
    by_addr = _usable_names(table, starts).all
    lines: list[str] = []
    for ins in instructions:
        lines.extend(f"{n}:" for n in by_addr.get(ins.pc, []))
        notes = []
        if addresses:
            words = f"{ins.word:08X}" + (f" {ins.extended_word:08X}" if ins.extended_word is not None else "")
            notes.append(f"0x{ins.pc:04X}: {words}")
        if ins.comment:
            notes.append(ins.comment)
        body = f"    {ins.text}"
        lines.append(f"{body:<40} ; {'  '.join(notes)}" if notes else body)
    if end is not None and end not in {i.pc for i in instructions}:
        lines.extend(f"{n}:" for n in by_addr.get(end, []))
    return "\n".join(lines) + "\n"


def render_data(rodata: bytes, symbols: SymbolsLike = None, *, per_line: int = 16) -> str:
    """A ``.data`` section reproducing ``rodata`` as ``.byte`` lines, with variable labels.

    Labels come from the data symbols (variables) at 0x4000 + offset; names that repeat or
    are not valid symbols are skipped. Empty rodata gives an empty string.
    """
    if not rodata:
        return ""
    table = as_symbol_table(symbols)
    labels: dict[int, list[str]] = {}
    if table is not None:
        seen: dict[str, int] = {}
        for sym in table.data_symbols():
            seen[sym.name] = seen.get(sym.name, 0) + 1
        for sym in table.data_symbols():
            offset = sym.address - RODATA_BASE
            if 0 <= offset <= len(rodata) and seen[sym.name] == 1 and is_symbol(sym.name):
                labels.setdefault(offset, []).append(sym.name)
    cuts = sorted({0, len(rodata), *labels})
    lines = [".data"]
    for start, stop in zip(cuts, [*cuts[1:], len(rodata)], strict=True):
        lines.extend(f"{name}:" for name in labels.get(start, []))
        for i in range(start, stop, per_line):
            chunk = rodata[i : min(i + per_line, stop)]
            lines.append("    .byte " + ", ".join(f"0x{b:02X}" for b in chunk) + f"{'':<4}; 0x{RODATA_BASE + i:04X}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------


def _no_name(_addr: int) -> str | None:
    return None


def _is_ldi32(words: list[int], i: int) -> bool:
    """An LDI32 opcode with a word after it executes as one 8-byte instruction (spec §2)."""
    return (words[i] >> 24) == 0x60 and i + 1 < len(words)


@dataclass(slots=True)
class _Usable:
    """Label names safe to write in reassemblable text."""

    all: dict[int, list[str]]  # address -> every usable name (label lines)

    def get(self, address: int) -> str | None:
        """The name to use in an operand for ``address``."""
        names = self.all.get(address)
        return names[0] if names else None


def _usable_names(table: SymbolTable | None, starts: set[int]) -> _Usable:
    """Names that are valid symbols, unique, and at an instruction start (or the code end)."""
    if table is None:
        return _Usable({})
    addresses: dict[str, set[int]] = {}
    candidates: dict[int, list[str]] = {}
    for addr in sorted(starts):
        for name in table.code_names(addr):
            if is_symbol(name) and register_index(name) is None:
                candidates.setdefault(addr, []).append(name)
    for addr in {s.address for s in table.code_symbols()}:
        for name in table.code_names(addr):
            addresses.setdefault(name, set()).add(addr)
    unique = {n for n, a in addresses.items() if len(a) == 1}
    return _Usable({a: [n for n in ns if n in unique] for a, ns in candidates.items() if any(n in unique for n in ns)})


def _reg(r: int) -> str:
    return f"R{r}"


def _mem(base: int, off: int) -> str:
    return f"[R{base}+{off}]"


def _decode(
    word: int,
    pc: int,
    next_word: int | None,
    table: SymbolTable | None,
    name_for: Any,
    index: int,
) -> Instruction:
    word &= 0xFFFFFFFF
    op, rd, rs1, rs2, raw = isa.decode_fields(word)
    info = isa.OPCODES.get(op)
    simm = isa.sext12(raw)
    sym_fields: dict[str, Any] = {}
    if table is not None:
        near = table.nearest_code(pc)
        if near is not None:
            sym_fields["symbol"], sym_fields["symbol_offset"] = near[0].name, near[1]
            if near[1] == 0:
                sym_fields["label"] = near[0].name
        where = table.line(pc)
        if where is not None:
            sym_fields["file"], sym_fields["line"] = where.file, where.line
    base = dict(index=index, pc=pc, word=word, rd=rd, rs1=rs1, rs2=rs2, imm=simm, imm_raw=raw, **sym_fields)

    if info is None:
        return Instruction(
            size=4, mnemonic=f"0x{op:02X}", operands=f"0x{word:08X}", text=f".word 0x{word:08X}",
            comment=f"illegal opcode 0x{op:02X}", canonical=False, **base,
        )  # fmt: skip
    form, mn = info.form, info.mnemonic
    enc = isa.encode
    size = 4
    comment = ""
    extra: dict[str, Any] = {}
    if form is Form.NONE:
        ops, canon = "", enc(op)
    elif form is Form.RD_RS:
        ops, canon = f"{_reg(rd)}, {_reg(rs1)}", enc(op, rd, rs1)
    elif form is Form.RD_RA_RB:
        ops, canon = f"{_reg(rd)}, {_reg(rs1)}, {_reg(rs2)}", enc(op, rd, rs1, rs2)
    elif form is Form.RA_RB:
        ops, canon = f"{_reg(rs1)}, {_reg(rs2)}", enc(op, 0, rs1, rs2)
    elif form is Form.RS:
        ops, canon = _reg(rs1), enc(op, rs1=rs1)
    elif form is Form.RD:
        ops, canon = _reg(rd), enc(op, rd=rd)
    elif form is Form.RD_IMM:
        ops, canon = f"{_reg(rd)}, {simm}", enc(op, rd, imm12=raw)
    elif form is Form.RD_IMM32:
        canon = enc(op, rd)
        if next_word is None:
            canon = -1  # overruns the code: not reproducible as an instruction
            ops = _reg(rd)
            comment = "overruns the code: no literal word"
        else:
            lit = next_word & 0xFFFFFFFF
            size = 8
            ops = f"{_reg(rd)}, 0x{lit:08X}"
            extra["extended_word"] = lit
            if table is not None:
                named = table.data_name(lit) or table.code_name(lit)
                comment = named or ""
    elif form is Form.RD_MEM:
        ops, canon = f"{_reg(rd)}, {_mem(rs1, simm)}", enc(op, rd, rs1, imm12=raw)
    elif form is Form.MEM_RT:
        ops, canon = f"{_mem(rs1, simm)}, {_reg(rs2)}", enc(op, 0, rs1, rs2, raw)
    elif form is Form.JUMP:
        target = raw
        name = name_for(target)
        ops, canon = (name or f"0x{target:04X}"), enc(op, imm12=raw)
        extra.update(imm=raw, target=target)
        tname = table.code_name(target) if table is not None else None
        if tname:
            extra["target_symbol"] = tname
    elif form is Form.CALL:
        target = (pc + simm * 4) & 0xFFFF
        name = name_for(target) if 0 <= pc + simm * 4 <= 0xFFFF else None
        ops, canon = (name or str(simm)), enc(op, imm12=raw)
        extra["target"] = target
        tname = table.code_name(target) if table is not None else None
        if tname:
            extra["target_symbol"] = tname
        comment = f"-> 0x{target:04X}" + (f" {tname}" if tname and not name else "")
        if rs1:
            comment = f"CALL via R{rs1} base"
    elif form is Form.SVC:
        ops, canon = f"MOD=0x{raw >> 8:X}, FN=0x{raw & 0xFF:02X}", enc(op, imm12=raw)
        extra["imm"] = raw
    else:  # Form.BRK
        ops, canon = (str(raw & 0xFF) if raw & 0xFF else ""), enc(op, imm12=raw & 0xFF)
        extra["imm"] = raw
    if canon != word:
        note = f"non-canonical {mn}" + (f" {ops}" if ops else "")
        if comment:
            note += f"; {comment}"
        raw_words = f"0x{word:08X}"
        if "extended_word" in extra:  # a non-canonical LDI32 still consumes its literal
            raw_words += f", 0x{extra['extended_word']:08X}"
        return Instruction(
            size=size, mnemonic=mn, operands=raw_words, text=f".word {raw_words}",
            comment=note, canonical=False, **{**base, **extra},
        )  # fmt: skip
    text = f"{mn} {ops}" if ops else mn
    return Instruction(size=size, mnemonic=mn, operands=ops, text=text, comment=comment, **{**base, **extra})
