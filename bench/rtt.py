"""Round trip of a trivial call over /rpc, against a bare WebSocket echo in its own process.

A: ``daemon.health`` through the executive client to the daemon (its own process).
B (same run, same client library, same loopback): a bare ``websockets`` echo server on
uvloop with orjson, in its own process (``_baseline_server.py echo``), answering the
identical request frame.  The ratio is what the daemon's JSON-RPC layer adds on top of
the transport.  Each round's sample is the median of ``--calls`` calls; the sides
alternate round by round.  Target: median < 0.3 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import _harness
import orjson
from _baseline_server import BaselineServer
from websockets.asyncio.client import connect

WARMUP = 200


async def median_rtt(call: Callable[[], Awaitable[object]], n: int) -> tuple[float, float]:
    """Median and p99 of ``n`` calls, in milliseconds."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        out.append(time.perf_counter() - t0)
    out.sort()
    return statistics.median(out) * 1e3, out[int(len(out) * 0.99)] * 1e3


async def run(bench: _harness.Bench, d: _harness.BenchDaemon, echo_url: str) -> None:
    n = bench.args.calls
    c = await d.client()
    async with connect(echo_url, compression=None) as ws:
        ids = iter(range(1, 1 << 62))

        async def bare() -> None:
            frame = orjson.dumps({"jsonrpc": "2.0", "id": next(ids), "method": "daemon.health", "params": {}})
            await ws.send(frame.decode())
            await ws.recv()

        async def ours() -> object:
            return await c.call("daemon.health")

        for _ in range(WARMUP):
            await ours()
            await bare()
        p99s: list[float] = []

        async def a() -> float:
            med, p99 = await median_rtt(ours, n)
            p99s.append(p99)
            return med

        async def b() -> float:
            return (await median_rtt(bare, n))[0]

        xs, ys = await _harness.interleave_async(bench.rounds, a, b)
    await c.close()
    bench.record(
        f"daemon.health, median of {n:,} calls per round",
        "round trip",
        "ms",
        "executive /rpc",
        xs,
        "bare websockets echo (own process)",
        ys,
        better="lower",
        note=f"executive p99 per round: {', '.join(f'{p:.3f}' for p in p99s)} ms; "
        f"target median < 0.3 ms: {'met' if statistics.median(xs) < 0.3 else 'NOT met'}",
    )


def main() -> None:
    def options(ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--calls", type=int, default=2000, help="calls per round and side (default 2000)")

    with _harness.Bench("rtt", __doc__.splitlines()[0], options=options) as bench:
        with _harness.BenchDaemon() as d, BaselineServer("echo") as url:
            asyncio.run(run(bench, d, url))


if __name__ == "__main__":
    main()
