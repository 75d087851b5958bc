"""HSX's own tools against the HSX port, replayed request by request (issue 13, spec hsx-executive §12).

Each test sends what one tool sends — HSX's interactive shell (``shell_client.py``, one
connection per request through ExecutiveSession), the ``exec_smoke.py`` smoke test, and
hsxdbg / the VS Code adapter (one persistent connection, events interleaved) — and
asserts on the reply fields those tools read, formatted the way they format them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import hsx_client
from hsx_client import HsxClient, HsxDaemon, one_shot, symbol_address, write_program

from executive.hsx.asm import assemble_text
from executive.hsx.hxe import load_hxe, write_hxe

hsx, conn = hsx_client.hsx, hsx_client.conn  # the fixtures

POLL_ROUNDS = 2000  # a bound on polling loops (a hang guard, not a timing assertion)

RETURNS_7 = """\
.entry main
.export main
main:
    LDI R0, 7
    RET
"""

ILLEGAL_AT_4 = """\
.entry main
.export main
main:
    LDI R1, 1
    LDI R2, 2
    LDI R3, 3
    RET
"""


def shell_task_row(task: dict[str, Any], current: int | None) -> str:
    """A ps row as the shell prints it (its ``_pretty_ps`` format specs): fails on a null quantum."""
    prio = task.get("priority", "-")
    quantum = task.get("quantum", "-")
    steps = task.get("accounted_steps", "-")
    exit_status = task.get("exit_status")
    exit_text = "-" if exit_status is None else str(exit_status)
    marker = "*" if task["pid"] == current else " "
    return (
        f"  {marker} {task['pid']:4}  {task['state']:<12}  {prio:>4}  {quantum:>7}  {steps:>8}  "
        f"{task.get('sleep_pending')!s:<5}  {exit_text:>8}  {task.get('program', '')}"
    )


def exec_smoke_frame(frame: dict[str, Any]) -> str:
    """A frame as exec_smoke.py (and the shell's ``stack``) renders it: function from ``func_name`` or
    ``symbol.name``, source from ``line.file``/``line.line``."""
    func = frame.get("func_name") or (frame["symbol"]["name"] if isinstance(frame.get("symbol"), dict) else None)
    line = frame.get("line")
    where = f" ({line['file']}:{line['line']})" if isinstance(line, dict) else ""
    return f"{func}{where}"


async def wait_for_state(port: int, pid: int, states: set[str]) -> dict[str, Any]:
    """Poll ``ps`` (as the shell does, a connection per request) until the task is in one of ``states``."""
    for _ in range(POLL_ROUNDS):
        rows = [t for t in (await one_shot(port, cmd="ps"))["tasks"]["tasks"] if t["pid"] == pid]
        if rows and rows[0]["state"] in states:
            return rows[0]
        await asyncio.sleep(0.005)
    raise AssertionError(f"task {pid} never reached {states}")


def consistent_task_state(ev: dict[str, Any]) -> bool:
    d = ev["data"]
    return "from" not in d or (d["from"] == d["prev_state"] and d["to"] == d["new_state"])


async def test_shell_session(hsx: HsxDaemon, tmp_path: Path) -> None:
    """shell_client.py: session.open, ps, info, load, ps, sym, bp, clock, clock start, stack, kill, ps."""
    hxe, sym = write_program(tmp_path)
    work = symbol_address(sym, "work")
    port = hsx.port
    sid = (await one_shot(port, cmd="session.open", client="shell", capabilities={"features": ["events"]}))["session"][
        "id"
    ]

    ps = await one_shot(port, cmd="ps", session=sid)
    assert ps["tasks"]["tasks"] == []
    info = (await one_shot(port, cmd="info", session=sid))["info"]
    assert info["clock"]["state"] == "stopped" and info["clock"]["running"] is False  # as the reference starts

    image = (await one_shot(port, cmd="load", path=str(hxe), session=sid))["image"]
    pid = image["pid"]
    meta = image["metadata"]
    assert all(isinstance(meta[k], list) for k in ("sections", "values", "commands", "mailboxes"))

    block = (await one_shot(port, cmd="ps", session=sid))["tasks"]
    (task,) = block["tasks"]
    assert isinstance(task["priority"], int) and isinstance(task["quantum"], int) and task["quantum"] > 0
    assert f"{pid:4}" in shell_task_row(task, block["current_pid"])
    for row in (await one_shot(port, cmd="info", session=sid))["info"]["tasks"]:
        shell_task_row(row, None)  # `info` prints the same columns

    symbols = (await one_shot(port, cmd="sym", op="info", pid=pid, session=sid))["symbols"]
    assert symbols["loaded"] is True and symbols["path"] == str(hxe.with_suffix(".sym"))
    bp = await one_shot(port, cmd="bp", op="set", pid=pid, addr=hex(work), session=sid)
    assert bp["breakpoints"] == [work]

    assert (await one_shot(port, cmd="clock", session=sid))["clock"]["state"] == "stopped"
    assert (await one_shot(port, cmd="clock", op="start", session=sid))["clock"]["state"] == "running"
    stopped = await wait_for_state(port, pid, {"paused"})
    assert stopped["pc"] == work and stopped["pause_reason"] == "debug_break"

    stack = (await one_shot(port, cmd="stack", pid=pid, max=8, session=sid))["stack"]
    top, caller = stack["frames"][0], stack["frames"][1]
    assert top["symbol"] == {"name": "work", "offset": 0, "address": work, "text": "work"}
    assert top["line"]["file"] == "loop.mvasm" and isinstance(top["line"]["line"], int)
    assert top["file"] == "loop.mvasm" and top["line_num"] == top["line"]["line"] and top["func_name"] == "work"
    assert exec_smoke_frame(top) == f"work (loop.mvasm:{top['line_num']})"
    assert caller["symbol"]["name"] == "main" and caller["symbol"]["offset"] == caller["func_offset"] > 0

    killed = (await one_shot(port, cmd="kill", pid=pid, session=sid))["task"]
    assert killed["pid"] == pid and killed["state"] == "terminated"
    assert [t["pid"] for t in (await one_shot(port, cmd="ps", session=sid))["tasks"]["tasks"]] == []
    await one_shot(port, cmd="session.close", session=sid)


async def test_ended_tasks_stay_in_ps_until_killed(hsx: HsxDaemon, tmp_path: Path) -> None:
    hxe, _ = write_program(tmp_path, "seven", RETURNS_7)
    port = hsx.port
    await one_shot(port, cmd="clock", op="start")
    pid = (await one_shot(port, cmd="load", path=str(hxe)))["image"]["pid"]  # runs at once: the clock runs
    ended = await wait_for_state(port, pid, {"returned"})
    assert ended["exit_status"] == 7
    assert "7" in shell_task_row(ended, None)
    again = [t for t in (await one_shot(port, cmd="ps"))["tasks"]["tasks"] if t["pid"] == pid]
    assert again and again[0]["state"] == "returned"  # still there: nobody reaped it
    killed = (await one_shot(port, cmd="kill", pid=pid))["task"]
    assert killed == {**killed, "pid": pid, "state": "terminated", "exit_status": 7}
    assert pid not in [t["pid"] for t in (await one_shot(port, cmd="ps"))["tasks"]["tasks"]]
    assert "only paused tasks resume" in (await one_shot(port, cmd="resume", pid=pid))["error"]


async def test_exec_smoke_sequence(hsx: HsxDaemon, tmp_path: Path) -> None:
    """exec_smoke.py: attach, load, ps, step 40, stack, pause, resume, kill — every reply ``ok``."""
    hxe, _ = write_program(tmp_path)
    port = hsx.port
    sid = (await one_shot(port, cmd="session.open", client="hsx-exec-smoke"))["session"]["id"]

    async def request(**msg: Any) -> dict[str, Any]:
        reply = await one_shot(port, session=sid, **msg)
        assert reply["status"] == "ok", reply  # exec_smoke raises RuntimeError (exit 1) on anything else
        return reply

    await request(cmd="attach")
    pid = (await request(cmd="load", path=str(hxe)))["image"]["pid"]
    assert len((await request(cmd="ps"))["tasks"]["tasks"]) == 1
    step = (await request(cmd="step", steps=40))["result"]
    assert step["executed"] == 40
    frames = (await request(cmd="stack", pid=pid, max=5))["stack"]["frames"]
    assert frames and all(isinstance(f.get("symbol"), dict) for f in frames)
    assert (await request(cmd="pause", pid=pid))["task"]["state"] == "paused"
    resumed = (await request(cmd="resume", pid=pid))["task"]
    assert resumed["state"] == "ready"
    for _ in range(20):  # the clock is stopped: a resumed task waits for it, it does not run to its end
        await request(cmd="ping")
    held = next(t for t in (await request(cmd="ps"))["tasks"]["tasks"] if t["pid"] == pid)
    assert held["state"] == "ready" and held["accounted_steps"] == resumed["accounted_steps"]
    assert (await request(cmd="kill", pid=pid))["task"]["state"] == "terminated"


async def test_hsxdbg_and_vscode_sequence(hsx: HsxDaemon, conn: HsxClient, tmp_path: Path) -> None:
    """hsxdbg / hsx-dap: session.open with pid_lock, events.subscribe, sym info, bp.add, resume,
    debug_break, stack, step (then a debug_break with reason "step"), dumpregs — one connection."""
    hxe, sym = write_program(tmp_path)
    work = symbol_address(sym, "work")
    pid = (await one_shot(hsx.port, cmd="load", path=str(hxe)))["image"]["pid"]  # the user loads it in the shell

    features = {"features": ["events", "stack", "watch"]}
    s = (await conn.ok(cmd="session.open", client="hsx-dap", pid_lock=pid, capabilities=features))["session"]
    sid = s["id"]
    assert s["pid_lock"] == pid and s["features"] == ["events", "stack", "watch"] and "heartbeat_s" in s
    cats = ["debug_break", "watch_update", "stdout", "stderr", "warning", "task_state"]
    sub = (await conn.ok(cmd="events.subscribe", session=sid, filters={"pid": [pid], "categories": cats}))["events"]
    assert sub["token"].startswith(sid) and isinstance(sub["cursor"], int)
    assert (await conn.ok(cmd="sym", op="info", pid=pid, session=sid))["symbols"]["path"].endswith("loop.sym")
    assert (await conn.ok(cmd="bp.add", pid=pid, address=work, session=sid))["breakpoints"] == [work]
    await one_shot(hsx.port, cmd="clock", op="start")  # ... and starts the clock there

    brk = await conn.event(lambda e: e["type"] == "debug_break" and e["data"]["reason"] == "breakpoint")
    assert brk["pid"] == pid and brk["data"]["pc"] == work and brk["data"]["symbol"] == "work"
    await conn.ok(cmd="resume", pid=pid, session=sid)  # DAP `continue`
    again = await conn.event(lambda e: e["type"] == "debug_break" and e["seq"] > brk["seq"])
    assert again["data"]["reason"] == "breakpoint" and again["data"]["pc"] == work

    frames = (await conn.ok(cmd="stack", pid=pid, max=16, session=sid))["stack"]["frames"]
    assert [f["func_name"] for f in frames] == ["work", "main"]
    assert all(f["file"] == "loop.mvasm" and isinstance(f["line_num"], int) for f in frames)  # the adapter's Source

    step = (await conn.ok(cmd="step", pid=pid, session=sid))["result"]  # DAP next/stepIn/stepOut
    assert step["executed"] == 1 and step["pc"] == work + 4
    stopped = await conn.event(lambda e: e["type"] == "debug_break" and e["data"]["reason"] == "step")
    assert stopped["pid"] == pid and stopped["data"]["pc"] == work + 4 and stopped["data"]["symbol"] == "work+0x4"

    regs = (await conn.ok(cmd="dumpregs", pid=pid, session=sid))["registers"]
    assert regs["PC"] == work + 4 and all(f"R{i}" in regs for i in range(16)) and "PSW" in regs
    assert regs["context"]["priority"] == 0 and regs["context"]["state"] == "paused"

    states = [e for e in conn.events if e["type"] == "task_state"]
    assert states and all(consistent_task_state(e) for e in states)
    await conn.ok(cmd="bp.remove", pid=pid, address=work, session=sid)
    await conn.ok(cmd="kill", pid=pid, session=sid)
    await conn.ok(cmd="events.unsubscribe", session=sid)
    await conn.ok(cmd="session.close", session=sid)


async def test_sched_priority_and_quantum(hsx: HsxDaemon, conn: HsxClient, tmp_path: Path) -> None:
    """`sched PID priority N quantum M`: stored, shown by ps, and honoured by the scheduler."""
    hxe, _ = write_program(tmp_path)
    low = (await conn.ok(cmd="load", path=str(hxe)))["image"]["pid"]
    high = (await conn.ok(cmd="load", path=str(hxe)))["image"]["pid"]
    task = (await conn.ok(cmd="sched", pid=high, priority="5", quantum="3"))["task"]
    assert (task["pid"], task["priority"], task["quantum"]) == (high, 5, 3)
    rows = {t["pid"]: t for t in (await conn.ok(cmd="ps"))["tasks"]["tasks"]}
    assert (rows[high]["priority"], rows[high]["quantum"]) == (5, 3) and rows[low]["priority"] == 0
    await conn.ok(cmd="resume", pid=low)
    await conn.ok(cmd="resume", pid=high)
    result = (await conn.ok(cmd="step", steps=9))["result"]  # the clock is stopped: runs slices by hand
    assert result["executed"] == 9
    rows = {t["pid"]: t for t in (await conn.ok(cmd="ps"))["tasks"]["tasks"]}
    assert rows[high]["accounted_steps"] == 9 and rows[low]["accounted_steps"] == 0  # higher priority runs first
    assert (await conn.ok(cmd="sched"))["scheduler"]["counters"][str(high)]["slices"] == 3  # 3-instruction slices
    await conn.ok(cmd="sched", pid=high, priority=0)
    await conn.ok(cmd="step", steps=20)
    rows = {t["pid"]: t for t in (await conn.ok(cmd="ps"))["tasks"]["tasks"]}
    assert rows[low]["accounted_steps"] > 0  # equal priorities share the CPU again
    for pid in (low, high):
        await conn.ok(cmd="kill", pid=pid)


async def test_stdio_fanout(hsx: HsxDaemon, conn: HsxClient, tmp_path: Path) -> None:
    """`stdio_fanout` (§10.2): query and set the template, one task, every task; the shell's fields."""
    hxe, _ = write_program(tmp_path)
    pid = (await conn.ok(cmd="load", path=str(hxe)))["image"]["pid"]
    q = (await conn.ok(cmd="stdio_fanout"))["config"]
    assert q == {"scope": "default", "streams": [{"stream": "out", "mode_mask": 3, "mode": "off"}]}
    one = (await conn.ok(cmd="stdio_fanout", pid=pid, stream="both", mode="drop"))["config"]
    assert one["scope"] == "pid" and one["pid"] == pid and one["mode"] == "fanout" and one["mode_mask"] == 27
    assert [s["mode"] for s in one["streams"]] == ["fanout", "fanout"]
    assert [a["target"] for a in one["applied"]] == [f"svc:stdio.out@{pid}", f"svc:stdio.err@{pid}"]
    assert all(a["stream"] in ("out", "err") and a["mbx_status"] == 0 for a in one["applied"])
    descs = {d["target"]: d for d in (await conn.ok(cmd="mailbox_snapshot"))["descriptors"]}
    assert descs[f"svc:stdio.out@{pid}"]["mode_mask"] == 27

    every = (await conn.ok(cmd="stdio_fanout", pid="all", stream="out", mode="block"))["config"]
    assert every["scope"] == "all" and every["streams"] == []
    assert every["tasks"] == [{"pid": pid, "streams": [{"stream": "out", "mode_mask": 43, "mode": "fanout_block"}]}]
    template = (await conn.ok(cmd="stdio_fanout", pid="default", stream="in", mode="fanout"))["config"]
    assert template["streams"] == [{"stream": "in", "mode_mask": 27, "mode": "fanout"}]
    second = (await conn.ok(cmd="load", path=str(hxe)))["image"]["pid"]
    in_mode = (await conn.ok(cmd="stdio_fanout", pid=second, stream="in"))["config"]["streams"]
    assert in_mode == [{"stream": "in", "mode_mask": 27, "mode": "fanout"}]  # new tasks get the template
    assert "stdio_fanout mode must be" in await conn.error(cmd="stdio_fanout", pid=pid, mode="loud")
    assert "stdio_fanout stream must be" in await conn.error(cmd="stdio_fanout", pid=pid, stream="video")

    # With fan-out on stdout the program's output still reaches its log (and `listen`).
    await conn.ok(cmd="stdio_fanout", pid=pid, stream="out", mode="drop")
    await conn.ok(cmd="step", pid=pid, steps=12)
    heard = (await conn.ok(cmd="listen", pid=pid, limit=1))["messages"]
    assert heard and heard[0]["text"] == "hi\n"


async def test_trace_export_says_whether_tracing_is_on(conn: HsxClient, tmp_path: Path) -> None:
    hxe, _ = write_program(tmp_path)
    pid = (await conn.ok(cmd="load", path=str(hxe)))["image"]["pid"]
    assert (await conn.ok(cmd="trace", op="export", pid=pid))["trace"]["enabled"] is False
    await conn.ok(cmd="trace", pid=pid, mode="on")
    assert (await conn.ok(cmd="trace", op="export", pid=pid))["trace"]["enabled"] is True


async def test_a_faulted_task_reads_faulted_everywhere(hsx: HsxDaemon, conn: HsxClient, tmp_path: Path) -> None:
    """An illegal opcode at 0x0004 is reported at 0x0004; ps, dumpregs and resume all say faulted."""
    built = assemble_text(ILLEGAL_AT_4, "bad.mvasm")
    image = load_hxe(built.hxe)
    code = bytearray(image.code)
    code[4:8] = (0xFF000000).to_bytes(4, "big")  # no opcode 0xFF
    (tmp_path / "bad.hxe").write_bytes(write_hxe(dataclasses.replace(image, code=bytes(code))))
    (tmp_path / "bad.sym").write_text(json.dumps(built.sym))
    pid = (await conn.ok(cmd="load", path=str(tmp_path / "bad.hxe")))["image"]["pid"]
    await conn.ok(cmd="clock", op="start")
    task = await wait_for_state(hsx.port, pid, {"faulted"})
    assert task["fault"]["reason"] == "illegal" and task["fault"]["pc"] == 4 and task["fault"]["next_pc"] == 8
    regs = (await conn.ok(cmd="dumpregs", pid=pid))["registers"]
    assert regs["state"] == "faulted" and regs["context"]["state"] == "faulted" and regs["running"] is False
    error = await conn.error(cmd="resume", pid=pid)
    assert error.startswith(f"cannot resume task {pid}: it faulted (illegal opcode at PC 0x0004)")
    assert "kill it" in error
