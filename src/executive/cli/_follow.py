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

import base64
from collections.abc import Callable
from typing import Any, cast

from executive.api.client import Client, RpcError
from executive.api.output_frames import event_bytes
from executive.kernel.errors import ErrorCode

__all__ = ["OutputFollower", "subscribe_output"]

Sink = Callable[[str, bytes | memoryview], None]


async def subscribe_output(client: Client, **params: Any) -> None:
    """``events.subscribe`` with output as binary frames.

    A daemon older than binary output refuses the ``output`` parameter (bad params); then
    the same subscription is made as JSON, which the follower reads just as well.
    """
    try:
        await client.call("events.subscribe", output="binary", **params)
    except RpcError as exc:
        if exc.code != ErrorCode.INVALID_PARAMS or "output" not in exc.message + str(exc.data):
            raise
        await client.call("events.subscribe", **params)


class OutputFollower:
    def __init__(
        self,
        client: Client,
        task: int,
        sink: Sink,
        offsets: dict[str, int] | None = None,
        streams: tuple[str, ...] = ("stdout", "stderr"),
        on_quota: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> None:
        self.client = client
        self.on_quota = on_quota  # called with (task, data) when the task stops on its log quota
        self.task = task
        self.sink = sink
        self.streams = streams
        self.next = dict(offsets or {s: 0 for s in streams})

    async def fill(self, stream: str, upto: int | None) -> None:
        """Read the log from our offset up to ``upto`` (None = to its current end)."""
        while upto is None or self.next[stream] < upto:
            want = None if upto is None else upto - self.next[stream]
            params: dict[str, Any] = {"task": self.task, "stream": stream, "offset": self.next[stream]}
            if want is not None:
                params["limit"] = min(want, 4 * 1024 * 1024)
            r = await self.client.call("task.output", **params)
            chunk = r["data"].encode("utf-8") if "data" in r else base64.b64decode(r["data_b64"])
            if not chunk:
                return
            self.sink(stream, chunk)
            self.next[stream] = r["next_offset"]

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
        """Consume events until the task ends; returns its final task_state data."""
        while True:
            ev = await self.client.next_event()
            if ev["type"] == "output" and ev["pid"] == self.task:
                await self.on_output(ev["data"])
            elif ev["type"] == "warning":
                for s in self.streams:  # something was dropped: catch up from the log
                    await self.fill(s, None)
            elif ev["type"] == "quota" and ev["pid"] == self.task and self.on_quota is not None:
                self.on_quota(self.task, ev["data"])
            elif ev["type"] == "task_state" and ev["pid"] == self.task and ev["data"].get("to") == "ended":
                await self.finish()
                if stop_on_end:
                    return cast(dict[str, Any], ev["data"])
