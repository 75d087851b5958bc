"""Output as binary WebSocket frames (``events.subscribe {output: "binary"}``), end to end.

The promise (api/output_frames.py): a binary subscription gets the task's bytes exactly
as the log holds them, in binary frames, with the state events as JSON on the same
connection in seq order (so the ended event comes after all of the task's output); a
JSON subscription on the same connection is unchanged; a binary reader that falls behind
gets the output over its ring's byte bound read back from the log; one stalled past its
event bound loses output only, with a warning that names the offsets to re-read, and
never loses state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import random
import sys
from typing import Any

import pytest

from executive.api.client import Client
from executive.api.output_frames import event_bytes
from executive.kernel.limits import DEFAULT_LIMITS
from executive.runtimes import logread

PY = sys.executable

# Writes OUT_BYTES to stdout and ERR_BYTES to stderr, interleaved, none of it UTF-8 text:
# random bytes from a seeded generator, so the test can make the same bytes.
OUT_BYTES, ERR_BYTES = 2_000_000, 700_000
WRITER = f"""
import os, random
rng = random.Random(20)
out, err = rng.randbytes({OUT_BYTES}), rng.randbytes({ERR_BYTES})
o = e = 0
while o < len(out) or e < len(err):
    o += os.write(1, out[o:o + 50000])
    e += os.write(2, err[e:e + 20000])
"""


def _expected() -> tuple[bytes, bytes]:
    rng = random.Random(20)
    return rng.randbytes(OUT_BYTES), rng.randbytes(ERR_BYTES)


async def _until_ended(client: Client, tid: int, count: int = 1) -> list[dict[str, Any]]:
    """Events up to the ``count``-th ended event of ``tid`` (one per subscription that sees it)."""
    seen: list[dict[str, Any]] = []
    while sum(1 for e in seen if e["type"] == "task_state" and e["pid"] == tid and e["data"]["to"] == "ended") < count:
        seen.append(await client.next_event(timeout=60))
    return seen


def _streams(events: list[dict[str, Any]], tid: int, sub: int | None = None) -> dict[str, bytes]:
    """Each stream's bytes from the output events, checking the offsets are contiguous."""
    got = {"stdout": bytearray(), "stderr": bytearray()}
    for e in events:
        if e["type"] == "output" and e["pid"] == tid and (sub is None or e.get("subscription") == sub):
            d = e["data"]
            assert d["offset"] == len(got[d["stream"]]), "offsets of one stream are contiguous"
            got[d["stream"]] += event_bytes(d)
    return {s: bytes(b) for s, b in got.items()}


async def test_a_binary_subscription_gets_every_byte_of_both_streams_exactly(client: Client) -> None:
    sub = await client.subscribe(types=["output", "task_state"], output="binary")
    assert sub["output"] == "binary"
    tid = (await client.call("task.run", argv=[PY, "-c", WRITER]))["id"]
    events = await _until_ended(client, tid)
    out = [e for e in events if e["type"] == "output"]
    assert out and all("raw" in e["data"] and e["subscription"] == sub["subscription"] for e in out)
    got = _streams(events, tid)
    want_out, want_err = _expected()
    assert hashlib.sha256(got["stdout"]).hexdigest() == hashlib.sha256(want_out).hexdigest()
    assert hashlib.sha256(got["stderr"]).hexdigest() == hashlib.sha256(want_err).hexdigest()
    ended = events[-1]["data"]
    assert (ended["stdout_bytes"], ended["stderr_bytes"]) == (OUT_BYTES, ERR_BYTES)  # the final offsets
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))  # one order for binary and JSON: all output before the end


async def test_one_connection_mixes_a_json_and_a_binary_subscription(daemon: Any, e2e: Any) -> None:
    raw = await e2e.raw(daemon.url, daemon.token)
    text_sub = (await raw.call("events.subscribe", types=["output", "task_state"]))["subscription"]
    bin_sub = (await raw.call("events.subscribe", types=["output", "task_state"], output="binary"))["subscription"]
    script = "import os; os.write(1, 'héllo\\n'.encode()); os.write(1, b'\\xff\\xfe\\n'); os.write(2, b'\\x80err\\n')"
    tid = (await raw.call("task.run", argv=[PY, "-c", script]))["id"]
    while sum(1 for e in raw.events if e["type"] == "task_state" and e["data"]["to"] == "ended") < 2:
        assert await raw.read_one() is None, "no other message was asked for"
    assert "binary" in raw.kinds and "text" in raw.kinds
    binary = [e for e in raw.events if e.get("subscription") == bin_sub]
    text = [e for e in raw.events if e["type"] == "output" and "subscription" not in e]
    assert binary and all(e["type"] == "output" for e in binary)
    assert text and all("raw" not in e["data"] for e in text)  # JSON events as they always were
    want = {"stdout": "héllo\n".encode() + b"\xff\xfe\n", "stderr": b"\x80err\n"}
    assert _streams(binary, tid) == want
    assert _streams(text, tid) == want
    assert any("data_b64" in e["data"] for e in text)  # the JSON subscription still base64s non-UTF-8 bytes
    log = await raw.call("task.info", task=tid)
    assert log["state"] == "ended" and text_sub != bin_sub
    await raw.close()


