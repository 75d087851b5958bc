"""MCP tools for HSX programs and their debugger: load, breakpoints, continue, step, registers, memory, code, stack.

Each tool calls ``vm.*`` or ``debug.*`` methods (api/vm_methods.py,
api/debug_methods.py).  ``hsx_continue`` resumes the program and then polls
``vm.info`` until the program stops (a breakpoint, BRK, a pause) or ends:
polling works the same through both backends, and a debugger stop is rare
enough that a short interval costs nothing measurable.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from pydantic import Field

from executive.api.debug_methods import BpWhere, Disasm, Stack
from executive.api.mcp_schemas import HsxStopOutput, method_output, output_schema
from executive.api.mcp_toolkit import Hints, McpArgs, ToolAnswer, ToolCall, ToolSpec, as_json_text, derive, rpc_params
from executive.api.vm_methods import VmLoad, VmMemRead

__all__ = ["hsx_tools"]

STOP_POLL_S = 0.02  # how often hsx_continue looks whether the program stopped

_TASK = "the HSX program's task id or name"
_WHERE = "address (integer or '0x…'), symbol, symbol+offset, or file:line"

HsxLoad = derive(
    "HsxLoad",
    VmLoad,
    drop=("lock",),
    describe={
        "path": "path of an HXE image on the daemon's machine (its .sym beside it is loaded too)",
        "data_b64": "the HXE image itself, base64-encoded (instead of path)",
        "paused": "load it paused at its entry point, to set breakpoints before it runs",
    },
)
SetBreakpoint = derive("SetBreakpoint", BpWhere, describe={"task": _TASK, "where": _WHERE})


class ClearBreakpoint(McpArgs):
    task: int | str = Field(description=_TASK)
    where: int | str | None = Field(None, description=f"{_WHERE}; omit to clear every breakpoint")


class Continue(McpArgs):
    task: int | str = Field(description=_TASK)
    timeout: float = Field(30.0, gt=0, le=3600, description="longest wait for a stop, in seconds")


class StepArgs(McpArgs):
    task: int | str = Field(description=_TASK)
    steps: int = Field(1, ge=1, le=100_000, description="instructions (or source lines) to execute")
    mode: Literal["instruction", "source", "over"] = Field(
        "instruction", description="instruction: N instructions; source: N source lines; over: step over one CALL"
    )


class TaskArg(McpArgs):
    task: int | str = Field(description=_TASK)


Memory = derive(
    "Memory",
    VmMemRead,
    describe={"task": _TASK, "addr": "data address (integer or '0x…')", "length": "bytes to read"},
)
Disassemble = derive(
    "Disassemble",
    Disasm,
    drop=("mode",),
    describe={"task": _TASK, "addr": f"{_WHERE}; default: the PC", "before": "instructions before addr"},
)
StackArgs = derive("StackArgs", Stack, describe={"task": _TASK})


def _where_text(state: dict[str, Any]) -> str:
    line = state.get("line") or {}
    at = f"{line.get('file')}:{line.get('line')}" if line else ""
    sym = state.get("symbol") or ""
    return f"pc=0x{int(state.get('pc', 0)):04x} {sym} {at}".strip()


def _regs_text(state: dict[str, Any]) -> str:
    regs = state.get("regs") or []
    changed = set(state.get("changed_regs") or [])
    cells = [f"R{i}={v}{'*' if f'R{i}' in changed else ''}" for i, v in enumerate(regs)]
    return " ".join(cells) + f" PSW={state.get('psw')}" + (" (* changed)" if changed else "")


async def _load(call: ToolCall, args: Any) -> ToolAnswer:
    out = await call.call("vm.load", rpc_params(args, VmLoad))
    text = f"loaded {out.get('name')} as task {out.get('task')} ({out.get('state')})"
    if out.get("symbols"):
        text += f"; symbols: {out['symbols'].get('count')} loaded"
    return ToolAnswer(out, text)


async def _set_bp(call: ToolCall, args: Any) -> ToolAnswer:
    out = await call.call("debug.bp.add", {"task": args.task, "where": args.where})
    bp = out.get("breakpoint") or {}
    return ToolAnswer(out, f"breakpoint at 0x{int(bp.get('address', 0)):04x} {bp.get('symbol') or ''}".strip())


async def _clear_bp(call: ToolCall, args: Any) -> ToolAnswer:
    if args.where is None:
        out = await call.call("debug.bp.clear", {"task": args.task})
    else:
        out = await call.call("debug.bp.remove", {"task": args.task, "where": args.where})
    return ToolAnswer(out, f"breakpoints now: {[hex(a) for a in out.get('breakpoints') or []]}")


async def _continue(call: ToolCall, args: Any) -> ToolAnswer:
    info = await call.call("vm.info", {"task": args.task})
    tid = int(info["pid"])
    if info["task"]["state"] == "paused":
        await call.call("vm.resume", {"task": tid})
    start = time.monotonic()
    last_progress = start
    while True:
        info = await call.call("vm.info", {"task": tid})
        task_state = info["task"]["state"]
        if task_state in ("paused", "ended"):
            break
        now = time.monotonic()
        if now - start >= args.timeout:
            out = {"task": tid, "stopped": False, "reason": "running", "task_state": task_state, "state": None}
            text = f"task {tid} is still running after {args.timeout:.0f}s; pause_task stops it where it is"
            return ToolAnswer(out, text)
        if now - last_progress >= call.poll_interval:
            last_progress = now
            await call.progress(round(now - start, 3), args.timeout, f"task {tid} running at pc=0x{info['pc']:04x}")
        await asyncio.sleep(STOP_POLL_S)
    if task_state == "ended":
        code = info["task"].get("exit_code")
        out = {
            "task": tid,
            "stopped": True,
            "reason": "ended",
            "task_state": task_state,
            "exit_code": code,
            "state": None,
        }
        return ToolAnswer(out, f"task {tid} ended: {info['task'].get('end_detail') or info['task'].get('end_reason')}")
    state = await call.call("debug.state", {"task": tid})
    reason = state.get("pause_reason") or "paused"
    out = {"task": tid, "stopped": True, "reason": reason, "task_state": task_state, "state": state}
    return ToolAnswer(out, f"stopped ({reason}) at {_where_text(state)}\n{_regs_text(state)}")


async def _step(call: ToolCall, args: Any) -> ToolAnswer:
    if args.mode == "over":
        out = await call.call("debug.next", {"task": args.task})
    else:
        out = await call.call("debug.step", {"task": args.task, "steps": args.steps, "source": args.mode == "source"})
    return ToolAnswer(out, f"executed {out.get('executed')}; now at {_where_text(out)}\n{_regs_text(out)}")


async def _registers(call: ToolCall, args: Any) -> ToolAnswer:
    out = await call.call("debug.state", {"task": args.task})
    return ToolAnswer(out, f"{out.get('state')} at {_where_text(out)}\n{_regs_text(out)}")


async def _memory(call: ToolCall, args: Any) -> ToolAnswer:
    out = await call.call("vm.mem_read", rpc_params(args, VmMemRead))
    return ToolAnswer(out, f"0x{int(out['addr']):04x}: {out['data']}")


async def _disasm(call: ToolCall, args: Any) -> ToolAnswer:
    out = await call.call("debug.disasm", rpc_params(args, Disasm))
    lines = [
        f"{'=>' if i.get('is_pc') else '  '} 0x{int(i['pc']):04x}  {i.get('text', '')}"
        + (f"  ; {i['symbol']}" if i.get("symbol") else "")
        for i in out.get("instructions") or []
    ]
    return ToolAnswer(out, "\n".join(lines) or "no instructions there")


async def _stack(call: ToolCall, args: Any) -> ToolAnswer:
    out = await call.call("debug.stack", rpc_params(args, Stack))
    lines = [
        f"#{f['index']} 0x{int(f['pc']):04x} {f.get('symbol') or f.get('func_name') or '?'}"
        + (f" ({f['file']}:{f['line']})" if f.get("file") else "")
        for f in out.get("frames") or []
    ]
    return ToolAnswer(out, "\n".join(lines) or as_json_text(out))


def hsx_tools() -> list[ToolSpec]:
    ro = Hints(read_only=True, destructive=False, idempotent=True)
    ctl = Hints(read_only=False, destructive=False, idempotent=False)
    return [
        ToolSpec(
            "hsx_load",
            "Load an HSX program",
            "Load an HXE image (an HSX VM program) as a task of kind vm, from a path on the daemon's machine or "
            "as base64; with paused=true it waits at its entry point so breakpoints can be set first. Its "
            "console output is the task's stdout (read_output).",
            HsxLoad,
            method_output("vm.load"),
            Hints(read_only=False, destructive=False, idempotent=False),
            _load,
        ),
        ToolSpec(
            "hsx_set_breakpoint",
            "Set a breakpoint",
            "Set a breakpoint in an HSX program by address, symbol, symbol+offset or file:line; hsx_continue "
            "then runs to it.",
            SetBreakpoint,
            method_output("debug.bp.add"),
            Hints(read_only=False, destructive=False, idempotent=True),
            _set_bp,
        ),
        ToolSpec(
            "hsx_clear_breakpoint",
            "Clear breakpoints",
            "Delete one breakpoint of an HSX program (where), or all of them (no where).",
            ClearBreakpoint,
            method_output("debug.bp.remove"),
            Hints(read_only=False, destructive=False, idempotent=True),
            _clear_bp,
        ),
        ToolSpec(
            "hsx_continue",
            "Continue to the next stop",
            "Resume a paused HSX program and wait until it stops again (breakpoint, BRK, pause) or ends, with "
            "progress notifications; returns where it stopped with the registers. If the timeout passes it keeps "
            "running (pause_task stops it).",
            Continue,
            output_schema(HsxStopOutput),
            ctl,
            _continue,
        ),
        ToolSpec(
            "hsx_step",
            "Step",
            "Execute N instructions (or N source lines, or step over one CALL) of a paused HSX program; returns "
            "the new position and the registers that changed.",
            StepArgs,
            method_output("debug.step"),
            ctl,
            _step,
        ),
        ToolSpec(
            "hsx_registers",
            "Registers",
            "An HSX program's registers R0..R15, PC, SP, PSW, the registers changed since the last stop, the "
            "current instruction, symbol and source line.",
            TaskArg,
            method_output("debug.state"),
            ro,
            _registers,
        ),
        ToolSpec(
            "hsx_memory",
            "Read memory",
            "Read an HSX program's data memory as hex bytes.",
            Memory,
            method_output("vm.mem_read"),
            ro,
            _memory,
        ),
        ToolSpec(
            "hsx_disassemble",
            "Disassemble",
            "Disassemble an HSX program's code around an address (default the PC), annotated with symbols, "
            "source lines and breakpoints.",
            Disassemble,
            method_output("debug.disasm"),
            ro,
            _disasm,
        ),
        ToolSpec(
            "hsx_stack",
            "Call stack",
            "Walk an HSX program's call stack: each frame's function, PC, source line and return address.",
            StackArgs,
            method_output("debug.stack"),
            ro,
            _stack,
        ),
    ]
