"""HSX debugger commands mapped onto ``Executive.debug`` (spec hsx-executive §3.6, §3.7, §8, §9).

No debugger logic lives here: every command validates the HSX argument forms
(``op``/``action`` names, ``addr`` vs ``address``, ``0x`` strings), calls one
``Executive.debug`` method with the caller's session (lock checks happen
there) and shapes the reply as the reference does.  Besides the op form
``bp {op, pid, addr}`` this port serves ``bp.add``/``bp.remove``/``bp.list``
with field ``address`` — the names hsxdbg and the VS Code adapter send
(§3.11, §12.3), which the reference rejects.
"""

from __future__ import annotations

from typing import Any, cast

from executive.api.hsx_args import (
    Call,
    HsxError,
    bool_arg,
    int_arg,
    opt_int,
    str_arg,
    to_int,
)

__all__ = ["COMMANDS", "annotate_tasks", "debug_step", "hsx_frame", "load_symbols"]


def _debug(call: Call) -> Any:
    dbg = getattr(call.ex, "debug", None)
    if dbg is None:
        raise HsxError(f"{call.cmd}: the debugger service is not available in this daemon")
    return dbg


def _op(call: Call, default: str) -> str:
    op = call.get("op", "action", default=default)
    return str(op).strip().lower() if op is not None else default


def _where(call: Call, *names: str) -> int | str:
    """A code location: an integer (``0x`` strings too) or a symbol / ``file:line`` the debugger resolves."""
    value = call.get(*names)
    if value is None or value == "":
        raise HsxError(f"{call.cmd} requires '{names[0]}'")
    if isinstance(value, str):
        try:
            return to_int(value, names[0])
        except HsxError:
            return value.strip()
    return to_int(value, names[0])


# --- hooks used by hsx_commands --------------------------------------------------------------------
def load_symbols(call: Call, pid: int, override: str | None) -> tuple[dict[str, Any], list[str]]:
    """Auto-load ``<program>.sym`` (or ``override``) for a freshly loaded task (§7.4)."""
    dbg = getattr(call.ex, "debug", None)
    if dbg is None:
        return {"pid": pid, "loaded": False}, ["symbols_unavailable"]
    out = dbg.on_load(call.ex.vm.task(pid), symbols=override)
    return out["symbols"], list(out.get("warnings") or [])


def annotate_tasks(call: Call, tasks: list[dict[str, Any]]) -> None:
    """Add ``breakpoints`` (when any) and ``symbols:{path, count}`` (when loaded) to ``ps`` entries (§3.4)."""
    dbg = getattr(call.ex, "debug", None)
    if dbg is None:
        return
    for t in tasks:
        bps = dbg.bp_list(t["pid"])["breakpoints"]
        if bps:
            t["breakpoints"] = bps
        info = dbg.sym_info(t["pid"])
        if info.get("loaded"):
            t["symbols"] = {"path": info.get("path"), "count": info.get("count")}


def debug_step(call: Call, pid: int, steps: int, *, source_only: bool) -> dict[str, Any]:
    """``step {pid}``: instruction steps, or source-level steps skipping compiler-generated
    instructions (§3.5 ``source_only``); the result carries ``changed_regs``, ``symbol``, ``line``.
    A step that leaves the task paused publishes ``debug_break {reason:"step"}`` (the VS Code
    adapter maps it to ``stopped``; without it the thread stays shown as running)."""
    dbg = getattr(call.ex, "debug", None)
    if dbg is None:
        return cast(dict[str, Any], call.ex.vm.step(pid, steps, session_id=call.session))
    fn = dbg.step_source if source_only else dbg.step
    return cast(dict[str, Any], fn(pid, steps, session_id=call.session, announce=True))


# --- breakpoints -----------------------------------------------------------------------------------
_BP_LIST = ("list", "ls", "")
_BP_ADD = ("set", "add")
_BP_REMOVE = ("clear", "remove", "rm", "del", "delete")
_BP_CLEAR = ("clear_all", "clearall", "reset")


def _bp(call: Call) -> dict[str, Any]:
    dbg = _debug(call)
    op = _op(call, "list")
    pid = int_arg(call, "pid")
    if op in _BP_LIST:
        return cast(dict[str, Any], dbg.bp_list(pid))
    if op in _BP_ADD:
        if call.get("addr", "address") is None:
            raise HsxError(f"bp {op} requires 'addr'")
        return cast(dict[str, Any], dbg.bp_add(pid, _where(call, "addr", "address"), session_id=call.session))
    if op in _BP_REMOVE:
        if call.get("addr", "address") is None:
            raise HsxError(f"bp {op} requires 'addr'")
        return cast(dict[str, Any], dbg.bp_remove(pid, _where(call, "addr", "address"), session_id=call.session))
    if op in _BP_CLEAR:
        out = dbg.bp_clear(pid, session_id=call.session)
        return {**out, **dbg.bp_list(pid)}  # the list as it is after the clear
    raise HsxError(f"unknown bp op '{op}'")