async def test_binary_chunks_carry_seqs_that_the_ack_window_counts(client: Client) -> None:
    # Separate writes (a few output events), replayed two at a time, each pair acknowledged by seq.
    script = "import os, time\nfor i in range(6):\n    os.write(1, bytes([0xFA + i]) * 3); time.sleep(0.05)"
    want = b"".join(bytes([0xFA + i]) * 3 for i in range(6))
    tid = (await client.call("task.run", argv=[PY, "-c", script]))["id"]
    await client.call("task.wait", task=tid, timeout=30)
    sub = await client.subscribe(tasks=[tid], types=["output"], since_seq=0, ack_window=2, output="binary")
    got = b""
    windows = 0
    while len(got) < len(want):
        pair = [await client.next_event(timeout=10)]
        if len(got) + len(event_bytes(pair[0]["data"])) < len(want):
            pair.append(await client.next_event(timeout=10))
        await client.call("daemon.health")  # a round trip: anything sent beyond the window would be here by now
        assert client.take_events() == []
        got += b"".join(bytes(event_bytes(e["data"])) for e in pair)
        await client.call("events.ack", subscription=sub["subscription"], seq=pair[-1]["seq"])
        windows += 1
    assert got == want
    assert windows >= 2, "the writes were expected to make more output events than one window holds"


async def test_a_stalled_binary_reader_loses_output_only_and_rereads_it_by_offset(
    daemon_factory: Any, e2e: Any
) -> None:
    tiny = dataclasses.replace(DEFAULT_LIMITS, subscription_events=16, event_batch_events=4)
    d = await daemon_factory(limits=tiny)
    raw = await e2e.raw(d.url, d.token)
    client = await d.client()
    await raw.call("events.subscribe", types=["output", "task_state"], output="binary")
    block = bytes(range(256))
    # 32 MiB of bytes that are not UTF-8: far more than the socket buffers and a 16-event ring hold.
    script = f"import sys\nfor _ in range(128):\n    sys.stdout.buffer.write({block!r} * 1024)"
    tid = (await client.call("task.run", argv=[PY, "-c", script]))["id"]
    assert (await client.call("task.wait", task=tid, timeout=60))["end_reason"] == "exited"
    await raw.read_until_ended(tid)  # now the reader catches up: what is left, warnings, the end
    warnings = [e for e in raw.events if e["type"] == "warning"]
    assert warnings, "the ring was expected to overflow"
    reread = {r["offset"] for w in warnings for r in w["data"]["reread"] if (r["task"], r["stream"]) == (tid, "stdout")}
    ended = [e for e in raw.events if e["type"] == "task_state" and e["data"]["to"] == "ended"]
    assert len(ended) == 1  # state is never dropped
    total = ended[0]["data"]["stdout_bytes"]
    assert total == 128 * 256 * 1024

    got = hashlib.sha256()
    at = 0
    gaps = []

    async def fill(upto: int) -> None:
        nonlocal at
        while at < upto:
            r = await client.call("task.output", task=tid, offset=at, limit=min(upto - at, 4 << 20))
            piece = event_bytes(r)
            got.update(piece)
            at += len(piece)

    for e in raw.events:
        if e["type"] == "output":
            off, data = e["data"]["offset"], e["data"]["raw"]
            assert off >= at, "no overlap, no duplicate"
            if off > at:
                gaps.append(at)
                await fill(off)
            got.update(data)
            at += len(data)
    await fill(total)
    assert got.hexdigest() == hashlib.sha256(block * 1024 * 128).hexdigest()
    assert gaps and set(gaps) <= reread  # every gap starts where a warning said to re-read
    assert "binary" in raw.kinds and "text" in raw.kinds
    await raw.close()
    await client.close()


