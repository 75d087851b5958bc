"""`executive debug ID` and `executive trace export|import` as a user runs them, against a real daemon."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from executive.api.client import Client

from .conftest import RECURSE

SCRIPT = """\
break rec_base
continue
regs
stack
disasm
watch 0xFFF0
step
next
mem 0xFFF0 16
break
delete all
frobnicate
step 0x10000000
quit
"""


async def test_debug_prompt_session(daemon: Any, client: Client, e2e: Any, program: Callable[..., Path]) -> None:
    pid = (await client.call("vm.load", path=str(program(RECURSE, "rec")), paused=True))["pid"]
    r = await e2e.run_cli(daemon.home, "debug", str(pid), input=SCRIPT.encode())
    assert r.rc == 0, r.err
    out = r.out
    assert f"attached to task {pid} (6 symbols from" in out
    assert "(dbg) break rec_base\nbreakpoint ● 0x004C rec_base" in out
    assert "■ breakpoint at 0x004C rec_base  changed: R7 R15 PSW" in out
    assert "■  0x004C  rec_base (rec.mvasm:27)  LDI R0, 0" in out
    assert re.search(r"PC +0x0000004C", out) and re.search(r"depth +5", out)  # regs
    assert (
        out.count("rec+0x28     rec.mvasm:23") == 4 and "main+0x10" in out
    )  # stack: four callers of rec(0), then main
    assert " ●→  0x004C  01000000  LDI R0, 0" in out and "JMP 0x0050  <rec_out>" in out  # disasm around the PC
    assert "watch 1 0xFFF0 at 0xFFF0 = f8ff0000 (65528)" in out
    assert "■  0x0050  rec_out (rec.mvasm:29)  POP R12" in out  # step
    assert "changed: R15\n■  0x0054  rec_out+0x4" in out  # next (not a CALL: one instruction)
    assert "0xFFF0  f8 ff 00 00" in out  # mem
    assert "● 0x004C rec_base  hits 1" in out and "deleted 1 breakpoint(s)" in out
    assert "unknown command 'frobnicate'; type help" in out and "steps must be 1..1000000" in out
    assert out.rstrip().endswith(f"detached from task {pid} (left paused)")
    # detaching removed the prompt's breakpoints and watches and released the lock
    state = await client.call("debug.state", task=pid)
    assert (
        state["breakpoints"] == []
        and state["watches"] == []
        and state["locked_by"] is None
        and state["state"] == "paused"
    )


async def test_continue_to_the_end_and_bad_task(
    daemon: Any, client: Client, e2e: Any, program: Callable[..., Path]
) -> None:
    pid = (await client.call("vm.load", path=str(program(RECURSE, "rec")), paused=True))["pid"]
    r = await e2e.run_cli(daemon.home, "debug", str(pid), input=b"watch 0xFFF0\ncontinue\n")
    assert r.rc == 0, r.err
    # rec's PUSH R7 (at 0x0018) saves main's FP 0xFFF8 there, once; deeper frames sit lower
    assert r.out.count("watch 1 0xFFF0: 00000000 → f8ff0000 (65528) at 0x0018") == 1 and r.out.count("watch 1") == 2
    assert f"task {pid} exited with status 10" in r.out
    r = await e2e.run_cli(daemon.home, "debug", "999")
    assert r.rc != 0 and "999" in r.err and "Traceback" not in r.err


async def test_trace_export_and_import_commands(
    daemon: Any, client: Client, e2e: Any, program: Callable[..., Path], tmp_path: Path
) -> None:
    a = (await client.call("vm.load", path=str(program(RECURSE, "rec")), paused=True))["pid"]
    b = (await client.call("vm.load", path=str(program(RECURSE, "rec2")), paused=True))["pid"]
    r = await e2e.run_cli(daemon.home, "trace", "set", str(a), "on")
    assert r.rc == 0 and f"trace on for task {a}" in r.out
    await client.call("debug.step", task=a, steps=12)
    out = tmp_path / "trace.json"
    r = await e2e.run_cli(daemon.home, "trace", "export", str(a), "-o", str(out))
    assert r.rc == 0 and f"wrote 12 records of task {a}" in r.out
    doc = json.loads(out.read_text())
    assert doc["format"] == "hsx.trace/1" and len(doc["records"]) == 12
    r = await e2e.run_cli(daemon.home, "trace", "import", str(b), str(out))
    assert r.rc == 0 and f"imported 12 records into task {b}" in r.out
    assert (await client.call("trace.export", task=b))["records"] == doc["records"]
    doc["records"][3]["opcode"] = True
    out.write_text(json.dumps(doc))
    r = await e2e.run_cli(daemon.home, "trace", "import", str(b), str(out))
    assert r.rc != 0 and "trace record 3" in r.err and "boolean" in r.err
    out.write_text("{}")
    r = await e2e.run_cli(daemon.home, "trace", "import", str(b), str(out))
    assert r.rc == 2 and "no records list" in r.err


def test_regs_fit_an_80_column_terminal() -> None:
    """Every register value is printed whole on a standard 80-column terminal (no `0x000000…`)."""
    from rich.console import Console

    from executive.cli._debug_view import regs_table

    state = {
        "regs": [0xDEADBEEF] * 16,
        "pc": 0x1234,
        "sp": 0xEFFC,
        "psw": 0xF,
        "depth": 12,
        "changed_regs": ["R3", "PSW"],
    }
    con = Console(width=80, record=True, color_system=None)
    con.print(regs_table(state))
    text = con.export_text()
    assert "…" not in text
    assert text.count("0xDEADBEEF") == 16 and "0x00001234" in text and "0x0000EFFC" in text and "0xF ZCNV" in text
