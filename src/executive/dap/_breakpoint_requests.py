"""Breakpoint requests of a DAP session: line, function, instruction and data breakpoints,
bound to addresses through the line table and kept in step with the daemon.

A mixin of :class:`~executive.dap.session.DapSession`.  Line breakpoints on a line
without code move to the nearest line with code and say so in ``message``; addresses the
daemon refuses come back unverified with the daemon's reason.  :meth:`_wants_stop`
decides, when the task reaches a breakpoint, whether the editor hears of it: the
condition (``debug.eval``), the hit condition, and logpoints (printed, never stopping).
"""

from __future__ import annotations

import os
from typing import Any

from executive.api.client import RpcError
from executive.dap._core import SessionCore
from executive.dap.breakpoints import BreakSpec, hit_condition_met, log_message_parts
from executive.dap.protocol import DapError
from executive.dap.sources import nearest_line

__all__ = ["BreakpointRequests"]


class BreakpointRequests(SessionCore):
    """``set*Breakpoints``, ``dataBreakpointInfo`` and the stop decision."""

    async def _file_lines(self, name: str) -> dict[int, list[int]]:
        if name not in self._lines:
            reply = await self._call("debug.sym.lines", task=self._require_task(), file=name)
            self._lines[name] = {row["line"]: row["addresses"] for row in reply["lines"]}
        return self._lines[name]

    async def _set_breakpoints(self, args: dict[str, Any]) -> dict[str, Any]:
        source = args.get("source") or {}
        path = source.get("path")
        wanted = args.get("breakpoints")
        if wanted is None:
            wanted = [{"line": n} for n in args.get("lines", [])]
        if not isinstance(path, str):
            raise DapError("setBreakpoints needs source.path")
        name = self.sources.name_of(path)
        lines = await self._file_lines(name) if self.pid is not None else {}
        specs: list[tuple[BreakSpec, int, str | None]] = []
        for b in wanted:
            line = int(b.get("line", 0))
            at = nearest_line(lines, line)
            message = None
            if at is None:
                message = (
                    "no program is loaded yet"
                    if self.pid is None
                    else f"{os.path.basename(path)} has no code in this program's line table"
                )
            elif at != line:
                message = f"line {line} has no code; the breakpoint moved to line {at}, the nearest line with code"
            spec = BreakSpec(
                self.book.new_id(), "source", lines[at][0] if at is not None else None,
                b.get("condition"), b.get("hitCondition"), b.get("logMessage"),
            )  # fmt: skip
            specs.append((spec, at if at is not None else line, message))
        self.book.by_source[path] = [s for s, _, _ in specs]
        await self._sync_breakpoints()
        out = []
        for spec, line, message in specs:
            d = self._bp_body(spec, message)
            d.update(line=line, source={"name": os.path.basename(path), "path": path})
            out.append(d)
        return {"breakpoints": out}

    def _bp_body(self, spec: BreakSpec, message: str | None = None) -> dict[str, Any]:
        error = self._bp_errors.get(spec.address) if spec.address is not None else None
        d: dict[str, Any] = {"id": spec.id, "verified": spec.address is not None and error is None}
        if spec.address is not None:
            d["instructionReference"] = f"0x{spec.address:X}"
        if error or message:
            d["message"] = error or message
        if error:
            spec.address = None
        return d

    async def _sync_breakpoints(self) -> None:
        """Make the daemon's breakpoints the union of the book (plus a step-out target)."""
        if self.pid is None:
            return
        wanted = self.book.addresses()
        keep = {self._out_target[0]} if self._out_target is not None and self._out_target[2] else set()
        for address in sorted(self._daemon_bps - wanted - keep):
            await self._call("debug.bp.remove", task=self.pid, where=address)
            self._daemon_bps.discard(address)
        self._bp_errors = {}
        for address in sorted(wanted - self._daemon_bps):
            try:
                await self._call("debug.bp.add", task=self.pid, where=address)
            except RpcError as exc:
                self._bp_errors[address] = exc.message
                continue
            self._daemon_bps.add(address)

    async def _set_function_breakpoints(self, args: dict[str, Any]) -> dict[str, Any]:
        specs, messages = [], []
        for b in args.get("breakpoints", []):
            name = str(b.get("name", ""))
            address, message = None, None
            if self.pid is None:
                message = "no program is loaded yet"
            else:
                sym = (await self._call("debug.sym.lookup", task=self.pid, name=name))["symbol"]
                if sym is None:
                    message = f"no function or label named {name!r} in this program's symbols"
                elif sym["space"] != "code":
                    message = f"{name!r} is a variable; use a data breakpoint to watch it"
                else:
                    address = sym["address"]
            specs.append(BreakSpec(self.book.new_id(), "function", address, b.get("condition"), b.get("hitCondition")))
            messages.append(message)
        self.book.functions = specs
        await self._sync_breakpoints()
        return {"breakpoints": [self._bp_body(s, m) for s, m in zip(specs, messages, strict=True)]}

    async def _set_instruction_breakpoints(self, args: dict[str, Any]) -> dict[str, Any]:
        specs, messages = [], []
        for b in args.get("breakpoints", []):
            ref = str(b.get("instructionReference", ""))
            try:
                address: int | None = int(ref, 0) + int(b.get("offset", 0))
                message = None
            except ValueError:
                address, message = None, f"instructionReference {ref!r} is not an address"
            specs.append(
                BreakSpec(self.book.new_id(), "instruction", address, b.get("condition"), b.get("hitCondition"))
            )
            messages.append(message)
        self.book.instructions = specs
        await self._sync_breakpoints()
        return {"breakpoints": [self._bp_body(s, m) for s, m in zip(specs, messages, strict=True)]}

    async def _set_exception_breakpoints(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"breakpoints": []}  # faults always stop; there are no filters to choose

    async def _data_breakpoint_info(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.inspector is None:
            return {"dataId": None, "description": "no program is loaded yet"}
        return await self.inspector.data_breakpoint_info(
            args.get("variablesReference"), str(args.get("name", "")), args.get("frameId")
        )

    async def _set_data_breakpoints(self, args: dict[str, Any]) -> dict[str, Any]:
        pid = self._require_task()
        for spec in self.book.data:
            if spec.watch_id is not None:
                try:
                    await self._call("debug.watch.remove", task=pid, id=spec.watch_id)
                except RpcError:
                    pass  # the task ended and took its watches with it
        self.book.data = []
        out = []
        for b in args.get("breakpoints", []):
            spec = BreakSpec(self.book.new_id(), "data", None, b.get("condition"), b.get("hitCondition"))
            body: dict[str, Any] = {"id": spec.id, "verified": False}
            address_text, _, width_text = str(b.get("dataId", "")).partition("/")
            try:
                w = await self._call(
                    "debug.watch.add", task=pid, expr=int(address_text, 0), length=int(width_text or 4), stop=True
                )
            except (ValueError, RpcError) as exc:
                body["message"] = exc.message if isinstance(exc, RpcError) else f"bad dataId {b.get('dataId')!r}"
            else:
                spec.watch_id = w["id"]
                body["verified"] = True
                self.book.data.append(spec)
            out.append(body)
        return {"breakpoints": out}

    # ------------------------------------------------------------------ threads and frames
    async def _wants_stop(self, spec: BreakSpec) -> bool:
        """Condition, hit count and logpoint of one breakpoint the task just reached."""
        if spec.condition:
            try:
                r = await self._call("debug.eval", task=self._require_task(), expr=spec.condition)
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
            self._output(await self._log_text(spec.log_message) + "\n")
            return False
        return True

    async def _log_text(self, message: str) -> str:
        out = []
        for text, is_expr in log_message_parts(message):
            if not is_expr:
                out.append(text)
                continue
            try:
                r = await self._call("debug.eval", task=self._require_task(), expr=text)
                out.append(str(r["value"]))
            except RpcError as exc:
                out.append(f"<{exc.message}>")
        return "".join(out)
