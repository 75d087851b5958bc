"""The adapter's pure parts: framing, hit conditions, log messages, breakpoint lines, source paths."""

from __future__ import annotations

import pytest

from executive.dap import DapCodec, FramingError, encode
from executive.dap.breakpoints import hit_condition_met, log_message_parts
from executive.dap.protocol import DapError, format_int
from executive.dap.sources import SourceMap, nearest_line

MESSAGES = [
    {"seq": 1, "type": "request", "command": "initialize"},
    {"seq": 2, "type": "event", "event": "x", "body": {"ü": "€"}},
]


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_codec_decodes_any_chunking(chunk: int) -> None:
    wire = b"".join(encode(m) for m in MESSAGES)
    codec, got = DapCodec(), []
    for i in range(0, len(wire), chunk):
        codec.receive_data(wire[i : i + chunk])
        got += codec.next_messages()
    assert got == MESSAGES


@pytest.mark.parametrize(
    ("wire", "match"),
    [
        (b"Content-Type: x\r\n\r\n{}", "without Content-Length"),
        (b"Content-Length: ten\r\n\r\n", "not a number"),
        (b"Content-Length: 999999999999\r\n\r\n", "outside"),
        (b"Content-Length: 2\r\n\r\n[]", "JSON object"),
        (b"Content-Length: 3\r\n\r\n{x}", "not JSON"),
        (b"x" * 2000, "no end of header"),
    ],
)
def test_codec_refuses_what_is_not_dap(wire: bytes, match: str) -> None:
    codec = DapCodec()
    codec.receive_data(wire)
    with pytest.raises(FramingError, match=match):
        codec.next_messages()


@pytest.mark.parametrize(
    ("text", "hits", "stops"),
    [
        (None, 1, True), ("", 1, True), ("3", 2, False), ("3", 3, True), ("3", 4, True), (">= 2", 2, True),
        ("== 2", 3, False), ("== 2", 2, True), ("> 2", 2, False), ("< 2", 1, True), ("<= 2", 3, False),
        ("% 2", 3, False), ("% 2", 4, True), ("%0", 4, False),
    ],
)  # fmt: skip
def test_hit_conditions(text: str | None, hits: int, stops: bool) -> None:
    assert hit_condition_met(text, hits) is stops


def test_a_hit_condition_that_is_not_understood_says_what_is() -> None:
    with pytest.raises(DapError, match="write N, >= N"):
        hit_condition_met("sometimes", 1)


def test_log_message_parts() -> None:
    assert log_message_parts("n = {n}, r0={R0 + 1} {{literal}}") == [
        ("n = ", False), ("n", True), (", r0=", False), ("R0 + 1", True), (" {literal}", False),
    ]  # fmt: skip
    assert log_message_parts("open { brace") == [("open { brace", False)]


def test_nearest_line_prefers_the_next_line_with_code() -> None:
    lines = {5: [0], 7: [8], 12: [20]}
    assert [nearest_line(lines, n) for n in (5, 6, 1, 8, 13)] == [5, 7, 5, 12, 12]
    assert nearest_line({}, 3) is None


def test_source_map_resolves_relative_names_and_base_names() -> None:
    m = SourceMap(["prog.c", "/abs/lib.mvasm"], "/build")
    assert m.path_of("prog.c") == "/build/prog.c" and m.path_of("/abs/lib.mvasm") == "/abs/lib.mvasm"
    assert m.name_of("/build/prog.c") == "prog.c" and m.name_of("/elsewhere/prog.c") == "prog.c"
    assert m.name_of("/other/unknown.c") == "/other/unknown.c"
    assert m.source("prog.c") == {"name": "prog.c", "path": "/build/prog.c"} and m.source(None) is None


def test_values_show_hex_and_signed_decimal() -> None:
    assert format_int(42) == "0x0000002A (42)" and format_int(-1) == "0xFFFFFFFF (-1)"
    assert format_int(0xFFFFFFFF, hex_only=True) == "0xFFFFFFFF"
