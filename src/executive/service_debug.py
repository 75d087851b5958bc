"""The debugger half of the public surface: ``Executive.debug``.

Services over HSX tasks (spec hsx-executive §8, §9): breakpoints, symbols, disassembly,
stack reconstruction, watches, register-change tracking and the trace buffer.  Every
transport — JSON-RPC ``debug.*``/``trace.*``, the HSX TCP port, the CLI — calls these
methods.  Each one names its task by id or name, checks the task is an HSX program,
and, when it changes anything, checks the caller's session may control the task
(``Executive.vm._control``: a task locked by another session refuses).

Per-task state lives in :class:`TaskDebug`, created when a program is loaded
(:meth:`DebugService.on_load`, which also auto-loads ``<program>.sym`` beside the image,
§7.4) or lazily on first use.  State of ended tasks is kept for post-mortem look-ups
(a faulted task's stack, symbols and trace) and pruned beyond the newest few.

The CPU debug hooks (breakpoint set, write watch, trace) are installed only while a
task needs them, so an undebugged program keeps the CPU's fast path (hsx/cpu.py).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from executive.debugger.breakpoints import BreakpointTable
from executive.debugger.expr import code_address, parse_int
from executive.debugger.regdiff import RegDiff, snapshot
from executive.debugger.symbols import SymbolCache, SymbolFileError, SymbolIndex
from executive.kernel.errors import BadParamsError, ErrorCode, LimitError
from executive.runtimes.vm import VmTask

if TYPE_CHECKING:  # pragma: no cover
    from executive.service import Executive

__all__ = ["DebugService", "TaskDebug"]

_KEEP_FINISHED = 32  # ended tasks whose debug state is kept for post-mortem look-ups


@dataclasses.dataclass(slots=True)
class TaskDebug:
    """Everything the debugger knows about one task."""

    vt: VmTask
    breakpoints: BreakpointTable
    symbols: SymbolIndex | None = None  # None until a .sym is loaded
    sym_path: str | None = None  # file the symbols came from (None for an uploaded document)
    sym_error: str | None = None  # why the last load failed, if it did
    sym_warnings: list[str] = dataclasses.field(default_factory=list)


class DebugService:
    """Debugger services over HSX tasks; attached as ``Executive.debug``."""

    def __init__(self, executive: "Executive") -> None:
        self.ex = executive
        self._tasks: dict[int, TaskDebug] = {}
        self._sym_cache = SymbolCache(max_bytes=executive.limits.max_sym_bytes)
        self.stops = RegDiff()  # changed_regs between debugger stops (step results, debug_break)
        runtime = executive.vm.runtime
        runtime.symbolize = self.symbolize
        runtime.on_break = self._on_break

    # ------------------------------------------------------------------ task state
    def _state(self, ref: int | str) -> TaskDebug:
        """The debug state of a task (created on first use)."""
        return self._get(self.ex.vm.task(ref))

    def _control(self, ref: int | str, session_id: str | None) -> TaskDebug:
        """The debug state of a task the caller may control (session lock check)."""
        return self._get(self.ex.vm._control(ref, session_id))

    def _get(self, vt: VmTask) -> TaskDebug:
        st = self._tasks.get(vt.pid)
        if st is None or st.vt is not vt:
            st = self._tasks[vt.pid] = TaskDebug(vt, BreakpointTable(vt.cpu, limit=self.ex.limits.max_breakpoints))
        return st

    def _prune(self) -> None:
        finished = [pid for pid, st in self._tasks.items() if st.vt.finished]
        for pid in finished[: max(0, len(finished) - _KEEP_FINISHED)]:
            del self._tasks[pid]
            self.stops.forget(pid)

    # ------------------------------------------------------------------ loading
    def on_load(self, vt: VmTask, *, symbols: str | None = None) -> dict[str, Any]:
        """Set up a freshly loaded task and auto-load its `.sym` (spec hsx-executive §7.4).

        Looks for ``symbols`` (relative paths resolve against the program's directory) or
        ``<program>.sym``.  A missing or broken file never fails the load: the result says
        what happened (``symbols:{pid, loaded, path, count | error}``) and ``warnings``
        carries ``symbols_missing:<path>``, ``symbols_failed:<why>`` or ``symbols_unavailable``
        (an uploaded image: supply its symbols with :meth:`sym_load`).

        Returns:
            ``{"symbols": {...}, "warnings": [...]}`` to merge into the load reply.
        """
        self._prune()
        st = self._get(vt)
        self.stops.update(vt.pid, vt.cpu.regs, vt.cpu.psw)
        warnings: list[str] = []
        path: Path | None = None
        if symbols is not None:
            path = Path(symbols).expanduser()
            if not path.is_absolute() and vt.path:
                path = Path(vt.path).parent / path
        elif vt.path:
            path = Path(vt.path).with_suffix(".sym")
        if path is None:
            warnings.append("symbols_unavailable")
        else:
            try:
                self._install(st, self._sym_cache.load(path), str(path))
            except FileNotFoundError:
                st.sym_error = f"no symbol file at {path}"
                warnings.append(f"symbols_missing:{path}")
            except SymbolFileError as exc:
                st.sym_error = str(exc)
                warnings.append(f"symbols_failed:{exc}")
        warnings += st.sym_warnings
        return {"symbols": self._sym_summary(st), "warnings": warnings}

    def _install(self, st: TaskDebug, index: SymbolIndex, path: str | None) -> None:
        st.symbols, st.sym_path, st.sym_error = index, path, None
        st.sym_warnings = []
        crc = st.vt.image.crc
        if index.crc is not None and crc and index.crc != crc:
            st.sym_warnings.append(f"symbols_stale:the .sym was written for an image with CRC 0x{index.crc:08X}, this image has 0x{crc:08X}")

    def _sym_summary(self, st: TaskDebug) -> dict[str, Any]:
        d: dict[str, Any] = {"pid": st.vt.pid, "loaded": st.symbols is not None, "path": st.sym_path}
        if st.symbols is not None:
            d["count"] = len(st.symbols)
            d["counts"] = st.symbols.counts()
        if st.sym_error is not None:
            d["error"] = st.sym_error
        if st.sym_warnings:
            d["warnings"] = list(st.sym_warnings)
        return d

    # ------------------------------------------------------------------ symbols
    def sym_info(self, ref: int | str) -> dict[str, Any]:
        """Whether a task has symbols, from where, how many (spec §3.6 ``sym info``)."""
        return self._sym_summary(self._state(ref))

    def sym_load(
        self,
        ref: int | str,
        *,
        path: str | None = None,
        document: dict[str, Any] | str | None = None,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """Load (or replace) a task's symbols from a file or a `.sym` document.

        With neither argument it re-reads ``<program>.sym``.  An uploaded image has no
        file beside it: pass its `.sym` as ``document`` (the JSON object or its text).

        Raises:
            BadParamsError (SYMBOLS_INVALID): the file is missing, unreadable, too large
                (limit max_sym_bytes) or malformed; the old symbols stay in place.
        """
        st = self._control(ref, session_id)
        vt = st.vt
        if path is not None and document is not None:
            raise BadParamsError("give path or document, not both")
        try:
            if document is not None:
                raw = document if isinstance(document, str) else json.dumps(document)
                index = self._sym_cache.parse_bytes(raw.encode())
                where = None
            else:
                if path is None and not vt.path:
                    raise BadParamsError(
                        f"task {vt.pid} was loaded from uploaded bytes, so there is no .sym beside it; pass path or document",
                        code=ErrorCode.SYMBOLS_INVALID,
                    )
                p = Path(path).expanduser() if path is not None else Path(vt.path or "").with_suffix(".sym")
                if not p.is_absolute() and vt.path:
                    p = Path(vt.path).parent / p
                where = str(p)
                index = self._sym_cache.load(p)
        except FileNotFoundError:
            raise BadParamsError(f"no symbol file at {where}; check the path", code=ErrorCode.SYMBOLS_INVALID, data={"path": where}) from None
        except SymbolFileError as exc:
            raise BadParamsError(f"symbols not loaded: {exc}", code=ErrorCode.SYMBOLS_INVALID) from None
        self._install(st, index, where)
        return self._sym_summary(st)

    def sym_lookup(self, ref: int | str, name: str) -> dict[str, Any]:
        """A symbol by exact name (spec §8.8); ``symbol`` is None when there is none."""
        st = self._state(ref)
        sym = st.symbols.lookup(name) if st.symbols else None
        return {"pid": st.vt.pid, "name": name, "loaded": st.symbols is not None, "symbol": sym.to_dict() if sym else None}

    def sym_at(self, ref: int | str, address: int | str, *, space: str = "code") -> dict[str, Any]:
        """The nearest symbol at or below an address, with ``offset`` (spec §8.8).

        ``space`` is ``code`` (default: functions and labels), ``data`` (variables) or
        ``any``; code and data addresses overlap, so asking for one space is exact.
        """
        st = self._state(ref)
        addr = self._int(address, "address")
        if space not in ("code", "data", "any"):
            raise BadParamsError(f"space must be code, data or any, not {space!r}")
        hit = st.symbols.at(addr, space) if st.symbols else None
        sym = None
        if hit is not None:
            sym = hit[0].to_dict() | {"offset": hit[1]}
            fn = st.symbols.function_at(addr) if st.symbols and hit[0].space == "code" else None
            if fn is not None:
                sym["function"] = fn[0].name
        return {"pid": st.vt.pid, "address": addr, "space": space, "loaded": st.symbols is not None, "symbol": sym}

    def sym_line(self, ref: int | str, address: int | str) -> dict[str, Any]:
        """The source line of a code address (greatest line entry at or below it, §8.8)."""
        st = self._state(ref)
        addr = self._int(address, "address")
        ln = st.symbols.line_at(addr) if st.symbols else None
        line = {"address": ln.address, "file": ln.file, "line": ln.line} if ln else None
        return {"pid": st.vt.pid, "address": addr, "loaded": st.symbols is not None, "line": line}

    def sym_addresses(self, ref: int | str, file: str, line: int) -> dict[str, Any]:
        """Code addresses recorded for ``file:line`` (full path or base name), ascending."""
        st = self._state(ref)
        addrs = st.symbols.addresses_for_line(file, line) if st.symbols else []
        return {"pid": st.vt.pid, "file": file, "line": line, "loaded": st.symbols is not None, "addresses": addrs}

    def sym_list(self, ref: int | str, *, type: str = "all", offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """One page of symbols, code space first, by address (spec §3.6 ``symbols``).

        ``type``: ``all``, ``functions``, ``labels``, ``variables`` or ``code``;
        ``limit`` defaults to and is capped at ``limits.max_symbols_page``.
        """
        st = self._state(ref)
        cap = self.ex.limits.max_symbols_page
        if offset < 0:
            raise BadParamsError(f"offset must be >= 0, got {offset}")
        if limit is not None and not 1 <= limit <= cap:
            raise LimitError(f"limit must be 1..{cap} (limit max_symbols_page); page with offset", data={"limit": cap})
        n = limit or cap
        if st.symbols is None:
            total, page = 0, []
        else:
            try:
                total, page = st.symbols.page(type, offset, n)
            except ValueError as exc:
                raise BadParamsError(str(exc)) from None
        return {
            "pid": st.vt.pid, "loaded": st.symbols is not None, "type": type, "count": total, "offset": offset,
            "limit": n, "returned": len(page), "next_offset": offset + len(page) if offset + len(page) < total else None,
            "symbols": [e.to_dict() for e in page],
        }  # fmt: skip

    def symbolize(self, pid: int, pc: int) -> str | None:
        """``name`` or ``name+0xN`` for a code address, for ``debug_break.symbol`` (§12.5)."""
        st = self._tasks.get(pid)
        if st is None or st.symbols is None:
            return None
        return st.symbols.describe(pc)

    # ------------------------------------------------------------------ breakpoints
    def bp_add(self, ref: int | str, where: int | str, *, session_id: str | None = None) -> dict[str, Any]:
        """Set a breakpoint at an address, a code symbol (``loop``, ``main+0x8``) or ``file:line``.

        Idempotent.  The task stops *before* executing the instruction there and a
        ``debug_break`` event ``{pc, phase:"pre", reason:"breakpoint", symbol,
        changed_regs}`` is published (spec §8.1, §5.3).

        Raises:
            BadParamsError: not an instruction start in the code, unknown symbol, a variable.
            LimitError: ``limits.max_breakpoints`` reached for this task.
        """
        st = self._control(ref, session_id)
        addr, text = code_address(where, st.symbols)
        bp, added = st.breakpoints.add(addr, text, self.symbolize(st.vt.pid, addr))
        return self._bp_reply(st) | {"breakpoint": bp.to_dict(), "added": added}

    def bp_remove(self, ref: int | str, where: int | str, *, session_id: str | None = None) -> dict[str, Any]:
        """Delete the breakpoint at a location (same forms as :meth:`bp_add`).

        Raises:
            BadParamsError: no breakpoint there.
        """
        st = self._control(ref, session_id)
        addr, _ = code_address(where, st.symbols)
        bp = st.breakpoints.remove(addr)
        return self._bp_reply(st) | {"breakpoint": bp.to_dict()}

    def bp_clear(self, ref: int | str, *, session_id: str | None = None) -> dict[str, Any]:
        """Delete every breakpoint of a task."""
        st = self._control(ref, session_id)
        n = st.breakpoints.clear()
        return self._bp_reply(st) | {"removed": n}

    def bp_list(self, ref: int | str) -> dict[str, Any]:
        """A task's breakpoints: ``breakpoints`` (addresses, as the HSX ``bp`` reply) and ``details``."""
        return self._bp_reply(self._state(ref))

    def _bp_reply(self, st: TaskDebug) -> dict[str, Any]:
        return {"pid": st.vt.pid, "breakpoints": st.breakpoints.addresses(), "details": [b.to_dict() for b in st.breakpoints.entries()]}

    # ------------------------------------------------------------------ stepping
    def step(self, ref: int | str, steps: int = 1, *, session_id: str | None = None) -> dict[str, Any]:
        """Execute ``steps`` instructions of a paused task (spec §3.5, §8.2).

        Returns ``Executive.vm.step``'s result plus ``changed_regs`` (since the last stop,
        PC excluded, when tracking is on, §8.10), ``symbol`` and ``line`` of the new PC.
        A breakpoint or ``BRK`` met on the way stops the step and appears as
        ``debug_break`` (in the result and as an event).

        Raises:
            InvalidTransitionError: the task is not paused, or is blocked in a wait.
            LimitError: ``steps`` outside 1..limits.max_step.
        """
        st = self._control(ref, session_id)
        pid = st.vt.pid
        before = self.stops.baseline(pid)
        result = self.ex.vm.step(pid, steps, session_id=session_id)
        return self._stopped(st, result, before)

    def _stopped(self, st: TaskDebug, result: dict[str, Any], before: tuple[int, ...] | None) -> dict[str, Any]:
        """Complete a step result: changed registers since ``before``, where the PC is."""
        vt = st.vt
        changed = self.stops.update(vt.pid, vt.cpu.regs, vt.cpu.psw, since=before, use_since=True)
        if changed is not None:
            result["changed_regs"] = changed
        pc = vt.cpu.pc
        result["symbol"] = self.symbolize(vt.pid, pc)
        ln = st.symbols.line_at(pc) if st.symbols else None
        result["line"] = {"file": ln.file, "line": ln.line} if ln else None
        return result

    # ------------------------------------------------------------------ stops
    def _on_break(self, vt: VmTask, data: dict[str, Any]) -> None:
        """Runtime hook: complete a ``debug_break`` before it is published (count the hit,
        add ``changed_regs`` since the last stop, spec §8.10)."""
        st = self._get(vt)
        if data.get("reason") == "breakpoint":
            st.breakpoints.hit(data["pc"])
        changed = self.stops.update(vt.pid, vt.cpu.regs, vt.cpu.psw)
        if changed is not None:
            data["changed_regs"] = changed

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _int(value: int | str, what: str) -> int:
        n = parse_int(value)
        if n is None or n < 0:
            raise BadParamsError(f"{what} must be a non-negative integer or a 0x string, got {value!r}")
        return n

    def _snapshot(self, vt: VmTask) -> tuple[int, ...]:
        return snapshot(vt.cpu.regs, vt.cpu.psw)
