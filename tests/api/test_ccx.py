"""The cc_executor endpoint end to end: a real daemon on 127.0.0.1, a client speaking spec/cc-executor-wire.md."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import sys
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import websockets

sys.path.insert(0, str(Path(__file__).parent))
from ccx_client import CcxClient, CcxDaemon, start_ccx_daemon

from executive.api.client import Client
from executive.kernel.limits import DEFAULT_LIMITS

PROCESS_KEYS = {"status", "pid", "pgid", "exit_code", "error"}
OUTPUT_KEYS = {"type", "data", "truncated", "chunk_index", "total_chunks"}
COMPLETED_KEYS = PROCESS_KEYS | {
    "execution_time",
    "early_completion_detected",
    "early_completion_time",
    "time_saved",
    "completion_marker",
}


@pytest.fixture
async def ccx(tmp_path: Path) -> AsyncIterator[CcxDaemon]:
    d = await start_ccx_daemon(tmp_path / "home")
    try:
        yield d
    finally:
        await d.close()


@pytest.fixture
async def rpc(ccx: CcxDaemon) -> AsyncIterator[Client]:
    c = await Client.connect(ccx.info["url"], ccx.token)
    try:
        yield c
    finally:
        await c.close()


def _stopped(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("port", ["main", "ccx"])
async def test_execute_sends_every_notification_and_field_in_order(ccx: CcxDaemon, port: str) -> None:
    c = await ccx.client(port=port)
    res = await c.result("execute", {"command": "echo hi; echo oops >&2; echo there", "id": "ignored"})
    assert res["status"] == "started" and res["pgid"] == res["pid"] > 0 and isinstance(res["task"], int)
    end = await c.until_terminal()
    started = await c.notification("process.started")
    assert set(started) == PROCESS_KEYS and started == {
        "status": "started",
        "pid": res["pid"],
        "pgid": res["pid"],
        "exit_code": None,
        "error": None,
    }
    outputs = [m["params"] for m in c.seen if m.get("method") == "process.output"]
    assert outputs and all(set(p) == OUTPUT_KEYS for p in outputs)
    assert all(p["truncated"] is False and p["chunk_index"] is None and p["total_chunks"] is None for p in outputs)
    assert c.output("stdout") == "hi\nthere\n" and c.output("stderr") == "oops\n"
    methods = c.methods()
    assert methods[:3] == ["connected", "<reply>", "process.started"] and methods[-1] == "process.completed"
    params = end["params"]
    assert COMPLETED_KEYS <= set(params)
    assert params["status"] == "completed" and params["exit_code"] == 0 and params["error"] is None
    assert params["pid"] == params["pgid"] == res["pid"] and params["execution_time"] >= 0
    assert params["early_completion_detected"] is False and params["completion_marker"] is None
    await c.close()


async def test_exit_codes_and_signals(ccx: CcxDaemon) -> None:
    c = await ccx.client()
    await c.result("execute", {"command": "exit 3"})
    end = (await c.until_terminal())["params"]
    assert end["status"] == "failed" and end["exit_code"] == 3 and end["error"] is None
    c.seen.clear()
    await c.result("execute", {"command": "kill -9 $$"})  # the process dies of a signal it sent itself
    end = (await c.until_terminal())["params"]
    assert end["status"] == "failed" and end["exit_code"] == -9 and end["signal"] == 9
    c.seen.clear()
    await c.result("execute", {"command": "true"})  # the session takes a new execute after the last one ended
    assert (await c.until_terminal())["params"]["exit_code"] == 0
    await c.close()


async def test_pause_resume_cancel(ccx: CcxDaemon, rpc: Client) -> None:
    c = await ccx.client()
    res = await c.result("execute", {"command": "while :; do echo tick; sleep 0.05; done"})
    pid, tid = res["pid"], res["task"]
    await c.notification("process.output")
    assert await c.result("control", {"type": "PAUSE"}) == {"status": "paused"}
    paused = await c.notification("process.paused")
    assert paused == {"status": "paused", "pid": pid, "pgid": pid, "exit_code": None, "error": None}
    reply_at = next(i for i, m in enumerate(c.seen) if m.get("result") == {"status": "paused"})
    assert reply_at < c.methods().index("process.paused")  # the reply comes first
    assert (await rpc.call("task.info", task=tid))["state"] == "paused"
    assert _stopped(pid)
    assert await c.result("control", {"type": "RESUME"}) == {"status": "resumed"}
    assert (await c.notification("process.resumed"))["status"] == "resumed"
    assert (await rpc.call("task.info", task=tid))["state"] == "running"
    assert await c.result("control", {"type": "CANCEL"}) == {"status": "canceled"}
    assert (await c.notification("process.canceled"))["pid"] == pid
    end = await c.until_terminal()
    assert end["method"] == "process.failed"
    assert end["params"]["status"] == "canceled" and end["params"]["exit_code"] == -15
    assert "cancelled" in end["params"]["error"]
    assert (await c.error("control", {"type": "PAUSE"}))["code"] == -32002  # nothing runs any more
    await c.close()


async def test_cancel_while_paused_kills_a_setsid_grandchild(ccx: CcxDaemon, e2e: Any, tmp_path: Path) -> None:
    """The reference leaves the paused group alive and never reaches the setsid child (spec §5)."""
    pidfile = tmp_path / "grandchild.pid"
    # The grandchild leaves the session and ignores SIGTERM: only SIGKILL of the whole tree ends it.
    grandchild = f"setsid sh -c 'trap \"\" TERM; echo $$ > {pidfile}; while :; do sleep 1; done' >/dev/null 2>&1"
    c = await ccx.client()
    res = await c.result("execute", {"command": f"{grandchild} & wait"})
    gpid = await e2e.wait_for(lambda: e2e.read_pid_file(pidfile), timeout=20)
    assert os.getsid(gpid) != os.getsid(res["pid"])
    await c.result("control", {"type": "PAUSE"})
    await e2e.wait_for(lambda: _stopped(res["pid"]) and _stopped(gpid), timeout=10)
    await c.result("control", {"type": "CANCEL"})
    end = await c.until_terminal()
    assert end["method"] == "process.failed" and end["params"]["status"] == "canceled"
    await e2e.wait_for(lambda: e2e.gone(gpid), timeout=10)
    assert e2e.gone(res["pid"])
    await c.close()


async def test_timeout_is_an_inactivity_timeout_that_kills_and_says_so(ccx: CcxDaemon, e2e: Any) -> None:
    c = await ccx.client()
    res = await c.result("execute", {"command": "echo a; sleep 300", "timeout": 1})
    end = (await c.until_terminal())["params"]
    assert end["status"] == "timeout" and end["exit_code"] == -15 and "idle_timeout" in end["error"]
    assert c.output() == "a\n"
    await e2e.wait_for(lambda: e2e.gone(res["pid"]), timeout=10)
    await c.close()


async def test_errors_use_json_rpc_codes(ccx: CcxDaemon) -> None:
    c = await ccx.client()
    await c.send("{not json")
    parse = await c.recv()
    assert parse["id"] is None and parse["error"]["code"] == -32700
    assert (await c.error("nope"))["message"] == "Unknown method: nope"
    assert (await c.error("execute", {}))["code"] == -32602
    assert (await c.error("execute", {"command": "true", "timeout": "soon"}))["code"] == -32602
    assert (await c.error("control", {"type": "STOP"}))["code"] == -32602
    assert (await c.error("control", {"type": "PAUSE"})) == {
        "code": -32002,
        "message": "No process is running",
        "data": None,
    }
    await c.result("execute", {"command": "sleep 300"})
    busy = await c.error("execute", {"command": "true"})
    assert busy["code"] == -32602 and "already running" in busy["message"]
    hooks = await c.result("hook_status")
    assert set(hooks) == {
        "enabled",
        "config_path",
        "hooks_configured",
        "timeout",
        "parallel",
        "recent_executions",
        "statistics",
    }
    await c.send({"jsonrpc": "2.0", "method": "pong", "params": {}, "id": 99})  # answered by nothing
    assert (await c.result("control", {"type": "CANCEL"}))["status"] == "canceled"
    assert not any(m.get("id") == 99 for m in c.seen)
    await c.close()


async def test_a_batch_gets_an_array_of_replies_and_keeps_the_link(ccx: CcxDaemon) -> None:
    c = await ccx.client()
    await c.send(
        [
            {"jsonrpc": "2.0", "method": "hook_status", "id": 1},
            {"jsonrpc": "2.0", "method": "nope", "id": 2},
            {"jsonrpc": "2.0", "method": "pong"},
            {"jsonrpc": "2.0", "method": "execute", "params": {"command": "echo batched"}, "id": 3},
            42,
        ]
    )
    replies = await c.recv()
    assert isinstance(replies, list) and [r["id"] for r in replies] == [1, 2, 3, None]
    assert "result" in replies[0] and replies[1]["error"]["code"] == -32601
    assert replies[2]["result"]["status"] == "started" and replies[3]["error"]["code"] == -32600
    assert (await c.until_terminal())["params"]["exit_code"] == 0 and c.output() == "batched\n"
    await c.send([])
    assert (await c.recv())["error"]["code"] == -32600
    assert (await c.result("hook_status"))["enabled"] is False  # the connection is still up
    await c.close()


async def test_long_lines_are_cut_into_pieces_and_nothing_is_lost(ccx: CcxDaemon) -> None:
    c = await ccx.client()
    await c.result("execute", {"command": "head -c 150000 /dev/zero | tr '\\0' a; echo; echo after"})
    await c.until_terminal()
    pieces = [m["params"] for m in c.seen if m.get("method") == "process.output"]
    long = [p for p in pieces if p["chunk_index"] is not None]
    assert [p["chunk_index"] for p in long] == [0, 1, 2]
    assert [p["truncated"] for p in long] == [True, True, False]
    assert long[-1]["total_chunks"] == 3  # known once the line's end was read; null on pieces sent before that
    assert {p["total_chunks"] for p in long} <= {3, None}
    assert all(len(p["data"]) <= 65536 for p in pieces)
    assert c.output() == "a" * 150000 + "\nafter\n"
    await c.close()


async def test_heuristic_notifications(ccx: CcxDaemon) -> None:
    c = await ccx.client()
    script = "echo start; echo 'All done'; echo 'the output was truncated'; echo 'HTTP 429 Too Many Requests'"
    await c.result("execute", {"command": script})
    end = (await c.until_terminal())["params"]
    early = await c.notification("task.early_completion")
    assert early["marker"] == "All done" and early["output_line"] == "All done" and early["elapsed_time"] >= 0
    token = await c.notification("error.token_limit_exceeded")
    assert token["error_type"] == "token_limit" and token["limit"] == 32000 and token["recoverable"] is True
    assert token["error_text"] == "the output was truncated"
    rate = await c.notification("error.rate_limit_exceeded")
    assert rate["error_type"] == "rate_limit_429" and rate["retry_after"] == 60
    session_id = c.seen[0]["params"]["session_id"]  # from the `connected` notification
    assert early["session_id"] == token["session_id"] == rate["session_id"] == session_id
    assert end["early_completion_detected"] is True and end["completion_marker"] == "All done"
    await c.close()


async def test_allow_list_refuses_shell_syntax_but_runs_plain_allowed_commands(tmp_path: Path, rpc_free: Any) -> None:
    allow = tmp_path / "allow.json"
    allow.write_text(json.dumps({"rules": [{"exe": "echo"}]}))
    d = await start_ccx_daemon(tmp_path / "home", allow_list=allow)
    try:
        c = await d.client()
        await c.result("execute", {"command": "echo 'hi there'"})
        assert (await c.until_terminal())["params"]["exit_code"] == 0 and c.output() == "hi there\n"
        for bypass in ("echo hi && id -un", "echo ok; id -un", "echo $(id -un)", "echo `id`", "id -un", "echo *"):
            err = await c.error("execute", {"command": bypass})
            assert err["code"] == -32001, (bypass, err)
        tasks = (await rpc_free(d, "task.list"))["tasks"]
        assert len(tasks) == 1  # a refused command starts nothing
        await c.close()
    finally:
        await d.close()
    allow.write_text(json.dumps({"rules": [{"exe": "sh"}, {"exe": "echo"}]}))
    d = await start_ccx_daemon(tmp_path / "home2", allow_list=allow)
    try:
        c = await d.client()
        await c.result("execute", {"command": "echo a && echo b"})  # the shell itself is allowed: anything goes
        assert (await c.until_terminal())["params"]["exit_code"] == 0 and c.output() == "a\nb\n"
        await c.close()
    finally:
        await d.close()


@pytest.fixture
def rpc_free() -> Any:
    async def call(d: CcxDaemon, method: str, **params: Any) -> Any:
        c = await Client.connect(d.info["url"], d.token)
        try:
            return await c.call(method, **params)
        finally:
            await c.close()

    return call


async def test_executes_are_ordinary_tasks_in_executive_ps(ccx: CcxDaemon, e2e: Any) -> None:
    c = await ccx.client(port="main")
    res = await c.result("execute", {"command": "sleep 300"})
    r = await e2e.run_cli(ccx.home, "ps")
    assert r.rc == 0
    [row] = [line for line in r.out.splitlines() if line.split()[:1] == [str(res["task"])]]
    assert "ccx" in row and "running" in row
    r = await e2e.run_cli(ccx.home, "cancel", str(res["task"]))  # the CLI controls it like any task
    assert r.rc == 0
    end = await c.until_terminal()
    assert end["params"]["status"] == "canceled"
    await c.close()


async def test_disconnect_cancels_unless_detached(ccx: CcxDaemon, rpc: Client, e2e: Any) -> None:
    c = await ccx.client()
    attached = await c.result("execute", {"command": "sleep 300"})
    await c.close()
    done = await rpc.call("task.wait", task=attached["task"], timeout=20)
    assert done["state"] == "ended" and done["end_reason"] == "cancelled"
    await e2e.wait_for(lambda: e2e.gone(attached["pid"]), timeout=10)

    c = await ccx.client()
    detached = await c.result("execute", {"command": "sleep 300", "detach": True})
    await c.close()
    still = await rpc.call("task.wait", task=detached["task"], timeout=1)
    assert still["timed_out"] is True and still["state"] == "running"
    await rpc.call("task.cancel", task=detached["task"])


async def test_token_endpoint_refuses_without_token_and_ccx_port_needs_none(ccx: CcxDaemon) -> None:
    async with websockets.connect(ccx.main_url) as ws:
        refused = json.loads(await ws.recv())
        assert refused["error"]["code"] == 1001 and "token" in refused["error"]["message"]
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    assert json.loads((ccx.home / "daemon.json").read_text())["ccx_port"] == ccx.info["ccx_port"] > 0
    older = await CcxClient.connect(f"ws://127.0.0.1:{ccx.info['ccx_port']}/ws")  # the reference's older path
    hello = (await older.recv())["params"]
    assert set(hello) == {"session_id", "version", "capabilities"} and hello["version"] == "1.0.0"
    assert {"execute", "control", "stream"} <= set(hello["capabilities"])
    health = await asyncio.to_thread(_get_json, f"http://127.0.0.1:{ccx.info['ccx_port']}/health")
    assert health["status"] == "healthy" and health["service"] == "cc_executor_mcp"
    assert health["active_sessions"] == 1 and health["max_sessions"] == DEFAULT_LIMITS.ccx_max_sessions
    assert await asyncio.to_thread(_get_json, f"http://127.0.0.1:{ccx.info['ccx_port']}/healthz") == {"status": "ok"}
    await older.close()


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


async def test_app_ping_needs_no_pong(tmp_path: Path) -> None:
    limits = dataclasses.replace(DEFAULT_LIMITS, ccx_ping_interval_s=0.2)
    d = await start_ccx_daemon(tmp_path / "home", limits=limits)
    try:
        c = await d.client()
        first = await c.notification("ping")
        assert isinstance(first["timestamp"], float)
        c.seen.clear()
        assert (await c.notification("ping"))["timestamp"] >= first["timestamp"]  # never answered, still pinged
        await c.result("execute", {"command": "echo alive"})
        assert (await c.until_terminal())["params"]["exit_code"] == 0
        await c.close()
    finally:
        await d.close()


async def test_one_hundred_concurrent_sessions_and_the_session_limit(ccx: CcxDaemon) -> None:
    clients = await asyncio.gather(*(ccx.client() for _ in range(100)))
    over = await CcxClient.connect(ccx.ccx_url)
    refused = await over.recv()
    assert refused["id"] is None and refused["error"]["code"] == -32003
    with pytest.raises(websockets.ConnectionClosed) as info:
        await over.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008

    async def one(i: int, c: CcxClient) -> None:
        res = await c.result("execute", {"command": f"echo session {i}"})
        assert res["status"] in ("started", "queued")  # beyond Limits.max_running, tasks wait for a slot
        end = await c.until_terminal(timeout=120)
        assert end["params"]["exit_code"] == 0 and c.output() == f"session {i}\n"
        assert c.methods().count("process.started") == 1

    await asyncio.gather(*(one(i, c) for i, c in enumerate(clients)))
    await asyncio.gather(*(c.close() for c in clients))


LINE = b"x" * 1023 + b"\n"
TOTAL = 200_000_000


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("port", ["ccx", "main"])
async def test_a_reader_that_stalls_60s_keeps_its_link_and_every_byte(ccx: CcxDaemon, rpc: Client, port: str) -> None:
    """200 MB of 1 KiB lines; the client stops reading for 60 s mid-stream (spec §8: the reference's link dies).

    Both ports: /ws/mcp on the main port (token) and the --ccx-port.  The stall outlasts three of
    the servers' 20 s pings, which the stalled client cannot see behind its unread data.
    """
    expected = hashlib.sha256()
    block = LINE * 1024
    for _ in range(TOTAL // len(block)):
        expected.update(block)
    expected.update(block[: TOTAL % len(block)])
    url, token = (ccx.ccx_url, None) if port == "ccx" else (ccx.main_url, ccx.token)
    c = await CcxClient.connect(url, token, compression=None, max_queue=4)  # back-pressure reaches the daemon
    assert (await c.recv())["method"] == "connected"
    await c.send(
        {"jsonrpc": "2.0", "method": "execute", "params": {"command": f"yes {'x' * 1023} | head -c {TOTAL}"}, "id": 1}
    )
    got = hashlib.sha256()
    n = 0
    pings = 0
    stalled = False
    ended_during_stall = False
    while True:
        msg = json.loads(await asyncio.wait_for(c.ws.recv(), 120))
        method = msg.get("method")
        if method == "process.output":
            data = msg["params"]["data"].encode()
            got.update(data)
            n += len(data)
            if not stalled and n >= 4_000_000:
                stalled = True
                await asyncio.sleep(60)  # the stall: nothing is read for a minute
                tid = (await rpc.call("task.list", limit=1))["tasks"][0]["id"]
                ended_during_stall = (await rpc.call("task.info", task=tid))["state"] == "ended"
        elif method == "ping":
            pings += 1
        elif method in ("process.completed", "process.failed"):
            assert msg["params"]["exit_code"] == 0, msg
            break
    assert n == TOTAL and got.hexdigest() == expected.hexdigest()
    assert ended_during_stall  # the producer was never held back by the slow reader: the log took it all
    assert pings >= 1  # the keep-alive went on while the reader was behind
    await c.close()


async def test_serve_cli_flag_records_ccx_port(daemon_process: Any) -> None:
    """`executive serve --ccx-port 0` (a real subprocess): the port is in daemon.json and takes unmodified clients."""
    d = daemon_process(extra=["--ccx-port", "0"])
    info = await asyncio.to_thread(d.start)
    assert info["ccx_port"] > 0 and info["ccx_url"] == f"ws://127.0.0.1:{info['ccx_port']}/ws/mcp"
    c = await CcxClient.connect(info["ccx_url"])
    assert (await c.recv())["method"] == "connected"
    await c.result("execute", {"command": "echo from the cli daemon"})
    assert (await c.until_terminal())["params"]["exit_code"] == 0 and c.output() == "from the cli daemon\n"
    await c.close()


async def test_a_client_that_never_reads_its_replies_is_dropped(tmp_path: Path) -> None:
    limits = dataclasses.replace(DEFAULT_LIMITS, max_queued_reply_bytes=64 * 1024)
    d = await start_ccx_daemon(tmp_path / "home", limits=limits)
    health_url = f"http://127.0.0.1:{d.info['ccx_port']}/health"
    try:
        c = await CcxClient.connect(d.ccx_url, max_queue=1)
        request = json.dumps({"jsonrpc": "2.0", "method": "hook_status", "id": 1})
        with contextlib.suppress(websockets.ConnectionClosed):
            for _ in range(100):  # replies pile up once the socket buffers are full; then the daemon drops us
                for _ in range(5000):
                    await c.ws.send(request)
                if (await asyncio.to_thread(_get_json, health_url))["active_sessions"] == 0:
                    break
        assert (await asyncio.to_thread(_get_json, health_url))["active_sessions"] == 0
        with pytest.raises(websockets.ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(c.ws.recv(), 30)
        assert info.value.rcvd is None or info.value.rcvd.code == 1008
    finally:
        await d.close()