def _bp_add(call: Call) -> dict[str, Any]:
    return cast(
        dict[str, Any],
        _debug(call).bp_add(int_arg(call, "pid"), _where(call, "address", "addr"), session_id=call.session),
    )


def _bp_remove(call: Call) -> dict[str, Any]:
    return cast(
        dict[str, Any],
        _debug(call).bp_remove(int_arg(call, "pid"), _where(call, "address", "addr"), session_id=call.session),
    )


def _bp_list(call: Call) -> dict[str, Any]:
    return cast(dict[str, Any], _debug(call).bp_list(int_arg(call, "pid")))


# --- symbols ---------------------------------------------------------------------------------------
def _sym(call: Call) -> dict[str, Any]:
    dbg = _debug(call)
    op = _op(call, "info")
    pid = int_arg(call, "pid")
    if op in ("info", ""):
        return {"symbols": dbg.sym_info(pid)}
    if op in ("load", "set"):
        return {"symbols": dbg.sym_load(pid, path=str_arg(call, "path", required=False), session_id=call.session)}
    if op in ("lookup", "lookup_name", "name"):
        r = dbg.sym_lookup(pid, str_arg(call, "name"))
        return {"symbol": r["symbol"], "pid": pid, "name": r["name"]}
    if op in ("lookup_addr", "addr"):
        space = str(call.get("space", default="code"))
        r = dbg.sym_at(pid, int_arg(call, "address", "addr"), space=space)
        return {"symbol": r["symbol"], "pid": pid, "address": r["address"]}
    if op in ("line", "lookup_line"):
        r = dbg.sym_line(pid, int_arg(call, "address", "addr"))
        return {"line": r["line"], "pid": pid, "address": r["address"]}
    raise HsxError(f"unknown sym op '{op}'")


def _symbols(call: Call) -> dict[str, Any]:
    dbg = _debug(call)
    op = _op(call, "list")
    if op not in ("list", ""):
        raise HsxError(f"unknown symbols op '{op}'")
    kind = str(call.get("type", "kind", default="all"))
    page = dbg.sym_list(
        int_arg(call, "pid"),
        type=kind,
        offset=int_arg(call, "offset", default=0),
        limit=opt_int(call, "limit", "count"),
    )
    return {"symbols": page}


# --- disassembly, stack, memory watches ------------------------------------------------------------
_DISASM_MAX = 64  # the reference clamps count to 1..64 (§3.6)


def _disasm(call: Call) -> dict[str, Any]:
    """Disassembly of the **code** space (§8.6 with the §13 #15 fixes: code not data, ``addr:0`` honoured)."""
    dbg = _debug(call)
    pid = int_arg(call, "pid")
    addr = _where(call, "addr", "address") if call.get("addr", "address") not in (None, "") else None
    count = max(1, min(int_arg(call, "count", default=8), _DISASM_MAX))
    mode = str(call.get("mode", default="on-demand"))
    if mode not in ("on-demand", "cached"):
        raise HsxError("mode must be 'on-demand' or 'cached'")
    return {"disasm": dbg.disasm(pid, addr, count, before=int_arg(call, "before", default=0), mode=mode)}


def _stack(call: Call) -> dict[str, Any]:
    dbg = _debug(call)
    op = _op(call, "info")
    if op not in ("info", "list", ""):
        raise HsxError(f"unknown stack op '{op}'")
    pid = int_arg(call, "pid")
    raw = call.get("max", "limit", "frames")
    try:
        frames = to_int(raw, "max") if raw not in (None, "") else None
    except HsxError:
        raise HsxError("stack max must be integer") from None
    stack = dict(dbg.stack(pid, frames or None))
    stack["frames"] = [hsx_frame(f) for f in stack["frames"]]
    return {"stack": stack}


