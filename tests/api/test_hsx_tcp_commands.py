"""HSX TCP port commands beyond the debug session: tier 2 of spec hsx-executive §12.5, over a real daemon."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import hsx_client
from hsx_client import (
    COUNTER_PROGRAM,
    HsxClient,
    HsxDaemon,
    one_shot,
    symbol_address,
    write_program,
)

from executive.api.hsx_tcp import start_hsx_server
from executive.kernel.errors import BadParamsError
from executive.service import Executive

hsx, conn = hsx_client.hsx, hsx_client.conn  # the fixtures


async def _load(conn: HsxClient, path: Path, **extra: object) -> int:
    return int((await conn.ok(cmd="load", path=str(path), **extra))["image"]["pid"])


async def test_disassembly_symbols_and_memory_regions(conn: HsxClient, tmp_path: Path) -> None:
    hxe, sym = write_program(tmp_path)
    work = symbol_address(sym, "work")
    pid = await _load(conn, hxe)

    d = (await conn.ok(cmd="disasm", pid=pid, addr=0, count=3))["disasm"]  # address 0 is honoured (§13 #15)
    assert d["address"] == 0 and [i["pc"] for i in d["instructions"]] == [0, 4, 8]
    assert d["instructions"][0]["mnemonic"] == "LDI" and d["instructions"][2]["target_symbol"] == "work"
    d = (await conn.ok(cmd="disasm", pid=pid, address=hex(work), count=2, mode="cached"))["disasm"]
    assert d["instructions"][0]["mnemonic"] == "PUSH" and d["instructions"][0]["label"] == "work"
    data = (await conn.ok(cmd="disasm", pid=pid, addr="msg"))["disasm"]
    assert data["is_data"] is True  # a variable is reported as data, not decoded as code
    assert (await conn.ok(cmd="disasm", pid=pid, count=1000))["disasm"]["count"] <= 64
    assert await conn.error(cmd="disasm", pid=pid, mode="fast") == "mode must be 'on-demand' or 'cached'"

    info = (await conn.ok(cmd="sym", pid=pid))["symbols"]
    assert info["loaded"] is True and info["count"] >= 2
    found = await conn.ok(cmd="sym", op="lookup_name", pid=pid, name="work")
    assert found["symbol"]["address"] == work and found["name"] == "work"
    at = await conn.ok(cmd="sym", op="lookup_addr", pid=pid, address=hex(work + 4))
    assert at["symbol"]["name"] == "work" and at["symbol"]["offset"] == 4
    line = (await conn.ok(cmd="sym", op="line", pid=pid, address=work))["line"]
    assert line["file"] == "loop.mvasm" and line["line"] > 0
    assert (await conn.ok(cmd="sym", op="load", pid=pid, path=str(hxe.with_suffix(".sym"))))["symbols"]["loaded"]
    assert await conn.error(cmd="sym", op="bogus", pid=pid) == "unknown sym op 'bogus'"
    names = [s["name"] for s in (await conn.ok(cmd="symbols", pid=pid, type="functions"))["symbols"]["symbols"]]
    assert names == ["main", "work"]
    assert (await conn.ok(cmd="symbols", pid=pid, type="all", offset=1, limit=1))["symbols"]["returned"] == 1

    regions = (await conn.ok(cmd="memory", pid=pid))["memory"]["regions"]
    assert {"code", "rodata", "stack", "registers"} <= {r["name"] for r in regions}
    assert await conn.error(cmd="memory", op="map", pid=pid) == "unknown memory op 'map'"


async def test_watch_fires_when_the_value_changes(conn: HsxClient, tmp_path: Path) -> None:
    hxe, _ = write_program(tmp_path, "counter", COUNTER_PROGRAM)
    sid = (await conn.ok(cmd="session.open", client="watcher"))["session"]["id"]
    await conn.ok(cmd="events.subscribe", session=sid, filters={"categories": ["watch_update"]})
    pid = await _load(conn, hxe, session=sid)
    w = (await conn.ok(cmd="watch", op="add", pid=pid, expr="counter", session=sid))["watch"]
    assert w["symbol"] == "counter" and w["length"] == 4 and int(w["value"], 16) == 0
    await conn.ok(cmd="step", pid=pid, steps=4, session=sid)  # LDI32, LDI, LD, ADD: no store yet
    assert not conn.events
    await conn.ok(cmd="step", pid=pid, steps=1, session=sid)  # ST
    ev = await conn.event(lambda e: e["type"] == "watch_update")
    assert ev["pid"] == pid and ev["data"]["watch_id"] == w["id"]
    assert ev["data"]["old"] == w["value"] and int(ev["data"]["new"], 16) != 0  # hex of the bytes: 0 -> 1
    listed = (await conn.ok(cmd="watch", pid=pid))["watch"]
    assert listed["count"] == 1 and listed["watches"][0]["value"] == ev["data"]["new"]
    assert (await conn.ok(cmd="watch", op="remove", pid=pid, id=w["id"], session=sid))["watch"]["id"] == w["id"]
    assert (await conn.ok(cmd="watch", op="list", pid=pid))["watch"]["count"] == 0
    assert await conn.error(cmd="watch", op="add", pid=pid) == "watch add requires 'expr'"
    assert await conn.error(cmd="watch", op="add", pid=pid, expr=" ") == "watch expression must be non-empty"
    assert await conn.error(cmd="watch", op="peek", pid=pid) == "unknown watch op 'peek'"


async def test_trace_ring_export_and_import(conn: HsxClient, tmp_path: Path) -> None:
    hxe, _ = write_program(tmp_path, "counter", COUNTER_PROGRAM)
    sid = (await conn.ok(cmd="session.open"))["session"]["id"]
    pid = await _load(conn, hxe, session=sid)
    assert (await conn.ok(cmd="trace", pid=pid, mode="on", session=sid))["trace"]["enabled"] is True
    await conn.ok(cmd="step", pid=pid, steps=3, session=sid)
    recs = (await conn.ok(cmd="trace", op="records", pid=pid, limit=10))["trace"]
    assert (
        recs["format"] == "hsx.trace/1" and recs["returned"] == 3 and [r["pc"] for r in recs["records"]] == [0, 8, 12]
    )
    exported = (await conn.ok(cmd="trace", op="export", pid=pid))["trace"]["records"]
    assert (await conn.ok(cmd="trace", pid=pid, session=sid))["trace"]["enabled"] is False  # no mode: toggle
    imported = (await conn.ok(cmd="trace", op="import", pid=pid, records=exported[:2], session=sid))["trace"]
    assert imported["count"] == 2 and imported["records"] == exported[:2]
    assert (await conn.ok(cmd="trace", op="config", changed_regs="off"))["trace"]["changed_regs"] is False
    assert (await conn.ok(cmd="trace", op="config", changed_regs=True, buffer_size=64))["trace"]["changed_regs"] is True
    assert await conn.error(cmd="trace", op="config", buffer_size=-1) == "trace buffer size must be non-negative"
    assert (
        await conn.error(cmd="trace", op="config") == "trace.config requires 'changed-regs <on|off>' or 'buffer <size>'"
    )
    assert await conn.error(cmd="trace") == "trace requires 'pid'"
    assert await conn.error(cmd="trace", pid=pid, mode="maybe") == "trace mode must be 'on' or 'off'"
    assert await conn.error(cmd="trace", op="import", pid=pid, records=[]) == "session_required"
    assert await conn.error(cmd="trace", op="import", pid=pid, session=sid) == "trace import requires 'records' list"
    assert await conn.error(cmd="trace", op="rewind", pid=pid) == "unknown trace op 'rewind'"


async def test_clock_ops_and_steps_without_pid(conn: HsxClient, tmp_path: Path) -> None:
    hxe, _ = write_program(tmp_path, "counter", COUNTER_PROGRAM)
    status = (await conn.ok(cmd="clock"))["clock"]
    assert {"state", "running", "mode", "rate_hz", "step_size", "auto_total_steps", "manual_steps"} <= set(status)
    assert await conn.error(cmd="clock", op="step", steps=0) == "clock step steps must be positive"
    assert await conn.error(cmd="clock", op="rate") == "clock rate requires 'rate' value"
    assert await conn.error(cmd="clock", op="rate", rate=-1) == "clock rate must be non-negative"
    assert await conn.error(cmd="clock", op="spin") == "unknown clock op 'spin'"
    assert (await conn.ok(cmd="clock", op="halt"))["clock"]["running"] is False

    pid = await _load(conn, hxe)
    stepped = await conn.ok(cmd="step", steps=5)  # no pid: the program held since its load takes the steps
    assert stepped["result"]["executed"] == 5 and stepped["result"]["current_pid"] == pid
    assert (await conn.ok(cmd="clock", op="step", steps=2, pid=pid))["result"]["executed"] == 2

    assert (await conn.ok(cmd="clock", op="rate", rate=2000))["clock"]["rate_hz"] == 2000
    paced = (await conn.ok(cmd="clock", op="start"))["clock"]
    assert paced["mode"] == "rate" and paced["running"] is True
    for _ in range(500):  # the paced clock advances it
        if (await conn.ok(cmd="dumpregs", pid=pid))["registers"]["steps"] >= 50:
            break
        await asyncio.sleep(0.02)
    assert (await conn.ok(cmd="dumpregs", pid=pid))["registers"]["steps"] >= 50
    assert (await conn.ok(cmd="stop_auto"))["clock"]["running"] is False
    await conn.ok(cmd="clock", op="rate", rate=0)
    assert (await conn.ok(cmd="start_auto"))["clock"]["mode"] in ("active", "idle")
    assert (await conn.ok(cmd="kill", pid=pid))["task"]["state"] == "terminated"


async def test_pause_and_resume_are_idempotent(conn: HsxClient, tmp_path: Path) -> None:
    hxe, _ = write_program(tmp_path, "counter", COUNTER_PROGRAM)
    await conn.ok(cmd="clock", op="stop")  # nothing runs: the states below stay put
    pid = await _load(conn, hxe)
    assert (await conn.ok(cmd="pause", pid=pid))["task"]["pause_reason"] == "loaded"
    assert (await conn.ok(cmd="resume", pid=pid))["task"]["state"] == "ready"
    assert (await conn.ok(cmd="resume", pid=pid))["task"]["state"] == "ready"
    assert (await conn.ok(cmd="pause", pid=pid))["task"]["state"] == "paused"
    await conn.ok(cmd="kill", pid=pid)
    assert "only paused tasks resume" in await conn.error(cmd="resume", pid=pid)  # a finished task (§13 #20)


async def test_the_port_refuses_non_loopback_addresses(tmp_path: Path) -> None:
    ex = await Executive.open(tmp_path / "home")
    try:
        with pytest.raises(BadParamsError, match="no authentication"):
            await start_hsx_server(ex, host="0.0.0.0", port=0)
    finally:
        await ex.aclose()


async def test_tasks_memory_and_mailboxes(hsx: HsxDaemon, conn: HsxClient, tmp_path: Path) -> None:
    hxe, sym = write_program(tmp_path)
    pid = int((await conn.ok(cmd="exec", path=str(hxe)))["image"]["pid"])
    info = (await conn.ok(cmd="info", pid=pid))["info"]
    assert info["selected_pid"] == pid and info["selected_registers"]["PC"] == 0 and info["loaded"] is True
    assert "selected_error" in (await conn.ok(cmd="info", pid=999))["info"]
    assert (await conn.ok(cmd="attach"))["info"]["attached"] is True
    await conn.ok(cmd="detach")
    assert (await conn.ok(cmd="pause", pid=pid))["task"]["state"] == "paused"  # already paused: a no-op

    await conn.ok(cmd="poke", pid=pid, addr="0x5000", data="2a 00 00 00")  # hex addresses work (§13 #23)
    assert (await conn.ok(cmd="peek", pid=pid, addr="0x5000", length=4))["data"] == "2a000000"
    assert (await conn.ok(cmd="peek", pid=pid, addr=0x5000, length=2))["data"] == "2a00"

    counters = (await conn.ok(cmd="sched"))["scheduler"]["counters"]
    assert str(pid) in counters
    assert (await conn.ok(cmd="sched", pid=pid))["task"]["pid"] == pid
    task = (await conn.ok(cmd="sched", pid=pid, priority="5", quantum=3))["task"]  # the shell sends strings
    assert (task["priority"], task["quantum"]) == (5, 3)
    assert "quantum must be 1.." in await conn.error(cmd="sched", pid=pid, quantum=0)
    assert "priority must be 0..255" in await conn.error(cmd="sched", pid=pid, priority=256)
    await conn.ok(cmd="sched", pid=pid, priority=0, quantum=20)

    targets = {d["target"] for d in (await conn.ok(cmd="mailbox_snapshot"))["descriptors"]}
    assert f"svc:stdio.in@{pid}" in targets
    chans = (await conn.ok(cmd="list", pid=pid))["channels"]
    assert chans["pid"] == pid and any(c["target"] == f"svc:stdio.out@{pid}" for c in chans["channels"])
    sent = await conn.ok(cmd="send", pid=pid, data="hello")
    assert sent["mbx_status"] == 0 and sent["length"] == 5 and sent["target"] == f"svc:stdio.in@{pid}"
    assert (await conn.ok(cmd="send", pid=pid, data_hex="0a"))["length"] == 1
    assert await conn.error(cmd="send", pid=pid) == "send requires 'data' or 'data_hex'"

    await conn.ok(cmd="bp", op="set", pid=pid, addr=symbol_address(sym, "work") + 24)  # just after the UART write
    await conn.ok(cmd="resume", pid=pid)
    await conn.ok(cmd="clock", op="start")
    heard: list[dict[str, object]] = []
    for _ in range(500):
        heard = (await conn.ok(cmd="listen", pid=pid, limit=1))["messages"]
        if heard:
            break
        await asyncio.sleep(0.01)
    assert heard[0]["text"] == "hi\n" and heard[0]["target"] == f"svc:stdio.out@{pid}"
    assert (await conn.ok(cmd="bp", op="clear_all", pid=pid))["breakpoints"] == []

    reloaded = (await conn.ok(cmd="reload", pid=pid))["reload"]
    # The clock runs, so the new task runs at once (the reference restarts the clock after a reload).
    assert reloaded["old_pid"] == pid and reloaded["new_pid"] != pid and reloaded["task"]["state"] == "ready"
    states = {t["pid"]: t["state"] for t in (await one_shot(hsx.port, cmd="ps"))["tasks"]["tasks"]}
    assert pid not in states and states[reloaded["new_pid"]] == "ready"
    await conn.ok(cmd="kill", pid=reloaded["new_pid"])

    logs = (await conn.ok(cmd="dmesg", limit=3))["logs"]
    assert len(logs) == 3 and logs[-1]["message"] == "shell request" and logs[-1]["command"] == "dmesg"
    assert all(e.get("session_id") == "nobody" for e in (await conn.ok(cmd="dmesg", filter_session="nobody"))["logs"])


async def test_refusals_say_why(conn: HsxClient) -> None:
    assert (await conn.error(cmd="shutdown")).startswith("shutdown refused:")
    assert (await conn.error(cmd="restart", targets=["vm"])).startswith("restart refused:")
    assert await conn.error(cmd="stdio_fanout", pid=1) == "unknown pid 1"
    assert (await conn.ok(cmd="ping"))["reply"] == "pong"


async def test_shutdown_when_the_port_allows_it(tmp_path: Path) -> None:
    ex = await Executive.open(tmp_path / "home")
    stopped = asyncio.Event()
    server = await start_hsx_server(ex, port=0, allow_shutdown=True, on_shutdown=stopped.set)
    try:
        assert (await one_shot(server.port, cmd="shutdown"))["shutdown"] == "scheduled"
        await asyncio.wait_for(stopped.wait(), 5)
    finally:
        await server.aclose()
        await ex.aclose()


async def test_executive_serve_hsx_port(daemon_process, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`executive serve --hsx-port 0` as a real subprocess records the port and serves it."""
    d = daemon_process(extra=["--hsx-port", "0"])
    info = await asyncio.to_thread(d.start)
    assert isinstance(info["hsx_port"], int) and info["hsx_port"] > 0
    assert (await one_shot(info["hsx_port"], cmd="ping"))["reply"] == "pong"
    await asyncio.to_thread(d.stop)


