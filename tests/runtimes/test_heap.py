"""The heap trimmer: when it trims (grown and quiet), and that glibc's trim really returns memory."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from executive.runtimes.heap import HeapTrimmer, glibc_malloc_trim, resident_bytes

MiB = 1024 * 1024


class FakeHeap:
    def __init__(self, rss: int) -> None:
        self.rss = rss
        self.trimmed_to = rss
        self.calls = 0

    def trim(self) -> None:
        self.calls += 1
        self.rss = self.trimmed_to


async def test_trims_only_after_growth_and_quiet_ticks() -> None:
    heap = FakeHeap(100 * MiB)
    t = HeapTrimmer(trim=heap.trim, rss=lambda: heap.rss, growth=16 * MiB, quiet_ticks=2)
    heap.rss = 110 * MiB  # grown, but less than the threshold
    for _ in range(4):
        assert await t.tick(activity=7) is False
    heap.rss = 200 * MiB  # a burst: grown, events still moving
    for seq in (10, 20, 30):
        assert await t.tick(activity=seq) is False
    assert await t.tick(activity=30) is False  # quiet for one tick
    heap.trimmed_to = 120 * MiB
    assert await t.tick(activity=30) is True  # quiet for two: trimmed
    assert heap.calls == 1 and t.baseline == 100 * MiB  # the idle size stays the mark
    for _ in range(5):  # one trim per quiet spell: not every second after that
        assert await t.tick(activity=30) is False
    assert heap.calls == 1


async def test_memory_that_stays_is_trimmed_again_only_after_more_work() -> None:
    heap = FakeHeap(100 * MiB)
    t = HeapTrimmer(trim=heap.trim, rss=lambda: heap.rss, growth=16 * MiB, quiet_ticks=1)
    heap.rss = heap.trimmed_to = 150 * MiB  # live data (or fragments) the trim cannot free
    await t.tick(activity=1)
    assert await t.tick(activity=1) is True
    assert t.baseline == 100 * MiB
    assert await t.tick(activity=1) is False and heap.calls == 1
    heap.rss = 151 * MiB  # a small burst that grew it by less than growth/4: not worth a walk
    assert await t.tick(activity=2) is False
    assert await t.tick(activity=2) is False and heap.calls == 1
    heap.rss = 170 * MiB  # another burst, then quiet again: worth one more walk
    heap.trimmed_to = 110 * MiB
    assert await t.tick(activity=3) is False
    assert await t.tick(activity=3) is True
    assert heap.calls == 2 and t.baseline == 100 * MiB and heap.rss == 110 * MiB


async def test_no_trim_function_means_never() -> None:
    t = HeapTrimmer(trim=None, rss=lambda: 10**12, quiet_ticks=0)
    assert await t.tick(activity=0) is False


@pytest.mark.skipif(glibc_malloc_trim() is None, reason="the C library has no malloc_trim (not glibc)")
def test_glibc_trim_returns_freed_buffers_to_the_os() -> None:
    """What the daemon does after a burst, in a fresh interpreter: 100 MiB of freed buffers come back."""
    code = textwrap.dedent(
        """
        import os
        from executive.runtimes.heap import glibc_malloc_trim, resident_bytes
        big = [bytes(4 << 20) for _ in range(4)]  # large buffers first: glibc raises its mmap threshold
        del big
        bufs = [os.urandom(1) * (256 << 10) for _ in range(400)]  # then 100 MiB from the arenas
        survivors = bufs[::50]  # a few stay alive, scattered through the heap
        del bufs
        before = resident_bytes()
        glibc_malloc_trim()()
        print(before, resident_bytes())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    before, after = (int(x) for x in out.stdout.split())
    assert before - after > 64 * MiB, (before, after)


@pytest.mark.skipif(glibc_malloc_trim() is None, reason="the C library has no malloc_trim (not glibc)")
@pytest.mark.parametrize("limit", [True, False])
def test_two_arenas_for_every_thread(limit: bool) -> None:
    """With the limit, five threads allocating at once share two arenas (glibc's malloc_info counts them)."""
    code = textwrap.dedent(
        f"""
        import ctypes, sys, threading
        from executive.runtimes.heap import limit_malloc_arenas
        if {limit}:
            assert limit_malloc_arenas()
        start = threading.Barrier(4)
        def work():
            start.wait()
            for _ in range(2000):
                [bytes(1000 + i) for i in range(50)]
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        libc = ctypes.CDLL(None)
        libc.fopen.restype = ctypes.c_void_p
        libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        libc.fclose.argtypes = [ctypes.c_void_p]
        fp = libc.fopen(sys.argv[1].encode(), b"w")
        libc.malloc_info(0, fp)
        libc.fclose(fp)
        """
    )
    with tempfile.TemporaryDirectory() as tmp:
        info = Path(tmp) / "malloc_info.xml"
        subprocess.run([sys.executable, "-c", code, str(info)], check=True, timeout=60)
        arenas = info.read_text().count("<heap nr=")
    assert arenas == 2 if limit else arenas > 2


def test_resident_bytes_reads_this_process() -> None:
    assert resident_bytes() > 1 * MiB
