"""One DAP debug session: requests in, responses and events out, the daemon in between.

Theory of operation
-------------------
:class:`DapSession` is the adapter's core.  It does no I/O of its own: the shell
(dap/server.py) feeds it decoded requests (:meth:`DapSession.handle`) and the daemon's
events (:meth:`DapSession.on_event`) *one at a time, from one queue*, and it emits DAP
messages through the ``send`` callable.  The daemon is reached only through the
injected :class:`~executive.dap.protocol.Rpc` (``Client.call``) and an ``.mvasm`` is
built by the injected builder (dap/build.py), so a test can drive the core with fakes.
Unlike a strict sans-I/O core it *awaits* the Rpc: one DAP request is several dependent
daemon calls (resolve a line, set a breakpoint, read the stack), and a resumable state
machine for each would be far longer than the translation it carries; the seams keep
it as testable.  It keeps no state of the program: what it holds is the debug session
itself — which tasks, one DAP thread each (dap/threads.py), the editor's breakpoints
(dap/breakpoints.py), the variable references of the current stops (dap/variables.py)
and where source files are (dap/sources.py).  The requests are implemented by concern in
the mixins: starting (_launch.py), breakpoints (_breakpoint_requests.py), run control and
daemon events (_run_control.py), memory and code (_memory_requests.py).

A session debugs one task or several (``programs`` / ``tasks``).  Requests that name a
thread (``stackTrace``, ``continue``, the steps, ``pause``, ``exceptionInfo``) act on it;
those that name a frame (``scopes``, ``evaluate``) or a variable reference
(``variables``, ``setVariable``) act on its task; those that name neither
(``disassemble``, ``readMemory``, an ``evaluate`` without a frame) act on the thread the
editor named last.  Each task stops on its own, and the events say so (dap/threads.py).

Run state follows the daemon's event stream, not the requests: a task counts as
running from the ``task_state → running`` event that a resume publishes, and a
``debug_break`` is acted on only while running.  Because the bus numbers events in order,
a ``debug_break`` that a step published (already answered by the step's reply) always
arrives *before* the next resume's ``running`` and is ignored, however the socket batches
them.  A stop at a breakpoint whose condition is false, whose hit condition is not yet
met, or which is a logpoint resumes the task without telling the editor.

Stepping is source-level when the program has a line table (``next``/``stepIn`` repeat
``debug.next``/``debug.step`` until the line changes, passing over compiler-generated
instructions) and instruction-level otherwise or when the editor asks for
``granularity: instruction``.  ``stepOut`` plants a temporary breakpoint at the frame's
return address and resumes until it is reached at a smaller call depth.

Faults end an HSX task for good (the VM never re-executes a faulting instruction), so a
fault is shown as a ``stopped`` event with reason ``exception`` on the ended task, whose
registers, stack and memory stay readable; the next continue or step on it reports its
thread ``exited`` — and the session's ``exited`` and ``terminated`` once no task is left.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from executive.api.client import RpcError
from executive.dap._breakpoint_requests import BreakpointRequests
from executive.dap._launch import LaunchRequests
from executive.dap._memory_requests import MemoryRequests
from executive.dap._run_control import RunControl
from executive.dap.protocol import CAPABILITIES, DapError
from executive.dap.threads import TaskThread
from executive.kernel.errors import ErrorCode

__all__ = ["HANDLED", "DapSession"]

_MAX_FRAMES = 1000  # frames one stackTrace shows (below dap/threads.py FRAME_STRIDE)

#: request -> handler method name; ``initialize`` promises only capabilities backed here
HANDLED = {
    "initialize": "_initialize",
    "launch": "_launch",
    "attach": "_attach",
    "configurationDone": "_configuration_done",
    "setBreakpoints": "_set_breakpoints",
    "setFunctionBreakpoints": "_set_function_breakpoints",
    "setInstructionBreakpoints": "_set_instruction_breakpoints",
    "setExceptionBreakpoints": "_set_exception_breakpoints",
    "dataBreakpointInfo": "_data_breakpoint_info",
    "setDataBreakpoints": "_set_data_breakpoints",
    "threads": "_threads",
    "stackTrace": "_stack_trace",
    "scopes": "_scopes",
    "variables": "_variables",
    "setVariable": "_set_variable",
    "evaluate": "_evaluate",
    "continue": "_continue",
    "next": "_next",
    "stepIn": "_step_in",
    "stepOut": "_step_out",
    "pause": "_pause",
    "disassemble": "_disassemble",
    "readMemory": "_read_memory",
    "writeMemory": "_write_memory",
    "exceptionInfo": "_exception_info",
    "terminate": "_terminate",
    "disconnect": "_disconnect",
}


class DapSession(LaunchRequests, BreakpointRequests, RunControl, MemoryRequests):
    """The debug session of one editor connection."""

    async def handle(self, request: dict[str, Any]) -> None:
        """Answer one request (and send the events it causes)."""
        if request.get("type") != "request":
            return
        command = request.get("command", "")
        name = HANDLED.get(command)
        if name is None:
            self._send(self.msgs.error(request, f"the hsx adapter does not support the {command!r} request"))
            return
        handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]] = getattr(self, name)
        args = request.get("arguments") or {}
        try:
            body = await handler(args)
        except DapError as exc:
            self._send(self.msgs.error(request, exc.message))
        except RpcError as exc:
            self._send(self.msgs.error(request, exc.message))
        except ConnectionError as exc:
            self._send(self.msgs.error(request, f"{exc}; is the daemon still running?"))
        except Exception as exc:  # a bug here must not end the editor's session; say what broke
            traceback.print_exc(file=sys.stderr)
            self._send(self.msgs.error(request, f"internal error in the hsx adapter ({type(exc).__name__}: {exc})"))
        else:
            self._send(self.msgs.response(request, body))
        after, self._after = self._after, []
        for ev in after:
            self._send(ev)

    async def aclose(self) -> None:
        """Remove what an .mvasm launch built."""
        self._builder.close()

    # ------------------------------------------------------------------ start
    async def _initialize(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("linesStartAt1") is False:
            raise DapError("this adapter numbers lines from 1; the client asked for 0-based lines")
        return dict(CAPABILITIES)

    # ------------------------------------------------------------------ threads, frames, variables
    async def _threads(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"threads": [{"id": t.pid, "name": t.label} for t in self.threads.live()]}

    async def _stack_trace(self, args: dict[str, Any]) -> dict[str, Any]:
        thread = self.threads.get(args.get("threadId"))
        pid = thread.pid
        start = int(args.get("startFrame") or 0)
        levels = int(args.get("levels") or 0)
        walk = await self._call(
            "debug.stack", task=pid, max_frames=min(_MAX_FRAMES, start + levels) if levels else None
        )
        frames = []
        for f in walk["frames"][start:_MAX_FRAMES]:
            if f["index"] > 0:  # a caller: show the line of its CALL, not of the return address after it
                call = await self._call("debug.sym.line", task=pid, address=max(0, f["pc"] - 4))
                if call["line"] is not None:
                    f.update(file=call["line"]["file"], line=call["line"]["line"])
            frame: dict[str, Any] = {
                "id": self.threads.frame_id(thread, f["index"]),
                "name": f.get("func_name") or f.get("symbol") or f"0x{f['pc']:04X}",
                "line": 0,
                "column": 0,
                "instructionPointerReference": f"0x{f['pc']:X}",
            }
            thread.frame_pcs.add(f["pc"])
            source = thread.sources.source(f.get("file"))
            if source is not None and f.get("line"):
                frame.update(source=source, line=f["line"], column=1)
            else:
                frame["presentationHint"] = "subtle"
            frames.append(frame)
        return {"stackFrames": frames, "totalFrames": len(walk["frames"])}

    async def _scopes(self, args: dict[str, Any]) -> dict[str, Any]:
        thread, frame = self.threads.frame(args.get("frameId"))
        return {"scopes": await thread.inspector.scopes(frame)}

    def _thread_of_ref(self, args: dict[str, Any]) -> TaskThread:
        self._require_task()
        pid = self.handles.get(int(args.get("variablesReference", 0)))[0]
        return self.threads.get(pid)

    async def _variables(self, args: dict[str, Any]) -> dict[str, Any]:
        inspector = self._thread_of_ref(args).inspector
        hex_only = bool((args.get("format") or {}).get("hex"))
        return {"variables": await inspector.variables(int(args.get("variablesReference", 0)), hex_only=hex_only)}

    async def _set_variable(self, args: dict[str, Any]) -> dict[str, Any]:
        inspector = self._thread_of_ref(args).inspector
        return await inspector.set_variable(
            int(args.get("variablesReference", 0)), str(args.get("name", "")), str(args.get("value", ""))
        )

    async def _evaluate(self, args: dict[str, Any]) -> dict[str, Any]:
        thread, frame = self.threads.frame(args.get("frameId"))
        hex_only = bool((args.get("format") or {}).get("hex"))
        return await thread.inspector.evaluate(str(args.get("expression", "")), frame, hex_only=hex_only)

    # ------------------------------------------------------------------ run control
    async def _disconnect(self, args: dict[str, Any]) -> None:
        for thread in self.threads:
            if thread.end is not None:
                continue
            terminate = args.get("terminateDebuggee")
            if terminate is None:
                terminate = thread.launched
            try:
                if terminate:
                    await self._call("vm.kill", task=thread.pid)
                else:
                    await self._call("debug.detach", task=thread.pid, resume=True)
            except RpcError as exc:
                if exc.code != ErrorCode.INVALID_TRANSITION:  # ended meanwhile: nothing to stop or leave running
                    raise
        self.closed = True
        return None

    # ------------------------------------------------------------------ faults
    async def _exception_info(self, args: dict[str, Any]) -> dict[str, Any]:
        thread = self.threads.named_or_focus(args.get("threadId"))
        f = thread.fault
        if f is None:
            raise DapError(f"{thread.label} is not stopped on a fault")
        text = f"{f.get('text', f.get('reason'))} at PC 0x{f.get('pc', 0):04X}"
        return {
            "exceptionId": f.get("reason", "fault"),
            "description": text,
            "breakMode": "always",
            "details": {"message": text, "typeName": f.get("reason"), "evaluateName": "PC"},
        }
