"""Aggregate MB/s of 1, 8 and 16 concurrent 50 MiB streams to one client, vs as many parallel pipes.

A: ``--streams`` tasks of ``yes LINE | head -c 52428800`` (1 KiB lines) start at once; one
client (this process, one connection, one ``events.subscribe {output: "binary"}``) follows
all of them with the CLI's own follower (cli/_follow.py: raw bytes from binary frames, gaps
re-read by offset) and hashes each task's stdout.  B (same run): the same commands as
parallel ``sh -c 'PRODUCER | sha256sum'`` pipelines.  Every stream's sha256 must equal that
of the bytes the producer makes (computed here).  The sides alternate round by round.

Also recorded, once per stream count after its rounds: the daemon's RSS before the first
round (idle), and ``--settle`` seconds after the last stream ended.
Targets (issue 20): 16 streams >= 0.7x of 16 parallel pipes; RSS back within 25 % of idle.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable

import _harness
import psutil

from executive.api.client import Client
from executive.cli._follow import OutputFollower

SIZE = 50 << 20
LINE = b"x" * 1023
PRODUCER = f"yes '{LINE.decode()}' | head -c {SIZE}"


def produced() -> str:
    d = _harness.Digest()
    block = (LINE + b"\n") * 1024
    while d.size + len(block) <= SIZE:
        d.update(block)
    d.update(block[: SIZE - d.size])
    return d.hexdigest()


def sink_into(d: _harness.Digest) -> Callable[[str, bytes | memoryview], None]:
    def sink(_stream: str, data: bytes | memoryview) -> None:
        d.update(data)

    return sink


async def follow_all(c: Client, n: int) -> list[_harness.Digest]:
    """Start ``n`` producer tasks and take in every byte of their stdout over one subscription."""
    await c.subscribe(types=["output", "task_state"], output="binary")
    digests: dict[int, _harness.Digest] = {}
    followers: dict[int, OutputFollower] = {}
    for _ in range(n):
        task = (await c.call("task.run", argv=["sh", "-c", PRODUCER]))["id"]
        digests[task] = _harness.Digest()
        followers[task] = OutputFollower(c, task, sink_into(digests[task]), streams=("stdout",), binary=True)
    running = set(followers)
    while running:
        ev = await c.next_event()
        f = followers.get(ev.get("pid") or -1)
        if f is None:
            continue
        if ev["type"] == "output":
            await f.on_output(ev["data"])
        elif ev["type"] == "task_state" and ev["data"].get("to") == "ended":
            await f.finish()
            running.discard(f.task)
    return [digests[t] for t in sorted(digests)]


def daemon_side(d: _harness.BenchDaemon, n: int, expect: str) -> float:
    async def go() -> float:
        c = await d.client()
        try:
            t0 = time.perf_counter()
            got = await follow_all(c, n)
            elapsed = time.perf_counter() - t0
        finally:
            await c.close()
        for i, g in enumerate(got):
            if g.hexdigest() != expect:
                raise _harness.ContentMismatch(f"stream {i} of {n}: {g!r}, the producer makes sha256 {expect}")
        return n * SIZE / elapsed / 1e6

    rate = asyncio.run(go())
    for task_dir in (d.home / "tasks").glob("*"):  # no gigabytes of dirty log pages into later rounds
        shutil.rmtree(task_dir, ignore_errors=True)
    return rate


def pipes_side(n: int, expect: str) -> float:
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["sh", "-c", f"{PRODUCER} | sha256sum"], stdout=subprocess.PIPE) for _ in range(n)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    elapsed = time.perf_counter() - t0
    for i, out in enumerate(outs):
        if out.split()[0].decode() != expect:
            raise _harness.ContentMismatch(f"pipe {i} of {n}: sha256sum printed {out!r}, expected {expect}")
    return n * SIZE / elapsed / 1e6


def main() -> None:
    def options(ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--streams", default="1,8,16", help="stream counts, comma-separated (default 1,8,16)")
        ap.add_argument(
            "--settle", type=float, default=60.0, help="seconds after the last round before RSS is read (default 60)"
        )

    with _harness.Bench("streams", __doc__.splitlines()[0], options=options) as bench:
        expect = produced()
        with _harness.BenchDaemon() as d:
            assert d.proc is not None
            proc = psutil.Process(d.proc.pid)
            for n in (int(x) for x in bench.args.streams.split(",")):
                idle = proc.memory_info().rss / 2**20
                xs, ys = _harness.interleave(
                    bench.rounds, functools.partial(daemon_side, d, n, expect), functools.partial(pipes_side, n, expect)
                )
                note = ""
                if n == 16:
                    ratio = statistics.median(_harness.ratios(xs, ys))
                    note = f"target >= 0.7x of 16 parallel pipes: {'met' if ratio >= 0.7 else 'NOT met'}"
                bench.record(
                    f"{n} x 50 MiB streams -> 1 client",
                    "aggregate throughput",
                    "MB/s",
                    "executive, binary frames",
                    xs,
                    f"{n} parallel pipes | sha256sum",
                    ys,
                    verified="sha256",
                    note=note,
                )
                time.sleep(bench.args.settle)
                after = proc.memory_info().rss / 2**20
                bench.record(
                    f"{n} x 50 MiB streams -> 1 client",
                    f"daemon RSS {bench.args.settle:g} s after the streams",
                    "MiB",
                    "after the streams",
                    [after],
                    "idle before them",
                    [idle],
                    better="lower",
                    note=f"target within 25 % of idle: {'met' if after <= idle * 1.25 else 'NOT met'}",
                )


if __name__ == "__main__":
    main()
