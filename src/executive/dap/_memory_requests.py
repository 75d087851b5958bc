"""Memory and code requests of a DAP session: disassemble, readMemory, writeMemory.

A mixin of :class:`~executive.dap.session.DapSession`.  Memory references are
``0x``-hex data or code addresses; the disassembly pads with ``invalid`` entries where
there is no code so the editor always gets the count it asked for.
"""

from __future__ import annotations

import base64
from typing import Any

from executive.dap._core import SessionCore
from executive.dap.protocol import DapError

__all__ = ["MemoryRequests"]


class MemoryRequests(SessionCore):
    """``disassemble``, ``readMemory``, ``writeMemory``."""

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


def _address(ref: Any) -> int:
    try:
        return int(str(ref), 0)
    except ValueError:
        raise DapError(f"memoryReference {ref!r} is not an address") from None


def _invalid(address: int) -> dict[str, Any]:
    return {"address": f"0x{max(address, 0):X}", "instruction": "??", "presentationHint": "invalid"}
