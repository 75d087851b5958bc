"""Local variables of compiled code: which are live at a PC, where they are, what they hold.

Theory of operation
-------------------
A `.sym` written by the HSX linker lists ``symbols.locals[]`` (hsx-executive.md §11.1):
each local names its function and a list of locations, each valid for a half-open PC
range ``[start, end)``.  A location is one of (§8.9):

* ``stack``: ``FP + offset`` in data memory, FP being R7 of the frame (hsx-vm §9: locals
  at ``[R7+-4]``, ``[R7+-8]``…);
* ``register``: ``Rn`` of the innermost frame (outer frames' registers are not saved
  anywhere the debugger can find, so they read as unavailable there);
* ``global``: a data symbol or an address, plus an optional offset;
* ``const``: the value itself (the variable was folded away).

:class:`LocalTable` answers "which locals are live at this PC" by a scan over the ranges
of the few locals of one function (bisecting would need the ranges disjoint, and locals
of one function overlap by design).  :func:`read_local` resolves one location against a
frame into an address or register and reads the value; it is pure: the caller passes
the registers, a memory reader and the frame pointer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "LOCATION_KINDS",
    "LocalLocation",
    "LocalTable",
    "LocalVar",
    "LocalsFormatError",
    "parse_locals",
    "read_local",
]

LOCATION_KINDS = ("stack", "register", "global", "const")
_MAX_WIDTH = 8  # bytes a local's value is read as at most (wider ones show their address only)


class LocalsFormatError(ValueError):
    """A ``symbols.locals`` entry has the wrong shape; the message says which and why."""


@dataclasses.dataclass(frozen=True, slots=True)
class LocalLocation:
    """Where a local lives while the PC is in ``[start, end)``."""

    start: int
    end: int
    kind: str  # one of LOCATION_KINDS
    offset: int = 0  # stack: from FP; global: from the symbol/address
    register: int | None = None  # register: n of Rn
    symbol: str | None = None  # global: a data symbol name
    address: int | None = None  # global: an absolute data address
    value: int | None = None  # const: the value


@dataclasses.dataclass(frozen=True, slots=True)
class LocalVar:
    name: str
    function: str | None
    type: str | None
    size: int  # bytes (4 when the file does not say)
    file: str | None
    line: int | None
    locations: tuple[LocalLocation, ...]

    def location_at(self, pc: int) -> LocalLocation | None:
        return next((loc for loc in self.locations if loc.start <= pc < loc.end), None)


class LocalTable:
    """The locals of one program, grouped by function for the look-up at a PC."""

    def __init__(self, variables: list[LocalVar]) -> None:
        self.variables = variables

    def __len__(self) -> int:
        return len(self.variables)

    def at(self, pc: int) -> list[tuple[LocalVar, LocalLocation]]:
        """The locals with a location valid at ``pc``, in file order."""
        out = []
        for var in self.variables:
            loc = var.location_at(pc)
            if loc is not None:
                out.append((var, loc))
        return out


def _int(value: Any, where: str, *, signed: bool = False) -> int:
    if isinstance(value, bool):
        raise LocalsFormatError(f"{where}: expected an integer, got a boolean")
    if isinstance(value, str):
        try:
            value = int(value, 0)
        except ValueError:
            raise LocalsFormatError(f"{where}: expected an integer or a 0x string, got {value!r}") from None
    if not isinstance(value, int):
        raise LocalsFormatError(f"{where}: expected an integer, got {type(value).__name__}")
    if value < 0 and not signed:
        raise LocalsFormatError(f"{where}: expected a non-negative integer, got {value}")
    return value


def _register(value: Any, where: str) -> int:
    """``4``, ``"4"``, ``"R4"`` or ``"r4"`` → 4."""
    text = value[1:] if isinstance(value, str) and value[:1] in ("R", "r") else value
    n = _int(text, where)
    if not 0 <= n < 16:
        raise LocalsFormatError(f"{where}: registers are R0..R15, got {value!r}")
    return n


def _location(raw: Any, where: str) -> LocalLocation:
    if not isinstance(raw, Mapping):
        raise LocalsFormatError(f"{where}: each location is an object with start, end and location")
    start = _int(raw.get("start"), f"{where}.start")
    end = _int(raw.get("end"), f"{where}.end")
    loc = raw.get("location")
    if not isinstance(loc, Mapping):
        raise LocalsFormatError(f"{where}.location: expected an object with a kind")
    kind = loc.get("kind")
    if kind not in LOCATION_KINDS:
        raise LocalsFormatError(f"{where}.location.kind: expected one of {', '.join(LOCATION_KINDS)}, got {kind!r}")
    offset = _int(loc.get("offset", 0), f"{where}.location.offset", signed=True)
    if kind == "register":
        reg = loc.get("register", loc.get("name"))
        return LocalLocation(start, end, kind, register=_register(reg, f"{where}.location.register"))
    if kind == "global":
        symbol = loc.get("symbol", loc.get("name"))
        address = loc.get("address")
        if not isinstance(symbol, str) and address is None:
            raise LocalsFormatError(f"{where}.location: a global location needs a symbol or an address")
        return LocalLocation(
            start,
            end,
            kind,
            offset=offset,
            symbol=symbol if isinstance(symbol, str) else None,
            address=_int(address, f"{where}.location.address") if address is not None else None,
        )
    if kind == "const":
        return LocalLocation(start, end, kind, value=_int(loc.get("value"), f"{where}.location.value", signed=True))
    return LocalLocation(start, end, kind, offset=offset)


def parse_locals(doc: Mapping[str, Any]) -> LocalTable:
    """``symbols.locals`` (or a top-level ``locals``) of a `.sym` document (§11.1).

    Raises:
        LocalsFormatError: an entry or location of the wrong shape (named by index).
    """
    section = doc.get("symbols")
    items = section.get("locals") if isinstance(section, Mapping) else None
    where = "symbols.locals"
    if items is None:
        items, where = doc.get("locals"), "locals"
    if items is None:
        return LocalTable([])
    if not isinstance(items, list):
        raise LocalsFormatError(f"{where} must be a list, got {type(items).__name__}")
    out = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise LocalsFormatError(f"{at}: each local is an object with name and locations")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise LocalsFormatError(f"{at}: 'name' must be a non-empty string")
        locs = item.get("locations", [])
        if not isinstance(locs, list):
            raise LocalsFormatError(f"{at}.locations must be a list")
        fn, typ, file = item.get("function"), item.get("type"), item.get("file")
        line = item.get("line")
        out.append(
            LocalVar(
                name=name,
                function=fn if isinstance(fn, str) else None,
                type=typ if isinstance(typ, str) else None,
                size=_int(item.get("size") or 4, f"{at}.size"),
                file=file if isinstance(file, str) else None,
                line=_int(line, f"{at}.line") if line is not None else None,
                locations=tuple(_location(loc, f"{at}.locations[{j}]") for j, loc in enumerate(locs)),
            )
        )
    return LocalTable(out)


def read_local(
    var: LocalVar,
    loc: LocalLocation,
    *,
    regs: list[int] | None,
    fp: int | None,
    read: Callable[[int, int], bytes],
    resolve_symbol: Callable[[str], int | None],
) -> dict[str, Any]:
    """Resolve and read one local in one frame.

    Args:
        regs: the frame's registers, or None for an outer frame (registers unknown).
        fp: the frame pointer (R7 of that frame), or None when the frame has none yet.
        read: ``read(address, length)`` of data memory (the caller checks the bounds).
        resolve_symbol: the data address of a symbol name, or None.

    Returns:
        ``{name, type, size, function, location, value?, address?, register?, bytes?,
        error?}``; ``location`` is text such as ``fp-0x8``, ``R4``, ``buf+0x4`` or ``const``.
    """
    d: dict[str, Any] = {"name": var.name, "type": var.type, "size": var.size, "function": var.function}
    width = min(var.size, _MAX_WIDTH)
    if loc.kind == "const":
        return d | {"location": "const", "value": loc.value}
    if loc.kind == "register":
        assert loc.register is not None
        d["location"] = d["register"] = f"R{loc.register}"
        if regs is None:
            return d | {"error": "register values of outer frames are not known"}
        return d | {"value": regs[loc.register]}
    if loc.kind == "stack":
        sign = "-" if loc.offset < 0 else "+"
        d["location"] = f"fp{sign}0x{abs(loc.offset):x}"
        if fp is None:
            return d | {"error": "the frame is not set up at this PC (no frame pointer yet)"}
        address = (fp + loc.offset) & 0xFFFF
    else:
        base = resolve_symbol(loc.symbol) if loc.symbol is not None else loc.address
        d["location"] = f"{loc.symbol or f'0x{loc.address or 0:x}'}+0x{loc.offset:x}"
        if base is None:
            return d | {"error": f"no data symbol named {loc.symbol!r}"}
        address = (base + loc.offset) & 0xFFFF
    if address + width > 0x10000:
        return d | {"address": address, "error": f"0x{address:X}+{width} is past the end of data memory"}
    raw = read(address, width)
    return d | {"address": address, "bytes": raw.hex(), "value": int.from_bytes(raw, "little")}
