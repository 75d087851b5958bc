"""Full DAP sessions through `python -m executive dap` over stdio, against a test daemon."""

from __future__ import annotations

import base64
from pathlib import Path

from executive.dap import CAPABILITIES, HANDLED

from ..conftest import Daemon
from .conftest import CALLS, FAULT, line_of, write_c_program, write_mvasm
from .dap_client import DapClient, DapFailure, start_session


async def _top_frame(c: DapClient, thread: int) -> dict:
    return (await c.request("stackTrace", threadId=thread))["stackFrames"][0]


async def _variables(c: DapClient, frame_id: int, scope: str) -> dict[str, dict]:
    scopes = {s["name"]: s for s in (await c.request("scopes", frameId=frame_id))["scopes"]}
    ref = scopes[scope]["variablesReference"]
    return {v["name"]: v for v in (await c.request("variables", variablesReference=ref))["variables"]}


def test_every_promised_capability_has_a_handler() -> None:
    promised = {
        "supportsConfigurationDoneRequest": "configurationDone",
        "supportsFunctionBreakpoints": "setFunctionBreakpoints",
        "supportsInstructionBreakpoints": "setInstructionBreakpoints", "supportsDataBreakpoints": "setDataBreakpoints",
        "supportsSetVariable": "setVariable", "supportsExceptionInfoRequest": "exceptionInfo",
        "supportsDisassembleRequest": "disassemble", "supportsReadMemoryRequest": "readMemory",
        "supportsWriteMemoryRequest": "writeMemory", "supportsTerminateRequest": "terminate",
    }  # fmt: skip
    for flag, command in promised.items():
        assert CAPABILITIES[flag] is True and command in HANDLED


async def test_mvasm_session_breakpoints_stepping_data_and_output(daemon: Daemon, tmp_path: Path) -> None:
    src = write_mvasm(tmp_path, "calls", CALLS)
    path = str(src)
    call_line, after_line = line_of(CALLS, "call"), line_of(CALLS, "after_call")
    c, setup = await start_session(daemon.home, {"program": path}, {path: [call_line]})
    try:
        assert setup["capabilities"]["supportsDataBreakpoints"] is True
        [bp] = setup["breakpoints"][path]["breakpoints"]
        assert bp["verified"] is True and bp["line"] == call_line

        stop = await c.wait_event("stopped")
        assert stop["reason"] == "breakpoint" and stop["hitBreakpointIds"] == [bp["id"]]
        thread = stop["threadId"]
        threads = (await c.request("threads"))["threads"]
        assert [t["id"] for t in threads] == [thread] and "calls" in threads[0]["name"]
        top = await _top_frame(c, thread)
        assert top["source"]["path"] == path and top["line"] == call_line and top["name"] == "main"
        pc = int(top["instructionPointerReference"], 16)

        regs = await _variables(c, top["id"], "Registers")
        assert regs["R1"]["value"] == "0x00000006 (6)" and int(regs["PC"]["value"].split()[0], 16) == pc

        # setVariable on a register, then read it back through the pane and through evaluate
        scopes = {s["name"]: s for s in (await c.request("scopes", frameId=top["id"]))["scopes"]}
        set_r1 = await c.request(
            "setVariable", variablesReference=scopes["Registers"]["variablesReference"], name="R1", value="0x15"
        )
        assert set_r1["value"] == "0x00000015 (21)"
        assert (await c.request("evaluate", expression="R1 * 2", frameId=top["id"], context="watch"))["result"] == (
            "0x0000002A (42)"
        )

        # disassemble around the PC: two before, the PC, two after
        listing = (
            await c.request(
                "disassemble", memoryReference=top["instructionPointerReference"], instructionOffset=-2,
                instructionCount=5, resolveSymbols=True,
            )
        )["instructions"]  # fmt: skip
        assert (
            len(listing) == 5 and int(listing[2]["address"], 16) == pc and listing[2]["instruction"].startswith("CALL")
        )
        assert listing[2]["line"] == call_line and listing[2]["location"]["path"] == path

        # next steps over the CALL to the line after it; R0 = double(21)
        await c.request("next", threadId=thread)
        assert (await c.wait_event("stopped"))["reason"] == "step"
        top = await _top_frame(c, thread)
        assert top["line"] == after_line
        assert (await c.request("evaluate", expression="R0", frameId=top["id"], context="repl"))["result"].endswith(
            "(42)"
        )

        # a data breakpoint on `result`: stops after the store that changes it
        info = await c.request("dataBreakpointInfo", name="result", variablesReference=0, frameId=top["id"])
        assert info["dataId"] is not None and info["accessTypes"] == ["write"]
        [dbp] = (await c.request("setDataBreakpoints", breakpoints=[{"dataId": info["dataId"]}]))["breakpoints"]
        assert dbp["verified"] is True
        await c.request("continue", threadId=thread)
        stop = await c.wait_event("stopped")
        assert stop["reason"] == "data breakpoint" and stop["hitBreakpointIds"] == [dbp["id"]]
        top = await _top_frame(c, thread)
        assert top["line"] == line_of(CALLS, "store") + 1
        mem = await c.request("evaluate", expression="*(u32*)&result", frameId=top["id"], context="watch")
        assert mem["result"] == "0x0000002A (42)" and mem["memoryReference"]
        read = await c.request("readMemory", memoryReference=mem["memoryReference"], count=4)
        assert base64.b64decode(read["data"]) == (42).to_bytes(4, "little")
        globals_ = await _variables(c, top["id"], "Globals")
        assert globals_["result"]["value"] == "0x0000002A (42)"

        # a conditional breakpoint in the loop: stops only when R4 == 3
        await c.request("setDataBreakpoints", breakpoints=[])
        loop_line = line_of(CALLS, "loop_body")
        [cbp] = (
            await c.request(
                "setBreakpoints", source={"path": path}, breakpoints=[{"line": loop_line, "condition": "R4 == 2"}]
            )
        )["breakpoints"]
        await c.request("continue", threadId=thread)
        stop = await c.wait_event("stopped")
        assert stop.get("hitBreakpointIds") == [cbp["id"]], [
            (e["event"], e.get("body")) for e in c.events if e["event"] != "output"
        ]
        top = await _top_frame(c, thread)
        assert (await c.request("evaluate", expression="R4", frameId=top["id"]))["result"] == "0x00000002 (2)"

        # run to the end: the UART line arrives as output, then exited with R0 and terminated
        await c.request("setBreakpoints", source={"path": path}, breakpoints=[])
        await c.request("continue", threadId=thread)
        assert (await c.wait_event("exited"))["exitCode"] == 42
        await c.wait_event("terminated")
        assert "hello\n" in c.output()
        await c.request("disconnect")
    finally:
        await c.close()


