"""Benchmark harness: a real daemon in a child process, plus bench-only RPC methods.

The daemon runs in its own process (as in production) so the client's work
does not share its event loop.  ``bench.emit`` publishes N events of a given
payload size on the daemon's bus, so event delivery can be measured without
depending on how pipe reads happen to coalesce.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
# bench/mcp.py shares its name with the MCP SDK the daemon imports: once this module is loaded,
# bench/ (the script's directory, or the child's explicit entry) leaves the path so `import mcp` finds the SDK.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != str(ROOT / "bench")]


def _server_main(home: str) -> None:
    """Entry point of the child process."""
    from pydantic import BaseModel

    from executive.api.rpc import Method
    from executive.api.server import ServeOptions, serve
    from executive.logs import configure_logging

    class Emit(BaseModel):
        count: int
        size: int = 16
        burst: int = 2000

    async def emit(ctx: Any, p: Emit) -> dict[str, Any]:
        bus = ctx.service.bus
        payload = "x" * p.size
        sent = 0
        while sent < p.count:
            n = min(p.burst, p.count - sent)
            for _ in range(n):
                bus.publish("bench", None, {"data": payload}, size=p.size)
            sent += n
            await asyncio.sleep(0)  # let connection writers run between bursts
        return {"sent": sent, "last_seq": bus.last_seq}

    configure_logging(level="warning")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    emitted = dict[str, int]  # {sent, last_seq}
    opts = ServeOptions(Path(home), host="127.0.0.1", port=0, extra_methods=[Method("bench.emit", Emit, emitted, emit)])
    asyncio.run(serve(opts))


class BenchDaemon:
    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="executive-bench-")
        self.home = Path(self.tmp.name) / "home"
        self.home.mkdir()
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def __enter__(self) -> "BenchDaemon":
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import _harness; _harness._server_main({str(self.home)!r})"],
            env=env,
        )
        deadline = time.time() + 30
        path = self.home / "daemon.json"
        while time.time() < deadline:
            if path.exists():
                try:
                    self.info = json.loads(path.read_text())
                    break
                except ValueError:
                    pass
            time.sleep(0.05)
        else:
            raise RuntimeError("bench daemon did not start")
        return self

    @property
    def token(self) -> str:
        return (self.home / "token").read_text().strip()

    async def client(self):  # type: ignore[no-untyped-def]
        from executive.api.client import Client

        return await Client.connect(self.info["url"], self.token)

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.tmp.cleanup()
