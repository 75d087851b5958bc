"""DAP sessions of several HSX tasks: one thread per task, each stopping and running on its own."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from executive.api.client import Client

from ..conftest import Daemon
from .conftest import CALLS, ECHO, line_of, write_mvasm, write_spin_image
from .dap_client import DapClient, start_session

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _line_with(path: Path, text: str) -> int:
    [n] = [i for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip().startswith(text)]
    return n


async def _threads(c: DapClient) -> dict[str, int]:
    """Thread ids by task name (a thread's name is "NAME (task PID)")."""
    threads = (await c.request("threads"))["threads"]
    for t in threads:
        assert t["name"].endswith(f"(task {t['id']})"), t
    return {t["name"].split()[0]: t["id"] for t in threads}


async def _top(c: DapClient, thread: int) -> dict:
    return (await c.request("stackTrace", threadId=thread))["stackFrames"][0]


async def _variables(c: DapClient, frame_id: int, scope: str) -> dict[str, dict]:
    scopes = {s["name"]: s for s in (await c.request("scopes", frameId=frame_id))["scopes"]}
    ref = scopes[scope]["variablesReference"]
    return {v["name"]: v for v in (await c.request("variables", variablesReference=ref))["variables"]}


def _pc(value: str) -> int:
    return int(value.split()[0], 16)


async def test_ping_and_pong_are_two_threads_that_stop_on_their_own(daemon: Daemon) -> None:
    pong_src, ping_src = EXAMPLES / "pong.mvasm", EXAMPLES / "ping.mvasm"
    after_recv = _line_with(pong_src, "MOV R2, R1")  # pong has just received a "ping"
    c, setup = await start_session(
        daemon.home, {"programs": [str(pong_src), str(ping_src)]}, {str(pong_src): [after_recv]}
    )
    try:
        [bp] = setup["breakpoints"][str(pong_src)]["breakpoints"]
        assert bp["verified"] is True and bp["line"] == after_recv
        threads = await _threads(c)
        assert set(threads) == {"pong", "ping"}
        pong, ping = threads["pong"], threads["ping"]
        assert [b["threadId"] for b in c.bodies("thread", reason="started")] == [pong, ping]

        stop = await c.wait_event("stopped")
        assert stop["threadId"] == pong and stop["reason"] == "breakpoint" and stop["hitBreakpointIds"] == [bp["id"]]
        assert stop["allThreadsStopped"] is False  # ping runs on (waiting for the reply): the VM stops one task

        await c.request("pause", threadId=ping)
        paused = await c.wait_event("stopped")
        assert paused["threadId"] == ping and paused["reason"] == "pause"
        assert paused["allThreadsStopped"] is True  # now both are

        # each thread's stack, registers, globals and memory are its own task's
        pong_top, ping_top = await _top(c, pong), await _top(c, ping)
        assert pong_top["source"]["path"] == str(pong_src) and pong_top["line"] == after_recv
        assert ping_top["source"]["path"] == str(ping_src)
        assert pong_top["id"] != ping_top["id"]
        for top in (pong_top, ping_top):
            regs = await _variables(c, top["id"], "Registers")
            assert _pc(regs["PC"]["value"]) == int(top["instructionPointerReference"], 16)
        pong_globals = await _variables(c, pong_top["id"], "Globals")
        ping_globals = await _variables(c, ping_top["id"], "Globals")
        assert "pong_msg" in pong_globals and "ping_msg" not in pong_globals
        assert "ping_msg" in ping_globals and "pong_msg" not in ping_globals
        got = await c.request("evaluate", expression="*(u32*)&buf", frameId=pong_top["id"], context="watch")
        assert got["result"] == f"0x{int.from_bytes(b'ping', 'little'):08X} ({int.from_bytes(b'ping', 'little')})"
        empty = await c.request("evaluate", expression="*(u32*)&buf", frameId=ping_top["id"], context="watch")
        assert empty["result"] == "0x00000000 (0)"  # the same address in ping's own memory: no reply yet
        assert got["memoryReference"].endswith(f"@{pong}") and empty["memoryReference"].endswith(f"@{ping}")
        read = await c.request("readMemory", memoryReference=got["memoryReference"], count=4)
        assert base64.b64decode(read["data"]) == b"ping"
        read = await c.request("readMemory", memoryReference=empty["memoryReference"], count=4)
        assert base64.b64decode(read["data"]) == bytes(4)
        # the disassembly at a frame's instruction pointer is that frame's task's code, whichever was named last
        for top, src in ((ping_top, ping_src), (pong_top, pong_src), (ping_top, ping_src)):
            [ins] = (
                await c.request("disassemble", memoryReference=top["instructionPointerReference"], instructionCount=1)
            )["instructions"]
            assert ins["location"]["path"] == str(src) and ins["address"] == top["instructionPointerReference"]

        # continue resumes one thread: the other stays stopped until it is continued too
        assert (await c.request("continue", threadId=pong))["allThreadsContinued"] is False
        assert (await c.request("continue", threadId=ping))["allThreadsContinued"] is True
        again = await c.wait_event("stopped")  # the next round's "ping" reaches pong's breakpoint
        assert again["threadId"] == pong and again["hitBreakpointIds"] == [bp["id"]]
        await c.request("setBreakpoints", source={"path": str(pong_src)}, breakpoints=[])
        await c.request("continue", threadId=pong)

        assert (await c.wait_event("exited"))["exitCode"] == 0
        await c.wait_event("terminated")
        names = [e["event"] for e in c.events if e["event"] in ("thread", "exited", "terminated")]
        assert names == ["thread", "thread", "thread", "thread", "exited", "terminated"]
        assert sorted(b["threadId"] for b in c.bodies("thread", reason="exited")) == sorted([pong, ping])
        out = c.output()
        said: dict[str, str] = {}  # what each task wrote, from its tagged lines
        for line in out.splitlines():
            if line.startswith("["):
                tag, text = line.split("] ", 1)
                said[tag + "]"] = said.get(tag + "]", "") + text
        assert said[f"[pong {pong}]"] == "ping" * 3 and said[f"[ping {ping}]"] == "pong" * 3
        assert f"pong (task {pong}) ended: exit status 0" in out
        assert (await c.request("threads"))["threads"] == []
        await c.request("disconnect")
    finally:
        await c.close()


async def test_a_breakpoint_in_a_shared_source_is_set_in_each_task(daemon: Daemon, tmp_path: Path) -> None:
    path = str(write_mvasm(tmp_path, "calls", CALLS))
    call_line = line_of(CALLS, "call")
    programs = [{"program": path, "name": "first"}, {"program": path, "name": "second"}]
    c, _ = await start_session(daemon.home, {"programs": programs, "stopOnEntry": True})
    try:
        entry = await c.wait_event("stopped")
        threads = await _threads(c)
        first, second = threads["first"], threads["second"]
        assert entry == {"reason": "entry", "threadId": first, "allThreadsStopped": True}  # all tasks wait to start

        [bp] = (await c.request("setBreakpoints", source={"path": path}, breakpoints=[{"line": call_line}]))[
            "breakpoints"
        ]
        assert bp["verified"] is True and bp["line"] == call_line
        assert (await c.request("continue", threadId=first))["allThreadsContinued"] is False
        stop = await c.wait_event("stopped")
        assert stop["threadId"] == first and stop["hitBreakpointIds"] == [bp["id"]]
        assert stop["allThreadsStopped"] is True  # second is still at its entry
        assert (await _top(c, first))["line"] == call_line
        assert (await _top(c, second))["line"] == line_of(CALLS, "call") - 3  # PUSH R7, the first instruction

        # a step is one thread's: the other does not move
        await c.request("next", threadId=first)
        step = await c.wait_event("stopped")
        assert step["threadId"] == first and step["reason"] == "step"
        assert (await _top(c, first))["line"] == line_of(CALLS, "after_call")
        assert (await _top(c, second))["line"] == line_of(CALLS, "call") - 3

        assert (await c.request("continue", threadId=second))["allThreadsContinued"] is False
        stop = await c.wait_event("stopped")
        assert stop["threadId"] == second and stop["hitBreakpointIds"] == [bp["id"]]
        await c.request("setBreakpoints", source={"path": path}, breakpoints=[])
        assert (await c.request("continue", threadId=first))["allThreadsContinued"] is False
        assert (await c.request("continue", threadId=second))["allThreadsContinued"] is True
        assert (await c.wait_event("exited"))["exitCode"] == 12
        await c.wait_event("terminated")
        await c.request("disconnect")
    finally:
        await c.close()


async def test_each_program_gets_its_args_its_output_is_tagged_and_the_first_failure_is_the_exit_code(
    daemon: Daemon, tmp_path: Path
) -> None:
    echo = str(write_mvasm(tmp_path, "echo", ECHO))
    zero = str(write_mvasm(tmp_path, "zero", ".entry main\nmain:\n    LDI R0, 0\n    RET\n"))
    c, _ = await start_session(daemon.home, {"programs": [{"program": echo, "args": ["hi"], "name": "echo"}, zero]})
    try:
        assert (await c.wait_event("exited"))["exitCode"] == 3  # echo's 3 and zero's 0, in any order: the nonzero
        await c.wait_event("terminated")
        echo_pid = c.bodies("thread", reason="started")[0]["threadId"]
        by_category: dict[str, str] = {}
        for body in c.bodies("output"):
            by_category[body["category"]] = by_category.get(body["category"], "") + body["output"]
        assert by_category["stdout"] == f"[echo {echo_pid}] out\n[echo {echo_pid}] hi\n"
        assert by_category["stderr"] == f"[echo {echo_pid}] err\n"
        await c.request("disconnect")
    finally:
        await c.close()


async def _free(client: Client, pid: int) -> bool:
    """Running, with no debugger attached and no breakpoints."""
    state = await client.call("debug.state", task=pid)
    return state["state"] in ("ready", "running") and state["locked_by"] is None and state["breakpoints"] == []


async def test_attach_to_two_running_tasks(daemon: Daemon, client: Client, tmp_path: Path) -> None:
    spin = str(write_spin_image(tmp_path))
    a = (await client.call("vm.load", path=spin, name="spin_a"))["pid"]
    b = (await client.call("vm.load", path=spin, name="spin_b"))["pid"]
    c = await DapClient.start(daemon.home)
    try:
        await c.request("initialize", adapterID="hsx")
        # refused requests attach to nothing: neither task is paused or locked
        r = await c.raw("attach", tasks=["spin_a", "nosuch"])
        assert r["success"] is False and "nosuch" in r["message"]
        r = await c.raw("attach", tasks=[a, "spin_a"])
        assert r["success"] is False and f"names task {a} twice" in r["message"]
        r = await c.raw("attach", task=a, tasks=[b])
        assert r["success"] is False and "not both" in r["message"]
        assert await _free(client, a) and await _free(client, b)

        attached = await c.send("attach", tasks=["spin_a", b])
        await c.wait_event("initialized")
        await c.request("configurationDone")  # both were running: they run on
        assert (await asyncio.wait_for(attached, 20))["success"]
        assert await _threads(c) == {"spin_a": a, "spin_b": b}

        await c.request("pause", threadId=a)
        stop = await c.wait_event("stopped")
        assert stop["threadId"] == a and stop["allThreadsStopped"] is False
        assert (await client.call("vm.info", task=b))["vm_state"] in ("ready", "running")

        # one function breakpoint, bound in both tasks: b (running) reaches it by itself, a when continued
        [fbp] = (await c.request("setFunctionBreakpoints", breakpoints=[{"name": "spin"}]))["breakpoints"]
        assert fbp["verified"] is True
        at_b = await c.wait_until(lambda _: c.bodies("stopped", threadId=b), "b stops at spin")
        assert at_b[0]["reason"] == "function breakpoint" and at_b[0]["allThreadsStopped"] is True
        await c.request("continue", threadId=a)
        at_a = await c.wait_until(
            lambda _: c.bodies("stopped", threadId=a, reason="function breakpoint"), "a stops at spin"
        )
        assert at_a[0]["hitBreakpointIds"] == [fbp["id"]]
        for t in (a, b):  # evaluate in a frame of each thread reads that task's registers
            top = await _top(c, t)
            pc = await c.request("evaluate", expression="PC", frameId=top["id"])
            assert _pc(pc["result"]) == int(top["instructionPointerReference"], 16)
            regs = await _variables(c, top["id"], "Registers")
            assert regs["R4"]["value"] == (await c.request("evaluate", expression="R4", frameId=top["id"]))["result"]

        await c.request("disconnect", terminateDebuggee=False)  # both run on, without our breakpoints
    finally:
        await c.close()
    assert await _free(client, a) and await _free(client, b)
    await client.call("vm.kill", task=a)
    await client.call("vm.kill", task=b)
