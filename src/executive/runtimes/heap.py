"""Give the heap back to the OS once a burst of work is over.

Output crosses the daemon in large ``bytes`` objects (pipe reads, log slices, frames).
CPython frees them with glibc's ``free()``, which keeps freed pages in its arenas for
reuse, and after the first large buffers glibc also raises its mmap threshold, so
later ones come from the arenas too: after sixteen concurrent 50 MiB streams the idle
daemon kept a third more memory than before them, for good.  glibc's ``malloc_trim(0)``
returns the free pages of every arena (the top with ``brk``, the inside with
``madvise``); it costs a walk of the arenas, so :class:`HeapTrimmer` calls it only when
the daemon is quiet after its resident size grew: checked once a second by the
service's housekeeping, with two cheap reads (``/proc/self/statm`` and the event
sequence).  Where ``malloc_trim`` does not exist (musl, macOS) trimming is off.

The daemon also keeps glibc to two arenas (:func:`limit_malloc_arenas`).  Each thread
that allocates gets an arena of its own, and ``malloc_trim`` cannot shrink the top of a
thread's arena: after sixteen streams two threads' arenas held 8 MiB each for good
(RSS 1.33x idle).  With two (the main thread's and one every other thread shares) it was
1.12x; with one, 1.05x but ~10 % less stream throughput in the same runs of
bench/streams.py (every thread then allocates under the same arena lock).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
from collections.abc import Callable

__all__ = [
    "GROWTH_BYTES",
    "QUIET_TICKS",
    "HeapTrimmer",
    "glibc_malloc_trim",
    "limit_malloc_arenas",
    "resident_bytes",
]

GROWTH_BYTES = 8 * 1024 * 1024  # resident growth over the idle size that is worth a trim
QUIET_TICKS = 2  # housekeeping ticks with no new event before the daemon counts as quiet

_PAGE = os.sysconf("SC_PAGE_SIZE")
_M_ARENA_MAX = -8  # mallopt parameter (malloc.h)


def resident_bytes() -> int:
    """This process's resident set size (one read of /proc/self/statm; 0 where it does not exist)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def glibc_malloc_trim() -> Callable[[], None] | None:
    """``malloc_trim(0)`` of the C library, or None where the library has none."""
    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int

    def trim() -> None:
        fn(0)

    return trim


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Keep glibc's allocator to ``arenas`` arenas (for the whole process); False where there is no ``mallopt``."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))


class HeapTrimmer:
    """Decides, once per tick, whether to trim: grown by :data:`GROWTH_BYTES` over the idle size, and quiet.

    At most one trim per quiet spell, and only when the heap grew since the last trim
    (by a quarter of :data:`GROWTH_BYTES`): memory a trim could not give back (live data,
    fragments) is not walked again every second, nor after every small burst.
    """

    def __init__(
        self,
        *,
        trim: Callable[[], None] | None,
        rss: Callable[[], int] = resident_bytes,
        growth: int = GROWTH_BYTES,
        quiet_ticks: int = QUIET_TICKS,
    ) -> None:
        self._trim = trim
        self._rss = rss
        self.growth = growth
        self.quiet_ticks = quiet_ticks
        self.baseline = rss()  # the idle size: at start, or the smallest a trim has left
        self.trims = 0
        self._last_activity: int | None = None
        self._trimmed_activity: int | None = None  # the activity counter at the last trim
        self.after_trim: int | None = None  # resident size the last trim left
        self._quiet = 0

    def due(self, activity: int) -> bool:
        """One tick: ``activity`` is a counter that moves while the daemon works (the last event seq)."""
        if self._trim is None:
            return False
        self._quiet = self._quiet + 1 if activity == self._last_activity else 0
        self._last_activity = activity
        if self._quiet < self.quiet_ticks or activity == self._trimmed_activity:
            return False
        rss = self._rss()
        grew = self.after_trim is None or rss > self.after_trim + self.growth // 4
        return grew and rss > self.baseline + self.growth

    async def tick(self, activity: int) -> bool:
        """Trim (in a thread: the arena walk must not hold the loop) when :meth:`due`; returns whether it did."""
        if not self.due(activity) or self._trim is None:
            return False
        await asyncio.to_thread(self._trim)
        self.trims += 1
        self._trimmed_activity = activity
        self.after_trim = self._rss()
        self.baseline = min(self.baseline, self.after_trim)
        return True
