"""JSON-RPC methods for the debugger: ``debug.*`` and ``trace.*`` onto ``Executive.debug``.

Each method validates its params (``extra="forbid"``) and calls one DebugService method
with the connection's session, so the task-lock check happens in the service (spec
hsx-executive §2.5).  Locations (``where``, ``addr``) are an integer or a string the
debugger resolves: ``0x`` hex, a symbol, ``symbol+offset`` or ``file:line``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from executive.api.methods import CallContext, TaskRef, _require_session, _touch
from executive.api.rpc import Method
from executive.debugger.evaluate import MAX_EXPR
from executive.service import results

__all__ = ["debug_methods"]

Where = int | str


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Task(_P):
    task: TaskRef


class Attach(_P):
    task: TaskRef
    pause: bool = True


class Detach(_P):
    task: TaskRef
    resume: bool = False


class BpWhere(_P):
    task: TaskRef
    where: Where = Field(description="address (int or 0x string), symbol, symbol+offset or file:line")


class Step(_P):
    task: TaskRef
    steps: int = Field(1, ge=1)
    source: bool = Field(False, description="source-level steps: skip compiler-generated instructions")


class Eval(_P):
    task: TaskRef
    expr: str = Field(
        max_length=MAX_EXPR,
        description="R0..R15, PC, SP, a number, a variable or local, name+off, *EXPR, *(u8*)EXPR, C operators",
    )
    frame: int = Field(0, ge=0, description="whose locals the names see; 0 is the innermost frame")


class Disasm(_P):
    task: TaskRef
    addr: Where | None = Field(None, description="default: the PC; 0 is a valid address")
    count: int = Field(8, ge=1)
    before: int = Field(0, ge=0)
    mode: Literal["cached", "on-demand"] = "cached"


class Stack(_P):
    task: TaskRef
    max_frames: int | None = Field(None, ge=1)


class SymLoad(_P):
    task: TaskRef
    path: str | None = Field(None, max_length=4096)
    document: dict[str, Any] | str | None = Field(
        None, description="a .sym document (object or JSON text), e.g. for an uploaded image"
    )


class SymName(_P):
    task: TaskRef
    name: str = Field(max_length=256)


class SymAt(_P):
    task: TaskRef
    address: Where
    space: Literal["code", "data", "any"] = "code"


class SymAddr(_P):
    task: TaskRef
    address: Where


class SymLine(_P):
    task: TaskRef
    file: str = Field(max_length=4096)
    line: int = Field(ge=0)


class SymLines(_P):
    task: TaskRef
    file: str | None = Field(None, max_length=4096, description="omit to list the source files of the line table")


class Locals(_P):
    task: TaskRef
    frame: int = Field(0, ge=0, description="0 is the innermost frame, as debug.stack numbers them")


class SymList(_P):
    task: TaskRef
    type: Literal["all", "functions", "labels", "variables", "code"] = "all"
    offset: int = Field(0, ge=0)
    limit: int | None = Field(None, ge=1)


class WatchAdd(_P):
    task: TaskRef
    expr: Where = Field(description="address, variable, variable+offset or *pointer")
    length: Literal[1, 2, 4] = 4
    type: Literal["address", "symbol", "pointer"] | None = None
    stop: bool = Field(False, description="a data breakpoint: a change also pauses the task")


class WatchRemove(_P):
    task: TaskRef
    id: int


class TraceSet(_P):
    task: TaskRef
    enabled: bool | None = Field(None, description="omit to toggle")


class TraceConfig(_P):
    task: TaskRef | None = Field(None, description="omit to configure every task (and new ones)")
    buffer_size: int | None = Field(None, ge=0)
    changed_regs: bool | None = None


class TraceRecords(_P):
    task: TaskRef
    limit: int | None = None


class TraceImport(_P):
    task: TaskRef
    records: list[Any]
    replace: bool = True


def _step(ctx: CallContext, p: Step) -> results.VmStepResult:
    dbg = ctx.service.debug
    sid = _touch(ctx)
    if p.source:
        return dbg.step_source(p.task, p.steps, session_id=sid)
    return dbg.step(p.task, p.steps, session_id=sid)


def debug_methods() -> list[Method]:
    """``debug.*`` (breakpoints, stepping, disassembly, stack, symbols, watches) and ``trace.*``."""
    d = "debug."
    return [
        Method(
            d + "attach",
            Attach,
            results.DebugState,
            lambda c, p: c.service.debug.attach(p.task, session_id=_require_session(c), pause=p.pause),
            "Lock the task for this session and pause it.",
        ),
        Method(
            d + "detach",
            Detach,
            results.DebugState,
            lambda c, p: c.service.debug.detach(p.task, session_id=_require_session(c), resume=p.resume),
            "Drop breakpoints, watches and tracing, unlock, optionally resume.",
        ),
        Method(
            d + "state",
            Task,
            results.DebugState,
            lambda c, p: c.service.debug.state(p.task),
            "PC, symbol, line, instruction, registers, changed_regs.",
        ),
        Method(
            d + "bp.add",
            BpWhere,
            results.BreakpointsReply,
            lambda c, p: c.service.debug.bp_add(p.task, p.where, session_id=_touch(c)),
            "Set a breakpoint.",
        ),
        Method(
            d + "bp.remove",
            BpWhere,
            results.BreakpointsReply,
            lambda c, p: c.service.debug.bp_remove(p.task, p.where, session_id=_touch(c)),
            "Delete a breakpoint.",
        ),
        Method(
            d + "bp.clear",
            Task,
            results.BreakpointsReply,
            lambda c, p: c.service.debug.bp_clear(p.task, session_id=_touch(c)),
            "Delete every breakpoint.",
        ),
        Method(
            d + "bp.list",
            Task,
            results.BreakpointsReply,
            lambda c, p: c.service.debug.bp_list(p.task),
            "Breakpoints with symbols and hit counts.",
        ),
        Method(
            d + "step", Step, results.VmStepResult, _step, "Execute N instructions (or source steps) of a paused task."
        ),
        Method(
            d + "next",
            Task,
            results.VmStepResult,
            lambda c, p: c.service.debug.step_over(p.task, session_id=_touch(c)),
            "Step over a CALL.",
        ),
        Method(
            d + "finish",
            Task,
            results.VmStepResult,
            lambda c, p: c.service.debug.step_out(p.task, session_id=_touch(c)),
            "Run until the current function returns.",
        ),
        Method(
            d + "eval",
            Eval,
            results.EvalResult,
            lambda c, p: c.service.debug.evaluate(p.task, p.expr, p.frame),
            "Value of an expression: registers, numbers, variables, locals, name+off, *address, C operators.",
        ),
        Method(
            d + "disasm",
            Disasm,
            results.DisasmListing | results.DisasmData,
            lambda c, p: c.service.debug.disasm(p.task, p.addr, p.count, before=p.before, mode=p.mode),
            "Disassemble code around an address (default: the PC).",
        ),
        Method(
            d + "stack",
            Stack,
            results.StackReply,
            lambda c, p: c.service.debug.stack(p.task, p.max_frames),
            "Walk the call stack.",
        ),
        Method(
            d + "sym.info",
            Task,
            results.SymbolSummary,
            lambda c, p: c.service.debug.sym_info(p.task),
            "Whether symbols are loaded, from where.",
        ),
        Method(
            d + "sym.load",
            SymLoad,
            results.SymbolSummary,
            lambda c, p: c.service.debug.sym_load(p.task, path=p.path, document=p.document, session_id=_touch(c)),
            "Load symbols from a .sym path or document.",
        ),
        Method(
            d + "sym.lookup",
            SymName,
            results.SymbolLookup,
            lambda c, p: c.service.debug.sym_lookup(p.task, p.name),
            "A symbol by name.",
        ),
        Method(
            d + "sym.at",
            SymAt,
            results.SymbolAt,
            lambda c, p: c.service.debug.sym_at(p.task, p.address, space=p.space),
            "The symbol at or below an address.",
        ),
        Method(
            d + "sym.line",
            SymAddr,
            results.SymbolLine,
            lambda c, p: c.service.debug.sym_line(p.task, p.address),
            "The source line of a code address.",
        ),
        Method(
            d + "sym.addresses",
            SymLine,
            results.SymbolAddresses,
            lambda c, p: c.service.debug.sym_addresses(p.task, p.file, p.line),
            "Code addresses of file:line.",
        ),
        Method(
            d + "sym.lines",
            SymLines,
            results.SourceFiles | results.SourceLines,
            lambda c, p: c.service.debug.sym_lines(p.task, p.file),
            "Lines of a source file that have code, with their addresses.",
        ),
        Method(
            d + "locals",
            Locals,
            results.FrameLocals,
            lambda c, p: c.service.debug.locals(p.task, p.frame),
            "Local variables live in a stack frame (.sym symbols.locals), with values.",
        ),
        Method(
            d + "sym.list",
            SymList,
            results.SymbolPage,
            lambda c, p: c.service.debug.sym_list(p.task, type=p.type, offset=p.offset, limit=p.limit),
            "One page of symbols.",
        ),
        Method(
            d + "watch.add",
            WatchAdd,
            results.WatchRecord,
            lambda c, p: c.service.debug.watch_add(
                p.task, p.expr, length=p.length, type=p.type, stop=p.stop, session_id=_touch(c)
            ),
            "Watch data memory; watch_update events on change.",
        ),
        Method(
            d + "watch.remove",
            WatchRemove,
            results.WatchRecord,
            lambda c, p: c.service.debug.watch_remove(p.task, p.id, session_id=_touch(c)),
            "Remove a watch.",
        ),
        Method(
            d + "watch.list",
            Task,
            results.WatchList,
            lambda c, p: c.service.debug.watch_list(p.task),
            "Watches with current values.",
        ),
        Method(
            "trace.set",
            TraceSet,
            results.TraceSetReply,
            lambda c, p: c.service.debug.trace_set(p.task, p.enabled, session_id=_touch(c)),
            "Per-instruction tracing on/off/toggle.",
        ),
        Method(
            "trace.config",
            TraceConfig,
            results.TraceConfigReply,
            lambda c, p: c.service.debug.trace_config(
                p.task, buffer_size=p.buffer_size, changed_regs=p.changed_regs, session_id=_touch(c)
            ),
            "Trace ring size; register-change tracking on/off.",
        ),
        Method(
            "trace.records",
            TraceRecords,
            results.TraceRecords,
            lambda c, p: c.service.debug.trace_records(p.task, p.limit),
            "The newest trace records.",
        ),
        Method(
            "trace.export",
            TraceRecords,
            results.TraceRecords,
            lambda c, p: c.service.debug.trace_export(p.task, p.limit),
            "The trace as hsx.trace/1.",
        ),
        Method(
            "trace.import",
            TraceImport,
            results.TraceImported,
            lambda c, p: c.service.debug.trace_import(p.task, p.records, replace=p.replace, session_id=_touch(c)),
            "Load hsx.trace/1 records (validated).",
        ),
    ]
