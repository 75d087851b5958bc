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

from typing import Any

from executive.api.hsx_args import Call, HsxError, int_arg, opt_int, str_arg, to_int

__all__ = ["COMMANDS", "annotate_tasks", "load_symbols", "source_step"]


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


def source_step(call: Call, pid: int, steps: int) -> dict[str, Any] | None:
    """A source-level step (``step {source_only}``) when the debugger offers one, else None."""
    dbg = getattr(call.ex, "debug", None)
    fn = getattr(dbg, "step_source", None) if dbg is not None else None
    if fn is None:
        return None
    return fn(pid, steps, session_id=call.session)


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
        return dbg.bp_list(pid)
    if op in _BP_ADD:
        if call.get("addr", "address") is None:
            raise HsxError(f"bp {op} requires 'addr'")
        return dbg.bp_add(pid, _where(call, "addr", "address"), session_id=call.session)
    if op in _BP_REMOVE:
        if call.get("addr", "address") is None:
            raise HsxError(f"bp {op} requires 'addr'")
        return dbg.bp_remove(pid, _where(call, "addr", "address"), session_id=call.session)
    if op in _BP_CLEAR:
        return dbg.bp_clear(pid, session_id=call.session)
    raise HsxError(f"unknown bp op '{op}'")


def _bp_add(call: Call) -> dict[str, Any]:
    return _debug(call).bp_add(int_arg(call, "pid"), _where(call, "address", "addr"), session_id=call.session)


def _bp_remove(call: Call) -> dict[str, Any]:
    return _debug(call).bp_remove(int_arg(call, "pid"), _where(call, "address", "addr"), session_id=call.session)


def _bp_list(call: Call) -> dict[str, Any]:
    return _debug(call).bp_list(int_arg(call, "pid"))


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
    page = dbg.sym_list(int_arg(call, "pid"), type=kind, offset=int_arg(call, "offset", default=0),
                        limit=opt_int(call, "limit", "count"))
    return {"symbols": page}


COMMANDS = {
    "bp": _bp,
    "bp.add": _bp_add,
    "bp.remove": _bp_remove,
    "bp.list": _bp_list,
    "sym": _sym,
    "symbols": _symbols,
}
