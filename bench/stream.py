"""MB/s of a 200 MB producer to one subscribed client, sha256-verified, and the daemon's peak RSS growth.

A: the producer ``yes <64-char line> | head -c 200000000`` runs as a task; the client
subscribes to its output events and hashes what arrives in offset order (filling any gap
from the log by offset, as the CLI does).  B (same run): the same command read through a
plain pipe by this process and hashed the same way.  Both sides' sha256 must equal that of
the bytes the command produces (computed here independently); the sides alternate round
by round.  Targets: >= 150 MB/s, RSS growth under 64 MB.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import threading
import time

import _harness
import psutil
from _rpc_stream import read_task_stdout

TOTAL = 200_000_000
LINE = b"the quick brown fox jumps over the lazy dog 0123456789 abcdefghijkl"
CMD = ["sh", "-c", f"yes '{LINE.decode()}' | head -c {TOTAL}"]


def produced() -> _harness.Digest:
    """What CMD writes, built here without running it."""
    d = _harness.Digest()
    block = (LINE + b"\n") * (1 << 14)
    while d.size + len(block) <= TOTAL:
        d.update(block)
    d.update(block[: TOTAL - d.size])
    return d


def pipe_round(expect: _harness.Digest) -> float:
    got = _harness.Digest()
    t0 = time.perf_counter()
    p = subprocess.Popen(CMD, stdout=subprocess.PIPE)
    assert p.stdout is not None
    while b := p.stdout.read1(1 << 20):  # type: ignore[attr-defined]
        got.update(b)
    p.wait()
    elapsed = time.perf_counter() - t0
    _harness.verify("plain pipe", expect, got)
    return TOTAL / elapsed / 1e6


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self.stop = False

    def run(self) -> None:
        while not self.stop:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.01)


async def daemon_round(d: _harness.BenchDaemon, expect: _harness.Digest, rss: list[float], filled: list[int]) -> float:
    c = await d.client()
    assert d.proc is not None
    sampler = RssSampler(d.proc.pid)
    sampler.start()
    t0 = time.perf_counter()
    got, from_log = await read_task_stdout(c, CMD)
    elapsed = time.perf_counter() - t0
    sampler.stop = True
    sampler.join()
    await c.close()
    _harness.verify("executive task -> client", expect, got)
    rss.append((sampler.peak - sampler.base) / 2**20)
    filled.append(from_log)
    return TOTAL / elapsed / 1e6


def main() -> None:
    with _harness.Bench("stream", __doc__.splitlines()[0]) as bench:
        expect = produced()
        rss: list[float] = []
        filled: list[int] = []
        with _harness.BenchDaemon() as d:
            xs, ys = _harness.interleave(
                bench.rounds,
                lambda: asyncio.run(daemon_round(d, expect, rss, filled)),
                lambda: pipe_round(expect),
            )
        rate = statistics.median(xs)
        bench.record(
            "200 MB task -> 1 client",
            "throughput",
            "MB/s",
            "executive /rpc",
            xs,
            "plain pipe, same command",
            ys,
            verified="sha256",
            note=f"bytes read back from the log after drops, per round: {filled}; "
            f"target >= 150 MB/s: {'met' if rate >= 150 else 'NOT met'}",
        )
        bench.record(
            "200 MB task -> 1 client",
            "daemon peak RSS growth",
            "MiB",
            "executive daemon",
            rss,
            better="lower",
            note=f"target < 64 MiB: {'met' if statistics.median(rss) < 64 else 'NOT met'}",
        )


if __name__ == "__main__":
    main()
