"""The bare WebSocket servers that RPC benchmarks compare against, run in their own process.

Same libraries as the daemon's transport (``websockets`` on uvloop, orjson), none of its
RPC layer.  ``echo`` answers each request frame with a ``daemon.health``-shaped reply;
``sender`` answers a frame ``{"count": N, "size": S, "batch": B}`` by sending N events
in ``events`` notifications of B events each, the shape the daemon sends.

Started by :class:`BaselineServer`; prints its port on stdout and serves until killed.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent


async def _echo(ws: Any) -> None:
    async for msg in ws:
        req = orjson.loads(msg)
        await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": req["id"], "result": {"status": "ok"}}).decode())


async def _sender(ws: Any) -> None:
    async for msg in ws:
        req = orjson.loads(msg)
        count, size, batch = int(req["count"]), int(req["size"]), int(req["batch"])
        ev = orjson.dumps({"seq": 1, "ts": time.time(), "type": "bench", "pid": None, "data": {"data": "x" * size}})

        def frame(n: int, ev: bytes = ev) -> str:  # built once per size: the baseline is transport + parsing alone
            body = b",".join([ev] * n)
            return (b'{"jsonrpc":"2.0","method":"events","params":{"subscription":1,"events":[%s]}}' % body).decode()

        full = frame(batch)
        sent = 0
        while sent < count:
            n = min(batch, count - sent)
            await ws.send(full if n == batch else frame(n))
            sent += n


async def _main(mode: str) -> None:
    from websockets.asyncio.server import serve

    handler = {"echo": _echo, "sender": _sender}[mode]
    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


class BaselineServer:
    """``with BaselineServer("echo") as url:`` a bare server in a child process."""

    def __init__(self, mode: str) -> None:
        if mode not in ("echo", "sender"):
            raise ValueError(f"mode must be 'echo' or 'sender', not {mode!r}")
        self.mode = mode
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> str:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_baseline_server.py"), self.mode], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.proc.kill()
            raise RuntimeError(f"baseline {self.mode} server did not start (said {line!r})")
        return f"ws://127.0.0.1:{int(line)}"

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_main(sys.argv[1]))
