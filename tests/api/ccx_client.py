"""A small cc_executor-style client (spec/cc-executor-wire.md), and a daemon serving both ccx endpoints (tests only).

``CcxClient`` speaks like cc_executor's bundled ``WebSocketClient``: one
connection, JSON-RPC text frames, no protocol-ping timeout, and it never
answers the app-level ``ping``.  Replies and notifications are kept in
arrival order in ``seen``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from executive.api.server import ServeOptions, serve
from executive.kernel.limits import DEFAULT_LIMITS, Limits

TIMEOUT = 30.0  # a safety net against hangs, never a timing assertion
TERMINAL = ("process.completed", "process.failed")


class CcxClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = 0
        self.seen: list[dict[str, Any]] = []  # every message, in arrival order

    @classmethod
    async def connect(cls, url: str, token: str | None = None, **kw: Any) -> CcxClient:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        ws = await connect(url, additional_headers=headers, ping_timeout=None, **kw)
        return cls(ws)

    async def recv(self, timeout: float = TIMEOUT) -> Any:
        msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.seen.append(msg)
        return msg

    async def send(self, obj: Any) -> None:
        await self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request; return its reply (notifications on the way stay in ``seen``)."""
        self.ids += 1
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": self.ids}
        if params is not None:
            msg["params"] = params
        await self.send(msg)
        while True:
            reply = await self.recv()
            if isinstance(reply, dict) and "method" not in reply:
                assert reply["id"] == self.ids, reply
                return reply

    async def result(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = await self.request(method, params)
        assert "result" in reply, reply
        return reply["result"]

    async def error(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = await self.request(method, params)
        assert "error" in reply, reply
        assert reply["error"]["data"] is None
        return reply["error"]

    async def notification(self, method: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The first notification ``method`` already seen or arriving; returns its params."""
        for m in self.seen:
            if isinstance(m, dict) and m.get("method") == method:
                return m["params"]
        while True:
            m = await self.recv(timeout)
            if isinstance(m, dict) and m.get("method") == method:
                return m["params"]

    async def until_terminal(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Read up to process.completed / process.failed; return that whole message."""
        for m in self.seen:
            if isinstance(m, dict) and m.get("method") in TERMINAL:
                return m
        while True:
            m = await self.recv(timeout)
            if isinstance(m, dict) and m.get("method") in TERMINAL:
                return m

    def output(self, stream: str = "stdout") -> str:
        return "".join(
            m["params"]["data"]
            for m in self.seen
            if isinstance(m, dict) and m.get("method") == "process.output" and m["params"]["type"] == stream
        )

    def methods(self) -> list[str]:
        return [m.get("method", "<reply>") if isinstance(m, dict) else "<batch>" for m in self.seen]

    async def close(self) -> None:
        await self.ws.close()


@dataclasses.dataclass
class CcxDaemon:
    home: Path
    info: dict[str, Any]
    token: str
    stop: asyncio.Event
    task: asyncio.Task[None]

    @property
    def main_url(self) -> str:
        return f"ws://127.0.0.1:{self.info['port']}/ws/mcp"

    @property
    def ccx_url(self) -> str:
        return f"ws://127.0.0.1:{self.info['ccx_port']}/ws/mcp"

    async def client(self, *, port: str = "ccx") -> CcxClient:
        """A connected client past its ``connected`` notification; ``port`` is "ccx" (no token) or "main"."""
        if port == "ccx":
            c = await CcxClient.connect(self.ccx_url)
        else:
            c = await CcxClient.connect(self.main_url, self.token)
        hello = await c.recv()
        assert hello["method"] == "connected", hello
        return c

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


async def start_ccx_daemon(home: Path, *, limits: Limits = DEFAULT_LIMITS, allow_list: Path | None = None) -> CcxDaemon:
    ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    opts = ServeOptions(home, host="127.0.0.1", port=0, ccx_port=0, limits=limits, allow_list=allow_list)
    task = asyncio.ensure_future(serve(opts, on_ready=ready.set_result, stop=stop))
    done, _ = await asyncio.wait([ready, task], return_when=asyncio.FIRST_COMPLETED, timeout=20)
    if task in done:
        task.result()
    info = ready.result()
    return CcxDaemon(home=home, info=info, token=(home / "token").read_text().strip(), stop=stop, task=task)
