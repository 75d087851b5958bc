"""Events/s delivered to one client and to eight, against a bare WebSocket sender in its own process.

A: the daemon (its own process) publishes N small events on its bus (``bench.emit``);
each client subscribes and counts what arrives through ``events`` notifications (and
what the daemon reports as dropped).  B (same run): a bare ``websockets`` server on
uvloop, in its own process (``_baseline_server.py sender``), sends each client the same
number of events in frames of the same shape and batch size, read by the same client
code — the cost of transport + client parsing alone.  The sides alternate round by
round.  Target: >= 200 000 events/s to one client.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import _harness
import orjson
from _baseline_server import BaselineServer

from executive.api.client import Client

BATCH = 4096


async def daemon_round(d: _harness.BenchDaemon, n_clients: int, n: int, drops: list[int]) -> float:
    """Events/s delivered in total to ``n_clients`` subscribers of one ``bench.emit``."""
    clients = [await d.client() for _ in range(n_clients)]
    for c in clients:
        await c.call("events.subscribe", types=["bench"])
    got = [0] * n_clients
    dropped = [0] * n_clients

    async def consume(i: int) -> None:
        c = clients[i]
        while got[i] + dropped[i] < n:
            await c._event_ready.wait()
            c._event_ready.clear()
            for ev in c.take_events():
                if ev["type"] == "warning":
                    dropped[i] += ev["data"]["dropped"]
                else:
                    got[i] += 1

    t0 = time.perf_counter()
    consumers = [asyncio.ensure_future(consume(i)) for i in range(n_clients)]
    await clients[0].call("bench.emit", count=n, size=16)
    await asyncio.wait_for(asyncio.gather(*consumers), 300)
    elapsed = time.perf_counter() - t0
    for c in clients:
        await c.close()
    drops.append(sum(dropped))
    return sum(got) / elapsed


async def bare_round(url: str, n_clients: int, n: int) -> float:
    """Events/s received in total by ``n_clients`` clients of the bare sender."""
    clients = [await Client.connect(url) for _ in range(n_clients)]

    async def consume(c: Client) -> int:
        got = 0
        while got < n:
            await c._event_ready.wait()
            c._event_ready.clear()
            got += len(c.take_events())
        return got

    t0 = time.perf_counter()
    consumers = [asyncio.ensure_future(consume(c)) for c in clients]
    for c in clients:
        await c.send_raw(orjson.dumps({"count": n, "size": 16, "batch": BATCH}).decode())
    got = sum(await asyncio.wait_for(asyncio.gather(*consumers), 300))
    elapsed = time.perf_counter() - t0
    for c in clients:
        await c.close()
    return got / elapsed


async def run(bench: _harness.Bench, d: _harness.BenchDaemon, url: str) -> None:
    n = bench.args.events
    for n_clients in (1, 8):
        drops: list[int] = []
        xs, ys = await _harness.interleave_async(
            bench.rounds,
            lambda k=n_clients, dr=drops: daemon_round(d, k, n, dr),  # type: ignore[misc]
            lambda k=n_clients: bare_round(url, k, n),  # type: ignore[misc]
        )
        note = f"events dropped by the daemon per round: {drops}; all clients share this process"
        if n_clients == 1:
            med = statistics.median(xs)
            note += f"; target >= 200,000/s to one client: {'met' if med >= 200_000 else 'NOT met'}"
        bench.record(
            f"{n:,} events of 16 B to {n_clients} client(s)",
            "events delivered",
            "events/s",
            "executive bus -> /rpc",
            xs,
            "bare websockets sender (own process)",
            ys,
            note=note,
        )


def main() -> None:
    def options(ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--events", type=int, default=200_000, help="events per client and round (default 200000)")

    with _harness.Bench("events", __doc__.splitlines()[0], options=options) as bench:
        with _harness.BenchDaemon() as d, BaselineServer("sender") as url:
            asyncio.run(run(bench, d, url))


if __name__ == "__main__":
    main()
