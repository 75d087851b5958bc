"""Median round trip of a trivial call over /rpc, against a bare WebSocket echo.

Baseline (same run, same client library, same loopback): a plain `websockets`
echo server answering the identical request frame.  The ratio shows what the
daemon's JSON-RPC layer adds on top of the transport.  Target: median < 0.3 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import _harness  # noqa: F401  (puts src/ on sys.path)
import orjson
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

N = 5000


async def measure(call) -> list[float]:  # type: ignore[no-untyped-def]
    for _ in range(200):
        await call()
    out = []
    for _ in range(N):
        t0 = time.perf_counter()
        await call()
        out.append(time.perf_counter() - t0)
    return out


async def baseline() -> list[float]:
    async def echo(ws):  # type: ignore[no-untyped-def]
        async for msg in ws:
            req = orjson.loads(msg)
            await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": req["id"], "result": {"status": "ok"}}).decode())

    async with serve(echo, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
            i = 0

            async def call() -> None:
                nonlocal i
                i += 1
                await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": i, "method": "daemon.health", "params": {}}).decode())
                await ws.recv()

            return await measure(call)


async def ours(d: _harness.BenchDaemon) -> list[float]:
    c = await d.client()
    try:
        return await measure(lambda: c.call("daemon.health"))
    finally:
        await c.close()


def main() -> None:
    with _harness.BenchDaemon() as d:
        ours_t = asyncio.run(ours(d))
    base_t = asyncio.run(baseline())
    m_ours, m_base = statistics.median(ours_t), statistics.median(base_t)
    p99 = sorted(ours_t)[int(len(ours_t) * 0.99)]
    print(f"rtt: executive /rpc daemon.health median {m_ours * 1e3:.3f} ms (p99 {p99 * 1e3:.3f} ms) over {N} calls")
    print(f"rtt: bare websockets echo median      {m_base * 1e3:.3f} ms (in-process server, same client)")
    print(f"rtt: ratio executive/bare = {m_ours / m_base:.2f}x   target < 0.3 ms: {'met' if m_ours < 0.3e-3 else 'NOT met'}")


if __name__ == "__main__":
    main()
