"""Values of debugger expressions: what ``p EXPR`` prints (gdb's ``print``).

The address grammar of :mod:`executive.debugger.expr` (numbers, ``name``, ``name±off``,
``file:line``) plus registers and dereference::

    R0..R15 | PC | SP | PSW | FP      a register (case-insensitive, optional $ as in gdb; FP is R7)
    *EXPR                             the 32-bit little-endian word at data address (value of EXPR)

A variable's value is its contents (its size when 1, 2 or 4 bytes, else the first word);
a code symbol's or a number's value is the address itself.  ``*`` follows a value as a
pointer, like C: ``*0x4000`` is the word at 0x4000, ``*ptr`` the word ``ptr`` points to.
Pure: the caller passes the CPU state and the symbols.
"""

from __future__ import annotations

from typing import Any

from executive.debugger.expr import code_address, parse_int, resolve_symbol
from executive.debugger.symbols import SymbolIndex
from executive.kernel.errors import BadParamsError

__all__ = ["MAX_EXPR", "evaluate"]

MAX_EXPR = 256  # characters; longer input is refused
_MAX_DEREF = 8  # nested * levels
_MEM_END = 0x10000


def _register(name: str, regs: list[int], pc: int, sp: int, psw: int) -> int | None:
    n = name.lower().lstrip("$")
    if n in ("pc", "sp", "psw", "fp"):
        return {"pc": pc, "sp": sp, "psw": psw, "fp": regs[7]}[n]
    if n.startswith("r") and n[1:].isdigit() and 0 <= int(n[1:]) < 16:
        return regs[int(n[1:])]
    return None


def _word(mem: bytearray, addr: int, size: int = 4) -> int:
    a = addr & 0xFFFF
    if a + size > _MEM_END:
        raise BadParamsError(f"a {size}-byte read at 0x{a:04X} runs past the end of data memory (0xFFFF)")
    return int.from_bytes(mem[a : a + size], "little")


def evaluate(
    text: str, *, regs: list[int], pc: int, sp: int, psw: int, mem: bytearray, symbols: SymbolIndex | None
) -> dict[str, Any]:
    """``{expr, kind, value}`` plus ``address``/``size``/``symbol`` where they apply.

    ``kind``: ``register``, ``number``, ``variable``, ``code`` or ``memory`` (a dereference).

    Raises:
        BadParamsError: empty or too long, an unknown name, or a read past data memory.
    """
    expr = text.strip()
    if not expr:
        raise BadParamsError("print what? give a register (R0, PC), a number, a variable, name+off or *address")
    if len(expr) > MAX_EXPR:
        raise BadParamsError(f"expression is {len(expr)} characters; at most {MAX_EXPR}")
    depth = len(expr) - len(expr.lstrip("*"))
    if depth:
        if depth > _MAX_DEREF:
            raise BadParamsError(f"at most {_MAX_DEREF} levels of * are followed")
        inner = evaluate(expr[depth:], regs=regs, pc=pc, sp=sp, psw=psw, mem=mem, symbols=symbols)
        addr, value = inner["value"], 0
        for _ in range(depth):
            addr &= 0xFFFF
            value = _word(mem, addr)
            last, addr = addr, value
        return {"expr": expr, "kind": "memory", "address": last, "size": 4, "value": value}
    reg = _register(expr, regs, pc, sp, psw)
    if reg is not None:
        return {"expr": expr, "kind": "register", "value": reg}
    n = parse_int(expr)
    if n is not None:
        return {"expr": expr, "kind": "number", "value": n}
    resolved = resolve_symbol(expr, symbols)
    if resolved is None:
        address, _ = code_address(expr, symbols)  # file:line, or a clear error
        return {"expr": expr, "kind": "code", "value": address, "address": address}
    sym, off = resolved
    address = sym.address + off
    if sym.space == "code":
        return {"expr": expr, "kind": "code", "value": address, "address": address, "symbol": sym.name}
    size = sym.size if sym.size in (1, 2, 4) and off == 0 else 4
    return {
        "expr": expr, "kind": "variable", "value": _word(mem, address, size), "address": address, "size": size,
        "symbol": sym.name,
    }  # fmt: skip
