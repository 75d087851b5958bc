"""The debugger layer (DESIGN.md §2): services over HSX VM tasks, one concept per module.

* :mod:`.breakpoints` — validated code breakpoints mirrored into the CPU
* :mod:`.symbols` — `.sym` parsing, bisect indexes, the per-file cache
* :mod:`.expr` — address expressions (numbers, symbols, ``sym+off``, ``file:line``)
* :mod:`.disasm_cache` — annotated listings of the code space, bounded LRU
* :mod:`.stack` — the R7 frame walk
* :mod:`.watches` — data watches fed by the CPU write hook
* :mod:`.regdiff` — ``changed_regs`` tracking
* :mod:`.trace` — ``hsx.trace/1`` rings, export and validated import
* :mod:`.task` — one task's debug state and its CPU hooks

``Executive.debug`` (service/debug.py) is the public surface built on these.
"""

from executive.debugger.breakpoints import (
    Breakpoint,
    BreakpointTable,
    instruction_literals,
)
from executive.debugger.disasm_cache import Disassembler, back_up, data_report
from executive.debugger.expr import (
    code_address,
    data_address,
    parse_int,
    resolve_symbol,
)
from executive.debugger.regdiff import REG_NAMES, RegDiff, changed, snapshot
from executive.debugger.stack import PROLOGUE, walk_stack
from executive.debugger.symbols import (
    KINDS,
    SymbolCache,
    SymbolEntry,
    SymbolFileError,
    SymbolIndex,
    parse_sym,
)
from executive.debugger.task import Publish, TaskDebug
from executive.debugger.trace import (
    FORMAT,
    SEQ_WRAP,
    TraceBuffer,
    import_records,
    make_record,
    normalize,
)
from executive.debugger.watches import WIDTHS, Watch, WatchSet, hex_value, resolve

__all__ = [
    "FORMAT",
    "KINDS",
    "PROLOGUE",
    "REG_NAMES",
    "SEQ_WRAP",
    "WIDTHS",
    "Breakpoint",
    "BreakpointTable",
    "Disassembler",
    "Publish",
    "RegDiff",
    "SymbolCache",
    "SymbolEntry",
    "SymbolFileError",
    "SymbolIndex",
    "TaskDebug",
    "TraceBuffer",
    "Watch",
    "WatchSet",
    "back_up",
    "changed",
    "code_address",
    "data_address",
    "data_report",
    "hex_value",
    "import_records",
    "instruction_literals",
    "make_record",
    "normalize",
    "parse_int",
    "parse_sym",
    "resolve",
    "resolve_symbol",
    "snapshot",
    "walk_stack",
]
