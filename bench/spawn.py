"""Tasks/s of `true` through the daemon with 1 and 64 in flight, against spawning `true` directly.

A: ``--tasks`` tasks of ``true`` through the daemon (its own process, default limits: at
most ``max_running`` run at once, the rest queue), K callers each doing ``task.run`` then
``task.wait`` over one client connection.  B (same run): the same number of ``true``
processes spawned directly by this process with asyncio (stdout and stderr piped, as the
daemon captures them), K at a time.  The sides alternate round by round; every task and
every process must exit 0.  Target: >= 500 tasks/s with 64 in flight and >= 0.5x direct.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import _harness

from executive.api.client import Client

ARGV = ["true"]


async def concurrently(n: int, in_flight: int, one: Callable[[], Awaitable[None]]) -> float:
    """Items/s of ``n`` calls of ``one`` with ``in_flight`` running at a time."""
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return n / (time.perf_counter() - t0)


async def direct_true() -> None:
    proc = await asyncio.create_subprocess_exec(*ARGV, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"direct `true` exited {proc.returncode}")


def daemon_true(c: Client) -> Callable[[], Awaitable[None]]:
    async def one() -> None:
        task = await c.call("task.run", argv=ARGV)
        ended = await c.call("task.wait", task=task["id"])
        if ended.get("exit_code") != 0:
            raise RuntimeError(f"daemon task of `true` ended {ended}")

    return one


async def run(bench: _harness.Bench, d: _harness.BenchDaemon) -> None:
    c = await d.client()
    try:
        for in_flight, n in ((1, bench.args.tasks // 4), (64, bench.args.tasks)):
            await concurrently(8, min(in_flight, 8), daemon_true(c))  # warm both paths
            await concurrently(8, min(in_flight, 8), direct_true)
            xs, ys = await _harness.interleave_async(
                bench.rounds,
                lambda k=in_flight, m=n: concurrently(m, k, daemon_true(c)),  # type: ignore[misc]
                lambda k=in_flight, m=n: concurrently(m, k, direct_true),  # type: ignore[misc]
            )
            note = ""
            if in_flight == 64:
                med, ratio = statistics.median(xs), statistics.median(_harness.ratios(xs, ys))
                note = (
                    f"targets >= 500 tasks/s: {'met' if med >= 500 else 'NOT met'}, "
                    f">= 0.5x direct: {'met' if ratio >= 0.5 else 'NOT met'}"
                )
            bench.record(
                f"{n} x `true`, {in_flight} in flight",
                "tasks",
                "tasks/s",
                "executive task.run + task.wait",
                xs,
                "direct asyncio spawn",
                ys,
                note=note,
            )
    finally:
        await c.close()


def main() -> None:
    def options(ap: argparse.ArgumentParser) -> None:
        ap.add_argument(
            "--tasks", type=int, default=256, help="tasks per round with 64 in flight (a quarter with 1; default 256)"
        )

    with _harness.Bench("spawn", __doc__.splitlines()[0], options=options) as bench:
        with _harness.BenchDaemon() as d:
            asyncio.run(run(bench, d))


if __name__ == "__main__":
    main()
