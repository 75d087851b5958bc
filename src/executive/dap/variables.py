"""The data half of a stopped task for DAP: scopes, variables, setVariable, evaluate,
data-breakpoint info.

Theory of operation
-------------------
DAP names every expandable thing by a ``variablesReference`` integer that is valid only
while its task stays stopped.  :class:`Inspector` (one per task) hands them out for three
scopes per frame — Registers (R0..R15, PC, SP, PSW), Locals (``debug.locals``: the `.sym`
locals live at the frame's PC) and Globals (the variables of the `.sym`) — and forgets its
own when the task runs again (:meth:`Inspector.reset`).  The numbers come from one
:class:`VariableHandles` per session, so they are unique across the session's tasks and a
``variables`` request names its task by the reference alone; one task running leaves the
references of the others valid.  Every value is read from the daemon when asked; nothing
is cached across requests, so what the editor shows is what the task holds.

Frames are the daemon's frame indexes here; the session maps DAP frame ids to a task and
an index (dap/threads.py).  Memory references are ``0x``-hex data addresses, with
``@pid`` after them when the session has several tasks (each has its own data memory;
protocol.py ``memory_reference``).
"""

from __future__ import annotations

from typing import Any

from executive.api.client import RpcError
from executive.dap.protocol import DapError, Rpc, format_int, memory_reference

__all__ = ["REGISTERS", "Inspector", "VariableHandles"]

REGISTERS = [f"R{i}" for i in range(16)] + ["PC", "SP", "PSW"]
_MAX_GLOBALS = 500  # variables listed in the Globals scope


def _watch_width(size: int) -> int:
    return 4 if size >= 4 else 2 if size >= 2 else 1


async def _call(rpc: Rpc, method: str, **params: Any) -> Any:
    """A daemon call whose error becomes a :class:`DapError` with the daemon's message."""
    try:
        return await rpc.call(method, **params)
    except RpcError as exc:
        raise DapError(exc.message) from exc


class VariableHandles:
    """The ``variablesReference`` numbers of one session: unique across its tasks, each
    valid until its task runs again."""

    def __init__(self) -> None:
        self._last = 0  # numbers only grow: a stale reference never names something else
        self._refs: dict[int, tuple[int, str, int]] = {}  # reference -> (pid, scope, frame index)
        self._by_key: dict[tuple[int, str, int], int] = {}  # the same scope of the same frame: the same number

    def new(self, pid: int, scope: str, frame: int) -> int:
        """The reference of one scope of one frame of a stopped task."""
        key = (pid, scope, frame)
        ref = self._by_key.get(key)
        if ref is None:
            self._last += 1
            ref = self._by_key[key] = self._last
            self._refs[ref] = key
        return ref

    def get(self, ref: int) -> tuple[int, str, int]:
        """(pid, scope, frame index) of a reference.

        Raises:
            DapError: unknown, or void because its task ran since.
        """
        try:
            return self._refs[ref]
        except KeyError:
            raise DapError(f"variablesReference {ref} is not valid (the task ran since it was given)") from None

    def forget(self, pid: int) -> None:
        """The task ran: its references are void (other tasks' stay valid)."""
        for key in [k for k in self._by_key if k[0] == pid]:
            del self._refs[self._by_key.pop(key)]


