"""Fuzzing the JSON-RPC methods against a real service: a handler may fail only with a typed error.

test_fuzz_rpc.py covers the envelope with stub handlers; here the real handlers run on a real
:class:`Executive` that holds a running process task and a paused HSX program, so random but
mostly well-typed params reach the service, the VM, the debugger, the pipeline and agent
read paths.  Property: no reply is an internal error (-32603), which the dispatcher sends only
for an exception that is not an :class:`ExecutiveError`, and every reply is well-formed.

Methods that start work the fuzzer cannot bound (spawning argv, agents, patches, pipelines,
file paths, waits up to an hour) are left out; the list is below.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pydantic
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from executive.api.connection import RpcConnection
from executive.api.http import build_dispatcher
from executive.api.rpc import Dispatcher
from executive.hsx.asm import assemble_text
from executive.kernel.errors import ErrorCode
from executive.kernel.limits import DEFAULT_LIMITS
from executive.service import Executive

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))  # FUZZ_SCALE=20 for a longer hunt than CI affords
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LEFT_OUT = {
    "task.run", "task.wait", "agent.run", "agent.check", "agent.wait", "agent.fix", "agent.fix_wait",
    "agent.worktree_remove", "agent.worktree_prune", "patch.apply", "patch.rollback", "patch.commit", "pattern.run",
    "pipeline.run", "pipeline.validate", "pipeline.resume", "pipeline.wait", "pipeline.approve", "trace.export",
}  # fmt: skip
PATH_FIELDS = {"path", "dir", "workdir", "cwd"}  # never handed to the service: no file reads or writes from fuzz


@pytest.fixture(scope="module")
def service() -> Iterator[tuple[asyncio.AbstractEventLoop, Dispatcher, RpcConnection, dict[str, Any]]]:
    loop = asyncio.new_event_loop()
    limits = dataclasses.replace(DEFAULT_LIMITS, max_sessions=8, max_subscriptions=8, max_step=10_000)
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"rpc-fuzz-{os.getpid()}"
    ex = loop.run_until_complete(Executive.open(home, limits=limits))
    dispatcher = build_dispatcher(ex)
    conn = RpcConnection(ex, dispatcher, authorized=True)
    image = assemble_text((EXAMPLES / "hello.mvasm").read_text()).hxe

    async def setup() -> dict[str, Any]:
        proc = await dispatcher.handle_frame(_frame("task.run", {"argv": ["sleep", "600"], "name": "sleeper"}), conn)
        return {"@proc": orjson.loads(proc or b"{}")["result"]["id"], "@vm": None, "image": image}

    state = loop.run_until_complete(setup())
    try:
        yield loop, dispatcher, conn, state
    finally:
        loop.run_until_complete(dispatcher.handle_frame(_frame("task.kill", {"task": "sleeper"}), conn))
        loop.run_until_complete(ex.aclose())
        loop.close()


async def _live_vm(dispatcher: Dispatcher, conn: RpcConnection, state: dict[str, Any]) -> None:
    """Load a fresh paused program when the fuzzer has ended the last one (vm.kill, task.cancel, ...)."""
    if state["@vm"] is not None:
        info = orjson.loads(await dispatcher.handle_frame(_frame("task.info", {"task": state["@vm"]}), conn) or b"{}")
        if info.get("result", {}).get("state") != "ended":
            return
    params = {"data_b64": base64.b64encode(state["image"]).decode(), "paused": True}
    state["@vm"] = orjson.loads(await dispatcher.handle_frame(_frame("vm.load", params), conn) or b"{}")["result"][
        "pid"
    ]


def _resolve(value: Any, state: dict[str, Any]) -> Any:
    """The fixture tasks' ids in place of their placeholders, anywhere in the params."""
    if isinstance(value, str) and value in ("@vm", "@proc"):
        return state[value]
    if isinstance(value, list):
        return [_resolve(v, state) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, state) for k, v in value.items()}
    return value


def _frame(method: str, params: dict[str, Any]) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})


_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.integers(-3, 40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.sampled_from(["0x0", "0x10", "main", "loop", "greeting", "all", "code", "on", "off", "R1", "pc", "*", "stdout"]),
)
_json = st.recursive(
    _scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)


_VOCAB = st.sampled_from(["main", "loop", "greeting", "all", "code", "data", "on", "off", "R1", "pc", "stdout", "x"])