async def test_step_in_and_step_out_of_a_call(daemon: Daemon, tmp_path: Path) -> None:
    src = write_mvasm(tmp_path, "calls", CALLS)
    path = str(src)
    c, _ = await start_session(daemon.home, {"program": path}, {path: [line_of(CALLS, "call")]})
    try:
        thread = (await c.wait_event("stopped"))["threadId"]
        await c.request("stepIn", threadId=thread)
        await c.wait_event("stopped")
        frames = (await c.request("stackTrace", threadId=thread))["stackFrames"]
        assert [f["name"] for f in frames] == ["double", "main"]
        assert frames[0]["line"] == line_of(CALLS, "double_entry") and frames[1]["line"] == line_of(CALLS, "call")
        await c.request("stepOut", threadId=thread)
        assert (await c.wait_event("stopped"))["reason"] == "step"
        top = await _top_frame(c, thread)
        assert top["name"] == "main" and top["line"] == line_of(CALLS, "after_call")
        regs = await _variables(c, top["id"], "Registers")
        assert regs["R0"]["value"].endswith("(12)")
        await c.request("disconnect", terminateDebuggee=True)
    finally:
        await c.close()


async def test_c_source_lines_locals_and_moved_breakpoints(daemon: Daemon, tmp_path: Path) -> None:
    hxe, c_file = write_c_program(tmp_path)
    cpath = str(c_file)
    c, setup = await start_session(daemon.home, {"program": str(hxe)}, {cpath: [4, 7]})
    try:
        moved, at7 = setup["breakpoints"][cpath]["breakpoints"]
        assert moved["verified"] is True and moved["line"] == 5 and "moved to line 5" in moved["message"]
        assert at7["verified"] is True and at7["line"] == 7 and "message" not in at7
        assert (await c.wait_event("stopped"))["hitBreakpointIds"] == [moved["id"]]
        await c.request("continue", threadId=(await c.request("threads"))["threads"][0]["id"])
        stop = await c.wait_event("stopped")
        assert stop["hitBreakpointIds"] == [at7["id"]]
        thread = stop["threadId"]
        top = await _top_frame(c, thread)
        assert top["source"]["path"] == cpath and top["source"]["name"] == "prog.c" and top["line"] == 7
        local_vars = await _variables(c, top["id"], "Locals")
        assert local_vars["a"]["value"] == "0x00000007 (7)" and local_vars["a"]["memoryReference"]
        assert "b" not in local_vars  # not live before the call returns
        assert (await c.request("evaluate", expression="a + 1", frameId=top["id"]))["result"].endswith("(8)")

        # stepIn enters square at its first line; x is its register local
        await c.request("stepIn", threadId=thread)
        await c.wait_event("stopped")
        frames = (await c.request("stackTrace", threadId=thread))["stackFrames"]
        assert [(f["name"], f["line"]) for f in frames] == [("square", 1), ("main", 7)]
        assert (await _variables(c, frames[0]["id"], "Locals"))["x"]["value"].endswith("(7)")
        # source-level next passes the compiler-made MOV R7, R15 of line 1 and stops at line 2
        await c.request("next", threadId=thread)
        await c.wait_event("stopped")
        assert (await _top_frame(c, thread))["line"] == 2
        await c.request("stepOut", threadId=thread)
        await c.wait_event("stopped")
        top = await _top_frame(c, thread)
        assert top["name"] == "main" and top["line"] == 7  # back after the CALL, still on `b = square(a)`
        await c.request("next", threadId=thread)
        await c.wait_event("stopped")
        top = await _top_frame(c, thread)
        assert top["line"] == 8
        assert (await _variables(c, top["id"], "Locals"))["b"]["value"].endswith("(49)")
        await c.request("continue", threadId=thread)
        assert (await c.wait_event("exited"))["exitCode"] == 50
        await c.wait_event("terminated")
        await c.request("disconnect")
    finally:
        await c.close()


