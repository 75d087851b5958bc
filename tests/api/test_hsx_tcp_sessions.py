"""Sessions and event streams on the HSX TCP port (spec hsx-executive §3.2, §3.3, §4, §5)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import hsx_client
from hsx_client import HsxClient, HsxDaemon, one_shot, write_program

hsx, conn = hsx_client.hsx, hsx_client.conn  # the fixtures


async def test_session_open_validates_and_clamps(conn: HsxClient) -> None:
    caps = "capabilities"
    assert (
        await conn.error(cmd="session.open", **{caps: {"features": "events"}})
        == "capabilities.features must be a list when provided"
    )
    assert (
        await conn.error(cmd="session.open", **{caps: {"max_events": "lots"}})
        == "capabilities.max_events must be an integer when provided"
    )
    assert (
        await conn.error(cmd="session.open", **{caps: {"max_events": 0}}) == "capabilities.max_events must be positive"
    )
    assert await conn.error(cmd="session.open", heartbeat_s="soon") == "heartbeat_s must be an integer when provided"
    assert await conn.error(cmd="session.open", pid_lock="abc") == "pid_lock must be an integer or sequence of integers"
    assert await conn.error(cmd="session.open", pid_lock=[-1]) == "pid_lock values must be non-negative"
    s = (
        await conn.ok(
            cmd="session.open",
            client="c",
            heartbeat_s=1,
            pid_lock=[7, 3, 7],
            **{caps: {"features": ["events", "telepathy"], "max_events": 9999}},
        )
    )["session"]
    assert s["warnings"] == ["unsupported_feature:telepathy", "max_events_clamped:2048", "heartbeat_clamped:5"]
    assert s["features"] == ["events"] and s["max_events"] == 2048 and s["heartbeat_s"] == 5
    assert s["pid_lock"] == [3, 7] and s["client"] == "c" and s["created_at"] <= s["last_seen"]
    assert (await conn.ok(cmd="session.open", heartbeat_s=1000))["session"]["warnings"] == ["heartbeat_clamped:300"]


async def test_session_lifecycle(hsx: HsxDaemon, conn: HsxClient) -> None:
    a = (await conn.ok(cmd="session.open", client="a", pid_lock=5))["session"]["id"]
    b = (await one_shot(hsx.port, cmd="session.open", client="b"))["session"]["id"]
    cur = (await conn.ok(cmd="session.current", session=a))["session"]
    assert cur["id"] == a and cur["pid_locks"] == [5] and cur["warnings"] == []
    listed = (await conn.ok(cmd="session.list"))["sessions"]
    assert [s["client"] for s in listed] == ["a", "b"] and all(s["age_s"] >= 0 for s in listed)
    await conn.ok(cmd="session.keepalive", session=a)
    assert await conn.error(cmd="session.keepalive") == "session_required"
    assert await conn.error(cmd="session.current", session="gone") == "session_required"
    assert await conn.error(cmd="session.terminate", session=a) == "session.terminate requires 'target'"
    assert await conn.error(cmd="session.terminate", session=a, target="gone") == "session_not_found"
    assert (await conn.ok(cmd="session.terminate", session=a, target=b))["closed"] == {"id": b, "reason": "admin_close"}
    assert (await one_shot(hsx.port, cmd="ping", session=b))["error"] == "session_required"
    await conn.ok(cmd="session.close", session=a)
    assert await conn.error(cmd="session.close", session=a) == "session_required"
    assert (await conn.ok(cmd="session.open", pid_lock=5))["session"]["pid_lock"] == 5  # the lock went with a


async def test_subscription_filters_and_replay(hsx: HsxDaemon, conn: HsxClient, tmp_path: Path) -> None:
    hxe, _ = write_program(tmp_path)
    sid = (await conn.ok(cmd="session.open"))["session"]["id"]
    assert (
        await conn.error(cmd="events.subscribe", session=sid, filters={"pid": ["x"]})
        == "filters.pid must contain integer PIDs"
    )
    assert (
        await conn.error(cmd="events.subscribe", session=sid, filters={"since_seq": "x"})
        == "filters.since_seq must be an integer when provided"
    )
    assert (
        await conn.error(cmd="events.subscribe", session=sid, filters={"since_seq": -1})
        == "filters.since_seq must be non-negative"
    )
    assert await conn.error(cmd="events.ack", session=sid, seq=1) == "session_required"  # no subscription yet

    first = int((await conn.ok(cmd="load", path=str(hxe)))["image"]["pid"])
    second = int((await conn.ok(cmd="load", path=str(hxe)))["image"]["pid"])
    sub = (await conn.ok(cmd="events.subscribe", session=sid, filters={"pid": second, "since_seq": 0}))["events"]
    assert sub["since_seq"] == 0 and sub["cursor"] > 0
    replayed = await conn.event(lambda e: e["type"] == "task_state" and e["data"]["reason"] == "loaded")
    assert replayed["pid"] == second and replayed["seq"] <= sub["cursor"]  # history replay (§5.4)
    await conn.ok(cmd="kill", pid=first)
    await conn.ok(cmd="kill", pid=second)
    await conn.event(lambda e: e["type"] == "task_state" and e["data"].get("new_state") == "terminated")
    assert {e["pid"] for e in conn.events} == {second}

    assert await conn.error(cmd="events.ack", session=sid) == "events.ack requires 'seq'"
    assert await conn.error(cmd="events.ack", session=sid, seq="x") == "events.ack seq must be an integer"
    assert await conn.error(cmd="events.ack", session=sid, seq=-1) == "ack seq must be non-negative"
    acked = (await conn.ok(cmd="events.ack", session=sid, seq=conn.events[-1]["seq"]))["events"]
    assert acked["pending"] == 0 and acked["last_ack"] == conn.events[-1]["seq"]


async def test_a_second_subscribe_replaces_the_first(hsx: HsxDaemon) -> None:
    sid = (await one_shot(hsx.port, cmd="session.open"))["session"]["id"]
    old = await hsx.connect()
    new = await hsx.connect()
    try:
        await old.ok(cmd="events.subscribe", session=sid)
        await new.ok(cmd="events.subscribe", session=sid)
        assert await old.read_line() is None  # the replaced stream-only connection ends (§5.4)
        assert (await new.ok(cmd="events.ack", session=sid, seq=0))["status"] == "ok"
    finally:
        await old.close()
        await new.close()


async def test_a_multiplexed_connection_outlives_its_stream(hsx: HsxDaemon, conn: HsxClient) -> None:
    """hsxdbg style: when the session is closed elsewhere, the stream ends with a warning; requests go on."""
    sid = (await conn.ok(cmd="session.open", client="hsxdbg"))["session"]["id"]
    await conn.ok(cmd="events.subscribe", session=sid)
    await conn.ok(cmd="ping", session=sid)  # a request after subscribing: this connection is multiplexed
    await one_shot(hsx.port, cmd="session.terminate", target=sid)
    notice = await conn.event(lambda e: e["type"] == "warning")
    assert notice["data"]["reason"] == "subscription_closed" and notice["data"]["cause"] == "admin_close"
    assert (await conn.ok(cmd="ping"))["reply"] == "pong"
    assert await conn.error(cmd="ping", session=sid) == "session_required"
