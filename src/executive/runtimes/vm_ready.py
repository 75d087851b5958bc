"""The scheduler's run queue: READY HSX tasks, highest priority first, FIFO within a priority.

Theory of operation
-------------------
Each task carries an integer ``priority`` (0..255, default 0; spec hsx-executive §3.4
``sched``).  The queue keeps one FIFO per priority in use and hands out the head of
the highest non-empty one, so a task of higher priority always gets its slice before
any task of lower priority; tasks of equal priority share the CPU round robin, one
quantum each.  A lower-priority task therefore runs only while every higher-priority
task sleeps, waits on a mailbox, is paused or has ended (strict priority, as in an RTOS).

The common case — every task at the default priority — costs one dict lookup more
than a plain deque per pop (bench/vm_tasks.py keeps it honest).

Rejected alternative: a heap keyed by (priority, sequence) — O(log n) per operation and
a tie-breaking counter, where the handful of priorities in use makes a list of deques
both simpler and faster.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar

__all__ = ["Prioritised", "ReadyQueue"]


class Prioritised(Protocol):
    priority: int


T = TypeVar("T", bound=Prioritised)


class ReadyQueue(Generic[T]):
    """READY tasks by priority; ``popleft`` returns the next task to run."""

    __slots__ = ("_by_priority", "_len", "_order")

    def __init__(self) -> None:
        self._by_priority: dict[int, collections.deque[T]] = {}
        self._order: list[int] = []  # priorities in use, highest first
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __contains__(self, item: object) -> bool:
        return any(item in q for q in self._by_priority.values())

    def __iter__(self) -> Iterator[T]:
        for p in self._order:
            yield from self._by_priority[p]

    def append(self, item: T) -> None:
        """Queue ``item`` behind every task of its priority."""
        q = self._by_priority.get(item.priority)
        if q is None:
            q = self._by_priority[item.priority] = collections.deque()
            self._order.append(item.priority)
            self._order.sort(reverse=True)
        q.append(item)
        self._len += 1

    def popleft(self) -> T:
        """The head of the highest-priority non-empty FIFO.

        Raises:
            IndexError: the queue is empty.
        """
        for p in self._order:
            q = self._by_priority[p]
            if q:
                self._len -= 1
                return q.popleft()
        raise IndexError("pop from an empty ReadyQueue")

    def remove(self, item: T) -> bool:
        """Take ``item`` out wherever it is queued; False if it was not queued."""
        for q in self._by_priority.values():
            try:
                q.remove(item)
            except ValueError:
                continue
            self._len -= 1
            return True
        return False

    def take_where(self, pred: Callable[[T], bool]) -> list[T]:
        """Remove and return, in queue order, every task for which ``pred`` is true."""
        taken: list[T] = []
        for p in self._order:
            q = self._by_priority[p]
            keep = collections.deque(x for x in q if not pred(x))
            taken.extend(x for x in q if pred(x))
            self._by_priority[p] = keep
        self._len -= len(taken)
        return taken