@pytest.mark.parametrize("page_cache", [True, False], ids=["from the page cache", "by a worker thread"])
async def test_a_binary_reader_that_falls_behind_gets_every_byte_in_order_without_asking(
    daemon_factory: Any, e2e: Any, monkeypatch: pytest.MonkeyPatch, page_cache: bool
) -> None:
    """Over its byte bound a binary subscription keeps output as ranges of the log, which the daemon
    reads back when it sends them: no warning, no gap, chunks larger than any one output event.
    Without a non-blocking read (an old kernel, a filesystem without RWF_NOWAIT) a thread reads them."""
    if not page_cache:
        monkeypatch.setattr(logread, "_NOWAIT", None)
    small = dataclasses.replace(DEFAULT_LIMITS, subscription_bytes=256 * 1024)
    d = await daemon_factory(limits=small)
    raw = await e2e.raw(d.url, d.token)
    client = await d.client()
    await raw.call("events.subscribe", types=["output", "task_state"], output="binary")
    out_n, err_n = 24 << 20, 3 << 20
    writer = WRITER.replace(str(OUT_BYTES), str(out_n)).replace(str(ERR_BYTES), str(err_n))
    tid = (await client.call("task.run", argv=[PY, "-c", writer]))["id"]
    # The raw client reads nothing until the task has ended: far more than the bound and the socket buffers.
    assert (await client.call("task.wait", task=tid, timeout=60))["end_reason"] == "exited"
    await raw.read_until_ended(tid)
    assert not [e for e in raw.events if e["type"] == "warning"]
    rng = random.Random(20)
    assert _streams(raw.events, tid) == {"stdout": rng.randbytes(out_n), "stderr": rng.randbytes(err_n)}
    sizes = [len(e["data"]["raw"]) for e in raw.events if e["type"] == "output"]
    assert max(sizes) > small.output_chunk_bytes  # some bytes came back from the log, several events' worth at once
    seqs = [e["seq"] for e in raw.events]
    assert seqs == sorted(seqs)
    await raw.close()
    await client.close()


async def test_a_range_whose_log_was_deleted_leaves_a_gap_and_the_connection_serving(
    daemon_factory: Any, e2e: Any
) -> None:
    """Logs deleted by hand before a stalled binary reader catches up: the bytes that are gone
    leave gaps (found by offset, as after a drop), no chunk carries wrong bytes, the connection serves on."""
    small = dataclasses.replace(DEFAULT_LIMITS, subscription_bytes=256 * 1024)
    d = await daemon_factory(limits=small)
    raw = await e2e.raw(d.url, d.token)
    client = await d.client()
    await raw.call("events.subscribe", types=["output", "task_state"], output="binary")
    n = 16 << 20
    writer = f"import os, random\nb = random.Random(5).randbytes({n})\nfor i in range(0, {n}, 65536):\n"
    writer += "    os.write(1, b[i:i + 65536])\n"
    tid = (await client.call("task.run", argv=[PY, "-c", writer]))["id"]
    assert (await client.call("task.wait", task=tid, timeout=60))["end_reason"] == "exited"
    (d.home / "tasks" / str(tid) / "stdout.log").unlink()
    await raw.read_until_ended(tid)
    want = random.Random(5).randbytes(n)
    got = 0
    for e in raw.events:
        if e["type"] == "output" and e["pid"] == tid:
            off, data = e["data"]["offset"], e["data"]["raw"]
            assert data == want[off : off + len(data)]
            got += len(data)
    assert 0 < got < n  # what was still held in memory arrived; what only the log had is missing
    assert (await raw.call("daemon.health"))["status"] == "ok"
    await raw.close()
    await client.close()


async def test_task_output_reads_a_slice_as_a_binary_frame(client: Client, daemon: Any) -> None:
    from executive.api.sync_client import SyncClient

    tid = (await client.call("task.run", argv=[PY, "-c", WRITER]))["id"]
    await client.call("task.wait", task=tid, timeout=60)
    want_out, want_err = _expected()
    got = bytearray()
    while True:
        r = await client.call("task.output", task=tid, offset=len(got), limit=300_000, output="binary")
        assert r["output"] == "binary" and "data" not in r and "data_b64" not in r
        assert r["offset"] == len(got) and r["next_offset"] == r["offset"] + len(r["raw"])
        got += r["raw"]
        if r["eof"]:
            break
    assert bytes(got) == want_out
    err = await client.call("task.output", task=tid, stream="stderr", offset=10, output="binary")
    assert bytes(err["raw"]) == want_err[10:]

    # The small blocking client (the quick CLI's) gets the same bytes, with several slices asked for at once
    # (in a thread: it blocks, and the daemon runs on this test's loop).
    def blocking() -> tuple[bytes, bytes]:
        with SyncClient.connect(daemon.url, daemon.token) as sync:
            ids = [
                sync.send_request("task.output", task=tid, offset=o, limit=500_000, output="binary")
                for o in (0, 500_000)
            ]
            second, first = [sync.wait_reply(i) for i in reversed(ids)]  # collected in any order
            err = sync.call("task.output", task=tid, stream="stderr", output="binary")
            return bytes(first["raw"]) + bytes(second["raw"]), bytes(err["raw"])

    out, err_bytes = await asyncio.to_thread(blocking)
    assert out == want_out[:1_000_000]
    assert err_bytes == want_err