class Inspector:
    """Variables of one task while it is stopped."""

    def __init__(self, rpc: Rpc, pid: int, handles: VariableHandles | None = None, *, tag_memory: bool = False) -> None:
        self.rpc = rpc
        self.pid = pid
        self.handles = handles or VariableHandles()
        self.tag_memory = tag_memory  # memory references carry @pid (a session of several tasks)

    def reset(self) -> None:
        """The task ran: every reference handed out for it so far is void."""
        self.handles.forget(self.pid)

    def _mem_ref(self, address: int) -> str:
        return memory_reference(address, self.pid if self.tag_memory else None)

    def _scope_of(self, ref: int) -> tuple[str, int]:
        pid, scope, frame = self.handles.get(ref)
        if pid != self.pid:
            raise DapError(f"variablesReference {ref} belongs to task {pid}, not to task {self.pid}")
        return scope, frame

    async def scopes(self, frame: int) -> list[dict[str, Any]]:
        """The Locals, Registers and Globals scopes of the daemon's frame ``frame``."""
        locs = await _call(self.rpc, "debug.locals", task=self.pid, frame=frame)
        handle = self.handles.new
        return [
            {"name": "Locals", "presentationHint": "locals", "variablesReference": handle(self.pid, "locals", frame),
             "namedVariables": len(locs["locals"]), "expensive": False},
            {"name": "Registers", "presentationHint": "registers",
             "variablesReference": handle(self.pid, "registers", frame), "namedVariables": len(REGISTERS),
             "expensive": False},
            {"name": "Globals", "variablesReference": handle(self.pid, "globals", frame), "expensive": False},
        ]  # fmt: skip

    async def variables(self, ref: int, *, hex_only: bool = False) -> list[dict[str, Any]]:
        scope, frame = self._scope_of(ref)
        if scope == "registers":
            return [
                {"name": name, "value": format_int(value, hex_only=hex_only), "type": "u32", "variablesReference": 0,
                 "evaluateName": name}
                for name, value in (await self._registers()).items()
            ]  # fmt: skip
        if scope == "locals":
            locs = await _call(self.rpc, "debug.locals", task=self.pid, frame=frame)
            return [self._local_variable(v, hex_only) for v in locs["locals"]]
        return await self._globals(hex_only)

    async def _registers(self) -> dict[str, int]:
        r = await _call(self.rpc, "vm.regs", task=self.pid)
        return dict(zip(REGISTERS, [*r["regs"], r["pc"], r["sp"], r["psw"]], strict=True))

    def _local_variable(self, v: dict[str, Any], hex_only: bool) -> dict[str, Any]:
        value = format_int(v["value"], hex_only=hex_only) if "value" in v else f"<unavailable: {v.get('error')}>"
        d: dict[str, Any] = {
            "name": v["name"],
            "value": value,
            "type": v.get("type") or "",
            "variablesReference": 0,
            "evaluateName": v["name"],
        }
        if v.get("address") is not None:
            d["memoryReference"] = self._mem_ref(v["address"])
        return d

    async def _globals(self, hex_only: bool) -> list[dict[str, Any]]:
        page = await _call(self.rpc, "debug.sym.list", task=self.pid, type="variables", limit=_MAX_GLOBALS)
        syms = [s for s in page["symbols"] if s["address"] < 0x10000]
        if not syms:
            return []
        lo = min(s["address"] for s in syms)
        hi = min(0x10000, max(s["address"] + min(s["size"] or 4, 4) for s in syms))
        mem = bytes.fromhex((await _call(self.rpc, "vm.mem_read", task=self.pid, addr=lo, length=hi - lo))["data"])
        out = []
        for s in syms:
            width = min(s["size"] or 4, 4)
            raw = mem[s["address"] - lo : s["address"] - lo + width]
            out.append({
                "name": s["name"], "value": format_int(int.from_bytes(raw, "little"), hex_only=hex_only),
                "type": f"{s['size']} bytes" if s["size"] else "", "variablesReference": 0, "evaluateName": s["name"],
                "memoryReference": self._mem_ref(s["address"]),
            })  # fmt: skip
        return out

    async def _value_of(self, text: str, frame: int) -> int:
        r = await _call(self.rpc, "debug.eval", task=self.pid, expr=text, frame=frame)
        return int(r["value"])

    async def set_variable(self, ref: int, name: str, text: str) -> dict[str, Any]:
        """Write a register, a memory-backed local or a global; returns the DAP body."""
        scope, frame = self._scope_of(ref)
        value = await self._value_of(text, frame)
        if scope == "registers":
            if name not in REGISTERS or name == "PSW":
                raise DapError(f"{name} cannot be written; registers R0..R15, PC and SP can")
            await _call(self.rpc, "vm.set_reg", task=self.pid, name=name, value=value & 0xFFFFFFFF)
            return {"value": format_int((await self._registers())[name])}
        if scope == "locals":
            locs = (await _call(self.rpc, "debug.locals", task=self.pid, frame=frame))["locals"]
            v = next((x for x in locs if x["name"] == name), None)
            if v is None:
                raise DapError(f"no local {name!r} is live here")
            if v.get("register") is not None and frame == 0:
                await _call(self.rpc, "vm.set_reg", task=self.pid, name=v["register"], value=value & 0xFFFFFFFF)
                return {"value": format_int(value)}
            if v.get("address") is None:
                raise DapError(f"{name} is {v.get('location')}: it has no memory to write here")
            address, width = v["address"], min(v.get("size") or 4, 4)
        else:
            sym = (await _call(self.rpc, "debug.sym.lookup", task=self.pid, name=name))["symbol"]
            if sym is None or sym["space"] != "data":
                raise DapError(f"{name} is not a variable of this program")
            address, width = sym["address"], min(sym["size"] or 4, 4)
        data = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
        await _call(self.rpc, "vm.mem_write", task=self.pid, addr=address, data=data.hex())
        return {"value": format_int(int.from_bytes(data, "little")), "memoryReference": self._mem_ref(address)}

    async def evaluate(self, expr: str, frame: int, *, hex_only: bool = False) -> dict[str, Any]:
        """An expression in the daemon's frame ``frame``; returns the DAP ``evaluate`` body."""
        r = await _call(self.rpc, "debug.eval", task=self.pid, expr=expr, frame=frame)
        body: dict[str, Any] = {"result": format_int(r["value"], hex_only=hex_only), "type": r["kind"],
                                "variablesReference": 0}  # fmt: skip
        if r.get("address") is not None:
            body["memoryReference"] = self._mem_ref(r["address"])
        return body

    async def data_breakpoint_info(self, ref: int | None, name: str, frame: int) -> dict[str, Any]:
        """Whether ``name`` (in a scope, or as an expression in frame ``frame``) can be watched,
        and its dataId: ``0xADDR/WIDTH``, with ``@pid`` when memory references carry it."""
        unwatchable = {"dataId": None, "description": f"{name} is not in data memory; only memory can be watched"}
        if ref:
            scope, frame = self._scope_of(ref)
            if scope == "registers":
                return unwatchable | {"description": "registers cannot be watched; only data memory can"}
            if scope == "locals":
                locs = (await _call(self.rpc, "debug.locals", task=self.pid, frame=frame))["locals"]
                v = next((x for x in locs if x["name"] == name), None)
                if v is None or v.get("address") is None:
                    return unwatchable
                address, width = v["address"], _watch_width(v.get("size") or 4)
            else:
                sym = (await _call(self.rpc, "debug.sym.lookup", task=self.pid, name=name))["symbol"]
                if sym is None or sym["space"] != "data":
                    return unwatchable
                address, width = sym["address"], _watch_width(sym["size"] or 4)
        else:
            try:
                r = await _call(self.rpc, "debug.eval", task=self.pid, expr=name, frame=frame)
            except DapError as exc:
                return {"dataId": None, "description": exc.message}
            if r.get("address") is None or r["kind"] == "code":
                return unwatchable
            address, width = r["address"], _watch_width(r.get("size", 4))
        return {
            "dataId": f"0x{address:X}/{width}" + (f"@{self.pid}" if self.tag_memory else ""),
            "description": f"{name} (0x{address:04X}, {width} bytes)",
            "accessTypes": ["write"],
            "canPersist": False,
        }
