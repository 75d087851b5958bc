"""Output streaming through the wire: bulk, stalled clients, reconnect and replay.

The daemon's promise (DESIGN.md §5): the log is the truth, events are a live
view of it carrying byte offsets; a slow or stalled client never blocks the
producer or another client, and anyone can re-attach and replay from an offset
or a seq with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest

from executive.api.client import Client

PY = sys.executable
SEQ_200MB = ["seq", "1", "23500000"]  # 200.4 MB of distinct lines, cheap to make
SEQ_200MB_BYTES = sum((d + 1) * (min(23500000, 10**d - 1) - 10 ** (d - 1) + 1) for d in range(1, 9))  # digits + newline


def _chunk(d: dict[str, Any]) -> bytes:
    return d["data"].encode() if "data" in d else base64.b64decode(d["data_b64"])


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _vm(pid: int, key: str) -> int:
    """A /proc/<pid>/status memory figure in bytes (VmRSS, VmHWM = peak RSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


class Followed:
    """What a protocol-following client got: sha256 and size of the stream, bytes that came as events."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.size = 0
        self.via_events = 0
        self.warnings: list[dict[str, Any]] = []
        self.end: dict[str, Any] = {}


async def _follow(client: Client, tid: int, timeout: float = 120.0) -> Followed:
    """Consume ``tid``'s output like any client must: events by offset; a drop shows up as an
    offset jump after a warning and is read back from the log with task.output.  An overlap,
    a jump without a warning, or a wrong byte fails."""
    f = Followed()

    async def fill(upto: int | None) -> None:
        while upto is None or f.size < upto:
            params: dict[str, Any] = {"task": tid, "offset": f.size}
            if upto is not None:
                params["limit"] = min(upto - f.size, 4 << 20)
            r = await client.call("task.output", **params)
            chunk = _chunk(r)
            if not chunk:
                return
            f.sha.update(chunk)
            f.size += len(chunk)

    while True:
        ev = await client.next_event(timeout=timeout)
        if ev["type"] == "warning":
            assert ev["data"]["reason"] == "events_dropped" and ev["data"]["dropped"] > 0
            f.warnings.append(ev["data"])
            continue
        if ev["pid"] != tid:
            continue
        if ev["type"] == "output":
            d = ev["data"]
            assert d["stream"] == "stdout"
            if d["offset"] > f.size:
                assert f.warnings, f"output jumped from {f.size} to {d['offset']} without a drop warning"
                await fill(d["offset"])
            assert d["offset"] == f.size, (d["offset"], f.size)
            chunk = _chunk(d)
            f.sha.update(chunk)
            f.size += len(chunk)
            f.via_events += len(chunk)
        elif ev["type"] == "task_state" and ev["data"]["to"] == "ended":
            await fill(None)  # output events dropped just before the end
            f.end = ev["data"]
            return f


@pytest.mark.slow
async def test_200mb_reaches_a_fast_client_complete_and_byte_identical(daemon: Any, client: Client) -> None:
    await client.call("events.subscribe", types=["output", "task_state"])
    t = await client.call("task.run", argv=SEQ_200MB)
    f = await _follow(client, t["id"])
    assert f.end["reason"] == "exited" and f.end["exit_code"] == 0
    log = daemon.home / "tasks" / str(t["id"]) / "stdout.log"
    assert f.size == f.end["stdout_bytes"] == log.stat().st_size == SEQ_200MB_BYTES
    assert f.sha.hexdigest() == _file_sha(log)
    # A client that keeps up gets the stream as events; on a busy machine a few ring drops
    # (4 MiB per subscription) are read back from the log, which is the protocol.
    assert f.via_events > f.size // 2, f"only {f.via_events} of {f.size} bytes came as events: {f.warnings[:3]}"


@pytest.mark.slow
async def test_a_stalled_client_stalls_neither_the_producer_nor_another_client(
    limited_daemon_process: Any, e2e: Any
) -> None:
    d = limited_daemon_process({})  # default limits, in its own process so its memory can be measured
    d.start()
    token = (d.home / "token").read_text().strip()
    rss_before = _vm(d.proc.pid, "VmRSS")

    stalled = await e2e.raw(d.info["url"], token)
    await stalled.call("events.subscribe", types=["output", "task_state"])
    fast = await d.client()
    await fast.call("events.subscribe", types=["output", "task_state"])
    t = await fast.call("task.run", argv=SEQ_200MB)
    tid = t["id"]

    async def rpc_while_streaming() -> int:
        n = 0
        while (await fast.call("task.info", task=tid))["state"] != "ended":
            n += 1  # each reply comes back while bulk output is in flight to both clients
            await asyncio.sleep(0.05)
        return n

    prober = asyncio.ensure_future(rpc_while_streaming())
    # The stalled client reads nothing until the producer has finished: if it could hold the
    # producer back, the task would never end here.
    f = await _follow(fast, tid)
    assert await asyncio.wait_for(prober, 30) >= 1
    assert f.end["reason"] == "exited" and f.size == SEQ_200MB_BYTES
    assert f.via_events > f.size // 2, f"only {f.via_events} of {f.size} bytes came as events: {f.warnings[:3]}"
    log = d.home / "tasks" / str(tid) / "stdout.log"
    sha, n = f.sha.hexdigest(), f.size
    assert sha == _file_sha(log)
    growth = _vm(d.proc.pid, "VmHWM") - rss_before
    assert growth < 64 * 1024 * 1024, f"daemon peak RSS grew {growth >> 20} MiB for one stalled subscriber"

    # The stalled client wakes up: what was in flight, then a warning with the drop count, then the rest.
    await stalled.read_until_ended(tid)
    warnings = [e["data"] for e in stalled.events if e["type"] == "warning"]
    assert warnings and all(w["reason"] == "events_dropped" and w["dropped"] > 0 for w in warnings)
    # (A drop warning is stamped when it is delivered, so its own seq is newer than the events after it.)
    seqs = [e["seq"] for e in stalled.events if e["type"] != "warning"]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # ... and it fills the gaps from the log by offset, ending byte-identical.
    h = hashlib.sha256()
    pos = 0
    outputs = [e["data"] for e in stalled.events if e["type"] == "output" and e["pid"] == tid]
    for dd in [*outputs, {"offset": n, "data": ""}]:
        while pos < dd["offset"]:
            r = await stalled.call("task.output", task=tid, offset=pos, limit=min(dd["offset"] - pos, 4 << 20))
            chunk = _chunk(r)
            assert chunk, "task.output returned nothing inside the log"
            h.update(chunk)
            pos += len(chunk)
        assert dd["offset"] == pos, "events overlap"
        chunk = _chunk(dd)
        h.update(chunk)
        pos += len(chunk)
    assert pos == n and h.hexdigest() == sha
    await stalled.close()
    await fast.close()


async def _counter_task(client: Client, lines: int = 4000) -> int:
    script = f"import time\nfor i in range({lines}):\n    print(i, flush=True)\n    time.sleep(0.0005)"
    return (await client.call("task.run", argv=[PY, "-c", script]))["id"]


def _check_counter(data: bytes, lines: int = 4000) -> None:
    assert data == b"".join(b"%d\n" % i for i in range(lines))


async def test_reconnect_and_read_on_from_an_offset(daemon: Any, e2e: Any) -> None:
    a = await daemon.client()
    await a.call("events.subscribe", types=["output"])
    tid = await _counter_task(a)
    got = bytearray()
    while len(got) < 500:  # part of the stream, live, then the connection goes away
        ev = await a.next_event(timeout=20)
        assert ev["data"]["offset"] == len(got)
        got += _chunk(ev["data"])
    await a.close()

    b = await daemon.client()
    info = await b.call("task.info", task=tid)
    assert info["state"] == "running", "the replay should start while the task still runs"
    while True:  # tail the log from where A stopped, by offset, until the end
        r = await b.call("task.output", task=tid, offset=len(got))
        got += _chunk(r)
        assert r["next_offset"] == len(got)
        if r["eof"]:
            break
        await asyncio.sleep(0.02)
    _check_counter(bytes(got))
    assert bytes(got) == (daemon.home / "tasks" / str(tid) / "stdout.log").read_bytes()
    await b.close()


async def test_reconnect_and_replay_events_since_a_seq(daemon: Any, e2e: Any) -> None:
    a = await daemon.client()
    await a.call("events.subscribe", types=["output", "task_state"])
    tid = await _counter_task(a)
    seen: list[dict[str, Any]] = []
    while sum(len(_chunk(e["data"])) for e in seen if e["type"] == "output") < 500:
        seen.append(await a.next_event(timeout=20))
    last_seq = seen[-1]["seq"]
    await a.close()

    b = await daemon.client()
    sub = await b.call("events.subscribe", types=["output", "task_state"], since_seq=last_seq)
    assert sub["oldest_seq"] <= last_seq + 1  # the history still reaches back: no replay gap
    replay = await e2e.until_ended(b, tid)
    assert replay[0]["seq"] > last_seq
    assert not any(e["type"] == "warning" for e in replay)
    both = seen + replay
    seqs = [e["seq"] for e in both]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # no duplicate across the reconnect
    out = bytearray()
    for e in both:
        if e["type"] == "output":
            assert e["data"]["offset"] == len(out)  # no gap, no overlap
            out += _chunk(e["data"])
    _check_counter(bytes(out))
    assert [e["data"]["to"] for e in both if e["type"] == "task_state"] == ["queued", "starting", "running", "ended"]
    await b.close()
