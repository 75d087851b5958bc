"""Disassembly from the code space: annotations, address 0, data reports, clamping, the cache."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from executive.kernel.errors import ExecutiveError
from executive.kernel.limits import DEFAULT_LIMITS
from executive.service import Executive

from .conftest import COUNTER, RECURSE


async def test_disassembles_code_not_data(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(COUNTER, "counter")), paused=True)["pid"]
    d = ex.debug.disasm(pid, 0, 3)  # address 0 is an address, not "use the PC"
    assert d["address"] == 0 and d["space"] == "code" and d["count"] == 3
    texts = [i["text"] for i in d["instructions"]]
    assert texts == ["LDI32 R1, 0x00004000", "LDI R3, 0", "LDI R4, 1"]
    first = d["instructions"][0]
    assert first["size"] == 8 and first["label"] == "main" and first["function"] == "main" and first["is_pc"]
    assert first["file"] == "counter.mvasm" and isinstance(first["line"], int)
    assert d["bytes_read"] == 16 and d["data"] == ex.vm.task(pid).cpu.code[:16].hex()


async def test_annotations_targets_and_marks(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(RECURSE, "rec")), paused=True)["pid"]
    ex.debug.bp_add(pid, "rec_base")
    d = ex.debug.disasm(pid, "rec+0x18", 4)  # JZ rec_base, ...
    jz = d["instructions"][0]
    assert jz["mnemonic"] == "JZ" and jz["target"] == 0x4C and jz["target_symbol"] == "rec_base"
    assert jz["symbol"] == "rec" and jz["symbol_offset"] == 0x18 and "label" not in jz
    call = ex.debug.disasm(pid, 0x0C, 1)["instructions"][0]
    assert call["mnemonic"] == "CALL" and call["target_symbol"] == "rec"
    base = ex.debug.disasm(pid, "rec_base", 1)["instructions"][0]
    assert base["breakpoint"] is True and base["label"] == "rec_base"


async def test_default_is_the_pc_and_before_lists_around_it(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(COUNTER, "counter")), paused=True)["pid"]
    ex.debug.step(pid, 3)  # pc 0x10 (after the 8-byte LDI32 and two LDIs)
    d = ex.debug.disasm(pid, count=4, before=3)
    assert [i["pc"] for i in d["instructions"]] == [0x0, 0x8, 0xC, 0x10]  # backs up over the LDI32 literal
    assert [i["is_pc"] for i in d["instructions"]] == [False, False, False, True]
    assert ex.debug.disasm(pid, 4, 1)["address"] == 0  # the literal word: listed from its LDI32


async def test_data_is_reported_as_data(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(COUNTER, "counter")), paused=True)["pid"]
    d = ex.debug.disasm(pid, "greeting")
    assert d["is_data"] and d["instructions"] == [] and d["region"] == "rodata" and d["variable"] == "greeting"
    assert "0x4000 is data (rodata, variable greeting)" in d["message"] and "vm.mem_read" in d["message"]
    d = ex.debug.disasm(pid, 0x4002)
    assert d["is_data"] and d["variable"] == "greeting+0x2"
    d = ex.debug.disasm(pid, 0x28)  # just past the code
    assert d["is_data"] and d["region"] is None and "not code" in d["message"]


async def test_end_of_code_truncates(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(COUNTER, "counter")), paused=True)["pid"]
    d = ex.debug.disasm(pid, 0x20, 8)
    assert d["count"] == 2 and d["truncated"] and d["instructions"][-1]["mnemonic"] == "RET"


async def test_bad_disassembly_requests(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(COUNTER, "counter")), paused=True)["pid"]
    for args, needle in (((2,), "multiple of 4"), ((0, 0), "count must be >= 1"), (("nosuch",), "no symbol named")):
        with pytest.raises(ExecutiveError, match=needle):
            ex.debug.disasm(pid, *args)
    with pytest.raises(ExecutiveError, match="mode must be"):
        ex.debug.disasm(pid, 0, mode="sometimes")


async def test_count_is_clamped_and_results_cached(tmp_path: Path, program: Callable[..., Path]) -> None:
    ex = await Executive.open(tmp_path / "h", limits=dataclasses.replace(DEFAULT_LIMITS, max_disasm=4))
    try:
        pid = ex.vm.load(path=str(program(COUNTER, "counter")), paused=True)["pid"]
        d = ex.debug.disasm(pid, 0, 100)
        assert d["clamped"] and d["count"] == 4 and d["cached"] is False
        again = ex.debug.disasm(pid, 0, 100)
        assert again["cached"] is True and again["instructions"] == d["instructions"]
        assert ex.debug.disasm(pid, 0, 100, mode="on-demand")["cached"] is False
        stats = ex.debug.disassembler.statistics()
        assert stats["hits"] >= 1 and stats["entries"] <= stats["capacity"]
        ex.debug.sym_load(pid)  # new symbols: the task's listings are dropped
        assert ex.debug.disasm(pid, 0, 100)["cached"] is False
    finally:
        await ex.aclose()
