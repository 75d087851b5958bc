"""Follow a task's output live without gaps or duplicates.

Output events carry byte offsets into the task's logs.  The follower keeps the
next expected offset per stream: an event that starts later than expected (a
dropped or evicted event) is filled from the log with ``task.output``; one that
starts earlier (a replay overlap) is trimmed.  When the task ends, whatever is
left in the logs is read to the end, so the result always equals the log.

The commands subscribe with :func:`subscribe_output`: output arrives as binary
frames (api/output_frames.py), raw bytes written to stdout as they are.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any, cast

from executive.api.client import Client, RpcError
from executive.api.output_frames import event_bytes
from executive.kernel.errors import ErrorCode

__all__ = ["OutputFollower", "subscribe_output"]

Sink = Callable[[str, bytes | memoryview], None]
FILL_LIMIT = 4 * 1024 * 1024  # bytes per task.output call (the daemon's output_read_bytes)
FILL_DEPTH = 2  # task.output calls on their way at once (the daemon builds two at a time per connection)
CATCH_UP_S = 0.2  # after a drop warning, this long without events: catch up from the logs


async def subscribe_output(client: Client, **params: Any) -> bool:
    """``events.subscribe`` with output as binary frames; returns whether the daemon took that.

    A daemon older than binary output refuses the ``output`` parameter (bad params); then
    the same subscription is made as JSON, which the follower reads just as well (give
    :class:`OutputFollower` ``binary=False`` so its re-reads are JSON too).
    """
    try:
        await client.call("events.subscribe", output="binary", **params)
    except RpcError as exc:
        if exc.code != ErrorCode.INVALID_PARAMS or "output" not in exc.message + str(exc.data):
            raise
        await client.call("events.subscribe", **params)
        return False
    return True


class OutputFollower:
    def __init__(
        self,
        client: Client,
        task: int,
        sink: Sink,
        offsets: dict[str, int] | None = None,
        streams: tuple[str, ...] = ("stdout", "stderr"),
        on_quota: Callable[[int, dict[str, Any]], None] | None = None,
        binary: bool = False,
    ) -> None:
        self.client = client
        self.binary = binary  # re-read gaps with task.output {output: "binary"} (raw bytes in a frame)
        self.on_quota = on_quota  # called with (task, data) when the task stops on its log quota
        self.task = task
        self.sink = sink
        self.streams = streams
        self.next = dict(offsets or {s: 0 for s in streams})

    async def fill(self, stream: str, upto: int | None) -> None:
        """Read the log from our offset up to ``upto`` (None = to its current end).

        Up to ``FILL_DEPTH`` slices are asked for at once: the daemon reads the next one
        while this writes the last (it builds two at a time per connection).
        """
        while True:
            start = self.next[stream]
            await self._fill_pass(stream, upto)
            if upto is None or self.next[stream] >= upto or self.next[stream] == start:
                return

    async def _fill_pass(self, stream: str, upto: int | None) -> None:
        """Read ahead from our offset until a slice comes back short (the end of the log) or ``upto``."""
        end = upto  # None: the log's size, which the first reply tells
        asked = self.next[stream]
        pending: collections.deque[tuple[asyncio.Future[Any], int]] = collections.deque()  # (reply, end asked for)
        done = False
        try:
            while True:
                while not done and len(pending) < FILL_DEPTH and (asked < end if end is not None else not pending):
                    limit = FILL_LIMIT if end is None else min(end - asked, FILL_LIMIT)
                    params: dict[str, Any] = {"task": self.task, "stream": stream, "offset": asked, "limit": limit}
                    if self.binary:
                        params["output"] = "binary"
                    pending.append((asyncio.ensure_future(self.client.call("task.output", **params)), asked + limit))
                    asked += limit
                if not pending:
                    return
                reply, slice_end = pending.popleft()
                r = await reply
                if done:
                    continue  # asked for before an earlier slice came back short: collected, not written
                if upto is None:
                    end = r["size"]  # to the end of what the log holds now
                chunk = event_bytes(r)
                if chunk:
                    self.sink(stream, chunk)
                    self.next[stream] = r["next_offset"]
                if r["next_offset"] < slice_end:
                    done = True  # the log ends here (for now): the slices after it are empty
        finally:
            for reply, _ in pending:  # an error (or a cancel) leaves none of them behind
                reply.cancel()

    async def on_output(self, data: dict[str, Any]) -> None:
        stream = data["stream"]
        if stream not in self.next:
            return
        off = data["offset"]
        chunk = event_bytes(data)
        if off > self.next[stream]:
            await self.fill(stream, off)
        if off + len(chunk) <= self.next[stream]:
            return
        skip = self.next[stream] - off
        self.sink(stream, chunk[skip:] if skip > 0 else chunk)
        self.next[stream] = off + len(chunk)

    async def finish(self) -> None:
        for s in self.streams:
            await self.fill(s, None)

    async def follow(self, *, stop_on_end: bool = True) -> dict[str, Any] | None:
        """Consume events until the task ends; returns its final task_state data.

        After a drop warning the next output event of each stream shows exactly where its
        gap is (:meth:`on_output` fills it); reading the logs to their end at once would
        fetch bytes whose events are still on their way and then throw those away.  If no
        event comes for ``CATCH_UP_S`` (the output stopped right after the drop), every
        stream is caught up from the log.
        """
        behind = False
        while True:
            try:
                ev = await self.client.next_event(timeout=CATCH_UP_S if behind else None)
            except TimeoutError:
                behind = False
                await self.finish()
                continue
            if ev["type"] == "output" and ev["pid"] == self.task:
                await self.on_output(ev["data"])
            elif ev["type"] == "warning":
                behind = True
            elif ev["type"] == "quota" and ev["pid"] == self.task and self.on_quota is not None:
                self.on_quota(self.task, ev["data"])
            elif ev["type"] == "task_state" and ev["pid"] == self.task and ev["data"].get("to") == "ended":
                await self.finish()
                if stop_on_end:
                    return cast(dict[str, Any], ev["data"])
