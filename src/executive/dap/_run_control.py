"""Run control of a DAP session: continue, steps, pause, terminate, and the daemon's events.

A mixin of :class:`~executive.dap.session.DapSession`; see session.py for how run state
follows the daemon's event stream and why stale ``debug_break`` events are harmless.
"""

from __future__ import annotations

import base64
from typing import Any

from executive.dap._core import STOP_REASONS, SessionCore

__all__ = ["RunControl"]

_MAX_SOURCE_STEPS = 10_000  # debugger steps one source-level step may take (a line that loops on itself)


class RunControl(SessionCore):
    """``continue``, ``next``, ``stepIn``, ``stepOut``, ``pause``, ``terminate``; daemon events."""

    def _ended_now(self) -> bool:
        """After the task ended: the first run request reports the end (post-mortem over)."""
        if self._end is None:
            return False
        self._finish(later=True)
        return True

    async def _resume(self) -> None:
        if self.inspector is not None:
            self.inspector.reset()
        await self._call("vm.resume", task=self._require_task())

    async def _continue(self, args: dict[str, Any]) -> dict[str, Any]:
        self._require_task()
        if not self._ended_now():
            await self._resume()
        return {"allThreadsContinued": True}

    async def _next(self, args: dict[str, Any]) -> None:
        await self._step("debug.next", args)

    async def _step_in(self, args: dict[str, Any]) -> None:
        await self._step("debug.step", args)

    async def _step(self, method: str, args: dict[str, Any]) -> None:
        pid = self._require_task()
        if self._ended_now():
            return
        if self.inspector is not None:
            self.inspector.reset()
        by_instruction = args.get("granularity") == "instruction" or not self._has_lines
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
            if r["pc"] in self._generated:
                continue
            if _line_key(r.get("line")) != start_line:
                break
        self._stopped(reason, later=True)

    async def _step_out(self, args: dict[str, Any]) -> None:
        pid = self._require_task()
        if self._ended_now():
            return
        state = await self._call("debug.state", task=pid)
        walk = await self._call("debug.stack", task=pid, max_frames=2)
        ret = walk["frames"][0].get("return_pc") if walk["frames"] else None
        if state["depth"] == 0 or ret is None:
            await self._resume()  # the outermost function: running out of it ends the program
            return
        added = ret not in self._daemon_bps
        if added:
            await self._call("debug.bp.add", task=pid, where=ret)
        self._out_target = (ret, state["depth"], added)
        await self._resume()

    async def _end_step_out(self) -> None:
        if self._out_target is None:
            return
        ret, _, added = self._out_target
        self._out_target = None
        if added and ret not in self.book.addresses() and self._end is None:
            await self._call("debug.bp.remove", task=self._require_task(), where=ret)

    async def _pause(self, args: dict[str, Any]) -> None:
        pid = self._require_task()
        if self._end is not None:
            return
        state = await self._call("debug.state", task=pid)
        if state["state"] == "paused":
            self._stopped("pause", later=True)
            return
        await self._call("vm.pause", task=pid)

    async def _terminate(self, args: dict[str, Any]) -> None:
        pid = self._require_task()
        if self._end is None:
            await self._call("vm.kill", task=pid)

    async def on_event(self, ev: dict[str, Any]) -> None:
        """React to one daemon event of the debugged task."""
        if self.pid is None or ev.get("pid") != self.pid or self._terminated:
            return
        data = ev.get("data") or {}
        kind = ev.get("type")
        if kind == "output":
            text = data.get("data")
            if text is None and data.get("data_b64"):
                text = base64.b64decode(data["data_b64"]).decode("utf-8", "replace")
            if text:
                self._output(text, "stderr" if data.get("stream") == "stderr" else "stdout")
        elif kind == "task_state":
            await self._on_task_state(data)
        elif kind == "debug_break" and self._running:
            await self._on_break(data)

    async def _on_task_state(self, data: dict[str, Any]) -> None:
        if "vm_to" in data:  # the VM's own edge (ready, sleeping, ...); the task's edges follow as their own events
            return
        to = data.get("to")
        if to == "running":
            self._running = True
        elif to == "paused" and self._running and data.get("reason") not in ("debug_break", "brk"):
            await self._end_step_out()
            self._stopped("pause", description=f"paused ({data.get('reason')})")
        elif to == "ended":
            self._running = False
            self._end = data
            await self._end_step_out()
            if data.get("fault"):
                self._fault = data["fault"]
                f = self._fault
                self._stopped(
                    "exception",
                    description=f"{f.get('text', f.get('reason'))} at PC 0x{f.get('pc', 0):04X}",
                    text=f.get("reason"),
                )
            else:
                self._finish()

    def _finish(self, *, later: bool = False) -> None:
        if self._terminated or self._end is None:
            return
        self._terminated = True
        code = self._end.get("exit_code")
        self._event("exited", {"exitCode": code if isinstance(code, int) else -1}, later=later)
        self._event("terminated", later=later)

    async def _on_break(self, data: dict[str, Any]) -> None:
        pid = self._require_task()
        reason, pc = data.get("reason"), data.get("pc", 0)
        if reason == "brk":
            await self._end_step_out()
            self._stopped("breakpoint", description=f"BRK {data.get('code', 0)} at 0x{pc:04X}")
            return
        if reason == "watch":
            spec = self.book.data_spec(data.get("watch_id", -1))
            if spec is None or await self._wants_stop(spec):
                await self._end_step_out()
                self._stopped("data breakpoint", hit=[spec.id] if spec else None)
            else:
                await self._resume()
            return
        stopping = [s for s in self.book.at(pc) if await self._wants_stop(s)]
        if stopping:
            await self._end_step_out()
            self._stopped(STOP_REASONS.get(stopping[0].kind, "breakpoint"), hit=[s.id for s in stopping])
            return
        if self._out_target is not None and pc == self._out_target[0]:
            state = await self._call("debug.state", task=pid)
            if state["depth"] < self._out_target[1]:
                await self._end_step_out()
                self._stopped("step")
                return
            await self._resume()
            return
        if not self.book.at(pc):  # a breakpoint someone else set on the daemon
            self._stopped("breakpoint")
            return
        await self._resume()


def _line_key(line: dict[str, Any] | None) -> tuple[str | None, int] | None:
    return (line.get("file"), line.get("line", 0)) if line else None
