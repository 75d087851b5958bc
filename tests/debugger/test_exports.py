"""The debugger package's public names (STYLE §7: pin __all__)."""

from __future__ import annotations

import executive.debugger as dbg
from executive.debugger import BreakpointTable
from executive.hsx.cpu import Cpu


def test_all_is_pinned_and_importable() -> None:
    assert sorted(dbg.__all__) == sorted(
        ["FORMAT", "KINDS", "PROLOGUE", "REG_NAMES", "SEQ_WRAP", "WIDTHS", "Breakpoint", "BreakpointTable",
         "Disassembler", "Publish", "RegDiff", "SymbolCache", "SymbolEntry", "SymbolFileError", "SymbolIndex",
         "TaskDebug", "TraceBuffer", "Watch", "WatchSet", "back_up", "changed", "code_address", "data_address",
         "data_report", "hex_value",
         "import_records", "instruction_literals", "make_record", "normalize", "parse_int", "parse_sym", "resolve",
         "resolve_symbol", "snapshot", "walk_stack"]
    )  # fmt: skip
    for name in dbg.__all__:
        assert getattr(dbg, name) is not None


def test_breakpoint_table_adopts_breakpoints_already_on_the_cpu() -> None:
    cpu = Cpu(bytes(16))
    cpu.add_breakpoint(8)
    table = BreakpointTable(cpu, limit=4)
    assert table.addresses() == [8] and cpu.breakpoints == {8}
    table.remove(8)
    assert cpu.breakpoints == set()
