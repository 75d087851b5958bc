"""Fuzzing the JSON-RPC dispatcher: every frame is answered with a well-formed reply (or none for a notification).

The dispatcher carries every real method's params model (api/http.py's table); the handlers are
replaced by stubs, so a frame exercises the envelope, the method lookup and params validation
without touching a service.  Properties checked for each frame:

* ``handle_frame`` never raises;
* the reply is ``None`` only for a valid notification or a batch of them, otherwise it decodes as
  one JSON-RPC 2.0 response object (or a non-empty array of them);
* a reply never echoes unbounded input: its size is bounded by a constant plus the id it must echo.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from executive.api.agent_methods import agent_methods
from executive.api.debug_methods import debug_methods
from executive.api.methods import core_methods
from executive.api.pipeline_methods import pipeline_methods
from executive.api.rpc import Dispatcher, Method
from executive.api.vm_methods import vm_methods
from executive.kernel.errors import LimitError, NotFoundError

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))  # FUZZ_SCALE=20 for a longer hunt than CI affords
_FUZZ = settings(max_examples=300 * SCALE, deadline=2000, database=None, suppress_health_check=[HealthCheck.too_slow])
REPLY_BOUND = 16 * 1024  # bytes one reply may take beyond the id it echoes


def _stub(name: str) -> Any:
    """A handler whose outcome depends on the method name only: a result, a typed error, or a bug."""
    kind = sum(name.encode()) % 4

    def handler(ctx: Any, params: Any) -> Any:
        if kind == 0:
            return {"ok": True}
        if kind == 1:
            raise NotFoundError("no such thing", data={"what": "thing"})
        if kind == 2:
            raise LimitError("over the limit", data={"limit": 1})
        raise RuntimeError("a bug in a handler")

    return handler


def _methods() -> list[Method]:
    real = core_methods() + agent_methods() + pipeline_methods() + vm_methods() + debug_methods()
    # every stub answers {ok: true} (or an error): its declared result says so
    stubs = [Method(m.name, m.params, dict[str, bool], _stub(m.name)) for m in real]

    async def unencodable(ctx: Any, params: Any) -> Any:
        await asyncio.sleep(0)
        return {"value": object()}  # orjson cannot encode it: the reply must become -32603

    stubs.append(Method("fuzz.unencodable", real[0].params, dict[str, object], unencodable))
    return stubs


DISPATCHER = Dispatcher(_methods(), max_batch=20)
NAMES = sorted(DISPATCHER.methods)
FIELDS = sorted({f for m in DISPATCHER.methods.values() for f in m.params.model_fields})

# --- strategies -----------------------------------------------------------------------------------------

_big_text = st.integers(0, 20000).map(lambda n: "m" * n)
_text = st.one_of(st.text(max_size=20), _big_text)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.sampled_from(FIELDS), _text), inner, max_size=4)
    ),
    max_leaves=20,
)


def _nest(value: Any, depth: int, as_list: bool) -> Any:
    for _ in range(depth):
        value = [value] if as_list else {"argv": value}
    return value


_deep = st.builds(_nest, _json, st.integers(0, 300), st.booleans())
_ids = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    _text,
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=2),
)
_params = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), st.one_of(_json, _deep), max_size=5),
    st.dictionaries(_text, _json, max_size=3),
    _deep,
    _json,
)


@st.composite
def _requests(draw: st.DrawFn) -> Any:
    msg: dict[str, Any] = {}
    if draw(st.integers(0, 9)) > 0:
        msg["jsonrpc"] = draw(st.sampled_from(["2.0", "2.0", "2.0", "1.0", 2]))
    if draw(st.integers(0, 9)) > 0:
        msg["method"] = draw(st.one_of(st.sampled_from(NAMES), _text, _json))
    if draw(st.booleans()):
        msg["id"] = draw(_ids)
    if draw(st.booleans()):
        msg["params"] = draw(_params)
    for key in draw(st.lists(_text, max_size=2)):
        msg.setdefault(key, draw(_json))
    return msg


_frames = st.one_of(
    _requests(),
    st.lists(st.one_of(_requests(), _json), min_size=0, max_size=25),
    _json,
    _deep,
)

# --- the oracle -----------------------------------------------------------------------------------------


def _is_notification(msg: Any) -> bool:
    return (
        isinstance(msg, dict) and "id" not in msg and msg.get("jsonrpc") == "2.0" and isinstance(msg.get("method"), str)
    )


def _check_response(resp: Any, budget: int) -> None:
    assert isinstance(resp, dict), resp
    assert resp.get("jsonrpc") == "2.0"
    assert "id" in resp
    rid = resp["id"]
    assert rid is None or isinstance(rid, str) or (isinstance(rid, int) and not isinstance(rid, bool))
    assert ("result" in resp) != ("error" in resp)
    if "error" in resp:
        err = resp["error"]
        assert isinstance(err, dict) and isinstance(err.get("code"), int) and isinstance(err.get("message"), str)
        assert len(orjson.dumps(err)) <= budget, f"an error reply of {len(orjson.dumps(err))} bytes echoes its input"


def _answer(frame: bytes | str) -> bytes | None:
    return asyncio.run(DISPATCHER.handle_frame(frame, None))


def _check_frame(frame: bytes | str) -> None:
    reply = _answer(frame)
    try:
        msg = orjson.loads(frame)
    except orjson.JSONDecodeError:
        msg = orjson.JSONDecodeError  # a marker: the frame is not JSON
    if reply is None:
        if isinstance(msg, list):
            assert msg and all(_is_notification(m) for m in msg), "a batch with a request got no reply"
        else:
            assert _is_notification(msg), "a request got no reply"
        return
    out = orjson.loads(reply)
    if isinstance(msg, list) and msg and len(msg) <= DISPATCHER.max_batch:
        assert isinstance(out, list) and out, "a batch is answered with a non-empty array"
        assert len(out) == sum(1 for m in msg if not _is_notification(m)), (
            "one reply per request, none per notification"
        )
        for resp in out:
            _check_response(resp, REPLY_BOUND)
    else:
        _check_response(out, REPLY_BOUND)
    ids = msg if isinstance(msg, list) else [msg]
    echoed = sum(len(orjson.dumps(m.get("id"))) for m in ids if isinstance(m, dict)) if ids else 0
    assert len(reply) <= REPLY_BOUND * max(1, len(ids)) + echoed


# --- properties -----------------------------------------------------------------------------------------


@_FUZZ
@given(st.binary(max_size=300))
@example(b'{"jsonrpc":"2.0","id":1' + b"0" * 400 + b',"method":"task.list"}')  # an id beyond any integer type
@example(b'{"jsonrpc":"2.0","id":-1' + b"0" * 30 + b',"method":"task.list"}')
@example(b'{"jsonrpc":"2.0","id":1e999,"method":"task.list"}')
def test_fuzz_arbitrary_bytes(frame: bytes) -> None:
    _check_frame(frame)


@_FUZZ
@given(_frames)
@example({"jsonrpc": "2.0", "id": 1, "method": "m" * 100_000})  # unknown method: not echoed whole
@example({"jsonrpc": "2.0", "id": 1, "method": "task.list", "params": {"k" * 100_000: 1}})  # unknown field name
@example({"jsonrpc": "2.0", "id": 1, "method": "task.run", "params": {"argv": [[1]] * 50, "cwd": "c" * 100_000}})
@example({"jsonrpc": "2.0", "id": 2**64 - 1, "method": "task.list"})
@example({"jsonrpc": "2.0", "id": 1, "method": "fuzz.unencodable"})
@example([{"jsonrpc": "2.0", "method": "task.list"}] * 3)  # only notifications: no reply
def test_fuzz_json_frames(frame: Any) -> None:
    _check_frame(json.dumps(frame).encode())  # json, not orjson: orjson stops at 255 levels


@_FUZZ
@given(
    st.integers(0, 3000),
    st.sampled_from([b"[", b'{"a":', b'{"jsonrpc":"2.0","id":1,"method":"task.list","params":{"a":']),
)
def test_fuzz_deep_nesting_text(depth: int, opener: bytes) -> None:
    closer = {b"[": b"]", b'{"a":': b"}"}.get(opener, b"}")
    frame = opener + b"[" * depth + b"]" * depth + closer
    if opener.startswith(b'{"jsonrpc"'):
        frame += b"}"
    _check_frame(frame)


@settings(max_examples=50 * SCALE, deadline=2000, database=None)
@given(st.text(max_size=200))
def test_fuzz_text_frames(frame: str) -> None:
    """A str frame (a WebSocket text message), including lone surrogates that cannot be UTF-8."""
    _check_frame(frame)
