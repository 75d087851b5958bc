"""The dashboard's HTTP side and RPC additions, without a browser: sign-in, cookie + Origin on /rpc,
downloads, task.stats, task.restart, daemon.limits."""

from __future__ import annotations

import asyncio
import http.client
import urllib.parse
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from executive.api.client import RpcError


def _request(daemon: Any, method: str, path: str, body: bytes | None = None, cookie: str | None = None) -> Any:
    conn = http.client.HTTPConnection(daemon.info["host"], daemon.info["port"], timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
    if cookie:
        headers["Cookie"] = cookie
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    resp.body = resp.read()
    conn.close()
    return resp


async def request(daemon: Any, method: str, path: str, **kw: Any) -> Any:
    return await asyncio.to_thread(_request, daemon, method, path, **kw)


async def test_login_sets_an_httponly_strict_cookie_and_refuses_wrong_tokens(daemon: Any) -> None:
    r = await request(daemon, "GET", "/")
    assert r.status == 303 and r.getheader("Location") == "/login"
    r = await request(daemon, "GET", "/login")
    assert r.status == 200 and b'name="token"' in r.body
    r = await request(daemon, "POST", "/login", body=b"token=wrong")
    assert r.status == 401 and b"not this daemon&#x27;s token" in r.body
    assert r.getheader("Set-Cookie") is None
    r = await request(daemon, "POST", "/login", body=b"token=")
    assert r.status == 401 and b"Enter the token" in r.body
    r = await request(daemon, "POST", "/login", body=b"token=" + b"x" * 10000)
    assert r.status == 413
    r = await request(daemon, "POST", "/login", body=urllib.parse.urlencode({"token": daemon.token}).encode())
    assert r.status == 303 and r.getheader("Location") == "/"
    cookie = r.getheader("Set-Cookie")
    assert cookie.startswith(f"executive_token={daemon.token};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    jar = f"executive_token={daemon.token}"
    r = await request(daemon, "GET", "/", cookie=jar)
    assert r.status == 200 and b'src="/static/js/app.js"' in r.body
    assert "frame-ancestors 'none'" in r.getheader("Content-Security-Policy")
    assert (await request(daemon, "GET", "/auth/check", cookie=jar)).status == 200
    # A cookie that no longer matches (the token was replaced) sends the page back to the login form.
    r = await request(daemon, "GET", "/", cookie="executive_token=old")
    assert r.status == 303 and r.getheader("Location") == "/login?error=expired"
    assert (await request(daemon, "GET", "/auth/check", cookie="executive_token=old")).status == 401
    r = await request(daemon, "POST", "/logout", cookie=jar)
    assert r.status == 303 and 'executive_token=""' in r.getheader("Set-Cookie")


async def test_static_assets_answer_without_the_cookie_and_nothing_else_does(daemon: Any) -> None:
    assert (await request(daemon, "GET", "/static/js/rpc.js")).status == 200
    assert (await request(daemon, "GET", "/static/../index.html")).status == 404
    assert (await request(daemon, "GET", "/download/1/stdout")).status == 401


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [("same", True), ("http://evil.example", False), (None, False), ("null", False)],
)
async def test_rpc_accepts_the_cookie_only_from_the_daemons_own_origin(
    daemon: Any, origin: str | None, allowed: bool
) -> None:
    host = f"{daemon.info['host']}:{daemon.info['port']}"
    headers = {"Cookie": f"executive_token={daemon.token}"}
    if origin is not None:
        headers["Origin"] = f"http://{host}" if origin == "same" else origin
    async with connect(daemon.url, additional_headers=headers, origin=None) as ws:
        await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "daemon.health"}))
        reply = orjson.loads(await ws.recv())
    assert ("result" in reply) is allowed, reply
    if not allowed:
        assert reply["error"]["code"] == 1001


async def test_download_serves_the_whole_log(daemon: Any, client: Any) -> None:
    task = await client.call("task.run", argv=["sh", "-c", "seq 1 5000; echo err >&2"])
    await client.call("task.wait", task=task["id"], timeout=30)
    jar = f"executive_token={daemon.token}"
    r = await request(daemon, "GET", f"/download/{task['id']}/stdout", cookie=jar)
    assert r.status == 200 and r.body == "".join(f"{i}\n" for i in range(1, 5001)).encode()
    assert f"task-{task['id']}-stdout.log" in r.getheader("Content-Disposition")
    r = await request(daemon, "GET", f"/download/{task['id']}/stderr", cookie=jar)
    assert r.body == b"err\n"
    assert (await request(daemon, "GET", f"/download/{task['id']}/other", cookie=jar)).status == 400
    assert (await request(daemon, "GET", "/download/999/stdout", cookie=jar)).status == 404


async def test_task_stats_restart_and_limits(client: Any) -> None:
    live = await client.call("task.run", argv=["sh", "-c", "sleep 30 & sleep 30; wait"], name="tree")
    ended = await client.call("task.run", argv=["sh", "-c", "echo again"], name="once")
    await client.call("task.wait", task=ended["id"], timeout=30)
    stats = await client.call("task.stats")
    assert set(stats["tasks"]) == {str(live["id"])}
    one = stats["tasks"][str(live["id"])]
    assert one["procs"] >= 2 and one["rss"] > 0 and one["cpu_percent"] >= 0
    assert (await client.call("task.stats", tasks=[ended["id"]]))["tasks"] == {}
    listed = (await client.call("task.stats", tasks=[live["id"]], processes=True))["tasks"][str(live["id"])]
    assert {p["name"] for p in listed["processes"]} >= {"sh", "sleep"}
    assert len(listed["processes"]) == listed["procs"]
    again = await client.call("task.restart", task=ended["id"])
    assert again["id"] != ended["id"] and again["argv"] == ended["argv"] and again["restart_of"] == ended["id"]
    await client.call("task.wait", task=again["id"], timeout=30)
    out = await client.call("task.output", task=again["id"])
    assert out["data"] == "again\n"
    with pytest.raises(RpcError) as err:
        await client.call("task.restart", task=12345)
    assert err.value.code == 1010
    limits = await client.call("daemon.limits")
    assert limits["max_running"] >= 1 and limits["output_read_bytes"] > 0
    await client.call("task.kill", task=live["id"])
