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
itself — which task, the editor's breakpoints (dap/breakpoints.py), the variable
references of the current stop (dap/variables.py) and where source files are
(dap/sources.py).

Run state follows the daemon's event stream, not the requests: the task counts as
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
registers, stack and memory stay readable; the next continue or step reports ``exited``
and ``terminated``.
"""

from __future__ import annotations

import base64
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from executive.api.client import RpcError
from executive.dap._breakpoint_requests import BreakpointRequests
from executive.dap._core import STOP_REASONS
from executive.dap._memory_requests import MemoryRequests
from executive.dap._run_control import RunControl
from executive.dap.protocol import CAPABILITIES, DapError
from executive.dap.sources import SourceMap
from executive.dap.variables import Inspector

__all__ = ["HANDLED", "DapSession"]

_EVENT_TYPES = ["task_state", "debug_break", "output"]
_MAX_STDIN = 1024 * 1024  # bytes of launch stdin

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


class DapSession(BreakpointRequests, RunControl, MemoryRequests):
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

    async def _open_session(self) -> None:
        if not self._session_opened:
            await self._call("session.open", client="executive-dap")
            self._session_opened = True

    async def _launch(self, args: dict[str, Any]) -> dict[str, Any] | None:
        if self.pid is not None:
            raise DapError("this session already debugs a program; start another debug session")
        program = args.get("program")
        if not isinstance(program, str) or not program:
            raise DapError('launch needs "program": the path of an .hxe image or an .mvasm source')
        cwd_arg = args.get("cwd")
        cwd = cwd_arg if isinstance(cwd_arg, str) else self._cwd
        path = Path(os.path.expanduser(program))
        path = (Path(cwd) / path if not path.is_absolute() else path).resolve()
        stdin = _stdin_of(args)
        image = path
        if path.suffix.lower() == ".mvasm":
            built = self._builder(path)
            image = built.image
            for warning in built.warnings:
                self._output(f"{warning}\n")
        await self._open_session()
        params: dict[str, Any] = {"path": str(image), "paused": True, "lock": True}
        if isinstance(args.get("name"), str) and args["name"]:
            params["name"] = args["name"]
        loaded = await self._call("vm.load", **params)
        self.pid, self.name, self.launched = loaded["pid"], loaded["name"], True
        for warning in loaded.get("warnings", []):
            self._output(f"hsx: {warning}\n")
        try:
            if isinstance(args.get("symbols"), str):
                await self._call("debug.sym.load", task=self.pid, path=args["symbols"])
            await self._prepare(base_dir=str(path.parent))
            if stdin:
                await self._call("mailbox.send", task=self.pid, data_b64=base64.b64encode(stdin).decode())
        except (DapError, RpcError):  # a refused launch leaves nothing behind on the daemon
            await self._call("vm.kill", task=self.pid)
            self.pid, self.inspector = None, None
            raise
        self._stop_on_entry = bool(args.get("stopOnEntry", False))
        self._resume_on_config = True
        self._event("initialized", later=True)
        return None

    async def _attach(self, args: dict[str, Any]) -> dict[str, Any] | None:
        if self.pid is not None:
            raise DapError("this session already debugs a program; start another debug session")
        ref = args.get("task", args.get("pid"))
        if isinstance(ref, str) and ref.isdigit():
            ref = int(ref)
        if not isinstance(ref, int | str) or isinstance(ref, bool) or ref == "":
            raise DapError('attach needs "task": the id or name of an HSX task on the daemon (see `executive ps`)')
        await self._open_session()
        info = await self._call("vm.info", task=ref)
        was_paused = info.get("vm_state") == "paused"
        state = await self._call("debug.attach", task=ref, pause=True)
        self.pid, self.launched = state["pid"], False
        self.name = (info.get("task") or {}).get("name") or str(self.pid)
        program = info.get("program") or info.get("path")
        await self._prepare(base_dir=str(Path(program).parent) if isinstance(program, str) else self._cwd)
        self._stop_on_entry = bool(args.get("stopOnEntry", False))
        self._resume_on_config = not was_paused
        self._event("initialized", later=True)
        return None

    async def _prepare(self, *, base_dir: str) -> None:
        """Subscribe to the task's events and learn its source files."""
        pid = self._require_task()
        self.inspector = Inspector(self.rpc, pid)
        await self._call("events.subscribe", types=_EVENT_TYPES, tasks=[pid])
        files = await self._call("debug.sym.lines", task=pid)
        self.sources = SourceMap(files["files"], base_dir)
        self._generated = frozenset(files.get("generated", []))
        self._has_lines = bool(files["files"])

    async def _configuration_done(self, args: dict[str, Any]) -> None:
        pid = self._require_task()
        if self._stop_on_entry:
            self._stopped("entry", later=True)
        elif self._resume_on_config:
            # a breakpoint on the very first instruction: resuming would step over it
            pc = (await self._call("debug.state", task=pid))["pc"] if self.launched else None
            stopping = [s for s in self.book.at(pc) if await self._wants_stop(s)] if pc is not None else []
            if stopping:
                self._stopped(
                    STOP_REASONS.get(stopping[0].kind, "breakpoint"), later=True, hit=[s.id for s in stopping]
                )
            else:
                await self._call("vm.resume", task=pid)
        else:
            self._stopped("pause", later=True, description="the task was paused when the debugger attached")
        return None

    # ------------------------------------------------------------------ threads, frames, variables
    async def _threads(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.pid is None:
            return {"threads": []}
        return {"threads": [{"id": self.pid, "name": f"{self.name} (task {self.pid})"}]}

    async def _stack_trace(self, args: dict[str, Any]) -> dict[str, Any]:
        pid = self._require_task()
        start = int(args.get("startFrame") or 0)
        levels = int(args.get("levels") or 0)
        walk = await self._call("debug.stack", task=pid, max_frames=min(1000, start + levels) if levels else None)
        frames = []
        for f in walk["frames"][start:]:
            if f["index"] > 0:  # a caller: show the line of its CALL, not of the return address after it
                call = await self._call("debug.sym.line", task=pid, address=max(0, f["pc"] - 4))
                if call["line"] is not None:
                    f.update(file=call["line"]["file"], line=call["line"]["line"])
            frame: dict[str, Any] = {
                "id": f["index"] + 1,
                "name": f.get("func_name") or f.get("symbol") or f"0x{f['pc']:04X}",
                "line": 0,
                "column": 0,
                "instructionPointerReference": f"0x{f['pc']:X}",
            }
            source = self.sources.source(f.get("file"))
            if source is not None and f.get("line"):
                frame.update(source=source, line=f["line"], column=1)
            else:
                frame["presentationHint"] = "subtle"
            frames.append(frame)
        return {"stackFrames": frames, "totalFrames": len(walk["frames"])}

    async def _scopes(self, args: dict[str, Any]) -> dict[str, Any]:
        self._require_task()
        assert self.inspector is not None
        return {"scopes": await self.inspector.scopes(args.get("frameId"))}

    async def _variables(self, args: dict[str, Any]) -> dict[str, Any]:
        self._require_task()
        assert self.inspector is not None
        hex_only = bool((args.get("format") or {}).get("hex"))
        return {"variables": await self.inspector.variables(int(args.get("variablesReference", 0)), hex_only=hex_only)}

    async def _set_variable(self, args: dict[str, Any]) -> dict[str, Any]:
        self._require_task()
        assert self.inspector is not None
        return await self.inspector.set_variable(
            int(args.get("variablesReference", 0)), str(args.get("name", "")), str(args.get("value", ""))
        )

    async def _evaluate(self, args: dict[str, Any]) -> dict[str, Any]:
        self._require_task()
        assert self.inspector is not None
        hex_only = bool((args.get("format") or {}).get("hex"))
        return await self.inspector.evaluate(str(args.get("expression", "")), args.get("frameId"), hex_only=hex_only)

    # ------------------------------------------------------------------ run control
    async def _disconnect(self, args: dict[str, Any]) -> None:
        terminate = args.get("terminateDebuggee")
        if terminate is None:
            terminate = self.launched
        if self.pid is not None and self._end is None:
            try:
                if terminate:
                    await self._call("vm.kill", task=self.pid)
                else:
                    await self._call("debug.detach", task=self.pid, resume=True)
            except RpcError as exc:
                if exc.code != 1011:  # ended meanwhile: nothing left to stop or leave running
                    raise
        self.closed = True
        return None

    # ------------------------------------------------------------------ memory, code, faults
    async def _exception_info(self, args: dict[str, Any]) -> dict[str, Any]:
        self._require_task()
        f = self._fault
        if f is None:
            raise DapError("the task is not stopped on a fault")
        text = f"{f.get('text', f.get('reason'))} at PC 0x{f.get('pc', 0):04X}"
        return {
            "exceptionId": f.get("reason", "fault"),
            "description": text,
            "breakMode": "always",
            "details": {"message": text, "typeName": f.get("reason"), "evaluateName": "PC"},
        }

    # ------------------------------------------------------------------ daemon events


def _stdin_of(args: dict[str, Any]) -> bytes:
    """The program's stdin from ``stdin`` (text) and/or ``args`` (one line, space-separated)."""
    parts = []
    argv = args.get("args")
    if isinstance(argv, list) and argv:
        parts.append(" ".join(str(a) for a in argv) + "\n")
    if isinstance(args.get("stdin"), str):
        parts.append(args["stdin"])
    data = "".join(parts).encode()
    if len(data) > _MAX_STDIN:
        raise DapError(f"stdin and args are {len(data)} bytes; the limit is {_MAX_STDIN}")
    return data
