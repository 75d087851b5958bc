"""One DAP debug session: requests in, responses and events out, the daemon in between.

Theory of operation
-------------------
:class:`DapSession` is the adapter's core.  It does no I/O of its own: the shell
(dap/server.py) feeds it decoded requests (:meth:`DapSession.handle`) and the daemon's
events (:meth:`DapSession.on_event`) *one at a time, from one queue*, and it emits DAP
messages through the ``send`` callable.  The daemon is reached only through the
injected :class:`~executive.dap.protocol.Rpc` (``Client.call``), so a test can drive the
core with a fake.  It keeps no state of the program: what it holds is the debug session
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
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from executive.api.client import RpcError
from executive.dap.breakpoints import BreakpointBook, BreakSpec, hit_condition_met, log_message_parts
from executive.dap.protocol import CAPABILITIES, DapError, MessageFactory, Rpc
from executive.dap.sources import SourceMap, nearest_line
from executive.dap.variables import Inspector

__all__ = ["HANDLED", "DapSession"]

Send = Callable[[dict[str, Any]], None]

_EVENT_TYPES = ["task_state", "debug_break", "output"]
_MAX_SOURCE_STEPS = 10_000  # debugger steps one source-level step may take (a line that loops on itself)
_STOP_REASONS = {"source": "breakpoint", "function": "function breakpoint", "instruction": "instruction breakpoint"}
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


class DapSession:
    """The debug session of one editor connection."""

    def __init__(self, rpc: Rpc, send: Send, *, cwd: str | None = None) -> None:
        self.rpc = rpc
        self._send = send
        self._cwd = cwd or os.getcwd()
        self.msgs = MessageFactory()
        self.closed = False  # disconnect answered: the shell ends the connection
        self.pid: int | None = None  # the debugged task
        self.name = ""
        self.launched = False  # we loaded the task (disconnect kills it by default) vs. attached
        self.book = BreakpointBook()
        self.sources = SourceMap([], self._cwd)
        self.inspector: Inspector | None = None
        self._lines: dict[str, dict[int, list[int]]] = {}  # line-table file name -> {line: addresses}
        self._generated: frozenset[int] = frozenset()
        self._has_lines = False
        self._daemon_bps: set[int] = set()  # addresses set on the daemon for the book
        self._bp_errors: dict[int, str] = {}  # address -> why the daemon refused it
        self._running = False  # since the last task_state -> running event, until a stop
        self._pause_requested = False
        self._out_target: tuple[int, int, bool] | None = None  # (return address, depth, temporary bp added)
        self._stop_on_entry = False
        self._resume_on_config = False
        self._fault: dict[str, Any] | None = None  # the fault that ended the task (post-mortem)
        self._end: dict[str, Any] | None = None  # the task_state payload that ended it
        self._terminated = False
        self._session_opened = False
        self._tmp: str | None = None  # where an .mvasm launch put its .hxe and .sym
        self._after: list[dict[str, Any]] = []  # events to send after the current response

    # ------------------------------------------------------------------ plumbing
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
        else:
            self._send(self.msgs.response(request, body))
        after, self._after = self._after, []
        for ev in after:
            self._send(ev)

    def _event(self, name: str, body: dict[str, Any] | None = None, *, later: bool = False) -> None:
        msg = self.msgs.event(name, body)
        if later:
            self._after.append(msg)
        else:
            self._send(msg)

    def _output(self, text: str, category: str = "console") -> None:
        self._event("output", {"category": category, "output": text})

    async def _call(self, method: str, **params: Any) -> Any:
        return await self.rpc.call(method, **params)

    def _require_task(self) -> int:
        if self.pid is None:
            raise DapError("no program is being debugged; launch or attach first")
        return self.pid

    async def aclose(self) -> None:
        """Remove the temporary build directory of an .mvasm launch."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

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
        image = self._build(path) if path.suffix.lower() == ".mvasm" else path
        await self._open_session()
        params: dict[str, Any] = {"path": str(image), "paused": True, "lock": True}
        if isinstance(args.get("name"), str) and args["name"]:
            params["name"] = args["name"]
        loaded = await self._call("vm.load", **params)
        self.pid, self.name, self.launched = loaded["pid"], loaded["name"], True
        for warning in loaded.get("warnings", []):
            self._output(f"hsx: {warning}\n")
        if isinstance(args.get("symbols"), str):
            await self._call("debug.sym.load", task=self.pid, path=args["symbols"])
        await self._prepare(base_dir=str(path.parent))
        if stdin:
            await self._call("mailbox.send", task=self.pid, data_b64=base64.b64encode(stdin).decode())
        self._stop_on_entry = bool(args.get("stopOnEntry", False))
        self._resume_on_config = True
        self._event("initialized", later=True)
        return None

    def _build(self, source: Path) -> Path:
        """Assemble an .mvasm into a temporary .hxe with its .sym (absolute file names, so
        the editor opens the sources it set breakpoints in)."""
        from executive.hsx.asm import MAX_SOURCE_BYTES, AsmError, assemble

        def read(p: str) -> str:
            q = Path(p)
            if q.stat().st_size > MAX_SOURCE_BYTES:
                raise OSError(f"{p} is larger than {MAX_SOURCE_BYTES} bytes")
            return q.read_text(encoding="utf-8")

        self._tmp = tempfile.mkdtemp(prefix="executive-dap-")
        out = Path(self._tmp) / (source.stem + ".hxe")
        try:
            result = assemble([(str(source), read(str(source)))], hxe_path=str(out), include_loader=read)
        except OSError as exc:
            raise DapError(f"cannot read {source}: {exc.strerror or exc}") from None
        except AsmError as exc:
            raise DapError(f"assembling {source.name} failed: {exc}") from None
        out.write_bytes(result.hxe)
        out.with_suffix(".sym").write_bytes(orjson.dumps(result.sym))
        for warning in result.warnings:
            self._output(f"{warning}\n")
        return out

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
                    _STOP_REASONS.get(stopping[0].kind, "breakpoint"), later=True, hit=[s.id for s in stopping]
                )
            else:
                await self._call("vm.resume", task=pid)
        else:
            self._stopped("pause", later=True, description="the task was paused when the debugger attached")
        return None

    # ------------------------------------------------------------------ breakpoints
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
    def _stopped(
        self,
        reason: str,
        *,
        later: bool = False,
        description: str | None = None,
        hit: list[int] | None = None,
        text: str | None = None,
    ) -> None:
        self._running = False
        self._pause_requested = False
        if self.inspector is not None:
            self.inspector.reset()
        body: dict[str, Any] = {"reason": reason, "threadId": self.pid, "allThreadsStopped": True}
        if description:
            body["description"] = description
        if text:
            body["text"] = text
        if hit:
            body["hitBreakpointIds"] = hit
        self._event("stopped", body, later=later)

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
            if "debug_break" in r or r.get("stop") in ("breakpoint", "brk"):
                reason = "breakpoint"
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
        self._pause_requested = True
        await self._call("vm.pause", task=pid)

    async def _terminate(self, args: dict[str, Any]) -> None:
        pid = self._require_task()
        if self._end is None:
            await self._call("vm.kill", task=pid)

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
    async def _disassemble(self, args: dict[str, Any]) -> dict[str, Any]:
        pid = self._require_task()
        base = _address(args.get("memoryReference")) + int(args.get("offset") or 0)
        skip = int(args.get("instructionOffset") or 0)
        count = max(0, min(int(args.get("instructionCount") or 0), 1024))
        if count == 0:
            return {"instructions": []}
        start, missing = base, 0
        if skip < 0:  # walk back over whole instructions (an LDI32 is 8 bytes)
            back = await self._call("debug.disasm", task=pid, addr=base, count=-skip + 1, before=-skip)
            start = back["instructions"][0]["pc"] if back.get("instructions") else base
            missing = -skip - (len(back.get("instructions", [])) - 1)
        elif skip > 0:
            fwd = await self._call("debug.disasm", task=pid, addr=base, count=skip + 1)
            start = fwd["instructions"][-1]["pc"] if fwd.get("instructions") else base + 4 * skip
        listing = await self._call("debug.disasm", task=pid, addr=start, count=max(1, count - missing))
        out = [_invalid(start - 4 * (missing - i)) for i in range(missing)]
        for ins in listing.get("instructions", []):
            d: dict[str, Any] = {
                "address": f"0x{ins['pc']:X}", "instructionBytes": ins["bytes"], "instruction": ins["text"],
            }  # fmt: skip
            if ins.get("label"):
                d["symbol"] = ins["label"]
            source = self.sources.source(ins.get("file"))
            if source is not None and ins.get("line"):
                d.update(location=source, line=ins["line"])
            out.append(d)
        end = (
            (listing["instructions"][-1]["pc"] + listing["instructions"][-1]["size"])
            if listing.get("instructions")
            else start
        )
        while len(out) < count:
            out.append(_invalid(end))
            end += 4
        return {"instructions": out[:count]}

    async def _read_memory(self, args: dict[str, Any]) -> dict[str, Any]:
        pid = self._require_task()
        address = _address(args.get("memoryReference")) + int(args.get("offset") or 0)
        count = int(args.get("count") or 0)
        if address < 0 or address >= 0x10000:
            return {"address": f"0x{address:X}", "unreadableBytes": count}
        length = min(count, 0x10000 - address, 65536)
        if length <= 0:
            return {"address": f"0x{address:X}"}
        r = await self._call("vm.mem_read", task=pid, addr=address, length=length)
        data = bytes.fromhex(r["data"])
        return {
            "address": f"0x{address:X}",
            "data": base64.b64encode(data).decode(),
            "unreadableBytes": count - len(data),
        }

    async def _write_memory(self, args: dict[str, Any]) -> dict[str, Any]:
        pid = self._require_task()
        address = _address(args.get("memoryReference")) + int(args.get("offset") or 0)
        try:
            data = base64.b64decode(str(args.get("data", "")), validate=True)
        except ValueError:
            raise DapError("writeMemory data is not valid base64") from None
        if not data:
            return {"bytesWritten": 0}
        await self._call("vm.mem_write", task=pid, addr=address, data=data.hex())
        return {"bytesWritten": len(data)}

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
            self._stopped(_STOP_REASONS.get(stopping[0].kind, "breakpoint"), hit=[s.id for s in stopping])
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


def _line_key(line: dict[str, Any] | None) -> tuple[str | None, int] | None:
    return (line.get("file"), line.get("line", 0)) if line else None


def _address(ref: Any) -> int:
    try:
        return int(str(ref), 0)
    except ValueError:
        raise DapError(f"memoryReference {ref!r} is not an address") from None


def _invalid(address: int) -> dict[str, Any]:
    return {"address": f"0x{max(address, 0):X}", "instruction": "??", "presentationHint": "invalid"}


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
