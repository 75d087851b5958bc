"""Read one task's stdout over /rpc as a real client does: output events in offset order, gaps from the log.

Shared by the benchmarks that move data through the daemon (stream.py, ccx.py), so each
verifies exactly what a client would have received.
"""

from __future__ import annotations

from typing import Any

from _harness import Digest

from executive.api.client import Client
from executive.api.output_frames import event_bytes

GAP_READ = 4 << 20  # bytes per task.output call when filling a gap


def _payload(d: dict[str, Any]) -> bytes | memoryview:
    return event_bytes(d)  # data (text), data_b64, or raw (a binary output frame's chunk)


async def _fill(c: Client, task: int, start: int, end: int | None, into: Digest, output: str) -> int:
    """Read [start, end) of the task's stdout log (to its end when ``end`` is None); returns the new offset."""
    offset = start
    extra = {"output": "binary"} if output == "binary" else {}
    while end is None or offset < end:
        limit = GAP_READ if end is None else min(end - offset, GAP_READ)
        chunk = _payload(await c.call("task.output", task=task, offset=offset, limit=limit, **extra))
        if not chunk:
            break
        into.update(chunk)
        offset += len(chunk)
    return offset


async def read_task_stdout(c: Client, argv: list[str], output: str = "json") -> tuple[Digest, int]:
    """Run ``argv`` as a task and take in all of its stdout; returns its digest and the bytes read back from the log.

    The client must not be subscribed yet: this subscribes it to output and task_state events,
    with output as JSON events or (``output="binary"``) as binary frames.
    """
    got = Digest()
    await c.subscribe(types=["output", "task_state"], output=output)
    task = (await c.call("task.run", argv=argv))["id"]
    expected = 0
    filled = 0
    done = False
    while not done:
        await c._event_ready.wait()
        c._event_ready.clear()
        for ev in c.take_events():
            if ev["type"] == "output" and ev["pid"] == task and ev["data"]["stream"] == "stdout":
                d = ev["data"]
                if d["offset"] > expected:  # a gap (the subscriber ring dropped events): read it from the log
                    new = await _fill(c, task, expected, d["offset"], got, output)
                    filled += new - expected
                    expected = new
                if d["offset"] == expected:
                    data = _payload(d)
                    got.update(data)
                    expected += len(data)
            elif ev["type"] == "task_state" and ev["pid"] == task and ev["data"]["to"] == "ended":
                done = True
    new = await _fill(c, task, expected, None, got, output)  # events after the last one seen were dropped: the tail
    filled += new - expected
    return got, filled


async def follow_task_stdout(c: Client, argv: list[str], output: str = "json") -> tuple[Digest, int]:
    """:func:`read_task_stdout` done by the CLI's own follower (cli/_follow.py, what `executive run` does):
    gaps re-read with two task.output calls on their way, as binary slices with ``output="binary"``."""
    from executive.cli._follow import OutputFollower

    got = Digest()
    await c.subscribe(types=["output", "task_state"], output=output)
    task = (await c.call("task.run", argv=argv))["id"]
    follower = OutputFollower(
        c, task, lambda _s, data: got.update(data), streams=("stdout",), binary=output == "binary"
    )
    filled = 0
    plain_fill = follower.fill

    async def counted_fill(stream: str, upto: int | None) -> None:
        nonlocal filled
        before = follower.next[stream]
        await plain_fill(stream, upto)
        filled += follower.next[stream] - before

    follower.fill = counted_fill  # type: ignore[method-assign]
    await follower.follow()
    return got, filled
