"""Run control of a DAP session: continue, steps, pause, terminate, and the daemon's events.

A mixin of :class:`~executive.dap.session.DapSession`; see session.py for how run state
follows the daemon's event stream and why stale ``debug_break`` events are harmless, and
dap/threads.py for why every run request acts on one thread only.
"""

from __future__ import annotations

import base64
from typing import Any

from executive.api.client import RpcError
from executive.dap._core import STOP_REASONS, SessionCore
from executive.dap.threads import TaskThread
from executive.kernel.errors import ErrorCode

__all__ = ["RunControl"]

_MAX_SOURCE_STEPS = 10_000  # debugger steps one source-level step may take (a line that loops on itself)


class RunControl(SessionCore):
    """``continue``, ``next``, ``stepIn``, ``stepOut``, ``pause``, ``terminate``; daemon events.

    Each run request acts on the one thread it names (the focus when it names none); the
    other tasks go on as they were (dap/threads.py: the VM stops tasks one at a time).
    """

    def _ended_now(self, thread: TaskThread) -> bool:
        """After the task ended: the first run request reports the end (post-mortem over)."""
        if thread.end is None:
            return False
        self._thread_gone(thread, later=True)
        return True

    async def _resume(self, thread: TaskThread) -> None:
        thread.ran()
        await self._call("vm.resume", task=thread.pid)

    async def _continue(self, args: dict[str, Any]) -> dict[str, Any]:
        thread = self.threads.named_or_focus(args.get("threadId"))
        if not self._ended_now(thread):
            await self._resume(thread)
        return {"allThreadsContinued": not self.threads.others_stopped(thread)}

    async def _next(self, args: dict[str, Any]) -> None:
        await self._step("debug.next", args)

    async def _step_in(self, args: dict[str, Any]) -> None:
        await self._step("debug.step", args)

    async def _step(self, method: str, args: dict[str, Any]) -> None:
        thread = self.threads.named_or_focus(args.get("threadId"))
        pid = thread.pid
        if self._ended_now(thread):
            return
        thread.ran()
        by_instruction = args.get("granularity") == "instruction" or not thread.has_lines
        start = await self._call("debug.state", task=pid)
        start_line = _line_key(start.get("line"))
        reason = "step"
        for _ in range(_MAX_SOURCE_STEPS):
            r = await self._call(method, task=pid)
            if "debug_break" in r or r.get("stop") in ("breakpoint", "brk", "watch"):
                why = (r.get("debug_break") or {}).get("reason", r.get("stop"))
                reason = "data breakpoint" if why == "watch" else "breakpoint"
                break
            if r.get("halt") not in ("running", "breakpoint", "brk", "step_limit") or r.get("stop") == "waiting":
                if r.get("halt") in ("sleep", "blocked") or r.get("stop") == "waiting":
                    break  # waiting for a timer or a message: stop here, continue lets it finish
                return  # the task ended: its task_state event reports how
            if by_instruction or r.get("executed", 1) == 0:
                break
            if r["pc"] in thread.generated:
                continue
            if _line_key(r.get("line")) != start_line:
                break
        self._stopped(thread, reason, later=True)

    async def _step_out(self, args: dict[str, Any]) -> None:
        thread = self.threads.named_or_focus(args.get("threadId"))
        pid = thread.pid
        if self._ended_now(thread):
            return
        state = await self._call("debug.state", task=pid)
        walk = await self._call("debug.stack", task=pid, max_frames=2)
        ret = walk["frames"][0].get("return_pc") if walk["frames"] else None
        if state["depth"] == 0 or ret is None:
            await self._resume(thread)  # the outermost function: running out of it ends the program
            return
        added = ret not in thread.daemon_bps
        if added:
            await self._call("debug.bp.add", task=pid, where=ret)
        thread.out_target = (ret, state["depth"], added)
        await self._resume(thread)

    async def _end_step_out(self, thread: TaskThread) -> None:
        if thread.out_target is None:
            return
        ret, _, added = thread.out_target
        thread.out_target = None
        if added and ret not in self.book.addresses(thread.pid) and thread.end is None:
            await self._call("debug.bp.remove", task=thread.pid, where=ret)

    async def _pause(self, args: dict[str, Any]) -> None:
        thread = self.threads.named_or_focus(args.get("threadId"))
        if thread.end is not None:
            return
        state = await self._call("debug.state", task=thread.pid)
        if state["state"] == "paused":
            self._stopped(thread, "pause", later=True)
            return
        await self._call("vm.pause", task=thread.pid)

    async def _terminate(self, args: dict[str, Any]) -> None:
        self._require_task()
        for thread in self.threads:
            if thread.end is None:
                try:
                    await self._call("vm.kill", task=thread.pid)
                except RpcError as exc:
                    if exc.code != ErrorCode.INVALID_TRANSITION:  # ended meanwhile: its task_state event says how
                        raise

    async def on_event(self, ev: dict[str, Any]) -> None:
        """React to one daemon event of a debugged task."""
        pid = ev.get("pid")
        thread = self.threads.lookup(pid) if isinstance(pid, int) else None
        if thread is None or thread.exited or self._terminated:
            return
        data = ev.get("data") or {}
        kind = ev.get("type")
        if kind == "output":
            text = data.get("data")
            if text is None and data.get("data_b64"):
                text = base64.b64decode(data["data_b64"]).decode("utf-8", "replace")
            if text:
                self._task_output(thread, text, str(data.get("stream")))
        elif kind == "task_state":
            await self._on_task_state(thread, data)
        elif kind == "debug_break" and thread.running:
            await self._on_break(thread, data)

    async def _on_task_state(self, thread: TaskThread, data: dict[str, Any]) -> None:
        if "vm_to" in data:  # the VM's own edge (ready, sleeping, ...); the task's edges follow as their own events
            return
        to = data.get("to")
        if to == "running":
            thread.running = True
        elif to == "paused" and thread.running and data.get("reason") not in ("debug_break", "brk"):
            await self._end_step_out(thread)
            self._stopped(thread, "pause", description=f"paused ({data.get('reason')})")
        elif to == "ended":
            thread.running = False
            self.threads.record_end(thread, data)
            await self._end_step_out(thread)
            if data.get("fault"):
                f = thread.fault = data["fault"]
                self._stopped(
                    thread,
                    "exception",
                    description=f"{f.get('text', f.get('reason'))} at PC 0x{f.get('pc', 0):04X}",
                    text=f.get("reason"),
                )
            else:
                self._thread_gone(thread)

    async def _on_break(self, thread: TaskThread, data: dict[str, Any]) -> None:
        pid = thread.pid
        reason, pc = data.get("reason"), data.get("pc", 0)
        if reason == "brk":
            await self._end_step_out(thread)
            self._stopped(thread, "breakpoint", description=f"BRK {data.get('code', 0)} at 0x{pc:04X}")
            return
        if reason == "watch":
            spec = self.book.data_spec(data.get("watch_id", -1))
            if spec is None or await self._wants_stop(spec, thread):
                await self._end_step_out(thread)
                self._stopped(thread, "data breakpoint", hit=[spec.id] if spec else None)
            else:
                await self._resume(thread)
            return
        stopping = [s for s in self.book.at(pid, pc) if await self._wants_stop(s, thread)]
        if stopping:
            await self._end_step_out(thread)
            self._stopped(thread, STOP_REASONS.get(stopping[0].kind, "breakpoint"), hit=[s.id for s in stopping])
            return
        out = thread.out_target
        if out is not None and pc == out[0]:
            state = await self._call("debug.state", task=pid)
            if state["depth"] < out[1]:
                await self._end_step_out(thread)
                self._stopped(thread, "step")
                return
            await self._resume(thread)
            return
        if not self.book.at(pid, pc):  # a breakpoint someone else set on the daemon
            self._stopped(thread, "breakpoint")
            return
        await self._resume(thread)


def _line_key(line: dict[str, Any] | None) -> tuple[str | None, int] | None:
    return (line.get("file"), line.get("line", 0)) if line else None