VALUES_PROGRAM = """\
.entry main
.value {"group": 2, "id": 5, "name": "speed", "unit": "m/s", "init": 1.5}
.cmd {"group": 3, "id": 1, "name": "go", "help": "start it", "handler": "on_go"}
main:
    LDI R1, 1
loop:
    JMP loop
on_go:
    RET
"""


async def test_values_and_commands(conn: HsxClient, tmp_path: Path) -> None:
    hxe, _ = write_program(tmp_path, "values", VALUES_PROGRAM)
    pid = await _load(conn, hxe)
    (value,) = (await conn.ok(cmd="val.list", pid=pid))["values"]
    assert value["oid"] == 0x0205 and value["name"] == "speed" and value["owner_pid"] == pid
    got = (await conn.ok(cmd="val.get", oid="0x0205"))["value"]
    assert got == {"status": 0, "value": 1.5, "f16": 0x3E00, "pid": pid}
    assert (await conn.ok(cmd="val.set", oid=0x0205, value="2.25", pid=pid))["value"]["value"] == 2.25
    assert (await conn.ok(cmd="val.get", oid=517))["value"]["value"] == 2.25
    assert (await conn.ok(cmd="val.get", oid=0x0999))["value"]["status"] != 0  # ENOENT
    assert await conn.error(cmd="val.set", oid=0x0205) == "val.set requires 'value'"
    assert (await conn.ok(cmd="val.stats"))["stats"]["values"]["count"] == 1
    (command,) = (await conn.ok(cmd="cmd.list"))["commands"]
    assert command["oid"] == 0x0301 and command["name"] == "go"
    assert "status" in (await conn.ok(cmd="cmd.call", oid="0x0301"))["command"]
    assert (await conn.ok(cmd="cmd.stats"))["stats"]["commands"]["count"] == 1
    sid = (await conn.ok(cmd="session.open", pid_lock=pid))["session"]["id"]
    other = await one_shot(conn.writer.get_extra_info("peername")[1], cmd="val.set", oid=0x0205, value=1, pid=pid)
    assert other["error"] == f"pid_locked:{pid}"
    await conn.ok(cmd="kill", pid=pid, session=sid)
    assert (await conn.ok(cmd="val.list"))["values"] == []  # the owner's entries went with it


