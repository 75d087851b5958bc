"""MCP against /rpc, same daemon, same run: trivial-call round trip and 200 MB log read throughput.

1. Round trip of a trivial tool call (``task_status`` of an ended task) over
   MCP stdio (``executive mcp``, itself a WebSocket client of the daemon) and
   MCP streamable HTTP (``/mcp``), against ``task.info`` over ``/rpc``.
2. MB/s of reading a 200 MB log from offset 0 to the end in 4 MiB pieces with
   the ``read_output`` tool over both transports, against ``task.output``
   over ``/rpc``.  A tool answer carries the data twice (the text block a
   model reads and the structured content), so MCP moves about twice the bytes.

The daemon runs in its own process (bench/_harness.py).  Prints medians,
MB/s and the ratio to /rpc.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import _harness  # first: it takes bench/ off the path, so `import mcp` below is the SDK and not this file
import httpx2
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from executive.api.mcp_tools import MAX_READ

TOTAL = 200_000_000
RPC_PIECE = 4 * 1024 * 1024  # task.output's default cap
N_CALLS = 300
CMD = ["sh", "-c", f"yes 'the quick brown fox jumps over the lazy dog 0123456789 abcdefghijkl' | head -c {TOTAL}"]


async def round_trip_ms(call: Callable[[], Awaitable[Any]], n: int = N_CALLS) -> tuple[float, float]:
    """Median and 10th percentile in ms (the percentile shows the cost when the machine is not busy)."""
    for _ in range(min(50, n)):
        await call()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times) * 1000, times[len(times) // 10] * 1000


@contextlib.asynccontextmanager
async def mcp_session(kind: str, d: _harness.BenchDaemon) -> AsyncIterator[ClientSession]:
    if kind == "stdio":
        env = dict(os.environ, EXECUTIVE_HOME=str(d.home), PYTHONPATH=str(_harness.ROOT / "src"))
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "executive", "mcp"], env=env, cwd=str(_harness.ROOT)
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            yield s
    else:
        url = f"http://127.0.0.1:{d.info['port']}/mcp"
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {d.token}"}, timeout=120)
        async with (
            http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as s,
        ):
            await s.initialize()
            yield s


async def read_rpc(client: Any, task: int, piece: int) -> float:
    t0 = time.perf_counter()
    offset = 0
    while offset < TOTAL:
        r = await client.call("task.output", task=task, offset=offset, limit=piece)
        n = len(r["data"].encode()) if "data" in r else len(base64.b64decode(r["data_b64"]))
        offset += n
    return TOTAL / (time.perf_counter() - t0) / 1e6


async def read_mcp(s: ClientSession, task: int) -> float:
    t0 = time.perf_counter()
    offset = 0
    while True:
        r = await s.call_tool("read_output", {"task": task, "offset": offset, "limit": MAX_READ})
        assert not r.is_error, r.content[0].text
        out = r.structured_content
        assert isinstance(out, dict)
        offset = out["next_offset"]
        if out["remaining"] == 0:
            break
    assert offset == TOTAL
    return TOTAL / (time.perf_counter() - t0) / 1e6


async def main() -> None:
    with _harness.BenchDaemon() as d:
        client = await d.client()
        small = await client.call("task.run", argv=["echo", "hi"])
        await client.call("task.wait", task=small["id"], timeout=30)
        big = await client.call("task.run", argv=CMD)
        await client.call("task.wait", task=big["id"], timeout=600)

        rpc_ms, rpc_p10 = await round_trip_ms(lambda: client.call("task.info", task=small["id"]))
        rpc_big = await read_rpc(client, big["id"], RPC_PIECE)
        rpc_mbs = await read_rpc(client, big["id"], MAX_READ)
        print(f"/rpc       task.info round trip     median {rpc_ms:.3f} ms, p10 {rpc_p10:.3f} ms")
        print(f"/rpc       task.output 200 MB, 4 MiB pieces    {rpc_big:.0f} MB/s")
        print(f"/rpc       task.output 200 MB, 256 KiB pieces  {rpc_mbs:.0f} MB/s  (baseline of the MCP reads)")
        for kind in ("http", "stdio"):
            async with mcp_session(kind, d) as s:

                async def trivial(s: ClientSession = s) -> None:
                    r = await s.call_tool("task_status", {"task": small["id"]})
                    assert not r.is_error

                ms, p10 = await round_trip_ms(trivial)
                mbs = await read_mcp(s, big["id"])
            print(
                f"mcp {kind:5}  task_status round trip   median {ms:.3f} ms ({ms / rpc_ms:.1f}x /rpc), "
                f"p10 {p10:.3f} ms ({p10 / rpc_p10:.1f}x)"
            )
            print(f"mcp {kind:5}  read_output 200 MB, 256 KiB pieces  {mbs:.0f} MB/s  ({mbs / rpc_mbs:.2f}x /rpc)")
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
