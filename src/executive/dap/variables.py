"""The data half of a stopped task for DAP: scopes, variables, setVariable, evaluate,
data-breakpoint info.

Theory of operation
-------------------
DAP names every expandable thing by a ``variablesReference`` integer that is valid only
while the task stays stopped.  :class:`Inspector` hands them out for three scopes per
frame — Registers (R0..R15, PC, SP, PSW), Locals (``debug.locals``: the `.sym` locals live
at the frame's PC) and Globals (the variables of the `.sym`) — and forgets them all when
the task runs again (:meth:`Inspector.reset`).  Every value is read from the daemon when
asked; nothing is cached across requests, so what the editor shows is what the task holds.

DAP frame ids are the daemon's frame indexes plus one (0 would read as "no frame").
"""

from __future__ import annotations

from typing import Any

from executive.api.client import RpcError
from executive.dap.protocol import DapError, Rpc, format_int

__all__ = ["REGISTERS", "Inspector", "frame_index"]

REGISTERS = [f"R{i}" for i in range(16)] + ["PC", "SP", "PSW"]
_MAX_GLOBALS = 500  # variables listed in the Globals scope


def frame_index(frame_id: int | None) -> int:
    """The daemon's frame index of a DAP frame id (None or 0: the innermost frame)."""
    return max(0, (frame_id or 1) - 1)


def _watch_width(size: int) -> int:
    return 4 if size >= 4 else 2 if size >= 2 else 1


async def _call(rpc: Rpc, method: str, **params: Any) -> Any:
    """A daemon call whose error becomes a :class:`DapError` with the daemon's message."""
    try:
        return await rpc.call(method, **params)
    except RpcError as exc:
        raise DapError(exc.message) from exc


class Inspector:
    """Variables of one task while it is stopped."""

    def __init__(self, rpc: Rpc, pid: int) -> None:
        self.rpc = rpc
        self.pid = pid
        self._handles: dict[int, tuple[str, int]] = {}  # variablesReference -> (scope, frame index)

    def reset(self) -> None:
        """The task ran: every reference handed out so far is void."""
        self._handles.clear()

    def _handle(self, scope: str, frame: int) -> int:
        ref = len(self._handles) + 1
        self._handles[ref] = (scope, frame)
        return ref

    def _scope_of(self, ref: int) -> tuple[str, int]:
        try:
            return self._handles[ref]
        except KeyError:
            raise DapError(f"variablesReference {ref} is not valid (the task ran since it was given)") from None

    async def scopes(self, frame_id: int | None) -> list[dict[str, Any]]:
        frame = frame_index(frame_id)
        locs = await _call(self.rpc, "debug.locals", task=self.pid, frame=frame)
        return [
            {"name": "Locals", "presentationHint": "locals", "variablesReference": self._handle("locals", frame),
             "namedVariables": len(locs["locals"]), "expensive": False},
            {"name": "Registers", "presentationHint": "registers",
             "variablesReference": self._handle("registers", frame), "namedVariables": len(REGISTERS),
             "expensive": False},
            {"name": "Globals", "variablesReference": self._handle("globals", frame), "expensive": False},
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

    @staticmethod
    def _local_variable(v: dict[str, Any], hex_only: bool) -> dict[str, Any]:
        value = format_int(v["value"], hex_only=hex_only) if "value" in v else f"<unavailable: {v.get('error')}>"
        d: dict[str, Any] = {
            "name": v["name"],
            "value": value,
            "type": v.get("type") or "",
            "variablesReference": 0,
            "evaluateName": v["name"],
        }
        if v.get("address") is not None:
            d["memoryReference"] = f"0x{v['address']:X}"
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
                "memoryReference": f"0x{s['address']:X}",
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
        return {"value": format_int(int.from_bytes(data, "little")), "memoryReference": f"0x{address:X}"}

    async def evaluate(self, expr: str, frame_id: int | None, *, hex_only: bool = False) -> dict[str, Any]:
        r = await _call(self.rpc, "debug.eval", task=self.pid, expr=expr, frame=frame_index(frame_id))
        body: dict[str, Any] = {"result": format_int(r["value"], hex_only=hex_only), "type": r["kind"],
                                "variablesReference": 0}  # fmt: skip
        if r.get("address") is not None:
            body["memoryReference"] = f"0x{r['address']:X}"
        return body

    async def data_breakpoint_info(self, ref: int | None, name: str, frame_id: int | None) -> dict[str, Any]:
        """Whether ``name`` (in a scope, or as an expression) can be watched, and its dataId."""
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
                r = await _call(self.rpc, "debug.eval", task=self.pid, expr=name, frame=frame_index(frame_id))
            except DapError as exc:
                return {"dataId": None, "description": exc.message}
            if r.get("address") is None or r["kind"] == "code":
                return unwatchable
            address, width = r["address"], _watch_width(r.get("size", 4))
        return {
            "dataId": f"0x{address:X}/{width}",
            "description": f"{name} (0x{address:04X}, {width} bytes)",
            "accessTypes": ["write"],
            "canPersist": False,
        }
