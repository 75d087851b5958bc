"""A small DAP client for the tests: Content-Length framing over the adapter's stdio.

It spawns ``python -m executive dap`` (the same entry point VS Code runs) with
EXECUTIVE_HOME pointing at a test daemon, sends requests, and collects responses and
events.  Written from the protocol specification, independent of the adapter's own codec.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class DapFailure(AssertionError):
    """A response with ``success: false``."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__(f"{response.get('command')} failed: {response.get('message')}")
        self.response = response


class DapClient:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        proc: asyncio.subprocess.Process | None = None,
    ) -> None:
        self.proc = proc
        self._in = reader
        self._out = writer
        self._seq = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._cursor = 0  # events before this index were consumed by wait_event
        self._changed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, home: Path, *extra: str) -> DapClient:
        env = dict(os.environ, EXECUTIVE_HOME=str(home))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "executive", "dap", *extra, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stdin is not None
        return cls(proc.stdout, proc.stdin, proc)

    @classmethod
    async def connect(cls, port: int) -> DapClient:
        """A client of an adapter serving TCP (``executive dap --port``)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def _read(self) -> None:
        out = self._in
        while True:
            header = await out.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in header.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            msg = json.loads(await out.readexactly(length))
            if msg["type"] == "response":
                fut = self._pending.pop(msg["request_seq"], None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
            elif msg["type"] == "event":
                self.events.append(msg)
                self._changed.set()

    async def send(self, command: str, **arguments: Any) -> asyncio.Future[dict[str, Any]]:
        """Send a request; the future resolves to its response (success or not)."""
        self._seq += 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._seq] = fut
        body = json.dumps({"seq": self._seq, "type": "request", "command": command, "arguments": arguments}).encode()
        self._out.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await self._out.drain()
        return fut

    async def raw(self, command: str, timeout: float = 20.0, **arguments: Any) -> dict[str, Any]:
        return await asyncio.wait_for(await self.send(command, **arguments), timeout)

    async def request(self, command: str, timeout: float = 20.0, **arguments: Any) -> dict[str, Any]:
        """Send and return the response body; a failed response raises :class:`DapFailure`."""
        r = await self.raw(command, timeout, **arguments)
        if not r["success"]:
            raise DapFailure(r)
        return r.get("body") or {}

    async def wait_event(self, name: str, timeout: float = 20.0) -> dict[str, Any]:
        """The next not yet consumed event called ``name`` (events before it are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(self._cursor, len(self.events)):
                if self.events[i]["event"] == name:
                    self._cursor = i + 1
                    return self.events[i].get("body") or {}
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [e["event"] for e in self.events[self._cursor :]]
                raise AssertionError(f"no {name!r} event within {timeout}s; pending events: {seen}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass

    async def wait_until(
        self, predicate: Callable[[list[dict[str, Any]]], Any], what: str, timeout: float = 20.0
    ) -> Any:
        """Wait until ``predicate(all events so far)`` is truthy and return its value (consumes nothing)."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self.events)
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [(e["event"], e.get("body")) for e in self.events if e["event"] != "output"]
                raise AssertionError(f"{what}: not within {timeout}s; events: {seen}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass

    def bodies(self, name: str, **match: Any) -> list[dict[str, Any]]:
        """The bodies of every event called ``name`` so far whose body has the ``match`` items."""
        out = []
        for e in self.events:
            body = e.get("body") or {}
            if e["event"] == name and all(body.get(k) == v for k, v in match.items()):
                out.append(body)
        return out

    def output(self) -> str:
        return "".join(e["body"]["output"] for e in self.events if e["event"] == "output")

    async def close(self) -> None:
        self._reader.cancel()
        if self.proc is None:
            self._out.close()
            return
        if self.proc.returncode is None:
            self._out.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def start_session(
    home: Path,
    launch: dict[str, Any],
    breakpoints: dict[str, list[int]] | None = None,
    *,
    client: DapClient | None = None,
    **bp_args: Any,
) -> tuple[DapClient, dict[str, Any]]:
    """initialize, launch, set line breakpoints, configurationDone; returns the client and the
    setBreakpoints responses by path.  ``client``: one already connected (a TCP adapter);
    by default a stdio adapter is started for ``home``."""
    c = client if client is not None else await DapClient.start(home)
    caps = await c.request("initialize", adapterID="hsx", clientID="tests", linesStartAt1=True, columnsStartAt1=True)
    launched = await c.send("launch", **launch)
    await c.wait_event("initialized")
    set_bps = {}
    for path, lines in (breakpoints or {}).items():
        set_bps[path] = await c.request(
            "setBreakpoints", source={"path": path}, breakpoints=[{"line": n, **bp_args} for n in lines]
        )
    await c.request("configurationDone")
    r = await asyncio.wait_for(launched, 20)
    assert r["success"], r
    return c, {"capabilities": caps, "breakpoints": set_bps}
