"""MB/s of two producers through the cc_executor endpoint (/ws/mcp) and through /rpc, content verified by sha256.

Producers: ``yes <1023 x> | head -c 200M`` (1 KiB lines) and ``yes | head -c 50M``
(2-byte lines), each run as a task; one client reads all of its stdout.

* ccx: a cc_executor-style client (``execute``, then ``process.output`` until
  ``process.completed``) on ``/ws/mcp`` of a daemon in its own process.
* /rpc (baseline, same run, same daemon): ``events.subscribe`` + ``task.run``,
  output events in offset order, any gap read back with ``task.output``.

Both sides hash what they receive and compare with the sha256 of the same
command read through a plain pipe.  Targets: at least 20x cc_executor on this
machine kind (5.9 MB/s and 0.046 MB/s, spec/cc-executor-wire.md measurements)
and at least 0.5x of /rpc.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import subprocess
import time

import _harness  # puts src/ on the path
import orjson
from websockets.asyncio.client import connect

CASES = [
    ("1 KiB lines", f"yes \"$(head -c 1023 /dev/zero | tr '\\0' x)\" | head -c {200_000_000}", 200_000_000, 5.9),
    ("2-byte lines", f"yes | head -c {50_000_000}", 50_000_000, 0.046),
]


def pipe_digest(command: str) -> str:
    """sha256 of the command's stdout read through a plain pipe."""
    h = hashlib.sha256()
    p = subprocess.Popen(["sh", "-c", command], stdout=subprocess.PIPE)
    assert p.stdout is not None
    while True:
        b = p.stdout.read1(1 << 20)  # type: ignore[attr-defined]
        if not b:
            break
        h.update(b)
    p.wait()
    return h.hexdigest()


async def through_ccx(d: _harness.BenchDaemon, command: str, total: int) -> tuple[float, str]:
    url = f"ws://127.0.0.1:{d.info['port']}/ws/mcp"
    h = hashlib.sha256()
    n = 0
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
                data = msg["params"]["data"].encode()
                n += len(data)
                h.update(data)
            elif method in ("process.completed", "process.failed"):
                assert msg["params"]["exit_code"] == 0, msg
                break
            elif "error" in msg:
                raise RuntimeError(msg["error"])
        elapsed = time.perf_counter() - t0
    assert n == total, (n, total)
    return total / elapsed / 1e6, h.hexdigest()


async def through_rpc(d: _harness.BenchDaemon, command: str, total: int) -> tuple[float, str]:
    c = await d.client()
    h = hashlib.sha256()
    await c.call("events.subscribe", types=["output", "task_state"])
    t0 = time.perf_counter()
    task = await c.call("task.run", argv=["sh", "-c", command])
    expected = 0
    done = False
    while not done:
        await c._event_ready.wait()
        c._event_ready.clear()
        for ev in c.take_events():
            if ev["type"] == "output" and ev["pid"] == task["id"] and ev["data"]["stream"] == "stdout":
                d_ = ev["data"]
                while d_["offset"] > expected:  # a gap (the ring dropped events): read it from the log
                    gap = await c.call(
                        "task.output", task=task["id"], offset=expected, limit=min(d_["offset"] - expected, 4 << 20)
                    )
                    chunk = gap["data"].encode() if "data" in gap else base64.b64decode(gap["data_b64"])
                    h.update(chunk)
                    expected += len(chunk)
                data = d_["data"].encode() if "data" in d_ else base64.b64decode(d_["data_b64"])
                if d_["offset"] == expected:
                    h.update(data)
                    expected += len(data)
            elif ev["type"] == "task_state" and ev["pid"] == task["id"] and ev["data"]["to"] == "ended":
                done = True
    while expected < total:  # output events after the last one we saw were dropped: read the tail
        gap = await c.call("task.output", task=task["id"], offset=expected, limit=4 << 20)
        chunk = gap["data"].encode() if "data" in gap else base64.b64decode(gap["data_b64"])
        h.update(chunk)
        expected += len(chunk)
    elapsed = time.perf_counter() - t0
    await c.close()
    assert expected == total, (expected, total)
    return total / elapsed / 1e6, h.hexdigest()


def main() -> None:
    digests = {name: pipe_digest(cmd) for name, cmd, _, _ in CASES}
    with _harness.BenchDaemon() as d:
        for name, cmd, total, reference in CASES:
            ccx_rate, ccx_sha = asyncio.run(through_ccx(d, cmd, total))
            rpc_rate, rpc_sha = asyncio.run(through_rpc(d, cmd, total))
            ok = ccx_sha == digests[name] and rpc_sha == digests[name]
            print(
                f"ccx: {name:12} {total / 1e6:5.0f} MB  /ws/mcp {ccx_rate:8.2f} MB/s   /rpc {rpc_rate:8.2f} MB/s   "
                f"sha256 {'match' if ok else 'MISMATCH'}"
            )
            x_ref = ccx_rate / reference
            x_rpc = ccx_rate / rpc_rate
            print(
                f"ccx: {name:12} ratio vs cc_executor ({reference} MB/s) = {x_ref:7.1f}x "
                f"(target >= 20x: {'met' if x_ref >= 20 else 'NOT met'});  "
                f"ratio vs /rpc = {x_rpc:.2f} (target >= 0.5: {'met' if x_rpc >= 0.5 else 'NOT met'})"
            )
            assert ok, "content differs from the pipe"


if __name__ == "__main__":
    main()
