"""Symbols of HSX tasks: ``Executive.debug.sym_*`` and the ``.sym`` auto-load (spec hsx-executive §7.4, §8.8).

Loading, replacing and querying a task's symbol index (debugger/symbols.py), and
naming code addresses for ``debug_break`` events.  The debugger service owns one
and finds the tasks' debug state for it (:class:`SymbolTasks`); it also lets the
disassembly cache forget a task whose symbols changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol, cast

from executive.debugger.disasm_cache import Disassembler
from executive.debugger.expr import parse_int
from executive.debugger.symbols import SymbolCache, SymbolFileError, SymbolIndex
from executive.debugger.task import TaskDebug
from executive.kernel.errors import BadParamsError, ErrorCode, LimitError
from executive.runtimes.vm import VmTask
from executive.service.results import (
    LineRecord,
    SymbolAddresses,
    SymbolAt,
    SymbolAtRecord,
    SymbolLine,
    SymbolLookup,
    SymbolPage,
    SymbolRecord,
    SymbolSummary,
)

__all__ = ["SymbolService", "SymbolTasks"]


class SymbolTasks(Protocol):
    """How the symbol service finds the debug state of tasks (the debugger service provides it)."""

    def state_of(self, ref: int | str) -> TaskDebug: ...

    def controlled(self, ref: int | str, session_id: str | None) -> TaskDebug: ...

    def existing(self, pid: int) -> TaskDebug | None: ...


class SymbolService:
    """Per-task symbol indexes: load, replace, look up, page, and name addresses."""

    def __init__(self, tasks: SymbolTasks, disassembler: Disassembler, *, max_sym_bytes: int, page_cap: int) -> None:
        self._tasks = tasks
        self._disassembler = disassembler  # its listings carry symbol names: forget a task's on a new index
        self._cache = SymbolCache(max_bytes=max_sym_bytes)
        self._page_cap = page_cap

    def autoload(self, st: TaskDebug, symbols: str | None) -> list[str]:
        """Load ``symbols`` or ``<program>.sym`` for a freshly loaded task; the load warnings.

        A missing or broken file never fails the load: ``symbols_missing:<path>``,
        ``symbols_failed:<why>`` or ``symbols_unavailable`` (an uploaded image) say what happened.
        """
        warnings: list[str] = []
        path = self.path_for(st.vt, symbols)
        if path is None:
            warnings.append("symbols_unavailable")
        else:
            try:
                self.install(st, self._cache.load(path), str(path))
            except FileNotFoundError:
                st.sym_error = f"no symbol file at {path}"
                warnings.append(f"symbols_missing:{path}")
            except SymbolFileError as exc:
                st.sym_error = str(exc)
                warnings.append(f"symbols_failed:{exc}")
        return warnings + st.sym_warnings

    @staticmethod
    def path_for(vt: VmTask, given: str | None) -> Path | None:
        if given is not None:
            p = Path(given).expanduser()
            return Path(vt.path).parent / p if not p.is_absolute() and vt.path else p
        return Path(vt.path).with_suffix(".sym") if vt.path else None

    def install(self, st: TaskDebug, index: SymbolIndex, path: str | None) -> None:
        st.symbols, st.sym_path, st.sym_error, st.sym_warnings = index, path, None, []
        self._disassembler.invalidate(st.pid)
        crc = st.vt.image.crc
        if index.crc is not None and crc and index.crc != crc:
            st.sym_warnings.append(
                f"symbols_stale:the .sym was written for an image with CRC 0x{index.crc:08X}, "
                f"this image has 0x{crc:08X}"
            )

    def summary(self, st: TaskDebug) -> SymbolSummary:
        d: dict[str, Any] = {"pid": st.pid, "loaded": st.symbols is not None, "path": st.sym_path}
        if st.symbols is not None:
            d["count"] = len(st.symbols)
            d["counts"] = st.symbols.counts()
        if st.sym_error is not None:
            d["error"] = st.sym_error
        if st.sym_warnings:
            d["warnings"] = list(st.sym_warnings)
        return cast(SymbolSummary, d)

    def info(self, ref: int | str) -> SymbolSummary:
        """Whether a task has symbols, from where, how many (spec §3.6 ``sym info``)."""
        return self.summary(self._tasks.state_of(ref))

    def load(
        self,
        ref: int | str,
        *,
        path: str | None = None,
        document: dict[str, Any] | str | None = None,
        session_id: str | None = None,
    ) -> SymbolSummary:
        """Load (or replace) a task's symbols from a file or a `.sym` document.

        With neither argument it re-reads ``<program>.sym``.  An uploaded image has no
        file beside it: pass its `.sym` as ``document`` (the JSON object or its text).

        Raises:
            BadParamsError (SYMBOLS_INVALID): missing, unreadable, too large (limit
                max_sym_bytes) or malformed; the old symbols stay in place.
        """
        st = self._tasks.controlled(ref, session_id)
        if path is not None and document is not None:
            raise BadParamsError("give path or document, not both")
        where: str | None = None
        try:
            if document is not None:
                raw = document if isinstance(document, str) else json.dumps(document)
                index = self._cache.parse_bytes(raw.encode())
            else:
                p = self.path_for(st.vt, path)
                if p is None:
                    raise BadParamsError(
                        f"task {st.pid} was loaded from uploaded bytes, so there is no .sym beside it; "
                        "pass path or document",
                        code=ErrorCode.SYMBOLS_INVALID,
                    )
                where = str(p)
                index = self._cache.load(p)
        except FileNotFoundError:
            raise BadParamsError(
                f"no symbol file at {where}; check the path", code=ErrorCode.SYMBOLS_INVALID, data={"path": where}
            ) from None
        except SymbolFileError as exc:
            raise BadParamsError(f"symbols not loaded: {exc}", code=ErrorCode.SYMBOLS_INVALID) from None
        self.install(st, index, where)
        return self.summary(st)

    def lookup(self, ref: int | str, name: str) -> SymbolLookup:
        """A symbol by exact name (spec §8.8); ``symbol`` is None when there is none."""
        st = self._tasks.state_of(ref)
        sym = st.symbols.lookup(name) if st.symbols else None
        return {
            "pid": st.pid,
            "name": name,
            "loaded": st.symbols is not None,
            "symbol": cast(SymbolRecord, sym.to_dict()) if sym else None,
        }

    def at(self, ref: int | str, address: int | str, *, space: str = "code") -> SymbolAt:
        """The nearest symbol at or below an address, with ``offset`` (spec §8.8).

        ``space``: ``code`` (functions and labels), ``data`` (variables) or ``any``.
        Code and data addresses overlap (hsx-vm §1.2), so naming the space is exact.
        """
        st = self._tasks.state_of(ref)
        addr = _uint(address, "address")
        if space not in ("code", "data", "any"):
            raise BadParamsError(f"space must be code, data or any, not {space!r}")
        hit = st.symbols.at(addr, space) if st.symbols else None
        sym = None
        if hit is not None and st.symbols is not None:
            sym = hit[0].to_dict() | {"offset": hit[1]}
            fn = st.symbols.function_at(addr) if hit[0].space == "code" else None
            if fn is not None:
                sym["function"] = fn[0].name
        return {"pid": st.pid, "address": addr, "space": space, "loaded": st.symbols is not None,
                "symbol": cast(SymbolAtRecord | None, sym)}  # fmt: skip

    def line(self, ref: int | str, address: int | str) -> SymbolLine:
        """The source line of a code address (greatest line entry at or below it, §8.8)."""
        st = self._tasks.state_of(ref)
        addr = _uint(address, "address")
        ln = st.symbols.line_at(addr) if st.symbols else None
        line = {"address": ln.address, "file": ln.file, "line": ln.line} if ln else None
        return {"pid": st.pid, "address": addr, "loaded": st.symbols is not None, "line": cast(LineRecord | None, line)}

    def addresses(self, ref: int | str, file: str, line: int) -> SymbolAddresses:
        """Code addresses recorded for ``file:line`` (full path or base name), ascending."""
        st = self._tasks.state_of(ref)
        addrs = st.symbols.addresses_for_line(file, line) if st.symbols else []
        return {"pid": st.pid, "file": file, "line": line, "loaded": st.symbols is not None, "addresses": addrs}

    def list(self, ref: int | str, *, type: str = "all", offset: int = 0, limit: int | None = None) -> SymbolPage:
        """One page of symbols, code space first, by address (spec §3.6 ``symbols``).

        ``type``: ``all``, ``functions``, ``labels``, ``variables`` or ``code``; ``limit``
        defaults to and is capped at ``limits.max_symbols_page``; ``next_offset`` is the
        offset of the next page (None on the last).
        """
        st = self._tasks.state_of(ref)
        cap = self._page_cap
        if offset < 0:
            raise BadParamsError(f"offset must be >= 0, got {offset}")
        if limit is not None and not 1 <= limit <= cap:
            raise LimitError(f"limit must be 1..{cap} (limit max_symbols_page); page with offset", data={"limit": cap})
        n = limit or cap
        total = 0
        page: list[Any] = []
        if st.symbols is not None:
            try:
                total, page = st.symbols.page(type, offset, n)
            except ValueError as exc:
                raise BadParamsError(str(exc)) from None
        end = offset + len(page)
        return {
            "pid": st.pid, "loaded": st.symbols is not None, "type": type, "count": total, "offset": offset, "limit": n,
            "returned": len(page), "next_offset": end if end < total else None,
            "symbols": [cast(SymbolRecord, e.to_dict()) for e in page],
        }  # fmt: skip

    def symbolize(self, pid: int, pc: int) -> str | None:
        """``name`` or ``name+0xN`` for a code address, for ``debug_break.symbol`` (§12.5)."""
        st = self._tasks.existing(pid)
        return st.symbols.describe(pc) if st is not None and st.symbols is not None else None


def _uint(value: int | str, what: str) -> int:
    n = parse_int(value)
    if n is None or n < 0:
        raise BadParamsError(f"{what} must be a non-negative integer or a 0x string, got {value!r}")
    return n
