"""More DAP sessions: attach and detach, pause, function/instruction breakpoints, hit counts,
logpoints, memory writes, the TCP adapter, and a daemon started for the session."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from pathlib import Path

from executive.api.client import Client

from ..conftest import Daemon, wait_for
from .conftest import CALLS, ECHO, SPIN, line_of, write_mvasm, write_spin_image
from .dap_client import DapClient, start_session


async def test_attach_pause_breakpoints_and_detach_leaving_it_running(
    daemon: Daemon, client: Client, tmp_path: Path
) -> None:
    pid = (await client.call("vm.load", path=str(write_spin_image(tmp_path)), name="spinner"))["pid"]
    c = await DapClient.start(daemon.home)
    try:
        await c.request("initialize", adapterID="hsx")
        attached = await c.send("attach", task="spinner")
        await c.wait_event("initialized")
        await c.request("configurationDone")  # it was running: it runs on
        assert (await asyncio.wait_for(attached, 20))["success"]
        [thread] = (await c.request("threads"))["threads"]
        assert thread["id"] == pid and "spinner" in thread["name"]

        await c.request("pause", threadId=pid)
        assert (await c.wait_event("stopped"))["reason"] == "pause"

        # a function breakpoint on the loop label, then an instruction breakpoint on the same
        # address with a hit count: the task stops at the loop, and the 3rd hit of the latter
        [fbp] = (await c.request("setFunctionBreakpoints", breakpoints=[{"name": "spin"}]))["breakpoints"]
        assert fbp["verified"] is True
        [bad] = (await c.request("setFunctionBreakpoints", breakpoints=[{"name": "nosuch"}]))["breakpoints"]
        assert bad["verified"] is False and "no function or label named 'nosuch'" in bad["message"]
        await c.request("setFunctionBreakpoints", breakpoints=[{"name": "spin"}])
        await c.request("continue", threadId=pid)
        stop = await c.wait_event("stopped")
        assert stop["reason"] == "function breakpoint"
        await c.request("setFunctionBreakpoints", breakpoints=[])
        spin_addr = fbp["instructionReference"]
        [ibp] = (
            await c.request(
                "setInstructionBreakpoints", breakpoints=[{"instructionReference": spin_addr, "hitCondition": "3"}]
            )
        )["breakpoints"]
        assert ibp["verified"] is True
        before = int((await c.request("evaluate", expression="R4"))["result"].split()[0], 16)
        await c.request("continue", threadId=pid)
        stop = await c.wait_event("stopped")
        assert stop["reason"] == "instruction breakpoint" and stop["hitBreakpointIds"] == [ibp["id"]]
        assert int((await c.request("evaluate", expression="R4"))["result"].split()[0], 16) == before + 3
        [odd] = (await c.request("setInstructionBreakpoints", breakpoints=[{"instructionReference": "0x2"}]))[
            "breakpoints"
        ]
        assert odd["verified"] is False and "multiple of 4" in odd["message"]

        await c.request("disconnect", terminateDebuggee=False)
    finally:
        await c.close()
    info = await client.call("vm.info", task=pid)
    assert (
        info["vm_state"] in ("ready", "running") and (await client.call("debug.bp.list", task=pid))["breakpoints"] == []
    )
    await client.call("vm.kill", task=pid)


async def test_logpoints_print_and_hit_counts_stop_once(daemon: Daemon, tmp_path: Path) -> None:
    path = str(write_mvasm(tmp_path, "calls", CALLS))
    loop = line_of(CALLS, "loop_body")
    c, setup = await start_session(daemon.home, {"program": path}, {path: [loop]}, logMessage="R4 is {R4}")
    try:
        [lp] = setup["breakpoints"][path]["breakpoints"]
        assert lp["verified"] is True
        assert (await c.wait_event("exited"))["exitCode"] == 12  # a logpoint never stops
        assert [ln for ln in c.output().splitlines() if ln.startswith("R4 is")] == [f"R4 is {n}" for n in range(5)]
        await c.request("disconnect")
    finally:
        await c.close()

    c, _ = await start_session(daemon.home, {"program": path}, {path: [loop]}, hitCondition="== 3")
    try:
        stop = await c.wait_event("stopped")
        assert (await c.request("evaluate", expression="R4", frameId=1))["result"].endswith("(2)")
        await c.request("continue", threadId=stop["threadId"])
        assert (await c.wait_event("exited"))["exitCode"] == 12  # == 3 holds once
        await c.request("disconnect")
    finally:
        await c.close()


async def test_write_memory_and_stop_on_entry(daemon: Daemon, tmp_path: Path) -> None:
    path = str(write_mvasm(tmp_path, "calls", CALLS))
    c, _ = await start_session(daemon.home, {"program": path, "stopOnEntry": True})
    try:
        stop = await c.wait_event("stopped")
        assert stop["reason"] == "entry"
        ref = (await c.request("evaluate", expression="&result", frameId=1))["result"].split()[0]
        written = await c.request(
            "writeMemory", memoryReference=ref, data=base64.b64encode(b"\x07\x00\x00\x00").decode()
        )
        assert written["bytesWritten"] == 4
        assert (await c.request("evaluate", expression="result", frameId=1))["result"] == "0x00000007 (7)"
        bad = await c.raw("writeMemory", memoryReference=ref, data="***")
        assert bad["success"] is False and "base64" in bad["message"]
        await c.request("disconnect")
    finally:
        await c.close()


async def test_tcp_adapter_serves_a_session(daemon: Daemon, tmp_path: Path) -> None:
    env = dict(os.environ, EXECUTIVE_HOME=str(daemon.home))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "executive", "dap", "--port", "0", env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line.startswith("executive dap listening on 127.0.0.1:")
        c = await DapClient.connect(int(line.rsplit(":", 1)[1]))
        path = str(write_mvasm(tmp_path, "calls", CALLS))
        c, _ = await start_session(daemon.home, {"program": path, "stopOnEntry": True}, client=c)
        try:
            assert (await c.wait_event("stopped"))["reason"] == "entry"
            await c.request("continue", threadId=(await c.request("threads"))["threads"][0]["id"])
            assert (await c.wait_event("exited"))["exitCode"] == 12
            await c.request("disconnect")
        finally:
            await c.close()
    finally:
        proc.terminate()
        await proc.wait()


async def test_a_daemon_is_started_for_the_session_and_stopped_after(tmp_path: Path) -> None:
    home = tmp_path / "fresh-home"
    path = str(write_mvasm(tmp_path, "calls", CALLS))
    c, _ = await start_session(home, {"program": path})
    try:
        assert (await c.wait_event("exited"))["exitCode"] == 12
        info = json.loads((home / "daemon.json").read_text())
        await c.request("disconnect")
    finally:
        await c.close()
    assert c.proc is not None and c.proc.returncode == 0

    def gone() -> bool:
        try:
            os.kill(info["pid"], 0)
        except ProcessLookupError:
            return True
        return False

    await wait_for(gone, timeout=20)
    assert not (home / "daemon.json").exists()


async def test_args_and_stdin_reach_the_program_and_its_output_comes_back(daemon: Daemon, tmp_path: Path) -> None:
    path = str(write_mvasm(tmp_path, "echo", ECHO))
    c, _ = await start_session(daemon.home, {"program": path, "args": ["hi", "there"], "stdin": "!"})
    try:
        assert (await c.wait_event("exited"))["exitCode"] == 3
        await c.wait_event("terminated")
        by_category: dict[str, str] = {}
        for e in c.events:
            if e["event"] == "output":
                by_category[e["body"]["category"]] = by_category.get(e["body"]["category"], "") + e["body"]["output"]
        assert by_category["stdout"] == "out\nhi there\n!" and by_category["stderr"] == "err\n"
        await c.request("disconnect")
    finally:
        await c.close()


async def test_sigterm_ends_the_adapter_and_the_daemon_it_started(tmp_path: Path) -> None:
    home = tmp_path / "fresh-home"
    path = str(write_mvasm(tmp_path, "spin", SPIN))
    c, _ = await start_session(home, {"program": path, "stopOnEntry": True})
    try:
        await c.wait_event("stopped")
        daemon_pid = json.loads((home / "daemon.json").read_text())["pid"]
        assert c.proc is not None
        c.proc.terminate()
        assert await asyncio.wait_for(c.proc.wait(), 30) == 0
    finally:
        await c.close()

    def gone() -> bool:
        try:
            os.kill(daemon_pid, 0)
        except ProcessLookupError:
            return True
        return False

    await wait_for(gone, timeout=20)


async def test_a_data_breakpoint_ends_a_step_over_the_call_that_writes(daemon: Daemon, tmp_path: Path) -> None:
    src = """\
.entry main
.export main
main:
    PUSH R7
    MOV R7, R15
    CALL store              ; @call
    LDI R0, 0
    POP R7
    RET
store:
    PUSH R7
    MOV R7, R15
    LDI32 R1, flag
    LDI R2, 1
    ST [R1+0], R2           ; @store
    POP R7
    RET
.data
flag:
    .word 0
"""
    path = str(write_mvasm(tmp_path, "store", src))
    c, _ = await start_session(daemon.home, {"program": path}, {path: [line_of(src, "call")]})
    try:
        thread = (await c.wait_event("stopped"))["threadId"]
        info = await c.request("dataBreakpointInfo", name="flag", variablesReference=0, frameId=1)
        await c.request("setDataBreakpoints", breakpoints=[{"dataId": info["dataId"]}])
        await c.request("next", threadId=thread)
        assert (await c.wait_event("stopped"))["reason"] == "data breakpoint"
        frames = (await c.request("stackTrace", threadId=thread))["stackFrames"]
        assert frames[0]["name"] == "store" and frames[0]["line"] == line_of(src, "store") + 1
        await c.request("disconnect")
    finally:
        await c.close()
