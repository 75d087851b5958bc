"""Address expressions: what a user may write where the debugger wants an address.

One grammar for breakpoints, disassembly, symbol look-ups and watches, so a name that
works in one place works in all of them (spec hsx-executive §8.1, §8.6, §8.9)::

    42 | 0x2A            a number (decimal or 0x hex; address 0 is a real address)
    name                 a symbol from the task's .sym
    name+off | name-off  a symbol plus/minus a number
    file:line            the first instruction of a source line (code only)

Code and data are separate address spaces (hsx-vm §1.2): :func:`code_address` refuses a
variable and :func:`data_address` refuses a function or label, each with a message that
says which space the name lives in.  Parsing is pure: the caller passes the symbol index.
"""

from __future__ import annotations

import re

from executive.debugger.symbols import SymbolEntry, SymbolIndex
from executive.kernel.errors import BadParamsError

__all__ = ["code_address", "data_address", "parse_int", "resolve_symbol"]

_SYM_OFF = re.compile(r"^\s*([A-Za-z_.$][\w.$@]*)\s*([+-])\s*(\S+)\s*$")
_FILE_LINE = re.compile(r"^\s*(.+?):(\d+)\s*$")


def parse_int(text: int | str) -> int | None:
    """An integer from an int or a decimal/``0x``/``0o``/``0b`` string; None if it is not one."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text
    try:
        return int(text.strip(), 0)
    except ValueError:
        return None


def resolve_symbol(where: str, index: SymbolIndex | None) -> tuple[SymbolEntry, int] | None:
    """``name`` or ``name±offset`` → (symbol, offset); None when ``where`` has neither form.

    Raises:
        BadParamsError: the name is not in the symbols, or no symbols are loaded.
    """
    m = _SYM_OFF.match(where)
    if m:
        name, sign, off_text = m.groups()
        off = parse_int(off_text)
        if off is None:
            raise BadParamsError(f"{where!r}: the offset {off_text!r} is not a number (write e.g. main+0x8)")
        off = off if sign == "+" else -off
    elif re.match(r"^[A-Za-z_.$][\w.$@]*$", where.strip()):
        name, off = where.strip(), 0
    else:
        return None
    if index is None:
        raise BadParamsError(
            f"{where!r} names a symbol but this task has no symbols loaded; "
            "load a .sym (debug.sym.load) or give an address",
            data={"where": where},
        )
    sym = index.lookup(name)
    if sym is None:
        raise BadParamsError(
            f"no symbol named {name!r} in this task's symbols; list them with debug.sym.list", data={"where": where}
        )
    return sym, off


def code_address(where: int | str, index: SymbolIndex | None) -> tuple[int, str]:
    """Resolve a code location; returns (address, the text as given).

    Raises:
        BadParamsError: unknown name, a data symbol, an unknown line, or nonsense.
    """
    n = parse_int(where)
    if n is not None:
        return n, (where if isinstance(where, str) else f"0x{n:X}")
    assert isinstance(where, str)
    resolved = resolve_symbol(where, index)
    if resolved is not None:
        sym, off = resolved
        if sym.space != "code":
            raise BadParamsError(
                f"{sym.name!r} is a variable at data address 0x{sym.address:X}, not code; "
                "code and data are separate address spaces (watch it instead)",
                data={"where": where, "symbol": sym.to_dict()},
            )
        return sym.address + off, where
    m = _FILE_LINE.match(where)
    if m:
        file, line = m.group(1), int(m.group(2))
        if index is None or not index.has_lines:
            raise BadParamsError(
                f"{where!r} is a source line but this task has no line table; load its .sym or give an address"
            )
        addrs = index.addresses_for_line(file, line)
        if not addrs:
            raise BadParamsError(
                f"no instruction is recorded for {file}:{line}; try a nearby line", data={"where": where}
            )
        return addrs[0], where
    raise BadParamsError(
        f"cannot read {where!r} as a location; give an address (0x40), a symbol (main, loop+0x8) or file:line"
    )


def data_address(expr: int | str, index: SymbolIndex | None) -> tuple[int, str, SymbolEntry | None]:
    """Resolve a data address; returns (address, kind ``address``/``symbol``, the symbol).

    Raises:
        BadParamsError: unknown name, a code symbol, or nonsense.
    """
    n = parse_int(expr)
    if n is not None:
        return n, "address", None
    assert isinstance(expr, str)
    resolved = resolve_symbol(expr, index)
    if resolved is None:
        raise BadParamsError(
            f"cannot read {expr!r} as a data address; give an address (0x4000), a variable (counter, buf+4) or *pointer"
        )
    sym, off = resolved
    if sym.space != "data":
        raise BadParamsError(
            f"{sym.name!r} is a {sym.kind} in the code space (0x{sym.address:X}); watches read data memory — "
            "give a variable or a data address",
            data={"expr": expr, "symbol": sym.to_dict()},
        )
    return sym.address + off, "symbol", sym
