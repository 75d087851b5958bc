"""Events/s delivered to one client and to eight, against a bare WebSocket sender.

The daemon (child process) publishes N small events on its bus (`bench.emit`);
each client subscribes and counts what arrives through `events` notifications.
Baseline (same run): a bare `websockets` server sending the same number of
events in frames of the same shape and batch size to the same client code —
the cost of transport + client parsing alone.  Target: >= 200 000 events/s to
one client.
"""

from __future__ import annotations

import asyncio
import time

import _harness  # noqa: F401
import orjson
from websockets.asyncio.server import serve

N = 400_000
BATCH = 4096


async def run_clients(d: _harness.BenchDaemon, n_clients: int) -> tuple[float, int, int]:
    clients = [await d.client() for _ in range(n_clients)]
    for c in clients:
        await c.call("events.subscribe", types=["bench"])
    got = [0] * n_clients
    dropped = [0] * n_clients

    async def consume(i: int) -> None:
        c = clients[i]
        while got[i] + dropped[i] < N:
            await c._event_ready.wait()
            c._event_ready.clear()
            for ev in c.take_events():
                if ev["type"] == "warning":
                    dropped[i] += ev["data"]["dropped"]
                else:
                    got[i] += 1

    t0 = time.perf_counter()
    consumers = [asyncio.ensure_future(consume(i)) for i in range(n_clients)]
    await clients[0].call("bench.emit", count=N, size=16)
    await asyncio.wait_for(asyncio.gather(*consumers), 120)
    elapsed = time.perf_counter() - t0
    for c in clients:
        await c.close()
    return elapsed, sum(got), sum(dropped)


async def baseline() -> float:
    ev = {"seq": 1, "ts": time.time(), "type": "bench", "pid": None, "data": {"data": "x" * 16}}
    body = b",".join(orjson.dumps(ev) for _ in range(BATCH))
    frame = (b'{"jsonrpc":"2.0","method":"events","params":{"subscription":1,"events":[%s]}}' % body).decode()

    async def sender(ws):  # type: ignore[no-untyped-def]
        sent = 0
        while sent < N:
            await ws.send(frame)
            sent += BATCH

    from executive.api.client import Client

    async with serve(sender, "127.0.0.1", 0, compression=None, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        c = await Client.connect(f"ws://127.0.0.1:{port}")
        got = 0
        t0 = time.perf_counter()
        while got < N - BATCH + 1:
            await c._event_ready.wait()
            c._event_ready.clear()
            got += len(c.take_events())
        elapsed = time.perf_counter() - t0
        await c.close()
        return got / elapsed


def main() -> None:
    with _harness.BenchDaemon() as d:
        one = asyncio.run(run_clients(d, 1))
        eight = asyncio.run(run_clients(d, 8))
    base = asyncio.run(baseline())
    rate1 = one[1] / one[0]
    rate8 = eight[1] / eight[0]
    print(f"events: 1 client : {rate1:12,.0f} events/s delivered ({one[1]:,} delivered, {one[2]:,} dropped, {one[0]:.2f} s)")
    print(f"events: 8 clients: {rate8:12,.0f} events/s delivered in total ({eight[1]:,} delivered, {eight[2]:,} dropped, {eight[0]:.2f} s; clients share one process)")
    print(f"events: baseline bare websockets sender to the same client code: {base:,.0f} events/s")
    print(f"events: ratio 1 client / baseline = {rate1 / base:.2f}   target >= 200,000/s to one client: {'met' if rate1 >= 200_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
