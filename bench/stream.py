"""MB/s of a 200 MB producer to one subscribed client, and the daemon's peak RSS growth.

The producer is `yes <64-char line> | head -c 200000000` run as a task; the
client subscribes to its output events and counts bytes (filling any gap from
the log by offset, as the CLI does).  Baseline (same run): the same command
read through a plain pipe by this process.  Targets: >= 150 MB/s, RSS growth
under 64 MB.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import threading
import time

import _harness  # noqa: F401
import psutil

TOTAL = 200_000_000
CMD = ["sh", "-c", f"yes 'the quick brown fox jumps over the lazy dog 0123456789 abcdefghijkl' | head -c {TOTAL}"]


def baseline() -> float:
    t0 = time.perf_counter()
    p = subprocess.Popen(CMD, stdout=subprocess.PIPE)
    n = 0
    assert p.stdout is not None
    while True:
        b = p.stdout.read1(1 << 20)  # type: ignore[attr-defined]
        if not b:
            break
        n += len(b)
    p.wait()
    assert n == TOTAL
    return n / (time.perf_counter() - t0) / 1e6


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


async def ours(d: _harness.BenchDaemon) -> tuple[float, int, int]:
    c = await d.client()
    sampler = RssSampler(d.proc.pid)  # type: ignore[union-attr]
    sampler.start()
    received = 0
    filled = 0
    await c.call("events.subscribe", types=["output", "task_state"])
    t0 = time.perf_counter()
    task = await c.call("task.run", argv=CMD)
    expected = 0
    done = False
    while not done:
        await c._event_ready.wait()
        c._event_ready.clear()
        for ev in c.take_events():
            if ev["type"] == "output" and ev["pid"] == task["id"]:
                d_ = ev["data"]
                n = len(d_["data"]) if "data" in d_ else len(base64.b64decode(d_["data_b64"]))  # ASCII payload: chars == bytes
                if d_["offset"] > expected:  # a gap: read it from the log, as a real client would
                    gap = await c.call("task.output", task=task["id"], offset=expected, limit=d_["offset"] - expected)
                    filled += gap["next_offset"] - expected
                expected = d_["offset"] + n
                received += n
            elif ev["type"] == "warning":
                pass
            elif ev["type"] == "task_state" and ev["pid"] == task["id"] and ev["data"]["to"] == "ended":
                done = True
    elapsed = time.perf_counter() - t0
    sampler.stop = True
    sampler.join()
    await c.close()
    assert received + filled == TOTAL, (received, filled)
    return TOTAL / elapsed / 1e6, sampler.peak - sampler.base, filled


def main() -> None:
    base = baseline()
    with _harness.BenchDaemon() as d:
        rate, rss, filled = asyncio.run(ours(d))
    print(f"stream: executive 200 MB task -> 1 client: {rate:8.1f} MB/s  (bytes filled from the log after drops: {filled:,})")
    print(f"stream: daemon peak RSS growth: {rss / 2**20:.1f} MB")
    print(f"stream: baseline plain pipe, same command: {base:8.1f} MB/s")
    print(f"stream: ratio executive/pipe = {rate / base:.2f}   targets: >=150 MB/s {'met' if rate >= 150 else 'NOT met'}, RSS < 64 MB {'met' if rss < 64 * 2**20 else 'NOT met'}")


if __name__ == "__main__":
    main()
