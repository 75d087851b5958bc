"""api/client.py, the Python client the CLI, the tests and the benchmarks use."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from executive.api.client import Client


async def test_a_call_abandoned_by_its_caller_does_not_break_the_client(client: Client) -> None:
    t = await client.call("task.run", argv=["sleep", "1000"])
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(client.call("task.wait", task=t["id"], timeout=0.3), 0.05)
    # The abandoned call's reply arrives first; then this one's. The client must survive the first.
    r = await client.call("task.wait", task=t["id"], timeout=0.6)
    assert r["timed_out"] is True
    assert (await client.call("daemon.health"))["status"] == "ok"
    await client.call("task.kill", task=t["id"])


async def test_calls_run_concurrently_on_one_connection(client: Client) -> None:
    """A long task.wait does not hold up other calls on the same connection."""
    t = await client.call("task.run", argv=["sleep", "1000"])
    waiter = asyncio.ensure_future(client.call("task.wait", task=t["id"], timeout=60))
    assert (await client.call("task.pause", task=t["id"]))["state"] == "paused"
    assert (await client.call("task.cancel", task=t["id"]))["state"] == "stopping"
    done: dict[str, Any] = await asyncio.wait_for(waiter, 20)
    assert done["end_reason"] == "cancelled" and done["timed_out"] is False
