"""MVASM source handling: includes, comments, lines, tokens and literals (spec hsx-vm.md §15.1).

The assembler never opens files. Callers pass ``(name, text)`` pairs and, if the sources use
``.include``, an ``include_loader(path) -> text`` callable; this module resolves include paths
relative to the including file's name with :mod:`os.path` string operations only.

Everything here reports problems as :class:`AsmError`, which carries ``file``, ``line`` and
``column`` (1-based) and renders as ``file:line:column: message``.
"""

from __future__ import annotations

import os.path
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "MAX_INCLUDE_DEPTH",
    "MAX_LINES",
    "MAX_SOURCE_BYTES",
    "AsmError",
    "IncludeLoader",
    "Loc",
    "SourceLine",
    "SymRef",
    "Token",
    "is_symbol",
    "parse_number",
    "parse_string",
    "parse_value",
    "read_lines",
    "register_index",
    "split_items",
    "tokenize",
]

#: total bytes of source (all files and includes) one assembly may read
MAX_SOURCE_BYTES = 8 << 20
#: nested `.include` depth
MAX_INCLUDE_DEPTH = 16
#: total source lines after include expansion
MAX_LINES = 500_000

IncludeLoader = Callable[[str], str]

_SYMBOL_RE = re.compile(r"[A-Za-z_.][A-Za-z0-9_.$]*\Z")
_DECIMAL_RE = re.compile(r"[+-]?[0-9][0-9_]*\Z")
_FUNC_RE = re.compile(r"(lo16|hi16|off16)\((.*)\)\Z", re.IGNORECASE)
_REGISTER_RE = re.compile(r"[Rr]([0-9]{1,2})\Z")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "0": "\0"}


