"""Time from a DAP ``launch`` to the first ``stopped`` at a breakpoint, against the same steps
done directly over /rpc.

Each of N rounds starts a fresh ``python -m executive dap`` (as VS Code does), sends
``initialize`` (not timed), then times ``launch`` → ``initialized`` → ``setBreakpoints`` →
``configurationDone`` → the ``stopped`` event at ``fact_done`` of examples/fact.mvasm (as an
.hxe with its .sym, and as the .mvasm the adapter assembles first).  The baseline does what
the adapter does underneath, on an already connected /rpc client: ``session.open``,
``vm.load`` (paused, locked), ``events.subscribe``, ``debug.bp.add`` by file:line,
``vm.resume``, and waits for the ``debug_break`` event.  Target: median under 300 ms.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _harness

from executive.dap.codec import DapCodec, encode
from executive.hsx.asm import assemble_text

N = 10
SOURCE = _harness.ROOT / "examples" / "fact.mvasm"


class Adapter:
    """A minimal DAP client over a spawned adapter's stdio."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.codec = DapCodec()
        self.seq = 0
        self.inbox: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, home: Path) -> Adapter:
        env = dict(os.environ, EXECUTIVE_HOME=str(home), PYTHONPATH=str(_harness.ROOT / "src"))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "executive", "dap", env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(proc)

    async def send(self, command: str, **arguments: Any) -> None:
        assert self.proc.stdin is not None
        self.seq += 1
        self.proc.stdin.write(encode({"seq": self.seq, "type": "request", "command": command, "arguments": arguments}))
        await self.proc.stdin.drain()

    async def until(self, kind: str, name: str) -> dict[str, Any]:
        """The next response to ``name`` (kind "response") or event ``name`` (kind "event")."""
        assert self.proc.stdout is not None
        key = "command" if kind == "response" else "event"
        while True:
            for i, msg in enumerate(self.inbox):
                if msg["type"] == kind and msg.get(key) == name:
                    del self.inbox[: i + 1]
                    return msg
            data = await self.proc.stdout.read(65536)
            if not data:
                raise RuntimeError("the adapter closed its stdout")
            self.codec.receive_data(data)
            self.inbox += self.codec.next_messages()

    async def close(self) -> None:
        await self.send("disconnect", terminateDebuggee=True)
        await self.until("response", "disconnect")
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        await self.proc.wait()


async def dap_round(home: Path, program: Path, source: Path, line: int) -> float:
    a = await Adapter.start(home)
    await a.send("initialize", adapterID="hsx", linesStartAt1=True)
    await a.until("response", "initialize")
    t0 = time.perf_counter()
    await a.send("launch", program=str(program))
    await a.until("event", "initialized")
    await a.send("setBreakpoints", source={"path": str(source)}, breakpoints=[{"line": line}])
    await a.until("response", "setBreakpoints")
    await a.send("configurationDone")
    stopped = await a.until("event", "stopped")
    elapsed = time.perf_counter() - t0
    assert stopped["body"]["reason"] == "breakpoint", stopped
    await a.close()
    return elapsed


async def rpc_round(d: _harness.BenchDaemon, program: Path, source: Path, line: int) -> float:
    c = await d.client()
    try:
        t0 = time.perf_counter()
        await c.call("session.open", client="bench")
        pid = (await c.call("vm.load", path=str(program), paused=True, lock=True))["pid"]
        await c.call("events.subscribe", types=["debug_break"], tasks=[pid])
        await c.call("debug.bp.add", task=pid, where=f"{source}:{line}")
        await c.call("vm.resume", task=pid)
        while (await c.next_event(timeout=10))["type"] != "debug_break":
            pass
        elapsed = time.perf_counter() - t0
        await c.call("vm.kill", task=pid)
        return elapsed
    finally:
        await c.close()


async def run(d: _harness.BenchDaemon, work: Path) -> dict[str, list[float]]:
    text = SOURCE.read_text()
    line = next(n for n, t in enumerate(text.splitlines(), 1) if t.startswith("fact_done:")) + 1
    source = work / "fact.mvasm"
    source.write_text(text)
    res = assemble_text(text, str(source))
    hxe = work / "fact.hxe"
    hxe.write_bytes(res.hxe)
    (work / "fact.sym").write_text(json.dumps(res.sym))
    times: dict[str, list[float]] = {"dap_hxe": [], "dap_mvasm": [], "rpc": []}
    await dap_round(d.home, hxe, source, line)  # warm-up: imports, page cache
    for _ in range(N):  # interleaved, so drift hits all three alike
        times["rpc"].append(await rpc_round(d, hxe, source, line))
        times["dap_hxe"].append(await dap_round(d.home, hxe, source, line))
        times["dap_mvasm"].append(await dap_round(d.home, source, source, line))
    return times


def main() -> None:
    with _harness.BenchDaemon() as d, tempfile.TemporaryDirectory(prefix="executive-bench-dap-") as tmp:
        times = asyncio.run(run(d, Path(tmp)))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"dap: launch -> first stopped at a breakpoint, median of {N}")
    print(f"dap:   DAP, .hxe + .sym        {med['dap_hxe'] * 1e3:7.1f} ms")
    print(f"dap:   DAP, .mvasm (assembled) {med['dap_mvasm'] * 1e3:7.1f} ms")
    print(f"dap:   baseline, same steps over /rpc {med['rpc'] * 1e3:7.1f} ms")
    print(f"dap: ratio DAP(.hxe)/rpc = {med['dap_hxe'] / med['rpc']:.2f}x   target < 300 ms: "
          f"{'met' if max(med['dap_hxe'], med['dap_mvasm']) < 0.3 else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
