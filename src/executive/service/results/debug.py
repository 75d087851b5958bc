"""Result shapes of ``Executive.debug``: attach/state, symbols, breakpoints, disassembly,
stack, watches and trace buffers (spec hsx-executive §8, §9).

Plain-dict TypedDicts (core.py says why).  A disassembly instruction, a stack
frame and a trace record keep their open shapes (``dict[str, Any]``): their fields
are specified in the HSX spec and vary with what the symbols know.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

from executive.service.results.vm import SymbolSummary, VmStepResult

__all__ = [
    "BreakpointRecord",
    "BreakpointsReply",
    "DebugState",
    "DisasmData",
    "DisasmListing",
    "EvalResult",
    "FrameLocals",
    "LineRecord",
    "SourceFiles",
    "SourceLines",
    "StackReply",
    "SymbolAddresses",
    "SymbolAt",
    "SymbolAtRecord",
    "SymbolLine",
    "SymbolLookup",
    "SymbolPage",
    "SymbolRecord",
    "SymbolSummary",
    "TraceConfigReply",
    "TraceImported",
    "TraceRecords",
    "TraceSetReply",
    "VmStepResult",
    "WatchList",
    "WatchRecord",
]


class SourceLine(TypedDict):
    file: str | None
    line: int | None


class WatchRecord(TypedDict):
    """A watch as exported (spec §8.9)."""

    id: int
    pid: int
    expr: str
    type: str
    length: int
    address: int
    value: str
    mode: str
    symbol: NotRequired[str]
    location: NotRequired[str]


class DebugState(TypedDict):
    """Where a task is, for a debugger: state, PC with symbol/line/instruction, registers, breakpoints."""

    pid: int
    state: str
    pause_reason: str | None
    pc: int
    sp: int
    depth: int
    steps: int
    regs: list[int]
    psw: int
    changed_regs: Any
    symbol: str | None
    line: SourceLine | None
    instruction: dict[str, Any] | None
    breakpoints: list[int]
    watches: list[WatchRecord]
    tracing: bool
    exit_status: int | None
    fault: dict[str, Any] | None
    locked_by: str | None


class SymbolRecord(TypedDict):
    name: str
    address: int
    type: str
    space: str
    size: int | None
    file: NotRequired[str]
    line: NotRequired[int]


class SymbolAtRecord(SymbolRecord):
    offset: int
    function: NotRequired[str]


class SymbolLookup(TypedDict):
    pid: int
    name: str
    loaded: bool
    symbol: SymbolRecord | None


class SymbolAt(TypedDict):
    pid: int
    address: int
    space: str
    loaded: bool
    symbol: SymbolAtRecord | None


class LineRecord(TypedDict):
    address: int
    file: str | None
    line: int | None


class SymbolLine(TypedDict):
    pid: int
    address: int
    loaded: bool
    line: LineRecord | None


class SymbolAddresses(TypedDict):
    pid: int
    file: str
    line: int
    loaded: bool
    addresses: list[int]


class SymbolPage(TypedDict):
    pid: int
    loaded: bool
    type: str
    count: int
    offset: int
    limit: int
    returned: int
    next_offset: int | None
    symbols: list[SymbolRecord]


class BreakpointRecord(TypedDict):
    address: int
    where: str
    hits: int
    symbol: NotRequired[str | None]


class BreakpointsReply(TypedDict):
    """A task's breakpoints (``breakpoints``: addresses, as the HSX ``bp`` reply) and, after a
    change, the breakpoint concerned."""

    pid: int
    breakpoints: list[int]
    details: list[BreakpointRecord]
    breakpoint: NotRequired[BreakpointRecord]
    added: NotRequired[bool]
    removed: NotRequired[int]


class DisasmListing(TypedDict):
    pid: int
    address: int
    requested: int | str
    count: int
    requested_count: int
    mode: str
    cached: bool
    truncated: bool
    clamped: bool
    space: str
    code_len: int
    pc: int
    bytes_read: int
    data: str
    instructions: list[dict[str, Any]]


class DisasmData(TypedDict):
    """What ``debug.disasm`` answers for an address that is data, not code."""

    pid: int
    requested: int | str
    address: int
    is_data: bool
    space: str
    region: str | None
    variable: str | None
    code_len: int
    count: int
    instructions: list[dict[str, Any]]
    message: str


class EvalResult(TypedDict):
    """``debug.eval``: what an expression is (``register``, ``number``, ``memory``, ``code``,
    ``variable``) and its value; ``address``, ``size`` and ``symbol`` where they apply."""

    pid: int
    expr: str
    kind: Literal["register", "number", "memory", "code", "variable"]
    value: int
    address: NotRequired[int]
    size: NotRequired[int]
    symbol: NotRequired[str | None]


class StackReply(TypedDict):
    pid: int
    frames: list[dict[str, Any]]
    truncated: bool
    errors: list[str]
    depth: int
    max_frames: int
    stack_base: int
    stack_limit: int
    stack_low: int
    stack_high: int
    initial_sp: int
    initial_fp: int


class FrameLocals(TypedDict):
    """``debug.locals``: the local variables live at the PC of one stack frame, with their values
    (each as debugger/locals.py reads it; ``error`` when it cannot be read)."""

    pid: int
    frame: int
    pc: int
    fp: int | None
    function: str | None
    loaded: bool
    locals: list[dict[str, Any]]


class SourceFiles(TypedDict):
    """``debug.sym.lines`` without a file: the source files of the line table and the
    compiler-generated instruction addresses."""

    pid: int
    loaded: bool
    files: list[str]
    generated: list[int]


class LineAddresses(TypedDict):
    line: int
    addresses: list[int]


class SourceLines(TypedDict):
    """``debug.sym.lines`` for one file: its lines that have code, with their addresses."""

    pid: int
    loaded: bool
    file: str
    lines: list[LineAddresses]


class WatchList(TypedDict):
    pid: int
    count: int
    watches: list[WatchRecord]


class TraceSetReply(TypedDict):
    pid: int
    enabled: bool
    buffer_size: int


class TraceConfigReply(TypedDict):
    changed_regs: bool
    buffer_size: int
    pid: NotRequired[int]


class TraceRecords(TypedDict):
    """Trace records, oldest first; ``enabled`` on ``trace.records`` only (``trace.export`` is the
    ``hsx.trace/1`` document)."""

    pid: int
    format: str
    capacity: int
    count: int
    returned: int
    records: list[dict[str, Any]]
    enabled: NotRequired[bool]


class TraceImported(TypedDict):
    pid: int
    format: str
    capacity: int
    count: int
    imported: int
    enabled: bool
