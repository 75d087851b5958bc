"""The FIFO queue beyond the concurrency limit (max_running=2), through the wire."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import pytest

from executive.api.client import Client, RpcError
from executive.kernel.limits import DEFAULT_LIMITS, Limits


@pytest.fixture
def limits() -> Limits:
    return dataclasses.replace(DEFAULT_LIMITS, max_running=2, max_queued=3)


async def test_tasks_beyond_the_limit_wait_and_start_in_fifo_order(client: Client, e2e: Any) -> None:
    await client.call("events.subscribe", types=["task_state"])
    running = [await client.call("task.run", argv=["sleep", "1000"]) for _ in range(2)]
    assert [t["state"] for t in running] == ["running", "running"]
    queued = [await client.call("task.run", argv=["sleep", "1000"], name=f"q{i}") for i in range(3)]
    assert [t["state"] for t in queued] == ["queued"] * 3 and all(t["pid"] is None for t in queued)
    health = await client.call("daemon.health")
    assert health["tasks_queued"] == 3 and health["tasks_live"] == 5
    assert [t["id"] for t in (await client.call("task.list", state="queued", after_id=0))["tasks"]] == [
        t["id"] for t in queued
    ]

    # The queue is bounded too.
    with pytest.raises(RpcError) as exc:
        await client.call("task.run", argv=["sleep", "1000"])
    assert exc.value.code == 1030 and "queue is full" in exc.value.message

    # Free one slot at a time: the oldest queued task takes it.
    for i, t in enumerate(running):
        await client.call("task.cancel", task=t["id"])
        await e2e.wait_for(functools.partial(_state, client, queued[i]["id"], "running"), timeout=20)
        for later in queued[i + 1 :]:
            assert (await client.call("task.info", task=later["id"]))["state"] == "queued"
    starts = [e["pid"] for e in client.take_events() if e["type"] == "task_state" and e["data"]["to"] == "starting"]
    assert starts == [running[0]["id"], running[1]["id"], queued[0]["id"], queued[1]["id"]]
    for t in queued:
        await client.call("task.kill", task=t["id"])
    for t in queued:
        assert (await client.call("task.wait", task=t["id"], timeout=20))["state"] == "ended"


async def _state(client: Client, tid: int, state: str) -> bool:
    return (await client.call("task.info", task=tid))["state"] == state


async def test_cancel_a_queued_task(client: Client) -> None:
    await client.call("events.subscribe", types=["task_state"])
    blockers = [await client.call("task.run", argv=["sleep", "1000"]) for _ in range(2)]
    q = await client.call("task.run", argv=["sleep", "1000"])
    assert q["state"] == "queued"
    c = await client.call("task.cancel", task=q["id"])
    assert c["state"] == "ended" and c["end_reason"] == "cancelled"
    info = await client.call("task.info", task=q["id"])
    assert info["pid"] is None and info["started"] is None and info["exit_code"] is None
    edges = [(e["data"]["from"], e["data"]["to"]) for e in client.take_events() if e["pid"] == q["id"]]
    assert edges == [(None, "queued"), ("queued", "ended")]  # it never started
    assert (await client.call("daemon.health"))["tasks_queued"] == 0
    # Its place in the queue is gone: the next free slot goes to the next task, and the queue
    # bound counts only tasks that really wait.
    waiting = [await client.call("task.run", argv=["sleep", "1000"]) for _ in range(3)]
    assert [t["state"] for t in waiting] == ["queued"] * 3
    await client.call("task.cancel", task=blockers[0]["id"])
    w0 = await client.call("task.wait", task=blockers[0]["id"], timeout=20)
    assert w0["end_reason"] == "cancelled"
    for t in [*blockers[1:], *waiting]:
        await client.call("task.kill", task=t["id"])
    for t in waiting:
        assert (await client.call("task.wait", task=t["id"], timeout=20))["state"] == "ended"
