"""Every kind of bad input gets its JSON-RPC error; the connection, the daemon and the state survive.

One case table drives the frame- and request-level cases (STYLE §7): each is
sent on a raw websocket to a daemon that has a running and an ended task, and
each must answer with the code from kernel/errors.py and a message that says
what to do, leave ``task.list`` unchanged and leave the connection usable.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets

from executive.api.client import Client, RpcError
from executive.kernel.errors import ErrorCode as E
from executive.kernel.limits import DEFAULT_LIMITS, Limits

FRAME_LIMIT = 64 * 1024


@pytest.fixture
def limits() -> Limits:
    return dataclasses.replace(DEFAULT_LIMITS, max_frame_bytes=FRAME_LIMIT, max_sessions=2, max_subscriptions=4)


RUNNING, ENDED = "@running", "@ended"  # placeholders for the ids of the fixture tasks

# (id, frame or (method, params), expected code, a fragment the message must contain)
CASES: list[tuple[str, Any, int, str]] = [
    ("malformed-json", '{"jsonrpc": "2.0", "id": 1, "method": ', E.PARSE_ERROR, "not valid JSON"),
    ("binary-garbage", b"\xff\xfe\x00", E.PARSE_ERROR, "not valid JSON"),
    ("not-an-object", "42", E.INVALID_REQUEST, "expected a JSON object"),
    ("no-jsonrpc-member", '{"id": 1, "method": "task.list"}', E.INVALID_REQUEST, '"jsonrpc": "2.0"'),
    ("wrong-version", '{"jsonrpc": "1.0", "id": 1, "method": "task.list"}', E.INVALID_REQUEST, '"jsonrpc": "2.0"'),
    ("method-not-a-string", '{"jsonrpc": "2.0", "id": 1, "method": 5}', E.INVALID_REQUEST, "string"),
    ("id-not-scalar", '{"jsonrpc": "2.0", "id": [1], "method": "task.list"}', E.INVALID_REQUEST, "id"),
    ("empty-batch", "[]", E.INVALID_REQUEST, "empty batch"),
    (
        "params-by-position",
        '{"jsonrpc": "2.0", "id": 1, "method": "task.info", "params": [1]}',
        E.INVALID_PARAMS,
        "object",
    ),
    ("unknown-method", ("task.frobnicate", {}), E.METHOD_NOT_FOUND, "rpc.discover"),
    ("missing-param", ("task.info", {}), E.INVALID_PARAMS, "task"),
    ("unknown-param", ("task.list", {"bogus": 1}), E.INVALID_PARAMS, "bogus"),
    ("wrong-param-type", ("task.run", {"argv": ["sleep", "1"], "timeout": "soon"}), E.INVALID_PARAMS, "timeout"),
    ("negative-timeout", ("task.run", {"argv": ["sleep", "1"], "timeout": -1}), E.INVALID_PARAMS, "timeout"),
    ("argv-a-string", ("task.run", {"argv": "echo hi"}), E.INVALID_PARAMS, "argv"),
    ("argv-not-strings", ("task.run", {"argv": ["echo", 1]}), E.INVALID_PARAMS, "argv"),
    ("argv-empty", ("task.run", {"argv": []}), E.INVALID_PARAMS, "argv"),
    ("argv0-empty", ("task.run", {"argv": [""]}), E.INVALID_ARGV, "argv"),
    ("argv-nul", ("task.run", {"argv": ["echo", "a\u0000b"]}), E.INVALID_ARGV, "NUL"),
    ("exe-not-found", ("task.run", {"argv": ["no-such-program-e2e"]}), E.INVALID_ARGV, "not found"),
    ("cwd-not-a-dir", ("task.run", {"argv": ["true"], "cwd": "/no/such/dir"}), E.INVALID_PARAMS, "not a directory"),
    ("env-key-with-equals", ("task.run", {"argv": ["true"], "env": {"A=B": "c"}}), E.INVALID_PARAMS, "env"),
    ("timeout-too-long", ("task.run", {"argv": ["true"], "timeout": 1e9}), E.INVALID_PARAMS, "30 days"),
    ("quota-too-big", ("task.run", {"argv": ["true"], "quota": 1 << 41}), E.LIMIT_EXCEEDED, "quota"),
    ("name-all-digits", ("task.run", {"argv": ["true"], "name": "123"}), E.INVALID_PARAMS, "digits"),
    ("unknown-task-id", ("task.info", {"task": 99999}), E.TASK_NOT_FOUND, "task.list"),
    ("unknown-task-name", ("task.pause", {"task": "nope"}), E.TASK_NOT_FOUND, "nope"),
    ("resume-running", ("task.resume", {"task": RUNNING}), E.INVALID_TRANSITION, "running"),
    ("pause-ended", ("task.pause", {"task": ENDED}), E.INVALID_TRANSITION, "ended"),
    ("cancel-ended", ("task.cancel", {"task": ENDED}), E.INVALID_TRANSITION, "already ended"),
    ("input-without-stdin", ("task.input", {"task": RUNNING, "data": "x"}), E.INVALID_TRANSITION, "stdin"),
    ("output-bad-stream", ("task.output", {"task": ENDED, "stream": "stdin"}), E.INVALID_PARAMS, "stream"),
    ("output-limit-too-big", ("task.output", {"task": ENDED, "limit": 1 << 40}), E.LIMIT_EXCEEDED, "limit"),
    ("ack-unknown-subscription", ("events.ack", {"subscription": 77, "seq": 1}), E.SUBSCRIPTION_NOT_FOUND, "77"),
    ("keepalive-without-session", ("session.keepalive", {}), E.SESSION_NOT_FOUND, "session.open"),
    ("lock-without-session", ("task.lock", {"task": RUNNING}), E.SESSION_NOT_FOUND, "session.open"),
    ("run-locked-without-session", ("task.run", {"argv": ["true"], "lock": True}), E.SESSION_NOT_FOUND, "session.open"),
]

SCHEMA_CASES = {
    "missing-param",
    "unknown-param",
    "wrong-param-type",
    "negative-timeout",
    "argv-a-string",
    "argv-not-strings",
    "argv-empty",
    "output-bad-stream",
}


@pytest.fixture
async def world(daemon: Any, client: Client) -> dict[str, Any]:
    running = await client.call("task.run", argv=["sleep", "1000"], name="runner")
    ended = await client.call("task.run", argv=["sh", "-c", "echo done"], name="finished")
    await client.call("task.wait", task=ended["id"], timeout=20)
    return {RUNNING: running["id"], ENDED: ended["id"]}


def _resolve(params: dict[str, Any], world: dict[str, Any]) -> dict[str, Any]:
    return {k: world.get(v, v) if isinstance(v, str) else v for k, v in params.items()}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_bad_input_gets_its_error_and_changes_nothing(
    daemon: Any, client: Client, world: dict[str, Any], e2e: Any, case: Any
) -> None:
    _name, what, code, fragment = case
    before = (await client.call("task.list", after_id=0))["tasks"]
    raw = await e2e.raw(daemon.url, daemon.token)
    if isinstance(what, tuple):
        reply = await raw.request(what[0], _resolve(what[1], world))
        assert reply["id"] == raw.ids
    else:
        await raw.send(what)
        reply = await raw.recv(timeout=10)
        assert isinstance(reply, dict) and reply["jsonrpc"] == "2.0"
    assert "result" not in reply, reply
    err = reply["error"]
    assert err["code"] == code, err
    assert fragment in err["message"], err["message"]
    if _name in SCHEMA_CASES:  # caught by the params model: data is pydantic's error list
        assert isinstance(err["data"], list) and err["data"][0]["loc"] and err["data"][0]["msg"]
    # The connection still works, the daemon is up, and nothing changed.
    assert (await raw.call("daemon.health"))["status"] == "ok"
    assert (await client.call("task.list", after_id=0))["tasks"] == before
    await raw.close()


async def test_errors_keep_the_request_id(daemon: Any, e2e: Any) -> None:
    raw = await e2e.raw(daemon.url, daemon.token)
    await raw.send('{"jsonrpc": "2.0", "id": "abc", "method": "task.info", "params": {}}')
    assert (await raw.recv())["id"] == "abc"
    await raw.send('{"jsonrpc": "2.0", "id": 7, "method": 5}')
    assert (await raw.recv())["id"] == 7
    await raw.send('{"jsonrpc": "2.0", "id": 8, "method": "nope"}')
    assert (await raw.recv())["error"]["data"] == {"method": "nope"}
    await raw.close()


async def test_notifications_get_no_reply_even_when_wrong(daemon: Any, e2e: Any) -> None:
    raw = await e2e.raw(daemon.url, daemon.token)
    for note in (
        {"jsonrpc": "2.0", "method": "no.such.method"},
        {"jsonrpc": "2.0", "method": "task.info", "params": {}},
        {"jsonrpc": "2.0", "method": "task.info", "params": {"task": 424242}},
    ):
        await raw.send(orjson.dumps(note))
    health = await raw.request("daemon.health")  # the very next frame is this reply: nothing came before it
    assert health["result"]["status"] == "ok"
    await raw.close()


async def test_batches_answer_each_call_and_omit_notifications(
    daemon: Any, client: Client, world: dict[str, Any], e2e: Any
) -> None:
    raw = await e2e.raw(daemon.url, daemon.token)
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "task.info", "params": {"task": world[ENDED]}},
        {"jsonrpc": "2.0", "id": 2, "method": "task.info", "params": {"task": 99999}},
        {"jsonrpc": "2.0", "method": "daemon.health"},  # a notification: no answer
        {"jsonrpc": "2.0", "id": 3, "method": "no.such"},
        {"foo": "bar"},
        {"jsonrpc": "2.0", "id": 4, "method": "task.list", "params": {"limit": 0}},
        {"jsonrpc": "2.0", "id": 5, "method": "daemon.health"},
    ]
    await raw.send(orjson.dumps(batch))
    replies = await raw.recv()
    assert isinstance(replies, list) and len(replies) == 6
    by_id = {r["id"]: r for r in replies if r["id"] is not None}
    assert by_id[1]["result"]["id"] == world[ENDED]
    assert by_id[2]["error"]["code"] == E.TASK_NOT_FOUND
    assert by_id[3]["error"]["code"] == E.METHOD_NOT_FOUND
    assert by_id[4]["error"]["code"] == E.INVALID_PARAMS
    assert by_id[5]["result"]["status"] == "ok"
    [invalid] = [r for r in replies if r["id"] is None]
    assert invalid["error"]["code"] == E.INVALID_REQUEST

    await raw.send(orjson.dumps([{"jsonrpc": "2.0", "method": "daemon.health"}] * 3))  # all notifications
    assert (await raw.request("daemon.health"))["result"]["status"] == "ok"  # ... got no reply at all

    await raw.send(orjson.dumps([{"jsonrpc": "2.0", "id": i, "method": "daemon.health"} for i in range(101)]))
    too_many = await raw.recv()
    assert too_many["error"]["code"] == E.INVALID_REQUEST and too_many["error"]["data"] == {"limit": 100}
    await raw.close()


async def test_a_frame_over_the_limit(daemon: Any, client: Client, e2e: Any) -> None:
    before = (await client.call("task.list", after_id=0))["tasks"]
    raw = await e2e.raw(daemon.url, daemon.token)
    big = orjson.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "task.run", "params": {"argv": ["echo", "x" * (FRAME_LIMIT + 10)]}}
    )
    await raw.send(big.decode())
    reply = await raw.recv()
    assert reply["error"]["code"] == E.FRAME_TOO_LARGE and reply["error"]["data"] == {"limit": FRAME_LIMIT}
    assert "split" in reply["error"]["message"]
    assert (await raw.call("daemon.health"))["status"] == "ok"
    # Far beyond the limit the websocket layer closes that connection (1009); the daemon carries on.
    await raw.send("x" * (FRAME_LIMIT * 8))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await raw.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert (await client.call("task.list", after_id=0))["tasks"] == before
    other = await daemon.client()
    assert (await other.call("daemon.health"))["status"] == "ok"
    await other.close()


async def test_the_frame_limit_counts_bytes_not_characters(daemon: Any, client: Client, e2e: Any) -> None:
    raw = await e2e.raw(daemon.url, daemon.token)
    text = "é" * (FRAME_LIMIT * 3 // 4)  # fewer characters than the limit, 1.5 times as many bytes
    frame = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "task.run", "params": {"argv": ["echo", text]}}).decode()
    assert len(frame) < FRAME_LIMIT < len(frame.encode())
    await raw.send(frame)
    reply = await raw.recv()
    assert reply["error"]["code"] == E.FRAME_TOO_LARGE, reply.get("error") or "the oversized frame ran a task"
    assert (await client.call("task.list"))["tasks"] == []
    await raw.close()


async def test_one_session_too_many(daemon: Any, client: Client) -> None:
    clients = [await daemon.client() for _ in range(3)]
    for c in clients[:2]:
        await c.call("session.open", client="e2e")
    with pytest.raises(RpcError) as exc:
        await clients[2].call("session.open", client="e2e")
    assert exc.value.code == E.SESSION_LIMIT and exc.value.data == {"limit": 2}
    assert "session.close" in exc.value.message
    assert len(await client.call("session.list")) == 2
    await clients[0].call("session.close")
    assert (await clients[2].call("session.open", client="e2e"))["id"]  # room again
    for c in clients:
        await c.close()


async def test_one_subscription_too_many(daemon: Any, client: Client) -> None:
    subs = [(await client.call("events.subscribe"))["subscription"] for _ in range(4)]
    with pytest.raises(RpcError) as exc:
        await client.call("events.subscribe", types=["output"])
    assert exc.value.code == E.LIMIT_EXCEEDED and "unsubscribe" in exc.value.message
    await client.call("events.unsubscribe", subscription=subs[0])
    assert (await client.call("events.subscribe"))["subscription"] > subs[-1]


@pytest.mark.parametrize("token", [False, "not-the-token"], ids=["no-token", "wrong-token"])
async def test_a_bad_token_is_refused_on_every_request(daemon: Any, client: Client, e2e: Any, token: Any) -> None:
    before = (await client.call("task.list", after_id=0))["tasks"]
    bad = await daemon.client(token=token)
    for method, params in (("task.list", {}), ("task.run", {"argv": ["touch", "/tmp/never"]}), ("session.open", {})):
        with pytest.raises(RpcError) as exc:
            await bad.call(method, **params)
        assert exc.value.code == E.UNAUTHORIZED and "token" in exc.value.message
    raw = await e2e.raw(daemon.url, token if isinstance(token, str) else None)
    await raw.send("{not json")
    assert (await raw.recv())["error"]["code"] == E.UNAUTHORIZED  # nothing is parsed for it
    await raw.close()
    await bad.close()
    assert (await client.call("task.list", after_id=0))["tasks"] == before and await client.call("session.list") == []


async def test_the_allow_list_refuses_other_commands(daemon_factory: Any, tmp_path: Path) -> None:
    rules = tmp_path / "allow.json"
    rules.write_text(json.dumps({"rules": [{"exe": "echo"}, {"exe": "sh", "args": ["-c", "exit [0-9]"]}]}))
    d = await daemon_factory(allow_list=rules)
    c = await d.client()
    with pytest.raises(RpcError) as exc:
        await c.call("task.run", argv=["touch", str(tmp_path / "never")])
    assert exc.value.code == E.COMMAND_NOT_ALLOWED and "allow-list" in exc.value.message
    assert exc.value.data["executable"].endswith("/touch")
    with pytest.raises(RpcError) as exc:
        await c.call("task.run", argv=["sh", "-c", "rm -rf /tmp/x"])  # allowed program, refused arguments
    assert exc.value.code == E.COMMAND_NOT_ALLOWED
    assert (await c.call("task.list"))["tasks"] == [] and not (tmp_path / "never").exists()
    ok = await c.call("task.run", argv=["echo", "allowed"])
    assert (await c.call("task.wait", task=ok["id"], timeout=20))["exit_code"] == 0
    ok = await c.call("task.run", argv=["sh", "-c", "exit 3"])
    assert (await c.call("task.wait", task=ok["id"], timeout=20))["exit_code"] == 3
    await c.close()


@pytest.mark.parametrize("depth", [70, 253, 300, 1000])
async def test_deeply_nested_params_get_a_short_error_reply(daemon: Any, client: Client, e2e: Any, depth: int) -> None:
    """A -32602 used to echo the input; at 253 levels orjson could not encode it and no reply came."""
    raw = await e2e.raw(daemon.url, daemon.token)
    nested = "[" * depth + "]" * depth
    frame = '{"jsonrpc": "2.0", "id": 9, "method": "task.run", "params": {"argv": ' + nested + "}}"
    await raw.send(frame)
    reply = await raw.recv(timeout=10)
    assert reply["id"] == 9 and reply["error"]["code"] == E.INVALID_PARAMS
    assert "nested deeper than" in reply["error"]["message"]
    assert len(orjson.dumps(reply)) < 1000
    assert (await client.call("task.list"))["tasks"] == []
    await raw.close()


async def test_validation_errors_do_not_echo_the_input(daemon: Any, e2e: Any) -> None:
    raw = await e2e.raw(daemon.url, daemon.token)
    big = "x" * (FRAME_LIMIT - 200)  # as big as a frame may be
    await raw.send(orjson.dumps({"jsonrpc": "2.0", "id": 3, "method": "task.run", "params": {"argv": big}}))
    reply = await raw.recv(timeout=10)
    assert reply["error"]["code"] == E.INVALID_PARAMS and len(orjson.dumps(reply)) < 2000
    await raw.close()
