"""MB/s of two producers through the cc_executor endpoint (/ws/mcp) and through /rpc, content verified by sha256.

Producers: ``yes <1023 x> | head -c 200M`` (1 KiB lines) and ``yes | head -c 50M``
(2-byte lines), each run as a task; one client reads all of its stdout.

* ccx: a cc_executor-style client (``execute``, then ``process.output`` until
  ``process.completed``) on ``/ws/mcp`` of a daemon in its own process.
* /rpc (baseline, same run, same daemon): ``events.subscribe`` + ``task.run``,
  output events in offset order, any gap read back with ``task.output``.

Both sides hash what they receive and compare with the sha256 of the same
command read through a plain pipe.  A (ccx) and B (/rpc) alternate over ``--rounds``.
Targets: at least 20x cc_executor on this machine kind (5.9 MB/s and 0.046 MB/s,
spec/cc-executor-wire.md measurements) and at least 0.5x of /rpc.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import time

import _harness
import orjson
from _rpc_stream import read_task_stdout
from websockets.asyncio.client import connect

CASES = [
    ("1 KiB lines", f"yes \"$(head -c 1023 /dev/zero | tr '\\0' x)\" | head -c {200_000_000}", 200_000_000, 5.9),
    ("2-byte lines", f"yes | head -c {50_000_000}", 50_000_000, 0.046),
]


def pipe_digest(command: str) -> _harness.Digest:
    """sha256 of the command's stdout read through a plain pipe."""
    h = _harness.Digest()
    p = subprocess.Popen(["sh", "-c", command], stdout=subprocess.PIPE)
    assert p.stdout is not None
    while b := p.stdout.read1(1 << 20):  # type: ignore[attr-defined]
        h.update(b)
    p.wait()
    return h


async def through_ccx(d: _harness.BenchDaemon, command: str, expect: _harness.Digest) -> float:
    url = f"ws://127.0.0.1:{d.info['port']}/ws/mcp"
    h = _harness.Digest()
    async with connect(
        url, additional_headers={"Authorization": f"Bearer {d.token}"}, ping_timeout=None, compression=None
    ) as ws:
        assert orjson.loads(await ws.recv())["method"] == "connected"
        t0 = time.perf_counter()
        await ws.send(orjson.dumps({"jsonrpc": "2.0", "method": "execute", "params": {"command": command}, "id": 1}))
        while True:
            msg = orjson.loads(await ws.recv())
            method = msg.get("method")
            if method == "process.output" and msg["params"]["type"] == "stdout":
                h.update(msg["params"]["data"].encode())
            elif method in ("process.completed", "process.failed"):
                assert msg["params"]["exit_code"] == 0, msg
                break
            elif "error" in msg:
                raise RuntimeError(msg["error"])
        elapsed = time.perf_counter() - t0
    _harness.verify("/ws/mcp", expect, h)
    return h.size / elapsed / 1e6


async def through_rpc(d: _harness.BenchDaemon, command: str, expect: _harness.Digest) -> float:
    c = await d.client()
    t0 = time.perf_counter()
    got, _ = await read_task_stdout(c, ["sh", "-c", command])
    elapsed = time.perf_counter() - t0
    await c.close()
    _harness.verify("/rpc", expect, got)
    return got.size / elapsed / 1e6


def main() -> None:
    with _harness.Bench("ccx", __doc__.splitlines()[0]) as bench:
        digests = {name: pipe_digest(cmd) for name, cmd, _, _ in CASES}
        with _harness.BenchDaemon() as d:
            for name, cmd, total, reference in CASES:
                expect = digests[name]
                assert expect.size == total, (name, expect.size, total)
                xs, ys = _harness.interleave(
                    bench.rounds,
                    lambda c=cmd, e=expect: asyncio.run(through_ccx(d, c, e)),  # type: ignore[misc]
                    lambda c=cmd, e=expect: asyncio.run(through_rpc(d, c, e)),  # type: ignore[misc]
                )
                x_ref = statistics.median(xs) / reference
                x_rpc = statistics.median(_harness.ratios(xs, ys))
                bench.record(
                    f"{name}, {total / 1e6:.0f} MB",
                    "throughput",
                    "MB/s",
                    "/ws/mcp (cc_executor wire)",
                    xs,
                    "/rpc, same daemon",
                    ys,
                    verified="sha256",
                    note=f"vs cc_executor ({reference} MB/s) {x_ref:.1f}x (target >= 20x: "
                    f"{'met' if x_ref >= 20 else 'NOT met'}); vs /rpc target >= 0.5: "
                    f"{'met' if x_rpc >= 0.5 else 'NOT met'}",
                )


if __name__ == "__main__":
    main()
