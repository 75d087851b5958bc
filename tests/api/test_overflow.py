"""Bounded subscription rings and history, seen from a client.

A subscription that cannot be delivered to drops its *oldest* events and the
next batch starts with one `warning` that counts them; the drop accounting is
exact.  A replay that reaches past the bus history starts with a `replay_gap`
warning.  The daemon here has tiny rings so the bounds are reached at once.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import pytest

from executive.api.client import Client
from executive.kernel.limits import DEFAULT_LIMITS, Limits

PY = sys.executable
RING = 16


@pytest.fixture
def limits() -> Limits:
    return dataclasses.replace(DEFAULT_LIMITS, subscription_events=RING, event_batch_events=4, history_events=64)


def _check_drop_accounting(events: list[dict[str, Any]], last_seq: int) -> int:
    """Every seq the bus stamped up to ``last_seq`` was either delivered or counted as dropped.

    Only one subscription exists and it has no filter, so the seqs it should have seen are all
    of them.  A warning takes no seq of its own: it carries the seq of the last event it
    accounts for, so the whole stream, warnings included, is strictly increasing.
    """
    warnings = [e for e in events if e["type"] == "warning"]
    delivered = {e["seq"] for e in events if e["type"] != "warning"}
    published = set(range(1, last_seq + 1))
    missing = sorted(published - delivered)
    dropped = sum(w["data"]["dropped"] for w in warnings)
    assert dropped == len(missing), f"warnings count {dropped} drops, {len(missing)} events are missing"
    for w in warnings:
        assert w["data"]["reason"] == "events_dropped" and w["data"]["first_dropped_seq"] in missing
        assert w["seq"] == w["data"]["last_dropped_seq"] and w["seq"] in missing
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # in order, oldest first, no repeats
    return dropped


async def test_a_client_that_does_not_read_gets_a_warning_with_the_drop_count(
    daemon: Any, client: Client, e2e: Any
) -> None:
    raw = await e2e.raw(daemon.url, daemon.token)
    await raw.call("events.subscribe")  # everything, from now on
    # ~1000 output events of 64 KiB: far more than the socket buffers and the 16-event ring hold.
    t = await client.call("task.run", argv=["sh", "-c", "head -c 64000000 /dev/zero | tr '\\0' y"])
    done = await client.call("task.wait", task=t["id"], timeout=60)  # the producer finished unhindered
    assert done["end_reason"] == "exited"
    last_seq = (await client.call("daemon.health"))["last_seq"]

    await raw.read_until_ended(t["id"])  # now it reads: in-flight frames, a warning, the newest events
    assert any(e["type"] == "warning" for e in raw.events)
    dropped = _check_drop_accounting(raw.events, max(e["seq"] for e in raw.events if e["type"] != "warning"))
    assert dropped > 100
    ended = [e for e in raw.events if e["type"] == "task_state" and e["data"]["to"] == "ended"]
    assert len(ended) == 1 and ended[0]["seq"] <= last_seq  # the newest events survive the overflow
    # The connection is healthy after the overflow.
    assert (await raw.call("daemon.health"))["status"] == "ok"
    await raw.close()


async def test_ack_window_holds_events_back_and_never_drops_task_state(client: Client, e2e: Any) -> None:
    # 40 task_state events against a 16-event ring: state is never dropped for lack of room
    # (only bulk output is, and that can be re-read by offset), so all 40 arrive, in order.
    sub = (await client.call("events.subscribe", types=["task_state"], ack_window=2))["subscription"]
    ids = []
    for _ in range(10):  # exactly 40 task_state events
        t = await client.call("task.run", argv=["true"])
        ids.append(t["id"])
        await client.call("task.wait", task=t["id"], timeout=20)
    first = [await client.next_event(timeout=20) for _ in range(2)]
    assert [e["type"] for e in first] == ["task_state", "task_state"]
    await client.call("daemon.health")  # a round trip: anything sent beyond the window would be here by now
    assert client.take_events() == []  # nothing beyond the window until we ack
    stats = await client.call("events.ack", subscription=sub, seq=first[-1]["seq"])
    assert stats["dropped_total"] == 0 and stats["last_ack"] == first[-1]["seq"]
    events = list(first)
    while len(events) < 40:
        ev = await client.next_event(timeout=20)
        assert ev["type"] == "task_state"
        events.append(ev)
        await client.call("events.ack", subscription=sub, seq=ev["seq"])
    assert [e["pid"] for e in events] == [tid for tid in ids for _ in range(4)]
    assert [e["data"]["to"] for e in events[-4:]][-1] == "ended"
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))
    await client.call("daemon.health")
    assert client.take_events() == []


async def test_a_follower_of_eight_noisy_tasks_sees_every_end(daemon: Any, client: Client, e2e: Any) -> None:
    raw = await e2e.raw(daemon.url, daemon.token)
    await raw.call("events.subscribe")  # everything; it reads nothing until all eight have ended
    script = "head -c 8000000 /dev/zero | tr '\\0' y"
    ids = [(await client.call("task.run", argv=["sh", "-c", script]))["id"] for _ in range(8)]
    for tid in ids:
        assert (await client.call("task.wait", task=tid, timeout=60))["end_reason"] == "exited"
    for tid in ids:
        await raw.read_until_ended(tid)
    ended = sorted(e["pid"] for e in raw.events if e["type"] == "task_state" and e["data"]["to"] == "ended")
    assert ended == ids
    warnings = [e for e in raw.events if e["type"] == "warning"]
    assert warnings, "the ring was expected to overflow with output"
    reread = {(r["task"], r["stream"]) for w in warnings for r in w["data"].get("reread", [])}
    assert reread and all(tid in ids and stream == "stdout" for tid, stream in reread)
    seqs = [e["seq"] for e in raw.events]
    assert seqs == sorted(set(seqs))
    await raw.close()


async def test_replay_past_the_history_starts_with_a_replay_gap_warning(daemon_factory: Any) -> None:
    d = await daemon_factory(limits=dataclasses.replace(DEFAULT_LIMITS, history_events=16))
    client = await d.client()
    for _ in range(8):  # 4 task_state events each: twice the 16-event history
        t = await client.call("task.run", argv=["true"])
        await client.call("task.wait", task=t["id"], timeout=20)
    health = await client.call("daemon.health")
    sub = await client.call("events.subscribe", since_seq=0, types=["task_state"])
    assert sub["oldest_seq"] == health["last_seq"] - 15
    gap = await client.next_event(timeout=10)
    assert gap["type"] == "warning" and gap["data"]["reason"] == "replay_gap"
    assert sub["cursor"] == health["last_seq"]
    assert gap["seq"] == gap["data"]["missing_to"]  # the warning stands in for the last missing event
    assert gap["data"]["missing_from"] == 1 and gap["data"]["missing_to"] == sub["oldest_seq"] - 1
    replay = [await client.next_event(timeout=10) for _ in range(16)]
    assert [e["seq"] for e in replay] == list(range(sub["oldest_seq"], health["last_seq"] + 1))
    assert client.take_events() == []
    # A replay from inside the history has no gap and starts right after the given seq.
    sub2 = await client.call("events.subscribe", since_seq=health["last_seq"] - 3, types=["task_state"])
    again = [await client.next_event(timeout=10) for _ in range(3)]
    assert [e["seq"] for e in again] == [health["last_seq"] - 2, health["last_seq"] - 1, health["last_seq"]]
    assert sub2["subscription"] != sub["subscription"]
    await client.close()
