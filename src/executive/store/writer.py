"""Run store calls on one background thread, in submission order.

The event loop must never wait for the disk.  Every write is submitted here
and executes on a single worker thread, so writes keep their order without
locks in the caller; :meth:`StoreWriter.flush` waits until everything
submitted so far is on disk (used at shutdown and by tests).
Rejected alternative: ``asyncio.to_thread`` per write — it uses a pool, so two
writes for the same task could land out of order.

Callers pass a function of the store, typically a lambda naming one method of
:class:`~executive.store.interface.Store`::

    row = await writer.call(lambda s: s.patch_get(pid, with_text=True))
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import structlog

from executive.store.interface import Store

__all__ = ["StoreWriter"]

T = TypeVar("T")
P = ParamSpec("P")
log = structlog.get_logger("executive.store")


class StoreWriter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._last: concurrent.futures.Future[Any] | None = None

    def submit(
        self, fn: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> concurrent.futures.Future[T]:
        """Queue ``fn(store, *args)``; failures are logged, never lost silently."""
        fut = self._pool.submit(fn, self.store, *args, **kwargs)
        fut.add_done_callback(_log_failure)
        self._last = fut
        return fut

    async def call(self, fn: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Queue ``fn(store, *args)`` and await its result."""
        return await asyncio.wrap_future(self._pool.submit(fn, self.store, *args, **kwargs))

    async def flush(self) -> None:
        await asyncio.wrap_future(self._pool.submit(lambda: None))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.store.close()


def _log_failure(fut: concurrent.futures.Future[Any]) -> None:
    exc = fut.exception()
    if exc is not None:
        log.error("store_write_failed", error=repr(exc))
