"""A real daemon in a child process for benchmarks, plus bench-only RPC methods.

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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from executive.api.client import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


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
    """The daemon in its own process; ``home`` reuses a prepared state directory (kept on exit).

    ``started_in`` is the wall time from spawning the process to daemon.json appearing
    (interpreter start, imports, store open and restore, port bound).
    """

    def __init__(self, home: Path | None = None) -> None:
        self.tmp: tempfile.TemporaryDirectory[str] | None = None
        if home is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="executive-bench-")
            home = Path(self.tmp.name) / "home"
            home.mkdir()
        self.home = home
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self.started_in = 0.0

    def __enter__(self) -> BenchDaemon:
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        path = self.home / "daemon.json"
        path.unlink(missing_ok=True)  # a stale file from a killed run would look like a started daemon
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), str(self.home)], env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            if path.exists():
                try:
                    self.info = json.loads(path.read_text())
                    break
                except ValueError:
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"bench daemon exited with {self.proc.returncode} before it was ready")
            time.sleep(0.002)
        else:
            raise RuntimeError("bench daemon did not start within 60 s")
        self.started_in = time.perf_counter() - t0
        return self

    @property
    def token(self) -> str:
        return (self.home / "token").read_text().strip()

    async def client(self) -> Client:
        from executive.api.client import Client

        return await Client.connect(self.info["url"], self.token)

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.tmp is not None:
            self.tmp.cleanup()


if __name__ == "__main__":
    _server_main(sys.argv[1])