def _for_type(tp: Any, refs: list[Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of the annotated type, mostly valid, so calls get past params validation to the handler."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or depth > 3:
        return _json
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(_for_type(a, refs, depth + 1) for a in args))
    if origin is typing.Annotated:
        return _for_type(args[0], refs, depth)
    if origin in (list, set, frozenset, tuple):
        inner = _for_type(args[0], refs, depth + 1) if args else _json
        return st.lists(inner, max_size=4)
    if origin is dict:
        return st.dictionaries(st.text(max_size=6), _for_type(args[1], refs, depth + 1) if args else _json, max_size=3)
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        fields = {
            k: _for_type(f.annotation, refs, depth + 1) for k, f in tp.model_fields.items() if k not in PATH_FIELDS
        }
        return st.fixed_dictionaries({}, optional=fields)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.one_of(st.integers(-2, 70), st.integers(-(2**63), 2**64 - 1), st.sampled_from(refs[:2]))
    if tp is float:
        return st.one_of(st.floats(-1, 100), st.floats(allow_nan=False, allow_infinity=False))
    if tp is str:
        return st.one_of(st.text(max_size=10), _VOCAB, st.sampled_from(["0x0", "0x10", "main+4", "hello.mvasm:5"]))
    return _json


@st.composite
def _call(draw: st.DrawFn, dispatcher: Dispatcher, refs: list[Any]) -> tuple[str, dict[str, Any]]:
    names = sorted(set(dispatcher.methods) - LEFT_OUT)
    name = draw(st.sampled_from(names))
    model = dispatcher.methods[name].params
    params: dict[str, Any] = {}
    for field, info in model.model_fields.items():
        if field in PATH_FIELDS or (not info.is_required() and draw(st.booleans())):
            continue
        if field in ("task", "tasks") and draw(st.integers(0, 3)):
            params[field] = draw(st.sampled_from(refs))
        elif draw(st.integers(0, 9)):
            params[field] = draw(_for_type(info.annotation, refs))
        else:
            params[field] = draw(_json)  # the wrong type now and then
    return name, params


def _check(reply: bytes | None, what: Any) -> None:
    assert reply is not None, what
    msg = orjson.loads(reply)
    assert msg.get("jsonrpc") == "2.0" and ("result" in msg) != ("error" in msg), msg
    if "error" in msg:
        assert msg["error"]["code"] != ErrorCode.INTERNAL_ERROR, f"{what} -> {msg['error']['message']}"


_FUZZ = settings(
    max_examples=250 * SCALE,
    deadline=5000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)


def test_fuzz_methods_on_a_real_service(
    service: tuple[asyncio.AbstractEventLoop, Dispatcher, RpcConnection, dict[str, Any]],
) -> None:
    loop, dispatcher, conn, state = service
    refs = ["@vm", "@vm", "@vm", "@proc", "sleeper"]

    async def answer(name: str, params: dict[str, Any]) -> bytes | None:
        try:
            return await asyncio.wait_for(dispatcher.handle_frame(_frame(name, params), conn), 3)
        except TimeoutError:
            return orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": "still running after 3 s (cancelled)"})

    @_FUZZ
    @given(st.lists(_call(dispatcher, refs), min_size=1, max_size=4))
    @example([("vm.load", {"data_b64": base64.b64encode(b"HSXE" + bytes(92)).decode()})])
    @example([("vm.load", {"data_b64": "not base64!"})])
    @example([("debug.sym.load", {"task": refs[0], "document": {"symbols": {"labels": {"0x" + "f" * 20: ["x"]}}}})])
    @example([("trace.import", {"task": refs[0], "records": [[[[[1]]]]]})])
    @example(
        [
            ("debug.sym.load", {"task": refs[0], "document": {"symbols": {"labels": {"0x" + "f" * 20: ["x"]}}}}),
            ("debug.sym.list", {"task": refs[0]}),  # an 80-bit address was accepted, then not encodable
        ]
    )
    def run(calls: list[tuple[str, dict[str, Any]]]) -> None:
        loop.run_until_complete(_live_vm(dispatcher, conn, state))
        for name, params in calls:
            params = _resolve(params, state)
            _check(loop.run_until_complete(answer(name, params)), (name, params))

    run()