async def test_breakpoint_forms_source_steps_and_event_kinds(conn: HsxClient, tmp_path: Path) -> None:
    hxe, sym = write_program(tmp_path)
    work = symbol_address(sym, "work")
    sid = (await conn.ok(cmd="session.open", client="dap"))["session"]["id"]
    await conn.ok(cmd="events.subscribe", session=sid, filters={"categories": ["trace_step", "scheduler"]})
    pid = await _load(conn, hxe, session=sid)
    assert (await conn.ok(cmd="bp.add", pid=pid, address=work, session=sid))["breakpoints"] == [work]
    assert (await conn.ok(cmd="bp.remove", pid=pid, address=work, session=sid))["breakpoints"] == []
    assert "no breakpoint" in await conn.error(cmd="bp.remove", pid=pid, address=work, session=sid)
    assert await conn.error(cmd="bp.add", pid=pid) == "bp.add requires 'address'"
    assert (await conn.ok(cmd="bp", op="add", pid=pid, addr="work", session=sid))["breakpoints"] == [work]
    assert (await conn.ok(cmd="bp", op="clear", pid=pid, addr=hex(work), session=sid))["breakpoints"] == []
    assert await conn.error(cmd="bp", op="set", pid=pid) == "bp set requires 'addr'"

    await conn.ok(cmd="trace", pid=pid, mode="on", session=sid)
    step = (await conn.ok(cmd="step", pid=pid, source_only=True, session=sid))["result"]
    assert step["executed"] == 1 and step["pc"] == 4  # .mvasm instructions are all source lines
    traced = await conn.event(lambda e: e["type"] == "trace_step")
    assert traced["pid"] == pid and traced["data"]["pc"] == 0 and len(traced["data"]["regs"]) == 16
    await conn.ok(cmd="trace", pid=pid, mode="off", session=sid)
    await conn.ok(cmd="resume", pid=pid, session=sid)
    await conn.ok(cmd="clock", op="start", session=sid)
    switch = await conn.event(lambda e: e["type"] == "scheduler")
    assert switch["data"]["state"] == "switch" and switch["data"]["next_pid"] == pid
    await conn.ok(cmd="kill", pid=pid, session=sid)


async def test_load_honours_the_symbols_override(conn: HsxClient, tmp_path: Path) -> None:
    """`load {path, symbols}` (shell_client) uses the given .sym, relative to the program's directory (§7.4)."""
    hxe, _ = write_program(tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "custom.sym").write_text(hxe.with_suffix(".sym").read_text())
    hxe.with_suffix(".sym").write_text("{not json")  # the default beside the image is broken
    image = (await conn.ok(cmd="load", path=str(hxe), symbols="other/custom.sym"))["image"]
    assert image["symbols"]["loaded"] is True and image["symbols"]["path"] == str(tmp_path / "other" / "custom.sym")
    assert not any(w.startswith("symbols_failed") for w in image.get("warnings", []))
    missing = (await conn.ok(cmd="load", path=str(hxe), symbols="nope.sym"))["image"]
    assert missing["symbols"]["loaded"] is False and f"symbols_missing:{tmp_path / 'nope.sym'}" in missing["warnings"]
