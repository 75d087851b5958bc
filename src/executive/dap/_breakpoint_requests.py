"""Breakpoint requests of a DAP session: line, function, instruction and data breakpoints,
bound to addresses through the line table and kept in step with the daemon.

A mixin of :class:`~executive.dap.session.DapSession`.  Each editor breakpoint is bound in
every task of the session it applies to (dap/breakpoints.py): a line in each task whose
line table has that file, a function in each task that has it, an instruction address in
every task.  Line breakpoints on a line without code move to the nearest line with code
and say so in ``message``; addresses the daemon refuses come back unverified with the
daemon's reason.  :meth:`_wants_stop` decides, when a task reaches a breakpoint, whether
the editor hears of it: the condition (``debug.eval`` in that task), the hit condition,
and logpoints (printed, never stopping).
"""

from __future__ import annotations

import os
from typing import Any

from executive.api.client import RpcError
from executive.dap._core import SessionCore
from executive.dap.breakpoints import BreakSpec, hit_condition_met, log_message_parts
from executive.dap.protocol import DapError
from executive.dap.sources import nearest_line
from executive.dap.threads import TaskThread

__all__ = ["BreakpointRequests"]


class BreakpointRequests(SessionCore):
    """``set*Breakpoints``, ``dataBreakpointInfo`` and the stop decision."""

    def _bindable(self) -> list[TaskThread]:
        """The threads breakpoints are set in: those whose task has not ended."""
        return [t for t in self.threads if t.end is None]

    def _unbound_reason(self, what: str) -> str:
        if not len(self.threads):
            return "no program is loaded yet"
        if not self._bindable():
            return "the program has ended" if not self.threads.several else "every task of this session has ended"
        return what

    async def _file_lines(self, thread: TaskThread, name: str) -> dict[int, list[int]]:
        if name not in thread.lines:
            reply = await self._call("debug.sym.lines", task=thread.pid, file=name)
            thread.lines[name] = {row["line"]: row["addresses"] for row in reply["lines"]}
        return thread.lines[name]

    async def _set_breakpoints(self, args: dict[str, Any]) -> dict[str, Any]:
        source = args.get("source") or {}
        path = source.get("path")
        wanted = args.get("breakpoints")
        if wanted is None:
            wanted = [{"line": n} for n in args.get("lines", [])]
        if not isinstance(path, str):
            raise DapError("setBreakpoints needs source.path")
        tables = [(t, await self._file_lines(t, t.sources.name_of(path))) for t in self._bindable()]
        specs: list[tuple[BreakSpec, int, str | None]] = []
        for b in wanted:
            line = int(b.get("line", 0))
            addresses: dict[int, int] = {}
            bound_line = None
            for thread, lines in tables:
                at = nearest_line(lines, line)
                if at is not None:
                    addresses[thread.pid] = lines[at][0]
                    bound_line = at if bound_line is None else bound_line
            message = None
            if bound_line is None:
                several = self.threads.several
                whose = "the line table of any task of this session" if several else "this program's line table"
                message = self._unbound_reason(f"{os.path.basename(path)} has no code in {whose}")
            elif bound_line != line:
                message = (
                    f"line {line} has no code; the breakpoint moved to line {bound_line}, the nearest line with code"
                )
            spec = BreakSpec(
                self.book.new_id(), "source", addresses, b.get("condition"), b.get("hitCondition"), b.get("logMessage")
            )
            specs.append((spec, bound_line if bound_line is not None else line, message))
        self.book.by_source[path] = [s for s, _, _ in specs]
        await self._sync_breakpoints()
        out = []
        for spec, line, message in specs:
            d = self._bp_body(spec, message)
            d.update(line=line, source={"name": os.path.basename(path), "path": path})
            out.append(d)
        return {"breakpoints": out}

    def _bp_body(self, spec: BreakSpec, message: str | None = None) -> dict[str, Any]:
        """The DAP ``Breakpoint`` of a spec; addresses a task refused are unbound from it."""
        errors = []
        for pid, address in list(spec.addresses.items()):
            thread = self.threads.lookup(pid)
            error = thread.bp_errors.get(address) if thread is not None else None
            if error:
                errors.append((thread, error))
                del spec.addresses[pid]
        d: dict[str, Any] = {"id": spec.id, "verified": bool(spec.addresses)}
        if spec.addresses:
            d["instructionReference"] = f"0x{next(iter(spec.addresses.values())):X}"
        if errors and not self.threads.several:
            message = errors[0][1]
        elif errors:
            refused = "; ".join(f"{t.label if t else '?'}: {e}" for t, e in errors)
            message = f"not set in {refused}" + (f" ({message})" if message else "")
        if message:
            d["message"] = message
        return d

    async def _sync_breakpoints(self) -> None:
        """Make each task's breakpoints on the daemon the book's (plus a step-out target)."""
        for thread in self._bindable():
            wanted = self.book.addresses(thread.pid)
            out = thread.out_target
            keep = {out[0]} if out is not None and out[2] else set()
            for address in sorted(thread.daemon_bps - wanted - keep):
                await self._call("debug.bp.remove", task=thread.pid, where=address)
                thread.daemon_bps.discard(address)
            thread.bp_errors = {}
            for address in sorted(wanted - thread.daemon_bps):
                try:
                    await self._call("debug.bp.add", task=thread.pid, where=address)
                except RpcError as exc:
                    thread.bp_errors[address] = exc.message
                    continue
                thread.daemon_bps.add(address)

    async def _set_function_breakpoints(self, args: dict[str, Any]) -> dict[str, Any]:
        specs, messages = [], []
        for b in args.get("breakpoints", []):
            name = str(b.get("name", ""))
            addresses: dict[int, int] = {}
            variable = False
            for thread in self._bindable():
                sym = (await self._call("debug.sym.lookup", task=thread.pid, name=name))["symbol"]
                if sym is not None and sym["space"] == "code":
                    addresses[thread.pid] = sym["address"]
                elif sym is not None:
                    variable = True
            message = None
            if not addresses:
                where = "the symbols of any task of this session" if self.threads.several else "this program's symbols"
                message = self._unbound_reason(
                    f"{name!r} is a variable; use a data breakpoint to watch it"
                    if variable
                    else f"no function or label named {name!r} in {where}"
                )
            specs.append(
                BreakSpec(self.book.new_id(), "function", addresses, b.get("condition"), b.get("hitCondition"))
            )
            messages.append(message)
        self.book.functions = specs
        await self._sync_breakpoints()
        return {"breakpoints": [self._bp_body(s, m) for s, m in zip(specs, messages, strict=True)]}

    async def _set_instruction_breakpoints(self, args: dict[str, Any]) -> dict[str, Any]:
        specs, messages = [], []
        for b in args.get("breakpoints", []):
            ref = str(b.get("instructionReference", ""))
            addresses: dict[int, int] = {}
            message = None
            try:
                address = int(ref, 0) + int(b.get("offset", 0))
            except ValueError:
                message = f"instructionReference {ref!r} is not an address"
            else:  # the editor names no task: the address is one in every task (dap/breakpoints.py)
                addresses = {t.pid: address for t in self._bindable()}
                if not addresses:
                    message = self._unbound_reason("")
            specs.append(
                BreakSpec(self.book.new_id(), "instruction", addresses, b.get("condition"), b.get("hitCondition"))
            )
            messages.append(message)
        self.book.instructions = specs
        await self._sync_breakpoints()
        return {"breakpoints": [self._bp_body(s, m) for s, m in zip(specs, messages, strict=True)]}

    async def _set_exception_breakpoints(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"breakpoints": []}  # faults always stop; there are no filters to choose

    async def _data_breakpoint_info(self, args: dict[str, Any]) -> dict[str, Any]:
        if not len(self.threads):
            return {"dataId": None, "description": "no program is loaded yet"}
        ref = args.get("variablesReference")
        if ref:  # a variable of a scope: the scope's task and frame
            thread = self.threads.get(self.handles.get(int(ref))[0])
            frame = 0
        else:
            thread, frame = self.threads.frame(args.get("frameId"))
        return await thread.inspector.data_breakpoint_info(ref, str(args.get("name", "")), frame)

    async def _set_data_breakpoints(self, args: dict[str, Any]) -> dict[str, Any]:
        focus = self._require_task()
        for spec in self.book.data:
            if spec.watch_id is not None:
                try:
                    await self._call("debug.watch.remove", task=spec.task, id=spec.watch_id)
                except RpcError:
                    pass  # the task ended and took its watches with it
        self.book.data = []
        out = []
        for b in args.get("breakpoints", []):
            spec = BreakSpec(self.book.new_id(), "data", {}, b.get("condition"), b.get("hitCondition"))
            body: dict[str, Any] = {"id": spec.id, "verified": False}
            data_id = str(b.get("dataId", ""))
            address_text, _, width_text = data_id.partition("/")
            width_text, _, task_text = width_text.partition("@")
            try:
                address = int(address_text, 0)
                spec.task = int(task_text) if task_text else focus.pid
                if spec.task not in self.threads:
                    raise DapError(f"dataId {data_id!r} names task {spec.task}, which this session does not debug")
                w = await self._call(
                    "debug.watch.add", task=spec.task, expr=address, length=int(width_text or 4), stop=True
                )
            except (ValueError, DapError, RpcError) as exc:
                body["message"] = exc.message if isinstance(exc, RpcError | DapError) else f"bad dataId {data_id!r}"
            else:
                spec.watch_id = w["id"]
                body["verified"] = True
                self.book.data.append(spec)
            out.append(body)
        return {"breakpoints": out}

    # ------------------------------------------------------------------ the stop decision
    async def _wants_stop(self, spec: BreakSpec, thread: TaskThread) -> bool:
        """Condition, hit count and logpoint of one breakpoint ``thread`` just reached."""
        if spec.condition:
            try:
                r = await self._call("debug.eval", task=thread.pid, expr=spec.condition)
            except RpcError as exc:
                self._output(f"breakpoint {spec.id}: condition {spec.condition!r} failed: {exc.message}\n")
                return True  # a condition that cannot be evaluated stops, so the user sees why
            if not r["value"]:
                return False
        spec.hits += 1
        try:
            if not hit_condition_met(spec.hit_condition, spec.hits):
                return False
        except DapError as exc:
            self._output(f"breakpoint {spec.id}: {exc.message}\n")
            return True
        if spec.log_message is not None:
            tag = thread.tag if self.threads.several else ""
            self._output(tag + await self._log_text(spec.log_message, thread) + "\n")
            return False
        return True

    async def _log_text(self, message: str, thread: TaskThread) -> str:
        out = []
        for text, is_expr in log_message_parts(message):
            if not is_expr:
                out.append(text)
                continue
            try:
                r = await self._call("debug.eval", task=thread.pid, expr=text)
                out.append(str(r["value"]))
            except RpcError as exc:
                out.append(f"<{exc.message}>")
        return "".join(out)