class AsmError(Exception):
    """An MVASM source or link error, located at ``file:line:column`` (1-based; 0 = unknown).

    ``message`` says what is wrong and, where there is one, what to write instead.
    """

    def __init__(self, message: str, file: str = "", line: int = 0, column: int = 0) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.column) if p not in ("", 0))
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True, slots=True)
class Loc:
    """A source position (1-based line and column)."""

    file: str
    line: int
    column: int = 1

    def error(self, message: str) -> AsmError:
        """An :class:`AsmError` at this position."""
        return AsmError(message, self.file, self.line, self.column)

    def at(self, column: int) -> Loc:
        """The same line at another column."""
        return Loc(self.file, self.line, column)


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One non-empty line after include expansion and comment removal."""

    file: str
    line: int
    column: int  # column of the first character of ``text`` in the original line
    text: str  # comment removed, whitespace stripped
    raw: str  # the original line (for .sym listings)

    @property
    def loc(self) -> Loc:
        """Position of the start of ``text``."""
        return Loc(self.file, self.line, self.column)


@dataclass(frozen=True, slots=True)
class Token:
    """A token of an instruction line with its 1-based column."""

    text: str
    column: int


@dataclass(frozen=True, slots=True)
class SymRef:
    """A symbol reference, optionally wrapped in lo16/hi16/off16 (``kind``)."""

    name: str
    kind: str = "symbol"  # symbol | lo16 | hi16 | off16

    def __str__(self) -> str:
        return self.name if self.kind == "symbol" else f"{self.kind}({self.name})"


def read_lines(
    sources: list[tuple[str, str]] | tuple[tuple[str, str], ...],
    include_loader: IncludeLoader | None = None,
) -> list[list[SourceLine]]:
    """Expand includes and strip comments; one list of lines per source module.

    Raises:
        AsmError: include recursion, missing include, no loader, or size limits exceeded.
    """
    budget = [MAX_SOURCE_BYTES, MAX_LINES]
    modules = []
    for name, text in sources:
        out: list[SourceLine] = []
        _expand(name, text, include_loader, [name], out, budget)
        modules.append(out)
    return modules


def _expand(
    name: str,
    text: str,
    loader: IncludeLoader | None,
    stack: list[str],
    out: list[SourceLine],
    budget: list[int],
) -> None:
    budget[0] -= len(text)
    if budget[0] < 0:
        raise AsmError(f"source too large: more than {MAX_SOURCE_BYTES} bytes in total", name)
    for number, raw in enumerate(text.splitlines(), start=1):
        code = raw.split(";", 1)[0]
        stripped = code.strip()
        if not stripped:
            continue
        budget[1] -= 1
        if budget[1] < 0:
            raise AsmError(f"source too large: more than {MAX_LINES} lines in total", name, number)
        column = len(code) - len(code.lstrip()) + 1
        if stripped.lower().startswith(".include"):
            loc = Loc(name, number, column)
            target = _include_target(stripped, loc)
            path = os.path.normpath(os.path.join(os.path.dirname(name), target))
            if path in stack:
                chain = " -> ".join([*stack, path])
                raise loc.error(f"include recursion: {chain}")
            if len(stack) > MAX_INCLUDE_DEPTH:
                raise loc.error(f"includes nested deeper than {MAX_INCLUDE_DEPTH}")
            if loader is None:
                raise loc.error(f"cannot include {target!r}: no include loader was given")
            try:
                included = loader(path)
            except (OSError, UnicodeDecodeError) as exc:
                raise loc.error(f"cannot include {target!r} ({path}): {exc}") from None
            _expand(path, included, loader, [*stack, path], out, budget)
            continue
        out.append(SourceLine(name, number, column, stripped, raw))


def _include_target(text: str, loc: Loc) -> str:
    arg = text[len(".include") :].strip()
    if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "\"'":
        arg = arg[1:-1]
    if not arg or not text[len(".include") :][:1].isspace():
        raise loc.error('.include needs a file name: .include "lib/file.mvasm"')
    return arg


def tokenize(line: SourceLine) -> list[Token]:
    """Split an instruction line on runs of commas/whitespace (§15.1).

    Character literals (``' '``, ``','``) are kept whole, which the reference does not do.
    """
    text = line.text
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t,":
            i += 1
            continue
        start = i
        if text[i] == "'":
            end = _char_literal_end(text, i)
            if end is not None:
                tokens.append(Token(text[i:end], line.column + start))
                i = end
                continue
        while i < n and text[i] not in " \t,":
            i += 1
        tokens.append(Token(text[start:i], line.column + start))
    return tokens


def _char_literal_end(text: str, i: int) -> int | None:
    """End index of a char literal starting at ``text[i] == "'"``, or None."""
    if text.startswith("\\x", i + 1) and text[i + 5 : i + 6] == "'":
        return i + 6
    if text[i + 1 : i + 2] == "\\" and text[i + 3 : i + 4] == "'":
        return i + 4
    if len(text) > i + 2 and text[i + 2] == "'":
        return i + 3
    return None


def register_index(text: str) -> int | None:
    """``R0``..``R15`` (case-insensitive) → index; anything else → None."""
    m = _REGISTER_RE.match(text)
    if m and int(m.group(1)) <= 15:
        return int(m.group(1))
    return None


def is_symbol(text: str) -> bool:
    """True for a valid symbol name ``[A-Za-z_.][A-Za-z0-9_.$]*``."""
    return bool(_SYMBOL_RE.match(text))


def parse_number(text: str, loc: Loc) -> int | None:
    """Parse an MVASM number (§15.1); None if ``text`` does not look like a number.

    Raises:
        AsmError: it looks numeric but is malformed (``0xZZ``, ``-0x10``, ``1__0``...).
    """
    if text.startswith("'"):
        return _parse_char(text, loc)
    low = text.lower()
    if low.startswith(("-0x", "+0x", "-0b", "+0b")):
        hint = ""
        try:
            hint = f"; write {int(low[0] + low[3:], 16 if low[2] == 'x' else 2)}"
        except ValueError:
            pass
        raise loc.error(f"signed hex/binary number {text!r} is not accepted{hint}")
    for prefix, base, what in (("0x", 16, "hex"), ("0b", 2, "binary")):
        if low.startswith(prefix):
            try:
                if not low[2:] or low[2] == "_":
                    raise ValueError
                return int(low[2:], base)
            except ValueError:
                raise loc.error(f"bad {what} number {text!r}") from None
    if _DECIMAL_RE.match(text):
        try:
            return int(text, 10)
        except ValueError:
            raise loc.error(f"bad number {text!r} (underscores only between digits)") from None
    return None


def _parse_char(text: str, loc: Loc) -> int:
    if len(text) < 3 or not text.endswith("'"):
        raise loc.error(f"bad character literal {text}: write 'c' or an escape like '\\n'")
    data = _unescape(text[1:-1], loc)
    if len(data) != 1:
        raise loc.error(f"character literal {text} must hold exactly one character")
    return data[0]


def parse_value(text: str, loc: Loc) -> int | SymRef:
    """A number, a symbol or ``lo16/hi16/off16(symbol)``.

    Raises:
        AsmError: none of those (with a hint for registers and ``sym+N`` arithmetic).
    """
    number = parse_number(text, loc)
    if number is not None:
        return number
    m = _FUNC_RE.match(text)
    if m:
        inner = m.group(2).strip()
        if not is_symbol(inner):
            raise loc.error(f"{m.group(1).lower()}() takes one symbol name, got {inner!r}")
        return SymRef(inner, m.group(1).lower())
    if register_index(text) is not None:
        raise loc.error(f"expected a number or symbol, got register {text}")
    if is_symbol(text):
        return SymRef(text)
    if any(op in text for op in "+-*") and not text.startswith(("+", "-")):
        raise loc.error(f"expressions are not supported ({text!r}); MVASM has no arithmetic")
    raise loc.error(f"expected a number or symbol, got {text!r}")


def parse_string(text: str, loc: Loc) -> bytes:
    """Parse one quoted string literal (``"…"`` or ``'…'``) to bytes (chars must be < 256).

    Raises:
        AsmError: unquoted, unterminated, trailing text, or characters ≥ 256.
    """
    text = text.strip()
    if len(text) < 2 or text[0] not in "\"'" or text[-1] != text[0]:
        raise loc.error(f"expected a quoted string, got {text!r}")
    body = text[1:-1]
    quote = text[0]
    # an unescaped quote inside means two strings or trailing garbage
    i = 0
    while i < len(body):
        if body[i] == "\\":
            i += 2
            continue
        if body[i] == quote:
            raise loc.error(f"unexpected text after the string: {text[i + 2 :]!r}")
        i += 1
    if body.endswith("\\") and not body.endswith("\\\\"):
        raise loc.error("unterminated string (ends with a backslash)")
    return _unescape(body, loc)


def _unescape(body: str, loc: Loc) -> bytes:
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "x":
                digits = body[i + 2 : i + 4]
                if len(digits) != 2 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise loc.error(f"bad escape \\x{digits}: write two hex digits, e.g. \\x0A")
                out.append(int(digits, 16))
                i += 4
                continue
            ch = _ESCAPES.get(nxt, nxt)
            i += 2
        else:
            i += 1
        if ord(ch) > 255:
            raise loc.error(f"character {ch!r} is not a byte; write its UTF-8 bytes as \\xHH escapes")
        out.append(ord(ch))
    return bytes(out)


def split_items(text: str, column: int) -> list[Token]:
    """Split a data directive's arguments on commas outside quotes, keeping columns."""
    items: list[Token] = []
    start, quote, i = 0, "", 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == ",":
            items.append(_item(text, start, i, column))
            start = i + 1
        i += 1
    items.append(_item(text, start, len(text), column))
    return [t for t in items if t.text]


def _item(text: str, start: int, end: int, column: int) -> Token:
    chunk = text[start:end]
    lead = len(chunk) - len(chunk.lstrip())
    return Token(chunk.strip(), column + start + lead)
