"""The debugger half of the public surface: ``Executive.debug``.

Services over HSX tasks (spec hsx-executive §8, §9): breakpoints, symbols, disassembly,
stack reconstruction, watches, register-change tracking and the trace buffer.  Every
transport — JSON-RPC ``debug.*``/``trace.*``, the HSX TCP port, the CLI — calls these
methods.  Each names its task by id or name and checks it is an HSX program; each that
changes anything checks the caller's session may control the task
(``Executive.vm.control``: a task locked by another session refuses).

Per-task state is a :class:`~executive.debugger.task.TaskDebug`, created when a program
is loaded (:meth:`DebugService.on_load`, which also auto-loads ``<program>.sym`` beside
the image, §7.4) or on first use.  State of ended tasks is kept for post-mortem look-ups
(a faulted task's stack, symbols, trace) and pruned beyond the newest few.  The logic
lives in debugger/ (one concept per file); this class resolves tasks, checks locks and
limits, and shapes replies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from executive.debugger.breakpoints import Breakpoint
from executive.debugger.disasm_cache import Disassembler, back_up, data_report
from executive.debugger.evaluate import evaluate
from executive.debugger.expr import code_address, parse_int, resolve_symbol
from executive.debugger.regdiff import RegDiff, changed, snapshot
from executive.debugger.stack import walk_stack
from executive.debugger.task import TaskDebug
from executive.debugger.watches import Watch, resolve
from executive.hsx.isa import BY_MNEMONIC
from executive.kernel.errors import (
    BadParamsError,
    InvalidTransitionError,
)
from executive.runtimes.vm import VmTask
from executive.runtimes.vm_state import VmState
from executive.service.locals import SourceService
from executive.service.results import (
    BreakpointRecord,
    BreakpointsReply,
    DebugState,
    DisasmData,
    DisasmListing,
    EvalResult,
    FrameLocals,
    SourceFiles,
    SourceLines,
    StackReply,
    SymbolAddresses,
    SymbolAt,
    SymbolLine,
    SymbolLookup,
    SymbolPage,
    SymbolSummary,
    TraceConfigReply,
    TraceImported,
    TraceRecords,
    TraceSetReply,
    VmStepResult,
    WatchList,
    WatchRecord,
)
from executive.service.symbols import SymbolService
from executive.service.trace import TraceService

if TYPE_CHECKING:  # pragma: no cover
    from executive.service.executive import Executive

__all__ = ["DebugService"]

_KEEP_FINISHED = 32  # ended tasks whose debug state is kept for post-mortem look-ups
_STACK_DEFAULT = 64  # frames a stack walk returns unless asked for more
_YIELD_EVERY = 4096  # instructions a step-over runs between yields to the event loop
_CALL = BY_MNEMONIC["CALL"].opcode


class DebugService:
    """Debugger services over HSX tasks; attached as ``Executive.debug``."""

    def __init__(self, executive: Executive) -> None:
        self.ex = executive
        lim = executive.limits
        self._tasks: dict[int, TaskDebug] = {}
        self.disassembler = Disassembler()
        self.symbols = SymbolService(
            self, self.disassembler, max_sym_bytes=lim.max_sym_bytes, page_cap=lim.max_symbols_page
        )  # the symbol indexes (symbols.py)
        self.source = SourceService(self)  # locals of a frame, a file's line map (locals.py)
        self.stops = RegDiff()  # changed_regs between debugger stops (step results, debug_break)
        self.trace = TraceService(self, self.stops, max_buffer=lim.max_trace_buffer)  # the trace rings (trace.py)
        self._watch_ids = 0
        runtime = executive.vm.runtime
        runtime.symbolize = self.symbolize
        runtime.on_break = self._on_break

    # ------------------------------------------------------------------ task state
    def _state(self, ref: int | str) -> TaskDebug:
        return self._get(self.ex.vm.task(ref))

    def _control(self, ref: int | str, session_id: str | None) -> TaskDebug:
        return self._get(self.ex.vm.control(ref, session_id))

    # DebugTasks (trace.py), SymbolTasks (symbols.py), SourceTasks (locals.py): how they find task state
    def state_of(self, ref: int | str) -> TaskDebug:
        return self._state(ref)

    def controlled(self, ref: int | str, session_id: str | None) -> TaskDebug:
        return self._control(ref, session_id)

    def all_states(self) -> list[TaskDebug]:
        return list(self._tasks.values())

    def existing(self, pid: int) -> TaskDebug | None:
        return self._tasks.get(pid)

    def _get(self, vt: VmTask) -> TaskDebug:
        st = self._tasks.get(vt.pid)
        if st is None or st.vt is not vt:
            lim = self.ex.limits
            st = self._tasks[vt.pid] = TaskDebug(
                vt, max_breakpoints=lim.max_breakpoints, max_watches=lim.max_watches,
                trace_capacity=self.trace.capacity, publish=self.ex.bus.publish, trace_seq=self.trace.next_seq,
                trace_diff=self.trace.traced,
            )  # fmt: skip
        return st

    def _prune(self) -> None:
        finished = [pid for pid, st in self._tasks.items() if st.vt.finished]
        for pid in finished[: max(0, len(finished) - _KEEP_FINISHED)]:
            del self._tasks[pid]
            self.stops.forget(pid)
            self.trace.forget(pid)
            self.disassembler.invalidate(pid)

    # ------------------------------------------------------------------ attach
    def attach(self, ref: int | str, *, session_id: str, pause: bool = True) -> DebugState:
        """Take the task's control lock for ``session_id`` and (by default) pause it.

        While locked, only this session may pause, step, set breakpoints or watches,
        write registers or memory (spec §2.5).  Returns :meth:`state`.

        Raises:
            LockedError: another session holds the lock.
            InvalidTransitionError: the task has ended.
        """
        st = self._state(ref)
        if st.vt.finished:
            raise InvalidTransitionError(
                f"task {st.pid} has ended ({st.vt.state.value}); nothing to attach to", data={"task": st.pid}
            )
        self.ex.task_lock(st.pid, session_id)
        if pause and st.vt.state is not VmState.PAUSED:
            self.ex.vm.pause(st.pid, session_id=session_id)
        return self.state(st.pid)

    def detach(self, ref: int | str, *, session_id: str, resume: bool = False) -> DebugState:
        """Remove this session's breakpoints, watches and tracing, release the lock, and
        optionally resume the task (a debugger leaving should leave the program as it was)."""
        st = self._control(ref, session_id)
        st.breakpoints.clear()
        for w in st.watches.entries():
            st.watches.remove(w.id)
        st.tracing = False
        st.sync_hooks()
        if resume and st.vt.state is VmState.PAUSED:
            self.ex.vm.resume(st.pid, session_id=session_id)
        self.ex.task_unlock(st.pid, session_id)
        return self.state(st.pid)

    def state(self, ref: int | str) -> DebugState:
        """Where a task is: state, PC with symbol/line and its instruction, registers with
        ``changed_regs`` since the last stop (not moving the baseline), breakpoints, watches."""
        st = self._state(ref)
        vt, cpu = st.vt, st.vt.cpu
        base = self.stops.baseline(st.pid)
        ins = None
        if 0 <= cpu.pc and cpu.pc + 4 <= len(cpu.code) and cpu.pc % 4 == 0:
            ins = self.disassembler.listing(st.pid, cpu.code, cpu.pc, 1, st.symbols)[0][0]
        ln = st.symbols.line_at(cpu.pc) if st.symbols else None
        summary = vt.summary()
        return {
            "pid": st.pid, "state": summary["state"], "pause_reason": vt.pause_reason, "pc": cpu.pc, "sp": cpu.sp,
            "depth": cpu.depth, "steps": cpu.steps, "regs": list(cpu.regs), "psw": cpu.psw,
            "changed_regs": changed(base, snapshot(cpu.regs, cpu.psw)) if self.stops.enabled else None,
            "symbol": self.symbolize(st.pid, cpu.pc), "line": {"file": ln.file, "line": ln.line} if ln else None,
            "instruction": ins, "breakpoints": st.breakpoints.addresses(),
            "watches": [_watch(w) for w in st.watches.entries()], "tracing": st.tracing,
            "exit_status": vt.exit_status, "fault": vt.fault, "locked_by": self.ex.lock_owner(st.pid),
        }  # fmt: skip

    # ------------------------------------------------------------------ symbols
    def on_load(self, vt: VmTask, *, symbols: str | None = None) -> dict[str, Any]:
        """Set up a freshly loaded task and auto-load its `.sym` (spec hsx-executive §7.4).

        Looks for ``symbols`` (a relative path resolves against the program's directory)
        or ``<program>.sym``.  A missing or broken file never fails the load: the result
        says what happened and ``warnings`` carries ``symbols_missing:<path>``,
        ``symbols_failed:<why>`` or ``symbols_unavailable`` (an uploaded image: supply
        its symbols with :meth:`sym_load`).

        Returns:
            ``{"symbols": {pid, loaded, path, count | error}, "warnings": [...]}`` to merge
            into the load reply.
        """
        self._prune()
        st = self._get(vt)
        self.stops.update(vt.pid, vt.cpu.regs, vt.cpu.psw)
        warnings = self.symbols.autoload(st, symbols)
        return {"symbols": self.symbols.summary(st), "warnings": warnings}

    def sym_info(self, ref: int | str) -> SymbolSummary:
        """Whether a task has symbols, from where, how many (spec §3.6 ``sym info``)."""
        return self.symbols.info(ref)

    def sym_load(
        self,
        ref: int | str,
        *,
        path: str | None = None,
        document: dict[str, Any] | str | None = None,
        session_id: str | None = None,
    ) -> SymbolSummary:
        """Load (or replace) a task's symbols; see :meth:`SymbolService.load`."""
        return self.symbols.load(ref, path=path, document=document, session_id=session_id)

    def sym_lookup(self, ref: int | str, name: str) -> SymbolLookup:
        return self.symbols.lookup(ref, name)

    def sym_at(self, ref: int | str, address: int | str, *, space: str = "code") -> SymbolAt:
        return self.symbols.at(ref, address, space=space)

    def sym_line(self, ref: int | str, address: int | str) -> SymbolLine:
        return self.symbols.line(ref, address)

    def sym_addresses(self, ref: int | str, file: str, line: int) -> SymbolAddresses:
        return self.symbols.addresses(ref, file, line)

    def sym_list(self, ref: int | str, *, type: str = "all", offset: int = 0, limit: int | None = None) -> SymbolPage:
        return self.symbols.list(ref, type=type, offset=offset, limit=limit)

    def evaluate(self, ref: int | str, expr: str, frame: int = 0) -> EvalResult:
        """The value of a debugger expression (the CLI's ``p``, DAP's evaluate and breakpoint
        conditions; see debugger/evaluate.py).  Names see the locals of stack frame ``frame``
        (``.sym`` ``symbols.locals``); registers are the task's current ones whatever the frame."""
        st = self._state(ref)
        cpu = st.vt.cpu
        frame_locals = self.locals(st.pid, frame)["locals"] if st.symbols is not None and len(st.symbols.locals) else []
        value = evaluate(
            expr, regs=cpu.regs, pc=cpu.pc, sp=cpu.sp, psw=cpu.psw, mem=cpu.mem, symbols=st.symbols,
            locals={v["name"]: v for v in frame_locals},
        )  # fmt: skip
        if value["kind"] in ("code", "variable") and "symbol" not in value and st.symbols is not None:
            value["symbol"] = st.symbols.describe(value["address"])
        return cast(EvalResult, {"pid": st.pid, **value})

    def locals(self, ref: int | str, frame: int = 0) -> FrameLocals:
        """The local variables live in one stack frame; see :meth:`SourceService.locals`."""
        return self.source.locals(ref, frame)

    def sym_lines(self, ref: int | str, file: str | None = None) -> SourceFiles | SourceLines:
        """A file's lines with code (or the files of the line table); see :meth:`SourceService.sym_lines`."""
        return self.source.sym_lines(ref, file)

    def symbolize(self, pid: int, pc: int) -> str | None:
        """``name`` or ``name+0xN`` for a code address, for ``debug_break.symbol`` (§12.5)."""
        return self.symbols.symbolize(pid, pc)

    # ------------------------------------------------------------------ breakpoints
    def bp_add(self, ref: int | str, where: int | str, *, session_id: str | None = None) -> BreakpointsReply:
        """Set a breakpoint at an address, a code symbol (``loop``, ``main+0x8``) or ``file:line``.

        Idempotent.  The task then stops *before* the instruction there and a
        ``debug_break`` event ``{pc, phase:"pre", reason:"breakpoint", symbol,
        changed_regs}`` is published (spec §8.1, §5.3).

        Raises:
            BadParamsError: not an instruction start in the code, unknown symbol, a variable.
            LimitError: ``limits.max_breakpoints`` reached for this task.
        """
        st = self._control(ref, session_id)
        addr, text = code_address(where, st.symbols)
        bp, added = st.breakpoints.add(addr, text, self.symbolize(st.pid, addr))
        reply = self._bp_reply(st)
        reply["breakpoint"] = _bp(bp)
        reply["added"] = added
        return reply

    def bp_remove(self, ref: int | str, where: int | str, *, session_id: str | None = None) -> BreakpointsReply:
        """Delete the breakpoint at a location (same forms as :meth:`bp_add`).

        Raises:
            BadParamsError: no breakpoint there.
        """
        st = self._control(ref, session_id)
        addr, _ = code_address(where, st.symbols)
        bp = st.breakpoints.remove(addr)
        reply = self._bp_reply(st)
        reply["breakpoint"] = _bp(bp)
        return reply

    def bp_clear(self, ref: int | str, *, session_id: str | None = None) -> BreakpointsReply:
        """Delete every breakpoint of a task."""
        st = self._control(ref, session_id)
        removed = st.breakpoints.clear()  # clear first: the reply lists what is left (nothing)
        reply = self._bp_reply(st)
        reply["removed"] = removed
        return reply

    def bp_list(self, ref: int | str) -> BreakpointsReply:
        """A task's breakpoints: ``breakpoints`` (addresses, as the HSX ``bp`` reply) and ``details``."""
        return self._bp_reply(self._state(ref))

    def _bp_reply(self, st: TaskDebug) -> BreakpointsReply:
        return {
            "pid": st.pid,
            "breakpoints": st.breakpoints.addresses(),
            "details": [_bp(b) for b in st.breakpoints.entries()],
        }

    # ------------------------------------------------------------------ stepping
    def step(
        self, ref: int | str, steps: int = 1, *, session_id: str | None = None, announce: bool = False
    ) -> VmStepResult:
        """Execute ``steps`` instructions of a paused task (spec §3.5, §8.2).

        Returns ``Executive.vm.step``'s result plus ``changed_regs`` (since the last stop,
        PC excluded, when tracking is on, §8.10), ``symbol`` and ``line`` of the new PC.
        A breakpoint or ``BRK`` on the way ends the step early and is reported as
        ``debug_break`` (in the result and as an event).  With ``announce``, a step that
        ends with the task still paused for another reason publishes
        ``debug_break {reason: "step", pc, phase: "post", symbol}`` too — the event the HSX
        clients (the VS Code adapter) wait for to show the thread stopped.

        Raises:
            InvalidTransitionError: the task is not paused, or is blocked in a wait.
            LimitError: ``steps`` outside 1..limits.max_step.
        """
        st = self._control(ref, session_id)
        before = self.stops.baseline(st.pid)
        return self._stopped(st, self.ex.vm.step(st.pid, steps, session_id=session_id), before, announce)

    async def step_over(self, ref: int | str, *, session_id: str | None = None) -> VmStepResult:
        """Step one instruction, running a CALL through to its return (the CLI's ``next``).

        The call runs instruction by instruction until control is back after the CALL
        at the same call depth (so recursion is stepped over whole), yielding to the
        event loop now and then.  It stops early at a breakpoint (publishing
        ``debug_break``), a ``BRK``, the task's end, a sleep or mailbox wait inside the
        call (resume to let it finish), or after ``limits.max_step`` instructions.
        ``stop`` in the result says which: ``returned``, ``breakpoint``, ``brk``,
        ``ended``, ``waiting``, ``step_limit`` or ``interrupted``.
        """
        st = self._control(ref, session_id)
        cpu = st.vt.cpu
        code = cpu.code
        if not (0 <= cpu.pc and cpu.pc + 4 <= len(code)) or code[cpu.pc] != _CALL:
            return self.step(st.pid, 1, session_id=session_id) | {"over": False, "stop": "stepped"}
        ret, depth = cpu.pc + 4, cpu.depth
        return await self._run_until(st, lambda: cpu.pc == ret and cpu.depth == depth) | {"over": True}

    async def step_out(self, ref: int | str, *, session_id: str | None = None) -> VmStepResult:
        """Run until the current function returns to its caller (the CLI's ``finish``).

        Runs instruction by instruction until the call depth drops below the current one
        (the RET of this frame retired), so recursion is handled; stops early like
        :meth:`step_over` (``stop``: ``returned``, ``breakpoint``, ``brk``, ``ended``,
        ``waiting``, ``step_limit`` or ``interrupted``).

        Raises:
            BadParamsError: the task is not inside a call (depth 0: a RET would end it).
        """
        st = self._control(ref, session_id)
        cpu = st.vt.cpu
        if cpu.depth == 0:
            raise BadParamsError(
                "finish: not inside a call (call depth 0; a RET here ends the program) — use continue or step"
            )
        depth = cpu.depth
        return await self._run_until(st, lambda: cpu.depth < depth)

    async def _run_until(self, st: TaskDebug, done: Callable[[], bool]) -> VmStepResult:
        """Single-step a paused task until ``done()`` after an instruction, or an early stop."""
        vt, cpu = st.vt, st.vt.cpu
        before = self.stops.baseline(st.pid)
        start = cpu.pc
        budget = self.ex.limits.max_step
        runtime = self.ex.vm.runtime
        executed, stop = 0, "returned"
        while True:
            result = runtime.step(vt, 1)
            executed += result["executed"]
            if "debug_break" in result:
                stop = result["debug_break"]["reason"]
            elif vt.finished:
                stop = "ended"
            elif vt.wait is not None or result["executed"] == 0:
                stop = "waiting"
            elif done():
                stop = "returned"
            elif cpu.pc in st.breakpoints:
                stop = "breakpoint"
                data: dict[str, Any] = {
                    "pc": cpu.pc,
                    "phase": "pre",
                    "reason": "breakpoint",
                    "symbol": self.symbolize(st.pid, cpu.pc),
                }
                self._on_break(vt, data)
                self.ex.bus.publish("debug_break", st.pid, data)
                result["debug_break"] = data
            elif executed >= budget:
                stop = "step_limit"
            elif executed % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
                if vt.state is not VmState.PAUSED:
                    stop = "interrupted"
                else:
                    continue
            else:
                continue
            break
        result.update(executed=executed, prev_pc=start, regs=list(cpu.regs), stop=stop)
        return self._stopped(st, cast(VmStepResult, result), before)

    def step_source(
        self, ref: int | str, steps: int = 1, *, session_id: str | None = None, announce: bool = False
    ) -> VmStepResult:
        """Source-level steps (HSX ``step {source_only}``, spec §3.5): each step runs one
        instruction, then more while the PC is on a compiler-generated instruction
        (``.sym`` ``source_kind: "compiler"``); ``executed`` is the instruction total.
        ``announce`` as for :meth:`step`."""
        st = self._control(ref, session_id)
        before = self.stops.baseline(st.pid)
        skip = st.symbols.generated if st.symbols else frozenset()
        cpu, budget, executed = st.vt.cpu, self.ex.limits.max_step, 0
        result = cast(VmStepResult, {})
        for _ in range(max(1, steps)):
            result = self.ex.vm.step(st.pid, 1, session_id=session_id)
            executed += result["executed"]
            while (
                cpu.pc in skip
                and result["executed"]
                and "debug_break" not in result
                and st.vt.state is VmState.PAUSED
                and executed < budget
            ):
                result = self.ex.vm.step(st.pid, 1, session_id=session_id)
                executed += result["executed"]
            if not result["executed"] or "debug_break" in result or st.vt.state is not VmState.PAUSED:
                break
        result["executed"] = executed
        result["source_steps"] = steps
        return self._stopped(st, result, before, announce)

    def _stopped(
        self, st: TaskDebug, result: VmStepResult, before: tuple[int, ...] | None, announce: bool = False
    ) -> VmStepResult:
        """Complete a step result: ``changed_regs`` since ``before``, where the PC is, and
        watch changes no store reported (host writes during the step); with ``announce``,
        publish the ``debug_break {reason:"step"}`` of a step that left the task paused."""
        cpu = st.vt.cpu
        regs = self.stops.update(st.pid, cpu.regs, cpu.psw, since=before, use_since=True)
        if regs is not None:
            result["changed_regs"] = regs
        result["symbol"] = self.symbolize(st.pid, cpu.pc)
        ln = st.symbols.line_at(cpu.pc) if st.symbols else None
        result["line"] = {"file": ln.file, "line": ln.line} if ln else None
        st.resample_watches()
        if announce and "debug_break" not in result and st.vt.state is VmState.PAUSED:
            brk = {"pc": cpu.pc, "phase": "post", "reason": "step", "symbol": result["symbol"],
                   "executed": result["executed"]}  # fmt: skip
            if regs is not None:
                brk["changed_regs"] = regs
            self.ex.bus.publish("debug_break", st.pid, brk)
            result["debug_break"] = cast(Any, brk)
        return result

    def _on_break(self, vt: VmTask, data: dict[str, Any]) -> None:
        """Runtime hook, before a ``debug_break`` is published: count the breakpoint hit and
        add ``changed_regs`` since the last stop (spec §8.10)."""
        st = self._get(vt)
        watch_id = vt.cpu.halt_info.get("watch_id")
        if data.get("reason") == "breakpoint" and watch_id is not None:  # a stopping watch, not a breakpoint
            data.update(reason="watch", phase="post", watch_id=watch_id, writer_pc=vt.cpu.halt_info.get("writer_pc"))
        elif data.get("reason") == "breakpoint":
            st.breakpoints.hit(data["pc"])
        regs = self.stops.update(vt.pid, vt.cpu.regs, vt.cpu.psw)
        if regs is not None:
            data["changed_regs"] = regs

    # ------------------------------------------------------------------ disassembly
    def disasm(
        self, ref: int | str, addr: int | str | None = None, count: int = 8, *, before: int = 0, mode: str = "cached"
    ) -> DisasmListing | DisasmData:
        """Disassemble the task's **code** space around an address (spec §8.6, §13 #15).

        Args:
            addr: a code address (0 is valid), a code symbol (``loop+0x8``) or
                ``file:line``; None means the current PC.
            count: instructions listed, 1..limits.max_disasm (more is clamped, ``clamped``).
            before: how many of them come before ``addr`` (a listing *around* it).
            mode: ``cached`` (reuse the LRU) or ``on-demand`` (decode afresh).

        Returns:
            ``{pid, address, requested, count, instructions, cached, truncated, bytes_read,
            data, pc, ...}``; instructions are annotated (``symbol``, ``label``,
            ``target_symbol``, ``file``/``line``) and mark ``is_pc`` and ``breakpoint``.
            A data address (past the code, or a variable) gets ``is_data: true`` and a
            ``message`` instead of made-up instructions.

        Raises:
            BadParamsError: misaligned address, count < 1, unknown symbol, bad mode.
        """
        st = self._state(ref)
        cpu = st.vt.cpu
        code_len = len(cpu.code)
        if mode not in ("cached", "on-demand"):
            raise BadParamsError(f"mode must be cached or on-demand, not {mode!r}")
        if count < 1 or before < 0:
            raise BadParamsError(f"count must be >= 1 and before >= 0 (got count={count}, before={before})")
        cap = self.ex.limits.max_disasm
        clamped = count > cap
        count = min(count, cap)
        requested: int | str = cpu.pc if addr is None else addr
        if isinstance(addr, str) and parse_int(addr) is None:
            hit = resolve_symbol(addr, st.symbols)
            if hit is not None and hit[0].space == "data":
                return self._data_report(st, hit[0].address + hit[1], addr, hit[0].name)
        start = cpu.pc if addr is None else code_address(addr, st.symbols)[0]
        if start >= code_len or start < 0:
            return self._data_report(st, start, requested, None)
        if start % 4:
            raise BadParamsError(
                f"0x{start:X} is not a multiple of 4; instructions start on 4-byte boundaries "
                f"(try 0x{start - start % 4:X})"
            )
        if start in st.literals:
            start -= 4  # the literal word of an LDI32: list the LDI32 itself
        first = back_up(start, min(before, count - 1), st.literals)
        if mode == "on-demand":
            self.disassembler.invalidate(st.pid)
        listing, cached = self.disassembler.listing(st.pid, cpu.code, first, count, st.symbols)
        bps = st.breakpoints
        out = [ins | {"is_pc": ins["pc"] == cpu.pc, "breakpoint": ins["pc"] in bps} for ins in listing]
        used = sum(i["size"] for i in listing)
        return {
            "pid": st.pid, "address": first, "requested": requested, "count": len(out), "requested_count": count,
            "mode": mode, "cached": cached, "truncated": len(out) < count, "clamped": clamped, "space": "code",
            "code_len": code_len, "pc": cpu.pc, "bytes_read": used, "data": cpu.code[first : first + used].hex(),
            "instructions": out,
        }  # fmt: skip

    def _data_report(self, st: TaskDebug, address: int, requested: int | str, variable: str | None) -> DisasmData:
        regions = self.ex.vm.regions(st.pid)["regions"]
        report = data_report(address, len(st.vt.cpu.code), cast(list[dict[str, Any]], regions), st.symbols, variable)
        return cast(DisasmData, {"pid": st.pid, "requested": requested, **report})

    # ------------------------------------------------------------------ stack
    def stack(self, ref: int | str, max_frames: int | None = None) -> StackReply:
        """Reconstruct the call stack by walking R7 frames (spec §8.7; see debugger/stack.py).

        ``max_frames`` defaults to 64 and is capped at ``limits.max_stack_frames``
        (``truncated`` with ``frame_limit_reached`` when the stack is deeper).  Frames are
        named from the symbols (``func_name``, ``func_addr``, ``func_offset``, ``file``, ``line``).
        """
        st = self._state(ref)
        vt, cpu = st.vt, st.vt.cpu
        cap = self.ex.limits.max_stack_frames
        n = min(max(1, max_frames or _STACK_DEFAULT), cap)
        low, high = vt.stack_limit, min(vt.stack_base + 4, 0x10000)
        walk = walk_stack(
            code=cpu.code, read_word=cpu.read_word, pc=cpu.pc, sp=cpu.sp, fp=cpu.regs[7], depth=cpu.depth,
            low=low, high=high, max_frames=n, symbols=st.symbols,
        )  # fmt: skip
        if not low <= cpu.sp <= high:
            walk["errors"].insert(0, f"sp_out_of_range:0x{cpu.sp:08X}")
        reply = {"pid": st.pid, **walk, "max_frames": n, "stack_base": vt.stack_base, "stack_limit": vt.stack_limit,
                 "stack_low": low, "stack_high": high, "initial_sp": cpu.sp, "initial_fp": cpu.regs[7]}  # fmt: skip
        return cast(StackReply, reply)

    # ------------------------------------------------------------------ watches
    def watch_add(
        self,
        ref: int | str,
        expr: int | str,
        *,
        length: int = 4,
        type: str | None = None,
        stop: bool = False,
        session_id: str | None = None,
    ) -> WatchRecord:
        """Watch data memory: ``expr`` is an address, a variable, ``var+off`` or ``*pointer``.

        From now on each change of the ``length`` (1, 2 or 4) bytes there publishes
        ``watch_update {watch_id, address, expr, type, length, old, new, symbol?,
        location?, pc, steps}`` — at the instruction that made it, and only when the value
        really changes (spec §8.9).  ``type`` forces the reading (``address``, ``symbol``,
        ``pointer``).  With ``stop`` it is a data breakpoint: a change also pauses the task
        after the writing instruction, published as ``debug_break {reason: "watch",
        watch_id, writer_pc}``.

        Raises:
            BadParamsError: unknown name, a code symbol, bad width or range.
            LimitError: ``limits.max_watches`` reached for this task.
        """
        st = self._control(ref, session_id)
        mem = st.vt.cpu.mem
        address, kind, symbol, location = resolve(expr, type, st.symbols, mem)
        st.watches.check_range(address, length)
        self._watch_ids += 1
        w = st.watches.add(Watch(
            self._watch_ids, st.pid, str(expr), kind, address, length, bytes(mem[address : address + length]),
            symbol, location, stop,
        ))  # fmt: skip
        st.sync_hooks()
        return _watch(w)

    def watch_remove(self, ref: int | str, watch_id: int, *, session_id: str | None = None) -> WatchRecord:
        """Remove a watch; returns the removed record.

        Raises:
            BadParamsError: the task has no watch with that id.
        """
        st = self._control(ref, session_id)
        w = st.watches.remove(watch_id)
        st.sync_hooks()
        return _watch(w)

    def watch_list(self, ref: int | str) -> WatchList:
        """A task's watches with their current values (re-read now; changes are published)."""
        st = self._state(ref)
        st.resample_watches()
        watches = [_watch(w) for w in st.watches.entries()]
        return {"pid": st.pid, "count": len(watches), "watches": watches}

    # ------------------------------------------------------------------ trace (service/trace.py)
    def trace_set(self, ref: int | str, enabled: bool | None = None, *, session_id: str | None = None) -> TraceSetReply:
        """Turn per-instruction tracing of a task on, off, or (None) toggle it; see :meth:`TraceService.set`."""
        return self.trace.set(ref, enabled, session_id=session_id)

    def trace_config(
        self,
        ref: int | str | None = None,
        *,
        buffer_size: int | None = None,
        changed_regs: bool | None = None,
        session_id: str | None = None,
    ) -> TraceConfigReply:
        """Size the rings and switch register-change tracking; see :meth:`TraceService.config`."""
        return self.trace.config(ref, buffer_size=buffer_size, changed_regs=changed_regs, session_id=session_id)

    def trace_records(self, ref: int | str, limit: int | None = None) -> TraceRecords:
        return self.trace.records(ref, limit)

    def trace_export(self, ref: int | str, limit: int | None = None) -> TraceRecords:
        return self.trace.export(ref, limit)

    def trace_import(
        self, ref: int | str, records: list[dict[str, Any]], *, replace: bool = True, session_id: str | None = None
    ) -> TraceImported:
        return self.trace.import_records(ref, records, replace=replace, session_id=session_id)


def _watch(w: Watch) -> WatchRecord:
    return cast(WatchRecord, w.to_dict())


def _bp(b: Breakpoint) -> BreakpointRecord:
    return cast(BreakpointRecord, b.to_dict())
