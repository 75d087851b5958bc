"""Trace rings: records and trace_step events per instruction, export → import round trip, validation."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest

from executive.kernel.errors import ExecutiveError, LimitError
from executive.service import Executive

from .conftest import COUNTER, STORES, events_of


async def test_trace_records_and_events_per_instruction(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(STORES, "stores")), paused=True)["pid"]
    sub = ex.subscribe(types=["trace_step"], tasks=[pid])
    assert ex.debug.trace_set(pid, True) == {"pid": pid, "enabled": True, "buffer_size": 256}
    ex.vm.resume(pid)
    done = await ex.task_wait(pid, timeout=10)
    view = ex.debug.trace_records(pid)
    recs = view["records"]
    assert view["format"] == "hsx.trace/1" and view["enabled"] is True
    # every retired instruction; the final RET at depth 0 ends the program without retiring
    assert len(recs) == view["count"] == ex.vm.task(pid).cpu.steps == 11
    assert [r["seq"] for r in recs] == list(range(recs[0]["seq"], recs[0]["seq"] + 11))
    first, store = recs[0], recs[2]
    assert first["pc"] == 0 and first["next_pc"] == 8 and first["opcode"] >> 24 == 0x60 and first["steps"] == 1
    assert first["changed_regs"] == [f"R{i}" for i in range(16)] + ["PSW"]  # the first record lists everything
    assert recs[1]["changed_regs"] == ["R2"] and len(recs[1]["regs"]) == 16
    assert store["mem_access"] == {"op": "write", "address": 0x4000, "width": 4, "value": 7}
    assert recs[7]["mem_access"]["op"] == "read"
    events = events_of(sub, "trace_step")
    assert [e.data["seq"] for e in events] == [r["seq"] for r in recs]
    assert done["exit_code"] == 9


async def test_export_import_round_trip(ex: Executive, program: Callable[..., Path]) -> None:
    a = ex.vm.load(path=str(program(COUNTER, "a")), paused=True)["pid"]
    ex.debug.trace_set(a)  # toggle: on
    ex.debug.step(a, 10)
    exported = ex.debug.trace_export(a)
    assert exported["returned"] == 10 and exported["enabled"] is True  # the shell prints it (issue 13)
    b = ex.vm.load(path=str(program(COUNTER, "b")), paused=True)["pid"]
    # over the wire integers may be 0x strings; the import normalises them
    wire = copy.deepcopy(exported["records"])
    wire[0]["pc"] = hex(wire[0]["pc"])
    wire[0]["source"] = "kept verbatim"
    out = ex.debug.trace_import(b, wire)
    assert out["count"] == 10 and out["imported"] == 10 and out["enabled"] is False
    back = ex.debug.trace_export(b)["records"]
    assert back[0]["source"] == "kept verbatim"
    del back[0]["source"]
    assert back == exported["records"]
    # append keeps the newest capacity records; the seq counter moves past the imported ones
    ex.debug.trace_config(b, buffer_size=15)
    ex.debug.trace_import(b, exported["records"], replace=False)
    assert ex.debug.trace_records(b)["count"] == 15
    ex.debug.trace_set(a, False)
    ex.debug.trace_set(a, True)
    ex.debug.step(a, 1)
    assert ex.debug.trace_records(a, limit=1)["records"][0]["seq"] > exported["records"][-1]["seq"]


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r.pop("pc"), "trace record 1 is missing required field 'pc'"),
        (lambda r: r.update(opcode=True), "opcode must be an integer, not a boolean"),
        (lambda r: r.update(steps="lots"), "steps must be an integer"),
        (lambda r: r.update(regs="R0"), "regs must be a list"),
        (lambda r: r.update(changed_regs=["R99"]), "unknown registers"),
        (lambda r: r.update(mem_access={"op": "poke"}), "op 'read' or 'write'"),
        (lambda r: r.update(seq=-1), "seq must be"),
    ],
)
async def test_import_validation(
    ex: Executive, program: Callable[..., Path], mutate: Callable[[dict], object], needle: str
) -> None:
    pid = ex.vm.load(path=str(program(COUNTER)), paused=True)["pid"]
    ex.debug.trace_set(pid, True)
    ex.debug.step(pid, 3)
    recs = ex.debug.trace_export(pid)["records"]
    mutate(recs[1])
    with pytest.raises(ExecutiveError) as exc:
        ex.debug.trace_import(pid, recs)
    assert needle in exc.value.message
    assert ex.debug.trace_records(pid)["count"] == 3  # nothing was replaced


async def test_buffer_size_zero_disables_and_limits(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(COUNTER)), paused=True)["pid"]
    sub = ex.subscribe(types=["trace_step"], tasks=[pid])
    ex.debug.trace_set(pid, True)
    ex.debug.step(pid, 4)
    assert ex.debug.trace_config(pid, buffer_size=2)["buffer_size"] == 2
    assert [r["steps"] for r in ex.debug.trace_records(pid)["records"]] == [3, 4]  # the newest kept
    ex.debug.trace_config(pid, buffer_size=0)
    ex.debug.step(pid, 2)
    assert ex.debug.trace_records(pid)["count"] == 0
    assert len(events_of(sub, "trace_step")) == 6  # events flow with recording disabled
    with pytest.raises(LimitError, match="max_trace_buffer"):
        ex.debug.trace_config(buffer_size=10**9)
    assert ex.debug.trace_config(buffer_size=64)["buffer_size"] == 64  # every task, and new ones
    assert ex.debug.trace_records(pid)["capacity"] == 64


async def test_changed_regs_can_be_switched_off(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(COUNTER)), paused=True)["pid"]
    assert ex.debug.trace_config(changed_regs=False)["changed_regs"] is False
    ex.debug.trace_set(pid, True)
    r = ex.debug.step(pid, 2)
    assert "changed_regs" not in r
    assert all("changed_regs" not in rec for rec in ex.debug.trace_records(pid)["records"])
    ex.debug.trace_config(changed_regs=True)
    r = ex.debug.step(pid, 1)
    # Only what changed since the previous stop, not all 17 (the baseline kept moving while off).
    assert r["changed_regs"] == ["R4"]  # LDI R4, 1
    assert ex.debug.trace_records(pid, limit=1)["records"][0]["changed_regs"] == ["R4"]
    r = ex.debug.step(pid, 1)
    assert r["changed_regs"] == ["R5"]  # LDI R5, 5
