"""The HSX TCP port end to end: a real daemon, a line-JSON client, a debug session (spec hsx-executive §12)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import hsx_client
from hsx_client import (
    CHATTY_PROGRAM,
    HsxClient,
    HsxDaemon,
    one_shot,
    symbol_address,
    write_program,
)

hsx, conn = hsx_client.hsx, hsx_client.conn  # the fixtures


def is_break(pid: int) -> Any:
    return lambda e: e["type"] == "debug_break" and e["pid"] == pid


async def test_port_is_recorded_in_daemon_json(hsx: HsxDaemon) -> None:
    info = json.loads((hsx.home / "daemon.json").read_text())
    assert info["hsx_port"] == hsx.port > 0
    assert (await one_shot(hsx.port, cmd="ping")) == {"version": 1, "status": "ok", "reply": "pong"}


async def test_debug_session_on_one_connection(hsx: HsxDaemon, conn: HsxClient, tmp_path: Path) -> None:
    """session.open, events.subscribe, load, bp add, run to the break, dumpregs, stack, step, kill (issue 4)."""
    hxe, sym = write_program(tmp_path)
    work = symbol_address(sym, "work")
    opened = await conn.ok(cmd="session.open", client="test", capabilities={"features": ["events", "stack", "watch"]})
    s = opened["session"]
    assert isinstance(s["id"], str) and s["features"] == ["events", "stack", "watch"]
    assert s["heartbeat_s"] == 30 and s["max_events"] == 256 and s["pid_lock"] is None and s["warnings"] == []
    sid = s["id"]
    sub = await conn.ok(
        cmd="events.subscribe", session=sid, filters={"categories": ["debug_break", "task_state", "stdout"]}
    )
    assert sub["events"]["token"].startswith(sid + ":") and sub["events"]["max"] == 256

    # The connection keeps serving requests after subscribing (§12.3 superset).
    image = (await conn.ok(cmd="load", path=str(hxe), session=sid))["image"]
    pid = image["pid"]
    assert image["symbols"]["loaded"] is True and image["symbols"]["path"] == str(hxe.with_suffix(".sym"))
    loaded = await conn.event(
        lambda e: e["type"] == "task_state" and e["pid"] == pid and e["data"]["new_state"] == "paused"
    )
    assert loaded["data"]["reason"] == "loaded"

    # An ExecutiveSession-style client (one request per connection) sees the same task, held until the clock starts.
    ps = (await one_shot(hsx.port, cmd="ps"))["tasks"]
    (task,) = [t for t in ps["tasks"] if t["pid"] == pid]
    assert task["state"] == "paused" and task["pause_reason"] == "loaded" and task["symbols"]["count"] > 0

    bp = await conn.ok(cmd="bp.add", pid=pid, address=hex(work), session=sid)
    assert bp["breakpoints"] == [work]
    assert (await conn.ok(cmd="bp.list", pid=pid))["breakpoints"] == [work]
    assert (await conn.ok(cmd="bp", op="list", pid=pid))["breakpoints"] == [work]

    await conn.ok(cmd="clock", op="start")
    brk = await conn.event(is_break(pid))
    assert brk["data"]["pc"] == work and brk["data"]["reason"] == "breakpoint" and brk["data"]["symbol"] == "work"
    assert set(brk) == {"seq", "ts", "type", "pid", "data"}

    regs = (await conn.ok(cmd="dumpregs", pid=pid))["registers"]
    assert all(f"R{i}" in regs for i in range(16)) and "PSW" in regs
    assert regs["pc"] == regs["PC"] == work and regs["regs"][15] == regs["R15"]

    stack = (await conn.ok(cmd="stack", pid=pid, max=8))["stack"]
    assert [f.get("func_name") for f in stack["frames"]] == ["work", "main"]
    assert stack["frames"][0]["pc"] == work and not stack["truncated"]

    step = (await conn.ok(cmd="step", pid=pid, session=sid))["result"]
    assert step["executed"] == 1 and step["pc"] == work + 4 and step["paused"] is True
    assert step["symbol"] == "work+0x4" and "R15" in step["changed_regs"]  # PUSH R7 moved the stack pointer

    first = brk["seq"]
    assert (await conn.ok(cmd="resume", pid=pid, session=sid))["task"]["state"] == "ready"
    await conn.event(lambda e: is_break(pid)(e) and e["seq"] > first)  # once round the loop, printing "hi"
    stdout = await conn.event(lambda e: e["type"] == "stdout" and e["pid"] == pid)
    assert "hi" in stdout["data"]["text"]

    killed = (await conn.ok(cmd="kill", pid=pid, session=sid))["task"]
    assert killed["state"] == "terminated"
    await conn.event(lambda e: e["type"] == "task_state" and e["pid"] == pid and e["data"]["new_state"] == "terminated")

    last = conn.events[-1]["seq"]
    acked = (await conn.ok(cmd="events.ack", session=sid, seq=last))["events"]
    assert acked["last_ack"] == last and acked["drops"] == 0
    assert (await conn.ok(cmd="events.unsubscribe", session=sid))["unsubscribed"] is True
    assert (await conn.ok(cmd="events.unsubscribe", session=sid))["unsubscribed"] is False
    await conn.ok(cmd="session.close", session=sid)


async def test_errors_keep_the_connection_open(conn: HsxClient) -> None:
    await conn.send_raw(b"{not json\n")
    assert (await conn.reply()) == {"version": 1, "status": "error", "error": "invalid_json"}
    assert await conn.error(cmd="frobnicate") == "unknown_cmd:frobnicate"
    assert await conn.error(cmd="") == "unknown_cmd:"
    assert (await conn.ok(cmd="PING"))["reply"] == "pong"  # names are case-insensitive (§2.1)
    assert await conn.error(cmd="ping", version=2) == "unsupported_version:2"
    assert (await conn.ok(cmd="ping", version="1"))["reply"] == "pong"
    await conn.send_raw(b"[1, 2]\n")
    assert (await conn.reply())["status"] == "error"
    assert await conn.error(cmd="ping", session="no-such-session") == "session_required"
    assert await conn.error(cmd="events.subscribe") == "session_required"
    assert await conn.error(cmd="load") == "load requires 'path'"
    assert await conn.error(cmd="bp", pid=1, op="bogus") == "unknown bp op 'bogus'"
    assert await conn.error(cmd="pause") == "pause requires 'pid'"
    assert await conn.error(cmd="pause", pid=99) == "unknown pid 99"
    assert await conn.error(cmd="peek", pid="zz", addr=0) == "invalid pid 'zz': expected an integer (decimal or 0x hex)"
    assert (await conn.ok(cmd="ping"))["reply"] == "pong"


async def test_pid_locks(hsx: HsxDaemon, conn: HsxClient, tmp_path: Path) -> None:
    hxe, _ = write_program(tmp_path)
    pid = (await conn.ok(cmd="load", path=str(hxe)))["image"]["pid"]
    owner = (await conn.ok(cmd="session.open", client="owner", pid_lock=pid))["session"]
    assert owner["pid_lock"] == pid
    other = await hsx.connect()
    try:
        assert await other.error(cmd="pause", pid=pid) == f"pid_locked:{pid}"  # no session at all
        sid2 = (await other.ok(cmd="session.open", client="other"))["session"]["id"]
        assert await other.error(cmd="resume", pid=pid, session=sid2) == f"pid_locked:{pid}"
        assert await other.error(cmd="bp.add", pid=pid, address=0, session=sid2) == f"pid_locked:{pid}"
        assert await other.error(cmd="session.open", pid_lock=[pid, pid + 100]) == f"pid_locked:{pid}"
        assert (await other.ok(cmd="dumpregs", pid=pid))["registers"]["PC"] == 0  # reads are never locked
        await conn.ok(cmd="step", pid=pid, session=owner["id"])
        await conn.ok(cmd="session.close", session=owner["id"])
        await other.ok(cmd="kill", pid=pid, session=sid2)  # the lock went with the session
    finally:
        await other.close()


async def test_executive_session_style_stream(hsx: HsxDaemon, tmp_path: Path) -> None:
    """A write-only stream socket plus one connection per request; the stream ends with EOF (§5.4)."""
    hxe, sym = write_program(tmp_path)
    sid = (await one_shot(hsx.port, cmd="session.open", client="shell"))["session"]["id"]
    stream = await hsx.connect()
    try:
        sub = await stream.ok(cmd="events.subscribe", session=sid, filters={"categories": ["debug_break"]})
        assert sub["events"]["cursor"] >= 0
        pid = (await one_shot(hsx.port, cmd="exec", path=str(hxe), session=sid))["image"]["pid"]
        assert (
            await one_shot(hsx.port, cmd="bp", op="set", pid=pid, addr=str(symbol_address(sym, "work")), session=sid)
        )["status"] == "ok"
        assert (await one_shot(hsx.port, cmd="resume", pid=pid, session=sid))["task"]["state"] == "ready"
        assert (await one_shot(hsx.port, cmd="clock", op="start"))["clock"]["running"] is True  # it starts stopped
        brk = await stream.event(is_break(pid))
        assert brk["data"]["symbol"] == "work"
        assert (await one_shot(hsx.port, cmd="session.keepalive", session=sid))["status"] == "ok"
        assert (await one_shot(hsx.port, cmd="events.ack", session=sid, seq=brk["seq"]))["events"]["last_ack"] == brk[
            "seq"
        ]
        assert (await one_shot(hsx.port, cmd="events.unsubscribe", session=sid))["unsubscribed"] is True
        while (line := await stream.read_line()) is not None:  # what was queued, then EOF
            assert "status" not in line
        assert (await one_shot(hsx.port, cmd="kill", pid=pid, session=sid))["status"] == "ok"
    finally:
        await stream.close()


async def test_slow_reader_loses_oldest_events_and_blocks_nobody(hsx: HsxDaemon, tmp_path: Path) -> None:
    hxe, _ = write_program(tmp_path, "chatty", CHATTY_PROGRAM)
    slow = await hsx.connect()
    fast = await hsx.connect()
    try:
        sid = (await slow.ok(cmd="session.open", capabilities={"max_events": 1}))["session"]
        assert sid["max_events"] == 2 and sid["warnings"] == ["max_events_clamped:2"]
        await slow.ok(cmd="events.subscribe", session=sid["id"], filters={"categories": ["stdout"]})
        pid = (await fast.ok(cmd="load", path=str(hxe)))["image"]["pid"]
        await fast.ok(cmd="resume", pid=pid)
        await fast.ok(cmd="clock", op="start")
        for _ in range(20):  # the other connection is served while the slow one reads nothing
            assert (await fast.ok(cmd="ps"))["tasks"]["tasks"]
        await fast.ok(cmd="kill", pid=pid)
        dropped = await slow.skip_to(b'"event_dropped"')
        assert dropped["type"] == "warning" and dropped["data"]["drops"] >= 1
        assert dropped["data"]["subscription"].startswith(sid["id"])
        assert (await slow.ok(cmd="ping"))["reply"] == "pong"  # and the slow connection still answers
    finally:
        await slow.close()
        await fast.close()