def hsx_frame(frame: dict[str, Any]) -> dict[str, Any]:
    """A stack frame in the superset every HSX client reads (issue 13, spec §8.7, §12.3).

    The shell, blinkenlights and exec_smoke read ``symbol:{name, offset}`` and
    ``line:{file, line}``; hsxdbg and the VS Code adapter read ``func_name``,
    ``func_offset``, ``line_num`` and a top-level ``file``.  ``symbol`` is left out (never
    null: one client calls ``.get`` on it) when nothing names the PC; ``symbol.text`` keeps
    the ``name+0xN`` form the JSON-RPC frames carry.
    """
    out = dict(frame)
    text = frame.get("symbol")
    name = frame.get("func_name")
    if name is None and isinstance(text, str):
        name = text.split("+", 1)[0]
    if name is not None:
        sym: dict[str, Any] = {"name": name, "offset": frame.get("func_offset", 0)}
        if frame.get("func_addr") is not None:
            sym["address"] = frame["func_addr"]
        if isinstance(text, str):
            sym["text"] = text
        out["symbol"] = sym
        out.setdefault("func_name", name)
    else:
        out.pop("symbol", None)
    if frame.get("file") is not None or frame.get("line") is not None:
        line = frame.get("line_num", frame.get("line"))
        out["line"] = {"file": frame.get("file"), "line": line}
        out["line_num"] = line
    else:
        out.pop("line", None)
    return out


def _watch(call: Call) -> dict[str, Any]:
    dbg = _debug(call)
    op = _op(call, "list")
    pid = int_arg(call, "pid")
    if op in ("list", ""):
        return {"watch": dbg.watch_list(pid)}
    if op in ("add", "create"):
        expr = call.get("expr", "expression")
        if expr is None:
            raise HsxError("watch add requires 'expr'")
        if isinstance(expr, str) and not expr.strip():
            raise HsxError("watch expression must be non-empty")
        kind = call.get("type", "kind")
        length = int_arg(call, "length", "size", default=4)
        return {"watch": dbg.watch_add(pid, expr, length=length, type=kind, session_id=call.session)}
    if op in ("remove", "del", "delete"):
        if call.get("id", "watch") is None:
            raise HsxError(f"watch {op} requires 'id'")
        return {"watch": dbg.watch_remove(pid, int_arg(call, "id", "watch"), session_id=call.session)}
    raise HsxError(f"unknown watch op '{op}'")


# --- trace -----------------------------------------------------------------------------------------
def _on_off(value: Any, what: str) -> bool:
    try:
        return bool_arg(value, what)
    except HsxError:
        raise HsxError(f"{what} must be 'on' or 'off'") from None


def _trace(call: Call) -> dict[str, Any]:
    dbg = _debug(call)
    op = _op(call, "")
    if op == "config":
        changed = call.get("changed_regs", "changed-regs")
        size = call.get("buffer_size", "buffer")
        if changed is None and size is None:
            raise HsxError("trace.config requires 'changed-regs <on|off>' or 'buffer <size>'")
        buffer_size = to_int(size, "buffer_size") if size is not None else None
        if buffer_size is not None and buffer_size < 0:
            raise HsxError("trace buffer size must be non-negative")
        return {
            "trace": dbg.trace_config(
                opt_int(call, "pid"),
                buffer_size=buffer_size,
                changed_regs=_on_off(changed, "trace changed_regs") if changed is not None else None,
                session_id=call.session,
            )
        }
    if call.get("pid") is None:
        raise HsxError("trace requires 'pid'")
    pid = int_arg(call, "pid")
    if op == "":
        mode = call.get("mode")
        enabled = _on_off(mode, "trace mode") if mode is not None else None
        return {"trace": dbg.trace_set(pid, enabled, session_id=call.session)}
    if op in ("records", "history"):
        return {"trace": dbg.trace_records(pid, opt_int(call, "limit"))}
    if op == "export":
        return {"trace": dbg.trace_export(pid, opt_int(call, "limit"))}
    if op == "import":
        if call.session is None:
            raise HsxError("session_required")
        records = call.args.get("records")
        if not isinstance(records, list):
            raise HsxError("trace import requires 'records' list")
        replace = bool_arg(call.get("replace", default=True), "replace")
        dbg.trace_import(pid, records, replace=replace, session_id=call.session)
        return {"trace": dbg.trace_records(pid, None)}
    raise HsxError(f"unknown trace op '{op}'")


COMMANDS = {
    "disasm": _disasm,
    "stack": _stack,
    "watch": _watch,
    "trace": _trace,
    "bp": _bp,
    "bp.add": _bp_add,
    "bp.remove": _bp_remove,
    "bp.list": _bp_list,
    "sym": _sym,
    "symbols": _symbols,
}
