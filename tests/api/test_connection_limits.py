"""Per-connection limits that keep one client from hurting the daemon or the others.

- Replies a client never reads are bounded in bytes: past the limit the daemon drops that
  client with close code 1008 and a reason; its tasks and every other client carry on.
- Connections without a valid token have their own small pool and a deadline, so a flood of
  them cannot lock the token holder out; a refusal reaches the client as a close code and
  reason (1013 "too many connections"), and the CLI prints it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import urllib.request
from typing import Any

import psutil
import pytest
import websockets
from websockets.asyncio.client import connect

from executive.api.client import Client, DaemonClosedConnection
from executive.kernel.limits import DEFAULT_LIMITS, Limits

MIB = 1024 * 1024


@pytest.fixture
def limits() -> Limits:
    return dataclasses.replace(
        DEFAULT_LIMITS, max_connections=4, max_unauthenticated=3, auth_deadline_s=0.5, max_queued_reply_bytes=32 * MIB
    )


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


async def _closed_with(ws: Any, timeout: float = 20.0) -> websockets.ConnectionClosed:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    return closed.value


async def test_a_client_that_never_reads_its_replies_is_dropped_not_grown(daemon: Any, client: Client) -> None:
    t = await client.call("task.run", argv=["sh", "-c", "head -c 4194304 /dev/zero | tr '\\0' z"])
    await client.call("task.wait", task=t["id"], timeout=30)
    rss_before = psutil.Process().memory_info().rss
    # No compression, a one-frame queue and tiny socket buffers: this client reads nothing.
    ws = await connect(
        daemon.url, additional_headers={"Authorization": f"Bearer {daemon.token}"}, compression=None, max_queue=1,
        max_size=None,
    )  # fmt: skip
    for i in range(150):  # 150 x 4 MiB = 600 MiB of replies if they were all kept
        request = {"jsonrpc": "2.0", "id": i, "method": "task.output", "params": {"task": t["id"], "limit": 4194304}}
        await ws.send(json.dumps(request, separators=(",", ":")))
    # The daemon drops this connection once 32 MiB of replies wait unread.
    other = await daemon.client()
    health_url = daemon.url.replace("ws://", "http://").replace("/rpc", "/health")
    for _ in range(400):
        health = await asyncio.to_thread(_get_json, health_url)
        if health["connections"] == 2:  # `client` and `other`: the flooding one is gone
            break
        await asyncio.sleep(0.05)
    assert health["connections"] == 2
    grown = psutil.Process().memory_info().rss - rss_before
    assert grown < 200 * MIB, f"the daemon grew by {grown // MIB} MiB for one client's unread replies"
    closed = await _closed_with(ws)
    assert closed.rcvd is None or (closed.rcvd.code == 1008 and "unread" in closed.rcvd.reason)
    assert (await other.call("task.info", task=t["id"]))["state"] == "ended"  # its work is unaffected
    await other.close()


async def test_token_less_connections_cannot_lock_out_the_token_holder(daemon: Any, e2e: Any) -> None:
    flood = [await connect(daemon.url) for _ in range(3)]  # the whole unauthenticated pool
    extra = await connect(daemon.url)
    closed = await _closed_with(extra)
    assert closed.rcvd is not None and closed.rcvd.code == 1013 and "without a token" in closed.rcvd.reason
    ok = await daemon.client()  # the token holder still gets in
    assert (await ok.call("daemon.health"))["status"] == "ok"
    r = await e2e.run_cli(daemon.home, "ps")
    assert r.rc == 0, r.err
    # Token-less connections are answered, then closed at the deadline.
    for ws in flood:
        closed = await _closed_with(ws, timeout=10)
        assert closed.rcvd is not None and closed.rcvd.code == 1008 and "token" in closed.rcvd.reason
    await ok.close()


async def test_a_full_daemon_says_so_to_the_client_and_the_cli(daemon: Any, e2e: Any) -> None:
    held = [await daemon.client() for _ in range(4)]
    with pytest.raises(DaemonClosedConnection) as exc:
        late = await daemon.client()
        await late.call("daemon.health")
    assert exc.value.code == 1013 and "too many connections (limit 4)" in exc.value.reason
    r = await e2e.run_cli(daemon.home, "ps")
    assert r.rc == 1 and "too many connections" in r.err and "does not answer" not in r.err and "Traceback" not in r.err
    for c in held:
        await c.close()
    r = await e2e.run_cli(daemon.home, "ps")
    assert r.rc == 0
