"""Fuzzing the `.sym` reader: documents of every layout it accepts, mangled, and raw bytes.

Properties: ``SymbolCache.parse_bytes`` raises nothing but :class:`SymbolFileError`, and an index it
returns answers every lookup (address to symbol, function, line; name; pages; counts) without raising.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from executive.debugger.symbols import SymbolCache, SymbolFileError, SymbolIndex

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))  # FUZZ_SCALE=20 for a longer hunt than CI affords
_FUZZ = settings(max_examples=300 * SCALE, deadline=2000, database=None, suppress_health_check=[HealthCheck.too_slow])
CACHE = SymbolCache(max_bytes=1024 * 1024)

_address = st.one_of(
    st.integers(-5, 2**40),
    st.sampled_from(["0x10", "0X1f", "16", "-0x4", "0b101", "0o17", " 12 ", "", "0x", "zz", "1_000", "١٢"]),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(0, 6000).map(lambda n: "9" * n),  # past int()'s digit limit
)
_name = st.one_of(st.text(max_size=8), st.sampled_from(["main", "loop", "buf"]), st.none(), st.integers())
_kind = st.one_of(st.sampled_from(["function", "func", "fn", "label", "variable", "data", "bss", "?"]), st.integers())
_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=6))
_symbol = st.one_of(
    st.fixed_dictionaries(
        {"name": _name},
        optional={
            "address": _address,
            "addr": _address,
            "offset": _address,
            "type": _kind,
            "kind": _kind,
            "size": _address,
            "line": _address,
            "file": st.one_of(st.text(max_size=8), st.integers()),
        },
    ),
    _leaf,
)
_symbols = st.one_of(st.lists(_symbol, max_size=5), _leaf, st.dictionaries(st.text(max_size=3), _leaf, max_size=2))
_line_row = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={"address": _address, "pc": _address, "line": _address, "file": st.one_of(st.text(max_size=8), _leaf)},
    ),
    st.fixed_dictionaries({"pc": _address, "source_kind": st.sampled_from(["compiler", "source", 3])}),
    _leaf,
)
_labels = st.one_of(
    st.dictionaries(
        st.one_of(st.sampled_from(["0x10", "4", "-1", "x"]), st.text(max_size=4)),
        st.one_of(st.lists(_name, max_size=3), _name),
        max_size=3,
    ),
    _leaf,
)
_docs = st.fixed_dictionaries(
    {},
    optional={
        "symbols": st.one_of(
            st.fixed_dictionaries(
                {}, optional={"functions": _symbols, "variables": _symbols, "symbols": _symbols, "labels": _labels}
            ),
            _symbols,
        ),
        "functions": _symbols,
        "variables": _symbols,
        "lines": st.one_of(st.lists(_line_row, max_size=4), st.dictionaries(st.text(max_size=4), _leaf, max_size=3)),
        "line_table": st.lists(_line_row, max_size=3),
        "instructions": st.one_of(st.lists(_line_row, max_size=4), _leaf),
        "hxe_crc": _address,
    },
)


def _exercise(index: SymbolIndex, probes: list[int]) -> None:
    for address in probes:
        for space in ("code", "data", "any"):
            index.at(address, space)
            index.describe(address, space)
            index.exact(address, space)
        index.function_at(address)
        index.line_at(address)
    for kind in ("all", "functions", "labels", "variables", "code"):
        total, page = index.page(kind, 0, 5)
        assert total >= len(page)
    counts = index.counts()
    assert sum(counts[k] for k in ("function", "label", "variable")) == len(index)
    for entry in index.page("all", 0, 10_000)[1]:
        assert index.lookup(entry.name) is not None
        assert orjson.loads(orjson.dumps(entry.to_dict()))["name"] == entry.name  # the debugger sends it as JSON
    orjson.dumps(
        {"crc": index.crc, "line": [dataclasses.asdict(ln) if ln else None for ln in map(index.line_at, probes)]}
    )


def _parse(raw: bytes | str, probes: list[int]) -> None:
    try:
        index = CACHE.parse_bytes(raw)
    except SymbolFileError:
        return
    _exercise(index, probes)


_probes = st.lists(st.integers(-(2**33), 2**41), max_size=4)


@_FUZZ
@given(_docs, _probes)
@example({"symbols": {"labels": {"9" * 5000: ["x"]}}}, [0])
@example({"functions": [{"name": "f", "address": "0x" + "f" * 5000}]}, [2**40])
@example({"symbols": {"labels": {"0x" + "f" * 20: ["x"]}}}, [0])  # an 80-bit address: not JSON-encodable by the daemon
@example({"functions": [{"name": "f", "address": 0, "size": 2**64}], "hxe_crc": 2**70}, [0])
def test_fuzz_structured_documents(doc: dict[str, Any], probes: list[int]) -> None:
    _parse(json.dumps(doc), probes)


@_FUZZ
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)), _probes)
@example(b"[" * 100_000 + b"]" * 100_000, [])  # issue 19: deep nesting is a clear error
@example("\ud800", [])
@example(b'{"functions": 1' + b"0" * 5000 + b"}", [])
@example(b"\xff\xfe{\x00}\x00", [])  # UTF-16 with a BOM
def test_fuzz_raw_documents(raw: bytes | str, probes: list[int]) -> None:
    _parse(raw, probes)
