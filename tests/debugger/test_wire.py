"""The debugger over JSON-RPC: a whole session through debug.* and trace.*, errors and locks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from executive.api.client import Client, RpcError
from executive.kernel.errors import ErrorCode

from .conftest import COUNTER, RECURSE


async def next_of(client: Client, type_: str, timeout: float = 10.0) -> dict[str, Any]:
    while True:
        ev = await client.next_event(timeout=timeout)
        if ev["type"] == type_:
            return ev


async def test_debug_session_over_the_wire(daemon: Any, client: Client, program: Callable[..., Path]) -> None:
    await client.call("session.open", client="test-dbg")
    img = await client.call("vm.load", path=str(program(RECURSE, "rec")), paused=True, lock=True)
    pid = img["pid"]
    assert img["symbols"]["loaded"]
    await client.call("events.subscribe", types=["debug_break", "watch_update", "trace_step"], tasks=[pid])
    assert (await client.call("debug.bp.add", task=pid, where="rec_base"))["breakpoints"] == [0x4C]
    sp = (await client.call("vm.regs", task=pid))["sp"]
    w = await client.call("debug.watch.add", task=pid, expr=hex(sp - 8))
    await client.call("vm.resume", task=pid)

    upd = await next_of(client, "watch_update")
    assert upd["data"]["watch_id"] == w["id"] and upd["data"]["pc"] == 0x0C
    brk = await next_of(client, "debug_break")
    assert brk["data"] == {"pc": 0x4C, "phase": "pre", "reason": "breakpoint", "symbol": "rec_base",
                           "changed_regs": brk["data"]["changed_regs"]}  # fmt: skip
    assert brk["data"]["changed_regs"] == ["R7", "R15", "PSW"]  # at rec(0): R0..R2 are 0, as at load

    stack = await client.call("debug.stack", task=pid)
    assert [f["func_name"] for f in stack["frames"]] == ["rec"] * 5 + ["main"]
    dis = await client.call("debug.disasm", task=pid, count=2)
    assert dis["instructions"][0]["is_pc"] and dis["instructions"][0]["label"] == "rec_base"
    state = await client.call("debug.state", task=pid)
    assert state["symbol"] == "rec_base" and state["breakpoints"] == [0x4C] and state["changed_regs"] == []

    await client.call("trace.set", task=pid, enabled=True)
    step = await client.call("debug.step", task=pid)
    assert step["pc"] == 0x50 and step["changed_regs"] == []  # LDI R0, 0 with R0 already 0
    tr = await next_of(client, "trace_step")
    assert tr["data"]["pc"] == 0x4C and tr["data"]["next_pc"] == 0x50
    nxt = await client.call("debug.next", task=pid)
    assert nxt["over"] is False and nxt["pc"] == 0x54

    exported = await client.call("trace.export", task=pid)
    other = await client.call("vm.load", path=str(program(COUNTER, "c")), paused=True)
    imported = await client.call("trace.import", task=other["pid"], records=exported["records"])
    assert imported["count"] == exported["count"] == 2
    assert (await client.call("trace.records", task=other["pid"]))["records"] == exported["records"]

    page = await client.call("debug.sym.list", task=pid, type="functions")
    assert [s["name"] for s in page["symbols"]] == ["main", "rec"]
    assert (await client.call("debug.sym.lookup", task=pid, name="rec"))["symbol"]["address"] == 0x18
    assert (await client.call("debug.sym.at", task=pid, address="0x40"))["symbol"]["function"] == "rec"

    await client.call("debug.bp.clear", task=pid)
    await client.call("trace.set", task=pid, enabled=False)
    await client.call("vm.resume", task=pid)
    done = await client.call("task.wait", task=pid, timeout=10)
    assert done["exit_code"] == 10


async def test_locks_and_bad_inputs_over_the_wire(daemon: Any, client: Client, program: Callable[..., Path]) -> None:
    await client.call("session.open", client="owner")
    pid = (await client.call("vm.load", path=str(program(COUNTER, "c")), paused=True, lock=True))["pid"]
    other = await daemon.client()
    try:
        await other.call("session.open", client="intruder")
        for method, params in (
            ("debug.bp.add", {"where": 0x14}),
            ("debug.watch.add", {"expr": "greeting"}),
            ("debug.step", {}),
            ("trace.set", {"enabled": True}),
            ("debug.attach", {}),
        ):
            with pytest.raises(RpcError) as exc:
                await other.call(method, task=pid, **params)
            assert exc.value.code == ErrorCode.TASK_LOCKED, method
        assert (await other.call("debug.bp.list", task=pid))["breakpoints"] == []  # reading is allowed
    finally:
        await other.close()

    with pytest.raises(RpcError) as exc:
        await client.call("debug.bp.add", task=999, where=0)
    assert exc.value.code == ErrorCode.TASK_NOT_FOUND
    with pytest.raises(RpcError) as exc:
        await client.call("debug.bp.add", task=pid, where="0x6")
    assert exc.value.code == ErrorCode.INVALID_PARAMS and "multiple of 4" in exc.value.message
    with pytest.raises(RpcError) as exc:
        await client.call("debug.watch.add", task=pid, expr="greeting", length=3)
    assert exc.value.code == ErrorCode.INVALID_PARAMS
    with pytest.raises(RpcError) as exc:
        await client.call("trace.config", buffer_size=10**12)
    assert exc.value.code == ErrorCode.LIMIT_EXCEEDED
    with pytest.raises(RpcError) as exc:
        await client.call("debug.sym.load", task=pid, document={"symbols": {"functions": "nope"}})
    assert exc.value.code == ErrorCode.SYMBOLS_INVALID
    with pytest.raises(RpcError) as exc:
        await client.call("trace.import", task=pid, records=[{"seq": 1, "pc": 0}])
    assert exc.value.code == ErrorCode.INVALID_PARAMS and "'opcode'" in exc.value.message
    st = await client.call("debug.attach", task=pid)  # fine for the owner: it holds the lock already
    assert st["locked_by"] and st["state"] == "paused"


async def test_mailbox_send_with_bad_base64_is_a_clear_error(daemon: Any, client: Client) -> None:
    with pytest.raises(RpcError) as info:
        await client.call("mailbox.send", target="app:b64", data_b64="abc")  # bad padding
    assert info.value.code == -32602 and "base64" in info.value.message
    ok = await client.call("mailbox.send", target="app:b64", data_b64="aGk=")
    assert ok["length"] == 2