async def test_a_fault_stops_with_exception_info_then_exits(daemon: Daemon, tmp_path: Path) -> None:
    src = write_mvasm(tmp_path, "fault", FAULT)
    c, _ = await start_session(daemon.home, {"program": str(src)})
    try:
        stop = await c.wait_event("stopped")
        assert stop["reason"] == "exception"
        info = await c.request("exceptionInfo", threadId=stop["threadId"])
        assert info["exceptionId"] == "div_zero" and info["breakMode"] == "always"
        top = await _top_frame(c, stop["threadId"])
        assert (
            top["line"] == line_of(FAULT, "div")
            and f"0x{int(top['instructionPointerReference'], 16):04X}" in (info["description"])
        )
        await c.request("continue", threadId=stop["threadId"])
        await c.wait_event("exited")
        await c.wait_event("terminated")
        await c.request("disconnect")
    finally:
        await c.close()


async def test_bad_requests_get_clear_errors(daemon: Daemon, tmp_path: Path) -> None:
    c = await DapClient.start(daemon.home)
    try:
        await c.request("initialize", adapterID="hsx")
        r = await c.raw("launch", program=str(tmp_path / "missing.hxe"))
        assert r["success"] is False and "missing.hxe" in r["message"]
        bad = write_mvasm(tmp_path, "bad", "main:\n    FROB R1\n")
        r = await c.raw("launch", program=str(bad))
        assert r["success"] is False and "assembling bad.mvasm failed" in r["message"]
        prog = write_mvasm(tmp_path, "ok", FAULT)
        r = await c.raw("launch", program=str(prog), symbols="missing.sym")
        assert r["success"] is False and "missing.sym" in r["message"]
        assert (await c.request("threads"))["threads"] == []  # the refused launch left no task
        r = await c.raw("stackTrace", threadId=1)
        assert r["success"] is False and "launch or attach first" in r["message"]
        try:
            await c.request("goto", threadId=1, targetId=1)
        except DapFailure as exc:
            assert "does not support" in exc.response["message"]
        else:
            raise AssertionError("goto was accepted")
        await c.request("disconnect")
    finally:
        await c.close()
