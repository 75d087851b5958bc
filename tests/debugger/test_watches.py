"""Watches: fire exactly when the value changes, at the instruction that changed it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from executive.kernel.errors import ErrorCode, ExecutiveError, LimitError, LockedError
from executive.kernel.limits import DEFAULT_LIMITS
from executive.service import Executive

from .conftest import COUNTER, STORES, events_of

# STORES: ST 7 at 0x0C, ST 7 again at 0x10, LDI 9, ST 9 at 0x18; *ptr target written by STB at 0x2C.


async def test_watch_fires_exactly_when_the_value_changes(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(STORES, "stores")), paused=True)["pid"]
    sub = ex.subscribe(types=["watch_update"], tasks=[pid])
    w = ex.debug.watch_add(pid, "counter")
    assert w["address"] == 0x4000 and w["type"] == "symbol" and w["symbol"] == "counter" and w["value"] == "00000000"
    ptr = ex.debug.watch_add(pid, "*ptr", length=2)
    assert ptr["address"] == 0x4010 and ptr["type"] == "pointer" and ptr["symbol"] == "target"
    assert ptr["location"] == "*ptr -> 0x4010"
    byte = ex.debug.watch_add(pid, "0x4001", length=1)
    assert byte["type"] == "address"
    ex.vm.resume(pid)
    done = await ex.task_wait(pid, timeout=10)
    assert done["exit_code"] == 9

    updates = events_of(sub, "watch_update")
    got = [(e.data["watch_id"], e.data["old"], e.data["new"], e.data["pc"]) for e in updates]
    assert got == [
        (w["id"], "00000000", "07000000", 0x0C),  # the first store; the second stores 7 again: nothing
        (w["id"], "07000000", "09000000", 0x18),
        (ptr["id"], "0000", "0003", 0x2C),  # STB [R5+1], 3 through the pointer
    ]
    first = updates[0].data
    assert (
        first["expr"] == "counter"
        and first["address"] == 0x4000
        and first["length"] == 4
        and first["symbol"] == "counter"
    )
    assert first["source"] == "store" and first["steps"] == 3  # LDI32, LDI, then the ST: the 3rd instruction retired


async def test_watch_updates_while_stepping_and_on_host_writes(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(STORES, "stores")), paused=True)["pid"]
    sub = ex.subscribe(types=["watch_update"], tasks=[pid])
    w = ex.debug.watch_add(pid, "counter+0", length=4)
    ex.debug.step(pid, 3)
    assert [e.data["new"] for e in events_of(sub, "watch_update")] == ["07000000"]
    ex.debug.step(pid, 1)  # stores 7 again
    assert events_of(sub, "watch_update") == []
    ex.vm.mem_write(pid, 0x4000, "2a000000")  # a host write: no store hook, seen on the next look
    listed = ex.debug.watch_list(pid)
    assert listed["count"] == 1 and listed["watches"][0]["value"] == "2a000000"
    [ev] = events_of(sub, "watch_update")
    assert ev.data["source"] == "sample" and ev.data["old"] == "07000000" and ev.data["new"] == "2a000000"
    removed = ex.debug.watch_remove(pid, w["id"])
    assert removed["id"] == w["id"] and ex.debug.watch_list(pid)["watches"] == []
    with pytest.raises(ExecutiveError, match=f"no watch {w['id']}"):
        ex.debug.watch_remove(pid, w["id"])


async def test_watch_on_a_call_reports_the_call(ex: Executive, program: Callable[..., Path]) -> None:
    from .conftest import RECURSE

    pid = ex.vm.load(path=str(program(RECURSE, "rec")), paused=True)["pid"]
    sub = ex.subscribe(types=["watch_update"], tasks=[pid])
    sp = ex.vm.regs(pid)["sp"]
    ex.debug.watch_add(pid, sp - 8)  # main pushes R7 at sp-4, then CALL rec writes its return address at sp-8
    ex.vm.resume(pid)
    await ex.task_wait(pid, timeout=10)
    first = events_of(sub, "watch_update")[0].data
    assert first["pc"] == 0x0C and first["new"] == "10000000"  # CALL rec at 0x0C wrote return PC 0x10


@pytest.mark.parametrize(
    ("expr", "kw", "needle"),
    [
        ("main", {}, "code space"),
        ("nosuch", {}, "no symbol named"),
        ("counter", {"length": 3}, "1, 2 or 4"),
        (0xFFFE, {}, "does not fit"),
        ("counter", {"type": "address"}, "needs a number"),
        (0x4000, {"type": "symbol"}, "needs a variable name"),
        ("counter", {"type": "register"}, "unknown watch type"),
        ("*0xFFFE", {}, "cannot be read"),
    ],
)
async def test_bad_watches(ex: Executive, program: Callable[..., Path], expr: object, kw: dict, needle: str) -> None:
    pid = ex.vm.load(path=str(program(STORES, "stores")), paused=True)["pid"]
    with pytest.raises(ExecutiveError) as exc:
        ex.debug.watch_add(pid, expr, **kw)  # type: ignore[arg-type]
    assert exc.value.code == ErrorCode.INVALID_PARAMS and needle in exc.value.message


async def test_watch_limit_and_lock(tmp_path: Path, program: Callable[..., Path]) -> None:
    ex = await Executive.open(tmp_path / "capped", limits=dataclasses.replace(DEFAULT_LIMITS, max_watches=2))
    try:
        owner = ex.session_open(client="a")["id"]
        other = ex.session_open(client="b")["id"]
        pid = ex.vm.load(path=str(program(COUNTER)), paused=True, session_id=owner, lock=True)["pid"]
        with pytest.raises(LockedError):
            ex.debug.watch_add(pid, 0x4000, session_id=other)
        ex.debug.watch_add(pid, 0x4000, session_id=owner)
        ex.debug.watch_add(pid, "greeting", session_id=owner)
        with pytest.raises(LimitError, match="max_watches = 2"):
            ex.debug.watch_add(pid, 0x4004, session_id=owner)
        assert ex.debug.watch_list(pid)["count"] == 2
    finally:
        await ex.aclose()


async def test_watches_leave_the_fast_path_when_removed(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(COUNTER)), paused=True)["pid"]
    cpu = ex.vm.task(pid).cpu
    w = ex.debug.watch_add(pid, 0x4000)
    assert cpu._watch is not None
    ex.debug.watch_remove(pid, w["id"])
    assert cpu._watch is None and cpu._trace is None and not cpu.breakpoints
