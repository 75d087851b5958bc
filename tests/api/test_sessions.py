"""Sessions through the wire: open, keepalive, close, idle expiry, and exclusive control locks."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from executive.api.client import Client, RpcError
from executive.kernel.errors import ErrorCode as E
from executive.kernel.limits import DEFAULT_LIMITS, Limits

IDLE = 2.0  # short, yet long enough that a busy session never looks idle on a loaded machine


@pytest.fixture
def limits() -> Limits:
    return dataclasses.replace(DEFAULT_LIMITS, session_idle_s=IDLE, session_resume_grace_s=IDLE, max_sessions=8)


async def _code(coro: Any) -> int:
    with pytest.raises(RpcError) as exc:
        await coro
    return exc.value.code


async def test_open_keepalive_close(client: Client) -> None:
    s = await client.call("session.open", client="e2e", capabilities=["tasks", "events", "teleport"], idle_s=60)
    assert s["client"] == "e2e" and s["capabilities"] == ["tasks", "events"]
    assert s["warnings"] == ["unsupported_capability:teleport"] and s["idle_s"] == 60
    assert [x["id"] for x in await client.call("session.list")] == [s["id"]]
    k = await client.call("session.keepalive")
    assert k["id"] == s["id"] and k["last_seen"] >= s["last_seen"]
    assert (await client.call("session.close")) == {"id": s["id"], "closed": True}
    assert await client.call("session.list") == []
    assert await _code(client.call("session.keepalive", session=s["id"])) == E.SESSION_NOT_FOUND
    assert await _code(client.call("session.keepalive")) == E.SESSION_NOT_FOUND  # unbound from this connection


async def test_idle_sessions_expire_and_busy_ones_do_not(daemon: Any, client: Client) -> None:
    await client.call("events.subscribe", types=["session"])
    idle, busy = await daemon.client(), await daemon.client()
    s_idle = await idle.call("session.open", client="idle")
    s_busy = await busy.call("session.open", client="busy")

    async def keep_busy() -> None:
        while True:  # any request made under the session keeps it alive; alternate the two kinds
            await busy.call("session.keepalive")
            await asyncio.sleep(IDLE / 4)
            await busy.call("task.list")
            await asyncio.sleep(IDLE / 4)

    keeper = asyncio.ensure_future(keep_busy())
    try:
        ev = await client.next_event(timeout=10 * IDLE)  # housekeeping notices within a second or so
        assert ev["type"] == "session" and ev["data"] == {"session": s_idle["id"], "state": "expired"}
        assert [s["id"] for s in await client.call("session.list")] == [s_busy["id"]]
    finally:
        keeper.cancel()
    assert await _code(idle.call("session.keepalive")) == E.SESSION_NOT_FOUND
    assert (
        await _code(idle.call("task.run", argv=["true"])) == E.SESSION_NOT_FOUND
    )  # a dead session is not silently dropped
    assert (await idle.call("session.open", client="again"))["id"] != s_idle["id"]
    await idle.close()
    await busy.close()


async def test_a_locked_task_obeys_only_its_session(daemon: Any, client: Client) -> None:
    owner, other = await daemon.client(), await daemon.client()
    s = await owner.call("session.open", client="owner", idle_s=60)
    await other.call("session.open", client="other", idle_s=60)
    t = await owner.call("task.run", argv=["sleep", "1000"], lock=True)
    assert (await client.call("task.info", task=t["id"]))["locked_by"] == s["id"]

    for c in (other, client):  # another session, and a connection with no session at all
        for method in ("task.pause", "task.cancel", "task.kill"):
            assert await _code(c.call(method, task=t["id"])) == E.TASK_LOCKED
        assert await _code(c.call("task.input", task=t["id"], data="x")) == E.TASK_LOCKED
    assert await _code(other.call("task.lock", task=t["id"])) == E.TASK_LOCKED
    assert (await client.call("task.info", task=t["id"]))["state"] == "running"  # nothing happened

    assert (await owner.call("task.pause", task=t["id"]))["state"] == "paused"
    assert await _code(other.call("task.resume", task=t["id"])) == E.TASK_LOCKED
    await owner.call("session.close")  # closing the session releases its locks
    assert (await client.call("task.info", task=t["id"]))["locked_by"] is None
    assert (await other.call("task.resume", task=t["id"]))["state"] == "running"
    await other.call("task.cancel", task=t["id"])
    assert (await other.call("task.wait", task=t["id"], timeout=20))["end_reason"] == "cancelled"
    await owner.close()
    await other.close()


async def test_lock_unlock_resume_and_release_on_end(daemon: Any, client: Client) -> None:
    a = await daemon.client()
    s = await a.call("session.open", client="a", idle_s=60, resumable=True)
    t = await client.call("task.run", argv=["sleep", "1000"])
    assert (await a.call("task.lock", task=t["id"])) == {"task": t["id"], "locked_by": s["id"]}
    assert await _code(client.call("task.pause", task=t["id"])) == E.TASK_LOCKED
    assert (await a.call("task.unlock", task=t["id"]))["locked_by"] is None
    assert (await client.call("task.pause", task=t["id"]))["state"] == "paused"
    await a.call("task.lock", task=t["id"])
    await a.close()  # the connection goes, the resumable session stays for its grace: another connection resumes it
    b = await daemon.client()
    assert (await b.call("session.open", resume=s["id"]))["id"] == s["id"]
    assert (await b.call("task.resume", task=t["id"]))["state"] == "running"
    await b.call("task.kill", task=t["id"])
    await b.call("task.wait", task=t["id"], timeout=20)
    assert (await client.call("task.info", task=t["id"]))["locked_by"] is None  # the end releases the lock
    assert (await b.call("session.keepalive"))["locks"] == []
    await b.close()


async def test_an_expired_session_releases_its_locks(daemon: Any, client: Client) -> None:
    await client.call("events.subscribe", types=["session"])
    a = await daemon.client()
    s = await a.call("session.open", client="a")  # the daemon's short idle limit
    t = await a.call("task.run", argv=["sleep", "1000"], lock=True)
    assert await _code(client.call("task.cancel", task=t["id"])) == E.TASK_LOCKED
    ev = await client.next_event(timeout=10 * IDLE)
    assert ev["data"] == {"session": s["id"], "state": "expired"}
    assert (await client.call("task.info", task=t["id"]))["locked_by"] is None
    await client.call("task.cancel", task=t["id"])
    assert (await client.call("task.wait", task=t["id"], timeout=20))["end_reason"] == "cancelled"
    await a.close()


async def _until(predicate: Any, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_sessions_of_dropped_connections_end_with_them_and_free_their_locks(daemon: Any, client: Client) -> None:
    """Issue 19: clients that open a session and drop their socket locked everyone out until idle expiry."""
    await client.call("events.subscribe", types=["session"])
    t = await client.call("task.run", argv=["sleep", "1000"])
    dropped = []
    for i in range(8):  # the daemon's whole session table (max_sessions=8 here)
        c = await daemon.client()
        s = await c.call("session.open", client=f"gone{i}", idle_s=3600)
        if i == 0:
            await c.call("task.lock", task=t["id"])
        dropped.append((c, s["id"]))
    for c, _ in dropped:
        await c.close()  # no session.close: the socket just goes

    async def gone() -> bool:
        return await client.call("session.list") == []

    await _until(gone)  # long before the hour of idle time they asked for
    ev = await client.next_event(timeout=10)
    assert ev["data"]["state"] == "closed" and ev["data"]["reason"] == "connection_closed"
    assert (await client.call("task.info", task=t["id"]))["locked_by"] is None
    fresh = await daemon.client()
    assert (await fresh.call("session.open", client="next"))["connections"] == 1
    await fresh.close()
    await client.call("task.kill", task=t["id"])


async def test_a_resumable_session_waits_a_grace_for_a_new_connection(daemon: Any, client: Client) -> None:
    a = await daemon.client()
    s = await a.call("session.open", client="a", idle_s=3600, resumable=True)
    assert s["resumable"] is True and s["connections"] == 1
    await a.close()
    assert [x["connections"] for x in await client.call("session.list")] == [0]  # kept, for the grace
    b = await daemon.client()
    assert (await b.call("session.open", resume=s["id"]))["connections"] == 1
    await b.close()

    async def gone() -> bool:
        return await client.call("session.list") == []

    await _until(gone, timeout=15 * IDLE)  # the grace (IDLE here) ran out with nobody resuming it


async def test_one_connection_cannot_take_every_subscription(daemon: Any, client: Client) -> None:
    hog = await daemon.client()
    per = DEFAULT_LIMITS.max_subscriptions_per_connection
    for _ in range(per):
        await hog.call("events.subscribe", types=["task_state"])
    with pytest.raises(RpcError) as exc:
        await hog.call("events.subscribe", types=["task_state"])
    assert "max_subscriptions_per_connection" in exc.value.message
    assert (await client.call("events.subscribe", types=["task_state"]))["subscription"] > 0  # others still can
    await hog.close()


async def test_an_operator_evicts_another_clients_session(daemon: Any, client: Client) -> None:
    holder = await daemon.client()
    s = await holder.call("session.open", client="holder")
    t = await holder.call("task.run", argv=["sleep", "1000"], lock=True)
    assert await _code(client.call("task.cancel", task=t["id"])) == E.TASK_LOCKED
    assert await client.call("session.evict", session=s["id"], reason="stuck") == {"id": s["id"], "closed": True}
    assert (await client.call("task.cancel", task=t["id"]))["id"] == t["id"]  # the lock went with it
    assert await _code(holder.call("session.keepalive")) == E.SESSION_NOT_FOUND
    assert await _code(client.call("session.evict", session="nope")) == E.SESSION_NOT_FOUND
    await holder.close()
