"""Values of debugger expressions: the prompt's ``p EXPR``, conditional breakpoints, watch
panes, hovers and the DAP debug console.

Theory of operation
-------------------
One grammar for every front end, a superset of the address grammar of
:mod:`executive.debugger.expr` (numbers, ``name``, ``name±off``, ``file:line``)::

    R0..R15 | PC | SP | PSW | FP   a register (case-insensitive, optional $ as in gdb; FP is R7)
    42 | 0x2A                      a number
    name                           a local of the frame, else a symbol: a variable's contents
                                   (its size when 1, 2 or 4 bytes, else the first word); a code
                                   symbol's value is its address
    name+off | name-off            the address grammar: the variable's memory at that offset
                                   (or the code address); ``(name)+off`` is arithmetic
    file:line                      the code address of a source line
    *EXPR                          the 32-bit little-endian word at data address EXPR
    *(u8*)EXPR, (i16)EXPR          typed reads and casts: u8 u16 u32 i8 i16 i32 char short int ...
    &name                          the data address of a variable or local
    + - * / % << >> & | ^ ~ !  == != < <= > >=  && ||   C operators with C precedence

:func:`parse` turns text into a small tree (recursive descent); :func:`evaluate` walks it
against an :class:`Environment` the caller fills from the task (registers, data memory,
symbols, the frame's locals).  Both are pure: no task, no I/O.  The result is a dict:
``{expr, kind, value}`` plus ``address``/``size``/``symbol`` where they apply; ``kind`` is
``register``, ``number`` (a literal or a computed value), ``variable``, ``local``, ``code``
or ``memory`` (a dereference).

Rejected alternative: ``ast.parse`` with a node allow-list — Python has no ``&&`` or
``(u32*)`` casts, and rewriting text to Python first makes error positions wrong.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from executive.debugger.expr import code_address, parse_int
from executive.debugger.symbols import SymbolIndex
from executive.kernel.errors import BadParamsError

__all__ = ["MAX_EXPR", "TYPES", "Environment", "evaluate", "evaluate_in", "parse"]

MAX_EXPR = 256  # characters; longer input is refused
_MEM_END = 0x10000
#: cast type names -> (width in bytes, signed)
TYPES: dict[str, tuple[int, bool]] = {
    "u8": (1, False), "u16": (2, False), "u32": (4, False), "i8": (1, True), "i16": (2, True), "i32": (4, True),
    "s8": (1, True), "s16": (2, True), "s32": (4, True), "uint8_t": (1, False), "uint16_t": (2, False),
    "uint32_t": (4, False), "int8_t": (1, True), "int16_t": (2, True), "int32_t": (4, True), "char": (1, True),
    "short": (2, True), "int": (4, True), "long": (4, True), "unsigned": (4, False), "byte": (1, False),
    "word": (4, False),
}  # fmt: skip
_TOKEN = re.compile(
    r"\s*(?:(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|\d+)|([A-Za-z_.$][\w.$@]*)"
    r"|(==|!=|<=|>=|&&|\|\||<<|>>|[-+*/%()<>!~&|^]))"
)
_FILE_LINE = re.compile(r"^\s*(.+?\.[A-Za-z0-9]+):(\d+)\s*$")
_BINARY = [  # precedence levels, loosest first
    ("||",),
    ("&&",),
    ("|",),
    ("^",),
    ("&",),
    ("==", "!="),
    ("<", "<=", ">", ">="),
    ("<<", ">>"),
    ("+", "-"),
    ("*", "/", "%"),
]


@dataclasses.dataclass
class Environment:
    """What names and memory mean for one frame of one task."""

    regs: list[int]  # R0..R15
    pc: int
    sp: int
    psw: int
    mem: bytearray  # data memory
    symbols: SymbolIndex | None = None
    locals: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # name -> debug.locals entry


Node = tuple[Any, ...]


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise BadParamsError(f"cannot read {text[pos:].strip()[:20]!r} at column {pos + 1} of {text!r}")
        num, name, op = m.groups()
        out.append(("num", num) if num else ("name", name) if name else ("op", op))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, k: int = 0) -> tuple[str, str] | None:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else None

    def take(self, op: str) -> bool:
        if self.peek() == ("op", op):
            self.i += 1
            return True
        return False

    def expect(self, op: str) -> None:
        if not self.take(op):
            t = self.peek()
            raise BadParamsError(f"expected {op!r} in {self.text!r}, found {t[1] if t else 'the end'!r}")

    def binary(self, level: int) -> Node:
        if level == len(_BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while True:
            t = self.peek()
            if t is None or t[0] != "op" or t[1] not in _BINARY[level]:
                return left
            self.i += 1
            right = self.binary(level + 1)
            if t[1] in "+-" and left[0] == "name" and right[0] == "num" and not left[2]:
                left = ("symoff", left[1], right[1] if t[1] == "+" else -right[1])  # the address grammar
            else:
                left = ("bin", t[1], left, right)

    def cast(self) -> tuple[int, bool, bool] | None:
        """``(type)`` or ``(type*)`` at the cursor: (width, signed, pointer); None if not a cast."""
        t1 = self.peek(1)
        if self.peek() != ("op", "(") or t1 is None or t1[0] != "name" or t1[1] not in TYPES:
            return None
        self.i += 2
        width, signed = TYPES[t1[1]]
        pointer = self.take("*")
        self.expect(")")
        return width, signed, pointer

    def unary(self) -> Node:
        for op in ("-", "!", "~", "*", "&", "+"):
            if self.take(op):
                return ("un", op, self.unary())
        cast = self.cast()
        if cast is not None:
            return ("cast", *cast, self.unary())
        return self.primary()

    def primary(self) -> Node:
        t = self.peek()
        if t is None:
            raise BadParamsError(f"{self.text!r} ends where a value was expected")
        self.i += 1
        if t[0] == "num":
            n = parse_int(t[1])
            assert n is not None
            return ("num", n)
        if t[0] == "name":
            return ("name", t[1], False)
        if t[1] == "(":
            inner = self.binary(0)
            self.expect(")")
            return ("name", inner[1], True) if inner[0] == "name" else inner  # (name): a value, not name+off
        raise BadParamsError(f"unexpected {t[1]!r} in {self.text!r}")


def parse(text: str) -> Node:
    """Parse an expression into a tree.

    Raises:
        BadParamsError: empty, too long (``MAX_EXPR``) or not an expression (the message
            names what was found where).
    """
    expr = text.strip()
    if not expr:
        raise BadParamsError("print what? give a register (R0, PC), a number, a variable, name+off or *address")
    if len(expr) > MAX_EXPR:
        raise BadParamsError(f"expression is {len(expr)} characters; at most {MAX_EXPR}")
    if _FILE_LINE.match(expr):
        return ("line", expr)
    p = _Parser(expr)
    node = p.binary(0)
    extra = p.peek()
    if extra is not None:
        raise BadParamsError(f"unexpected {extra[1]!r} after a complete expression in {expr!r}")
    return node


def _read(env: Environment, address: int, size: int, signed: bool = False) -> int:
    a = address & 0xFFFF
    if a + size > _MEM_END:
        raise BadParamsError(f"a {size}-byte read at 0x{a:04X} runs past the end of data memory (0xFFFF)")
    return int.from_bytes(env.mem[a : a + size], "little", signed=signed)


def _register(env: Environment, name: str) -> int | None:
    n = name.lower().lstrip("$")
    if n in ("pc", "sp", "psw", "fp"):
        return {"pc": env.pc, "sp": env.sp, "psw": env.psw, "fp": env.regs[7]}[n]
    if n.startswith("r") and n[1:].isdigit() and 0 <= int(n[1:]) < 16:
        return env.regs[int(n[1:])]
    return None


def _symbol(env: Environment, name: str, off: int) -> dict[str, Any]:
    sym = env.symbols.lookup(name) if env.symbols is not None else None
    if sym is None:
        where = "no symbols are loaded" if env.symbols is None else "not in this task's symbols"
        raise BadParamsError(f"no symbol named {name!r} ({where}), and it is not a register or a local here")
    address = sym.address + off
    if sym.space == "code":
        return {"kind": "code", "value": address, "address": address, "symbol": sym.name}
    size = sym.size if sym.size in (1, 2, 4) and off == 0 else 4
    return {
        "kind": "variable",
        "value": _read(env, address, size),
        "address": address,
        "size": size,
        "symbol": sym.name,
    }


def _name(env: Environment, name: str) -> dict[str, Any]:
    reg = _register(env, name)
    if reg is not None:
        return {"kind": "register", "value": reg}
    local = env.locals.get(name)
    if local is not None:
        if "value" not in local:
            raise BadParamsError(f"local {name!r} is not available here: {local.get('error', 'no value')}")
        d: dict[str, Any] = {"kind": "local", "value": local["value"]}
        if local.get("address") is not None:
            d.update(address=local["address"], size=min(local.get("size") or 4, 4))
        return d
    return _symbol(env, name, 0)


def _binary(op: str, a: int, b: int) -> int:
    if op in ("/", "%") and b == 0:
        raise BadParamsError("division by zero in the expression")
    ops: dict[str, Callable[[int, int], int]] = {
        "||": lambda x, y: int(bool(x) or bool(y)), "&&": lambda x, y: int(bool(x) and bool(y)),
        "|": lambda x, y: x | y, "^": lambda x, y: x ^ y, "&": lambda x, y: x & y,
        "==": lambda x, y: int(x == y), "!=": lambda x, y: int(x != y), "<": lambda x, y: int(x < y),
        "<=": lambda x, y: int(x <= y), ">": lambda x, y: int(x > y), ">=": lambda x, y: int(x >= y),
        "<<": lambda x, y: x << (y & 31), ">>": lambda x, y: x >> (y & 31), "+": lambda x, y: x + y,
        "-": lambda x, y: x - y, "*": lambda x, y: x * y, "/": lambda x, y: int(x / y), "%": lambda x, y: x % y,
    }  # fmt: skip
    return ops[op](a, b)


def _number(value: int) -> dict[str, Any]:
    return {"kind": "number", "value": value}


def _eval(node: Node, env: Environment) -> dict[str, Any]:
    kind = node[0]
    if kind == "num":
        return _number(node[1])
    if kind == "name":
        return _name(env, node[1])
    if kind == "symoff":
        if _register(env, node[1]) is not None or node[1] in env.locals:
            return _number(_name(env, node[1])["value"] + node[2])  # R1+4: arithmetic, not a symbol
        return _symbol(env, node[1], node[2])
    if kind == "line":
        address, _ = code_address(node[1], env.symbols)
        return {"kind": "code", "value": address, "address": address}
    if kind == "bin":
        op, left = node[1], _eval(node[2], env)["value"]
        if op == "&&" and not left:
            return _number(0)
        if op == "||" and left:
            return _number(1)
        return _number(_binary(op, left, _eval(node[3], env)["value"]))
    if kind == "cast":
        width, signed, pointer, inner = node[1], node[2], node[3], node[4]
        v = _eval(inner, env)
        if pointer:  # a typed address: only the '*' in front of it reads
            return {"kind": "pointer", "value": v["value"], "size": width, "signed": signed}
        n = v["value"] & ((1 << (8 * width)) - 1)
        if signed and n >> (8 * width - 1):
            n -= 1 << (8 * width)
        return _number(n)
    op, inner = node[1], node[2]
    if op == "&":
        v = _eval(inner, env)
        if v.get("address") is None or v["kind"] == "code":
            raise BadParamsError("'&' needs a variable, a local in memory or a memory read")
        return _number(v["address"])
    v = _eval(inner, env)
    if op == "*":
        size, signed = 4, False
        if v["kind"] == "pointer":
            size, signed = v["size"], v["signed"]
        address = v["value"] & 0xFFFF
        return {"kind": "memory", "address": address, "size": size, "value": _read(env, address, size, signed)}
    return _number({"-": -v["value"], "!": int(not v["value"]), "~": ~v["value"], "+": v["value"]}[op])


def evaluate_in(text: str, env: Environment) -> dict[str, Any]:
    """``{expr, kind, value}`` plus ``address``/``size``/``symbol`` where they apply.

    Raises:
        BadParamsError: empty or too long, a syntax error, an unknown name, a read past data
            memory, a division by zero.
    """
    out = _eval(parse(text), env)
    if out["kind"] == "pointer":  # a cast to a pointer type without a '*': just the address
        out = _number(out["value"])
    return {"expr": text.strip(), **out}


def evaluate(
    text: str,
    *,
    regs: list[int],
    pc: int,
    sp: int,
    psw: int,
    mem: bytearray,
    symbols: SymbolIndex | None,
    locals: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """:func:`evaluate_in` with the environment given field by field."""
    env = Environment(list(regs), pc, sp, psw, mem, symbols, locals or {})
    return evaluate_in(text, env)
