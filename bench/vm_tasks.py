"""Aggregate HSX instructions/s under the scheduler with 1, 10 and 100 CPU-bound tasks.

A: N tasks of the same spinning program under the scheduler, which runs in-process on
its asyncio loop (slices of ``Limits.vm_quantum`` instructions, a yield to the loop every
few ms), counted over a window of ``WINDOW_S``.  B (same run): the bare VM loop — one
``Cpu.run`` on the same program, no scheduler, no event loop — over the same window.
The two windows alternate round by round with the tasks loaded throughout; the bare
window blocks the loop, so the scheduled tasks stand still while it runs.
Target: median ratio >= 0.8 for every task count.

Second part: events/s delivered to a WebSocket client when a program runs with
per-instruction trace events on (``trace_step``), if the debugger's trace
service is available.
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import tempfile
import time

import _harness

from executive.hsx.asm import assemble_text
from executive.hsx.cpu import Cpu
from executive.logs import configure_logging
from executive.service import Executive

SPIN = """
.entry main
main:
    LDI R1, 1
    LDI R3, 0
loop:
    ADD R2, R2, R1
    XOR R3, R3, R2
    JMP loop
"""
WINDOW_S = 1.0


class BareLoop:
    """The bare loop, with the same register window and stack as a scheduled task."""

    def __init__(self) -> None:
        img = assemble_text(SPIN).image
        self.cpu = Cpu(img.code, img.rodata, entry=img.entry, sp=0xFFFC, stack_limit=0xEFFC, reg_base=0x1000)
        self.cpu.run(100_000)  # warm: compile blocks

    def window(self) -> float:
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < WINDOW_S:
            n += self.cpu.run(1_000_000)
        return n / (time.perf_counter() - t0)


async def scheduled_vs_bare(bench: _harness.Bench, n_tasks: int) -> tuple[list[float], list[float]]:
    """Per-round instructions/s of ``n_tasks`` scheduled tasks (aggregate) and of the bare loop."""
    bare = BareLoop()
    with tempfile.TemporaryDirectory() as home:
        ex = await Executive.open(home)
        try:
            data = base64.b64encode(assemble_text(SPIN).hxe).decode()
            pids = [ex.vm.load(data_b64=data, name=f"spin{i}")["pid"] for i in range(n_tasks)]
            await asyncio.sleep(0.3)  # warm-up: blocks compiled, scheduler steady

            async def scheduled() -> float:
                start = {p: ex.vm.task(p).cpu.steps for p in pids}
                t0 = time.perf_counter()
                await asyncio.sleep(WINDOW_S)
                elapsed = time.perf_counter() - t0
                return sum(ex.vm.task(p).cpu.steps - start[p] for p in pids) / elapsed

            async def bare_window() -> float:
                return bare.window()  # blocks the loop: the scheduled tasks do not run meanwhile

            result = await _harness.interleave_async(bench.rounds, scheduled, bare_window)
            for p in pids:
                ex.vm.kill(p)
            return result
        finally:
            await ex.aclose()


async def trace_events_rate() -> tuple[float, float, int]:
    """Events/s a client receives from a program traced instruction by instruction."""
    with _harness.BenchDaemon() as d:
        c = await d.client()
        try:
            data = base64.b64encode(assemble_text(SPIN).hxe).decode()
            pid = (await c.call("vm.load", data_b64=data, name="traced", paused=True))["pid"]
            await c.call("events.subscribe", types=["trace_step"], tasks=[pid])
            await c.call("trace.set", task=pid, enabled=True)
            await c.call("vm.resume", task=pid)
            got = dropped = 0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 2 * WINDOW_S:
                await c._event_ready.wait()
                c._event_ready.clear()
                for ev in c.take_events():
                    if ev["type"] == "warning":
                        dropped += ev["data"].get("dropped", 0)
                    else:
                        got += 1
            elapsed = time.perf_counter() - t0
            info = await c.call("vm.info", task=pid)
            await c.call("vm.kill", task=pid)
            return got / elapsed, info["accounted_steps"] / elapsed, dropped
        finally:
            await c.close()


def main() -> None:
    configure_logging(level="warning")
    with _harness.Bench("vm_tasks", __doc__.splitlines()[0]) as bench:
        for n in (1, 10, 100):
            xs, ys = asyncio.run(scheduled_vs_bare(bench, n))
            med = statistics.median(_harness.ratios(xs, ys))
            bench.record(
                f"{n} spinning task(s)",
                "instructions",
                "M instr/s",
                "under the scheduler (aggregate)",
                [x / 1e6 for x in xs],
                "bare VM loop (Cpu.run)",
                [y / 1e6 for y in ys],
                note=f"target median ratio >= 0.8: {'met' if med >= 0.8 else 'NOT met'}",
            )
        events, steps, dropped = [], [], []
        for _ in range(bench.rounds):
            e, s, dr = asyncio.run(trace_events_rate())
            events.append(e)
            steps.append(s)
            dropped.append(dr)
        bench.record(
            "per-instruction trace on, one client",
            "trace_step events delivered",
            "events/s",
            "daemon -> client",
            events,
            note=f"program ran {statistics.median(steps):,.0f} instructions/s (median); "
            f"events dropped by the subscriber ring per round: {dropped}",
        )


if __name__ == "__main__":
    main()
