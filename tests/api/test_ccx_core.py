"""The sans-I/O cores of the cc_executor endpoint: frame codec, shell check, output framing, heuristics."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executive.api.ccx_output import LineFramer, OutputSignals, utf8_boundary
from executive.api.ccx_wire import CcxError, Request, parse_frame, shell_free_argv

SHELL_CASES = [
    ("echo hi", ["echo", "hi"]),
    ("ls -l 'my dir'", ["ls", "-l", "my dir"]),
    ('echo "a b" c', ["echo", "a b", "c"]),
    ("echo hi && id", None),
    ("echo ok; id", None),
    ("echo $(id)", None),
    ("echo `id`", None),
    ("echo $HOME", None),
    ("cat *.py", None),
    ("cat < /etc/passwd", None),
    ("echo hi > out", None),
    ("echo a | sh", None),
    ("ls ~", None),
    ("echo hi # comment", None),
    ("X=1 env", None),
    ("echo 'unbalanced", None),
    ("echo hi\nid", None),
    ("   ", None),
]


@pytest.mark.parametrize(("command", "argv"), SHELL_CASES)
def test_shell_free_argv(command: str, argv: list[str] | None) -> None:
    assert shell_free_argv(command) == argv


FRAME_CASES = [
    ('{"jsonrpc":"2.0","method":"execute","params":{"command":"x"},"id":1}', [("execute", {"command": "x"}, 1, True)]),
    ('{"jsonrpc":"2.0","method":"pong"}', [("pong", {}, None, False)]),
    ('{"jsonrpc":"2.0","method":"hook_status","params":null,"id":"a"}', [("hook_status", {}, "a", True)]),
]


@pytest.mark.parametrize(("frame", "expected"), FRAME_CASES)
def test_parse_frame_requests(frame: str, expected: list[tuple[object, ...]]) -> None:
    parsed = parse_frame(frame, max_batch=10)
    assert not isinstance(parsed, str)
    items, is_batch = parsed
    assert not is_batch
    assert [(r.method, r.params, r.id, r.has_id) for r in items if isinstance(r, Request)] == expected


@pytest.mark.parametrize(
    ("frame", "code"),
    [("{nope", -32700), ("[]", -32600), (json.dumps([{"method": "x", "id": i} for i in range(11)]), -32600)],
)
def test_parse_frame_whole_frame_errors(frame: str, code: int) -> None:
    reply = parse_frame(frame, max_batch=10)
    assert isinstance(reply, str)
    obj = json.loads(reply)
    assert obj["id"] is None and obj["error"]["code"] == code and obj["error"]["data"] is None


def test_parse_frame_batch_keeps_bad_members_in_place() -> None:
    parsed = parse_frame('[{"method":"a","id":1}, 5, {"method":"b","params":[1]}]', max_batch=10)
    assert not isinstance(parsed, str)
    items, is_batch = parsed
    assert is_batch and isinstance(items[0], Request)
    assert isinstance(items[1], CcxError) and items[1].code == -32600
    assert isinstance(items[2], CcxError) and items[2].code == -32602


def _frame_all(data: bytes, reads: list[int], piece: int) -> tuple[list[dict[str, object]], int]:
    """Feed growing prefixes of ``data`` as a streamer reading a growing log would."""
    framer = LineFramer("stdout", piece)
    off = 0
    out: list[dict[str, object]] = []
    for end in [*sorted(reads), len(data)]:
        final = end == len(data)
        while True:
            pieces, used = framer.feed(data[off:end], final=final)
            out += pieces
            off += used
            if not pieces:
                break
    return out, off


line = st.builds(
    lambda body, nl: body + ("\n" if nl else ""),
    st.text(alphabet=st.sampled_from("ab\u00e9\u20ac\U0001f600"), max_size=40),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(line, max_size=30),
    piece=st.sampled_from([4, 8, 16, 64]),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=6),
)
def test_line_framer_delivers_every_byte_in_order(lines: list[str], piece: int, cuts: list[int]) -> None:
    data = "".join(lines).encode()
    out, consumed = _frame_all(data, [c for c in cuts if c <= len(data)], piece)
    assert consumed == len(data)
    assert "".join(str(p["data"]) for p in out).encode() == data  # cuts never split a UTF-8 sequence
    for p in out:
        raw = str(p["data"]).encode()
        if p["chunk_index"] is None:
            assert len(raw) <= piece or raw.count(b"\n") <= 1  # batches of whole lines fit in a piece
            assert p["truncated"] is False and p["total_chunks"] is None
        else:
            assert len(raw) <= piece
            assert p["truncated"] is (p["total_chunks"] is None or p["chunk_index"] < p["total_chunks"] - 1)


def test_long_line_pieces_are_numbered() -> None:
    out, used = LineFramer("stderr", 4).feed(b"abcdefghij\nk\n", final=False)
    assert used == 13
    assert [(p["data"], p["chunk_index"], p["total_chunks"], p["truncated"]) for p in out] == [
        ("abcd", 0, 3, True),
        ("efgh", 1, 3, True),
        ("ij\n", 2, 3, False),
        ("k\n", None, None, False),
    ]
    assert all(p["type"] == "stderr" for p in out)


def test_unterminated_line_waits_until_final() -> None:
    framer = LineFramer("stdout", 16)
    assert framer.feed(b"a\nhalf", final=False) == ([_plain("a\n")], 2)
    assert framer.feed(b"half", final=False) == ([], 0)
    assert framer.feed(b"half", final=True) == ([_plain("half")], 4)


def _plain(text: str) -> dict[str, object]:
    return {"type": "stdout", "data": text, "truncated": False, "chunk_index": None, "total_chunks": None}


def test_utf8_boundary() -> None:
    euro = "\u20ac".encode()  # 3 bytes
    buf = b"ab" + euro
    assert utf8_boundary(buf, 3) == 2 and utf8_boundary(buf, 4) == 2 and utf8_boundary(buf, 5) == 5


SIGNAL_CASES = [
    ("nothing to see\n", []),
    ("Done!\n", ["task.early_completion"]),
    ("Wrote file: out.txt\n", ["task.early_completion"]),
    ("hit the token limit of 4096\n", ["error.token_limit_exceeded"]),
    ("Claude AI usage limit reached|resets at 1700000000\n", ["error.rate_limit_exceeded"]),
    ("error 429: rate limit\n", ["error.rate_limit_exceeded"]),
    ("x" * 5000 + "\n", []),
]


@pytest.mark.parametrize(("text", "methods"), SIGNAL_CASES)
def test_output_signals(text: str, methods: list[str]) -> None:
    assert [m for m, _ in OutputSignals("s").scan(text, 0.5)] == methods


def test_output_signals_fire_once_each() -> None:
    sig = OutputSignals("s")
    first = sig.scan("All done\nover the 100 token limit\n", 1.0)
    assert [m for m, _ in first] == ["task.early_completion", "error.token_limit_exceeded"]
    assert first[1][1]["limit"] == 100
    assert sig.scan("All done\nover the 100 token limit\n", 2.0) == []
    assert sig.completion_marker == "All done" and sig.early_completion_time == 1.0
