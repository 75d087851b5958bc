"""events.subscribe / ack / unsubscribe through the wire: filters, ownership, cleanup, /health."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import pytest

from executive.api.client import Client, RpcError
from executive.kernel.errors import ErrorCode as E


async def test_filters_by_type_and_task(daemon: Any, client: Client, e2e: Any) -> None:
    quiet = await client.call("task.run", argv=["sh", "-c", "echo quiet; exec sleep 1000"])
    watcher = await daemon.client()
    await watcher.call("events.subscribe", types=["task_state"], tasks=[quiet["id"]])
    loud = await client.call("task.run", argv=["sh", "-c", "echo loud"])
    await client.call("task.wait", task=loud["id"], timeout=20)
    await client.call("task.cancel", task=quiet["id"])
    events = await e2e.until_ended(watcher, quiet["id"])
    assert {e["pid"] for e in events} == {quiet["id"]} and {e["type"] for e in events} == {"task_state"}
    assert [e["data"]["to"] for e in events] == ["stopping", "ended"]
    await watcher.close()


async def test_unsubscribe_stops_delivery_and_subscriptions_belong_to_their_connection(
    daemon: Any, client: Client
) -> None:
    other = await daemon.client()
    sub = (await client.call("events.subscribe", types=["task_state"]))["subscription"]
    for method, params in (
        ("events.ack", {"subscription": sub, "seq": 1}),
        ("events.unsubscribe", {"subscription": sub}),
    ):
        with pytest.raises(RpcError) as exc:
            await other.call(method, **params)
        assert exc.value.code == E.SUBSCRIPTION_NOT_FOUND
    assert (await client.call("events.unsubscribe", subscription=sub)) == {"subscription": sub, "unsubscribed": True}
    with pytest.raises(RpcError) as exc:
        await client.call("events.unsubscribe", subscription=sub)
    assert exc.value.code == E.SUBSCRIPTION_NOT_FOUND
    t = await client.call("task.run", argv=["true"])
    await client.call("task.wait", task=t["id"], timeout=20)
    await client.call("daemon.health")  # a round trip after the task's events were published
    assert client.take_events() == []
    await other.close()


async def test_a_closed_connection_leaves_no_subscription_behind(daemon: Any, client: Client, e2e: Any) -> None:
    others = [await daemon.client() for _ in range(3)]
    for c in others:
        await c.call("events.subscribe")
        await c.call("events.subscribe", types=["output"])
    assert (await client.call("daemon.health"))["subscriptions"] == 6
    for c in others:
        await c.close()
    await e2e.wait_for(lambda: _subscriptions(client, 0), timeout=10)


async def _subscriptions(client: Client, n: int) -> bool:
    return (await client.call("daemon.health"))["subscriptions"] == n


async def test_http_health(daemon: Any, client: Client) -> None:
    t = await client.call("task.run", argv=["sleep", "1000"])
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(daemon.info["health"], timeout=10).read())
    h = json.loads(body)
    assert h["status"] == "ok" and h["tasks_live"] == 1 and h["connections"] >= 1 and "version" in h
    assert h["log_dropped"] is None  # its log lines are written
    await client.call("task.kill", task=t["id"])
