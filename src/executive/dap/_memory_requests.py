"""Memory and code requests of a DAP session: disassemble, readMemory, writeMemory.

A mixin of :class:`~executive.dap.session.DapSession`.  Memory references are
``0x``-hex data or code addresses; the disassembly pads with ``invalid`` entries where
there is no code so the editor always gets the count it asked for.

Every task has its own code and data memory, and these requests name no thread.  A data
reference the adapter handed out in a session of several tasks says whose memory it is
(``0x4000@3``, protocol.py); a plain address means the thread the editor named last.
Code references stay plain addresses (editors read them as numbers): ``disassemble``
shows the code of the thread one of whose frames is at that address — the editor opens
the disassembly at a frame's ``instructionPointerReference`` — and otherwise the code of
the thread the editor named last.
"""

from __future__ import annotations

import base64
from typing import Any

from executive.dap._core import SessionCore
from executive.dap.protocol import DapError, parse_memory_reference
from executive.dap.threads import TaskThread

__all__ = ["MemoryRequests"]


class MemoryRequests(SessionCore):
    """``disassemble``, ``readMemory``, ``writeMemory``."""

    def _code_thread(self, address: int) -> TaskThread:
        """Whose code ``address`` is: the thread with a frame there (the focus if several do)."""
        focus = self._require_task()
        at = [t for t in self.threads.live() if address in t.frame_pcs]
        if len(at) == 1 and focus not in at:
            self.threads.focus = at[0].pid
            return at[0]
        return focus

    def _data_thread(self, ref: Any) -> tuple[TaskThread, int]:
        """The task and data address of a memory reference (a plain address: the focus)."""
        address, task = parse_memory_reference(ref)
        return (self.threads.get(task) if task is not None else self._require_task()), address

    async def _disassemble(self, args: dict[str, Any]) -> dict[str, Any]:
        address, _ = parse_memory_reference(args.get("memoryReference"))
        thread = self._code_thread(address)
        pid = thread.pid
        base = address + int(args.get("offset") or 0)
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
            source = thread.sources.source(ins.get("file"))
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
        thread, address = self._data_thread(args.get("memoryReference"))
        pid = thread.pid
        address += int(args.get("offset") or 0)
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
        thread, address = self._data_thread(args.get("memoryReference"))
        pid = thread.pid
        address += int(args.get("offset") or 0)
        try:
            data = base64.b64decode(str(args.get("data", "")), validate=True)
        except ValueError:
            raise DapError("writeMemory data is not valid base64") from None
        if not data:
            return {"bytesWritten": 0}
        await self._call("vm.mem_write", task=pid, addr=address, data=data.hex())
        return {"bytesWritten": len(data)}


def _invalid(address: int) -> dict[str, Any]:
    return {"address": f"0x{max(address, 0):X}", "instruction": "??", "presentationHint": "invalid"}
