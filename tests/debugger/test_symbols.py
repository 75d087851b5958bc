"""Symbols: auto-load beside the image, look-ups by address/name/line, pagination, bad files."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from executive.debugger.symbols import SymbolFileError, SymbolIndex, parse_sym
from executive.hsx.asm import assemble_text
from executive.kernel.errors import ErrorCode, ExecutiveError
from executive.kernel.limits import DEFAULT_LIMITS, Limits
from executive.service import Executive

from .conftest import COUNTER, RECURSE


@pytest.fixture
def limits() -> Limits:
    return dataclasses.replace(DEFAULT_LIMITS, vm_quantum=1000, max_sym_bytes=64 * 1024, max_symbols_page=3)


async def test_lookup_by_address_name_and_line(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(RECURSE, "rec")), paused=True)["pid"]
    info = ex.debug.sym_info(pid)
    assert info["loaded"] and info["path"].endswith("rec.sym")
    assert (
        info["counts"]["function"] == 2 and info["counts"]["label"] == 4
    )  # main, rec, rec_base, rec_out (+ fn labels)
    assert "labels" not in [s["name"] for s in ex.debug.sym_list(pid, limit=3)["symbols"]]  # spec §13 #17

    # by address: nearest code symbol (a label is closer than the function), and the function
    hit = ex.debug.sym_at(pid, 0x20)["symbol"]
    assert hit["name"] == "rec" and hit["offset"] == 8 and hit["function"] == "rec"
    hit = ex.debug.sym_at(pid, 0x50)["symbol"]
    assert hit["name"] == "rec_out" and hit["offset"] == 0 and hit["function"] == "rec"
    assert ex.debug.sym_at(pid, "0x18")["symbol"]["name"] == "rec"
    assert ex.debug.sym_at(pid, 0)["symbol"]["name"] == "main"  # address 0 is an address

    # by name
    rec = ex.debug.sym_lookup(pid, "rec")["symbol"]
    assert rec == {
        "name": "rec",
        "address": 0x18,
        "type": "function",
        "space": "code",
        "size": 68,
        "file": "rec.mvasm",
        "line": 12,
    }
    assert ex.debug.sym_lookup(pid, "nope")["symbol"] is None

    # by line, both ways
    line = ex.debug.sym_line(pid, 0x18)["line"]
    assert line == {"address": 0x18, "file": "rec.mvasm", "line": 13}  # `PUSH R7` under the rec: label
    assert ex.debug.sym_addresses(pid, "rec.mvasm", 13)["addresses"] == [0x18]
    assert ex.debug.sym_addresses(pid, "/elsewhere/rec.mvasm", 13)["addresses"] == []


async def test_symbol_pages(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(RECURSE, "rec")), paused=True)["pid"]
    seen = []
    offset: int | None = 0
    while offset is not None:
        page = ex.debug.sym_list(pid, offset=offset)
        assert page["limit"] == 3 and page["returned"] <= 3
        seen += [(s["name"], s["type"]) for s in page["symbols"]]
        offset = page["next_offset"]
    assert page["count"] == len(seen) == 6
    assert [a for a in seen if a[1] == "function"] == [("main", "function"), ("rec", "function")]
    funcs = ex.debug.sym_list(pid, type="functions")
    assert funcs["count"] == 2 and [s["address"] for s in funcs["symbols"]] == [0, 0x18]
    assert ex.debug.sym_list(pid, type="labels", offset=1, limit=2)["symbols"][0]["name"] == "rec"
    with pytest.raises(ExecutiveError, match="max_symbols_page"):
        ex.debug.sym_list(pid, limit=4)
    with pytest.raises(ExecutiveError, match="unknown symbol type"):
        ex.debug.sym_list(pid, type="widgets")


async def test_data_and_code_spaces_are_kept_apart(ex: Executive, program: Callable[..., Path]) -> None:
    pid = ex.vm.load(path=str(program(COUNTER, "counter")), paused=True)["pid"]
    assert ex.debug.sym_at(pid, 0x4002, space="data")["symbol"]["name"] == "greeting"
    assert ex.debug.sym_at(pid, 0x4002)["symbol"]["name"] == "loop"  # code space: the last code symbol
    assert ex.debug.sym_at(pid, 0x4002, space="any")["symbol"]["name"] == "greeting"
    assert ex.debug.sym_lookup(pid, "greeting")["symbol"]["space"] == "data"


async def test_malformed_sym_is_a_warning_at_load_and_an_error_when_asked(
    ex: Executive, program: Callable[..., Path]
) -> None:
    path = program(COUNTER, "broken")
    path.with_suffix(".sym").write_text('{"symbols": {"functions": [{"name": "main", "address": "zero"}]}}')
    img = ex.vm.load(path=str(path), paused=True)
    assert img["symbols"]["loaded"] is False
    assert "symbols.functions[0].address" in img["symbols"]["error"]
    assert any(w.startswith("symbols_failed:") for w in img["warnings"])
    with pytest.raises(ExecutiveError) as exc:
        ex.debug.sym_load(img["pid"])
    assert exc.value.code == ErrorCode.SYMBOLS_INVALID and "expected an integer or a 0x string" in exc.value.message

    path.with_suffix(".sym").write_text("{not json")
    with pytest.raises(ExecutiveError, match="not JSON"):
        ex.debug.sym_load(img["pid"])


async def test_missing_and_oversized_sym(ex: Executive, program: Callable[..., Path]) -> None:
    path = program(COUNTER, "nosym", sym=False)
    img = ex.vm.load(path=str(path), paused=True)
    assert img["symbols"]["loaded"] is False and f"symbols_missing:{path.with_suffix('.sym')}" in img["warnings"]
    with pytest.raises(ExecutiveError) as exc:
        ex.debug.sym_load(img["pid"])
    assert exc.value.code == ErrorCode.SYMBOLS_INVALID and "no symbol file" in exc.value.message
    big = path.with_name("big.sym")
    big.write_text(json.dumps({"symbols": {"functions": []}, "pad": "x" * 70000}))
    with pytest.raises(ExecutiveError, match="limit max_sym_bytes"):
        ex.debug.sym_load(img["pid"], path=str(big))


async def test_symbols_for_an_uploaded_image_come_as_a_document(ex: Executive) -> None:
    res = assemble_text(COUNTER, "up.mvasm")
    pid = ex.vm.load(data_b64=base64.b64encode(res.hxe).decode(), paused=True)["pid"]
    assert ex.debug.sym_lookup(pid, "loop")["loaded"] is False
    info = ex.debug.sym_load(pid, document=res.sym)
    assert info["loaded"] and info["path"] is None and "warnings" not in info
    assert ex.debug.sym_lookup(pid, "loop")["symbol"]["address"] == 0x14
    info = ex.debug.sym_load(pid, document=json.dumps(res.sym | {"hxe_crc": 1}))
    assert info["warnings"][0].startswith("symbols_stale:")
    with pytest.raises(ExecutiveError) as exc:
        ex.debug.sym_load(pid)
    assert exc.value.code == ErrorCode.SYMBOLS_INVALID and "uploaded" in exc.value.message


def test_tolerant_layouts_parse() -> None:
    idx = parse_sym({
        "symbols": [{"name": "f", "addr": "0x10", "type": "func"}, {"name": "v", "abs_addr": 0x4000, "kind": "data"}],
        "functions": [{"name": "g", "address": 0x20}],
        "line_map": {"0x10": {"file": "a.c", "line": 3}, "0x20": 9},
    })  # fmt: skip
    assert isinstance(idx, SymbolIndex)
    assert idx.lookup("f").kind == "function" and idx.lookup("v").space == "data" and idx.lookup("g").address == 0x20
    assert idx.line_at(0x1C).line == 3 and idx.line_at(0x24).line == 9 and idx.line_at(0xC) is None
    assert idx.function_at(0x14)[0].name == "f"
    for bad in ([], {"symbols": 3}, {"symbols": {"functions": [{"address": 1}]}}, {"symbols": {"labels": {"0x4": [1]}}},
                {"lines": [{"address": True, "line": 1}]}):  # fmt: skip
        with pytest.raises(SymbolFileError):
            parse_sym(bad)


async def test_a_too_deep_sym_is_a_clear_error_and_the_load_is_clean(
    ex: Executive, program: Callable[..., Path]
) -> None:
    """A 100,000-deep .sym made `load` answer an internal error (RecursionError) with the program running."""
    path = program(COUNTER, "deep")
    path.with_suffix(".sym").write_text("[" * 20_000 + "]" * 20_000)  # 40 KB, under max_sym_bytes
    img = ex.vm.load(path=str(path), paused=True)
    assert img["symbols"]["loaded"] is False and "too deeply" in img["symbols"]["error"]
    with pytest.raises(ExecutiveError) as exc:
        ex.debug.sym_load(img["pid"])
    assert exc.value.code == ErrorCode.SYMBOLS_INVALID and "too deeply" in exc.value.message
