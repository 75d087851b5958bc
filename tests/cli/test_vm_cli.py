"""`executive load` and `executive resume` on a faulting HSX program, as a user runs them (issue 13)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from executive.api.client import Client
from executive.hsx.asm import assemble_text
from executive.hsx.hxe import load_hxe, write_hxe

PRINTS_THEN_ILLEGAL = """\
.entry main
.export main
main:
    LDI32 R1, msg
    LDI R2, 3
    SVC MOD=1, FN=1
    LDI R3, 3
    RET
.data
msg:
    .ascii "hi\\n"
"""


def _faulting_image(tmp_path: Path) -> Path:
    """The program above with its fourth instruction (at 0x0010, after the 8-byte LDI32) replaced by opcode 0xFF."""
    image = load_hxe(assemble_text(PRINTS_THEN_ILLEGAL, "bad.mvasm").hxe)
    code = bytearray(image.code)
    code[16:20] = (0xFF000000).to_bytes(4, "big")
    path = tmp_path / "bad.hxe"
    path.write_bytes(write_hxe(dataclasses.replace(image, code=bytes(code))))
    return path


async def test_a_faulting_program_reports_on_stderr_and_reads_faulted(
    daemon: Any, client: Client, e2e: Any, tmp_path: Path
) -> None:
    r = await e2e.run_cli(daemon.home, "load", "--wait", str(_faulting_image(tmp_path)))
    assert r.rc == 1
    assert r.out.strip() == "hi" and "faulted" not in r.out  # the program's output only, no diagnostic in it
    assert "faulted: illegal opcode at PC 0x0010" in r.err
    [task] = (await client.call("task.list"))["tasks"]
    assert task["end_reason"] == "faulted"
    assert (await client.call("vm.regs", task=task["id"]))["state"] == "faulted"
    r = await e2e.run_cli(daemon.home, "resume", str(task["id"]))
    assert r.rc != 0 and "it faulted (illegal opcode at PC 0x0010)" in r.err and "kill it" in r.err
    assert "only paused tasks resume" not in r.err
