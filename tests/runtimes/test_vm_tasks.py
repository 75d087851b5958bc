"""HSX programs as daemon tasks: scheduling, mailboxes, sleep, faults, names — through Executive."""

from __future__ import annotations

import asyncio
import base64
import collections
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from executive.hsx.asm import assemble_text
from executive.kernel.errors import ErrorCode, ExecutiveError
from executive.kernel.limits import DEFAULT_LIMITS
from executive.service import Executive

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def image(src: str, **opts: Any) -> str:
    return base64.b64encode(assemble_text(src, "t.mvasm", **opts).hxe).decode()


@pytest.fixture
async def ex(tmp_path: Path) -> AsyncIterator[Executive]:
    e = await Executive.open(tmp_path / "home", limits=dataclasses.replace(DEFAULT_LIMITS, vm_quantum=1000))
    try:
        yield e
    finally:
        await e.aclose()


async def output(ex: Executive, pid: int, stream: str = "stdout") -> str:
    return (await ex.task_output(pid, stream=stream))["data"]


async def test_two_tasks_ping_pong_over_a_mailbox(ex: Executive) -> None:
    pong = ex.vm.load(data_b64=image((EXAMPLES / "pong.mvasm").read_text()), name="pong")
    ping = ex.vm.load(data_b64=image((EXAMPLES / "ping.mvasm").read_text()), name="ping")
    for t in (ping, pong):
        done = await ex.task_wait(t["pid"], timeout=10)
        assert done["state"] == "ended" and done["end_reason"] == "exited" and done["exit_code"] == 0
    assert await output(ex, ping["pid"]) == "pong\npong\npong\n"
    assert await output(ex, pong["pid"]) == "ping\nping\nping\n"


SLEEPER = """
.entry main
main:
    LDI32 R0, 200
    SVC MOD=6, FN=0         ; sleep 200 ms
    LDI32 R1, msg
    LDI R2, 5
    SVC MOD=1, FN=1
    LDI R0, 0
    RET
.data
msg:
    .ascii "awake"
"""

SPINNER = """
.entry main
main:
    LDI R1, 1
loop:
    ADD R2, R2, R1
    JMP loop
"""


async def test_sleeping_task_wakes_on_time_while_others_run(ex: Executive) -> None:
    sub = ex.subscribe(types=["task_state"])
    sched = ex.subscribe(types=["scheduler"])
    spin = ex.vm.load(data_b64=image(SPINNER), name="spin")
    t0 = time.monotonic()
    sleeper = ex.vm.load(data_b64=image(SLEEPER), name="sleeper")
    done = await ex.task_wait(sleeper["pid"], timeout=10)
    elapsed = time.monotonic() - t0
    assert done["end_reason"] == "exited" and await output(ex, sleeper["pid"]) == "awake\n"
    assert elapsed >= 0.2  # it slept its full 200 ms
    assert ex.vm.info(spin["pid"])["vm_state"] in ("ready", "running")  # the spinner never stopped
    assert ex.vm.task(spin["pid"]).cpu.steps > 0
    reasons = [(e.pid, e.data.get("new_state"), e.data.get("reason")) for e in sub.drain(1000, 10**7)]
    assert (sleeper["pid"], "sleeping", "sleep") in reasons
    assert (sleeper["pid"], "ready", "sleep_wake") in reasons
    switches = [e.data for e in sched.drain(100000, 10**8)]
    # The sleeper's slice ended early by its sleep: the switch says so and how much quantum was left.
    away = [d for d in switches if d["prev_pid"] == sleeper["pid"] and d["reason"] == "sleep"]
    assert away and all(0 < d["quantum_remaining"] < d["quantum"] for d in away)
    ex.vm.kill(spin["pid"])


FAULTY = """
.entry main
main:
    LDI R1, 7
    LDI R2, 0
    DIV R3, R1, R2
    RET
"""


async def test_faulting_task_is_faulted_and_others_keep_running(ex: Executive) -> None:
    spin = ex.vm.load(data_b64=image(SPINNER), name="spin")
    bad = ex.vm.load(data_b64=image(FAULTY), name="bad")
    done = await ex.task_wait(bad["pid"], timeout=10)
    assert done["end_reason"] == "faulted"
    assert "divide by zero at PC 0x0008" in done["end_detail"]
    vt = ex.vm.task(bad["pid"])
    assert vt.fault == {"reason": "div_zero", "pc": 8, "text": "divide by zero", "r0": 0xFFFFFF05}
    assert vt.cpu.steps == 2  # the faulting DIV did not retire, and it is never re-executed
    before = ex.vm.task(spin["pid"]).cpu.steps
    await asyncio.sleep(0.05)
    assert ex.vm.task(spin["pid"]).cpu.steps > before
    assert vt.cpu.steps == 2
    ex.vm.kill(spin["pid"])


async def test_a_hundred_tasks_share_the_cpu_fairly(ex: Executive) -> None:
    src = image(SPINNER)
    pids = [ex.vm.load(data_b64=src, name=f"spin{i}")["pid"] for i in range(100)]
    first = {p: ex.vm.task(p).cpu.steps for p in pids}
    # Wait for rounds, not for time: on a loaded machine 100 slices can take longer than any fixed sleep.
    for _ in range(600):
        await asyncio.sleep(0.05)
        if min(ex.vm.task(p).cpu.steps - first[p] for p in pids) >= 20 * ex.limits.vm_quantum:
            break
    ex.vm.clock("stop")  # freeze between slices, then measure the window
    counts = [ex.vm.task(p).cpu.steps - first[p] for p in pids]
    assert min(counts) > 0
    assert min(counts) >= 0.9 * max(counts), (min(counts), max(counts))
    # Round robin: every turn entitles a task to one quantum, and what a time-cut slice did not run
    # is carried to its next turn (credit), so run + owed is at most one quantum apart between tasks.
    entitled = [ex.vm.task(p).cpu.steps - first[p] + ex.vm.task(p).credit for p in pids]
    assert max(entitled) - min(entitled) <= ex.limits.vm_quantum, (min(entitled), max(entitled))
    for p in pids:
        ex.vm.kill(p)


async def test_app_name_instances_and_single_instance_rule(ex: Executive) -> None:
    multi = image(SPINNER, app_name="worker")
    a = ex.vm.load(data_b64=multi)
    b = ex.vm.load(data_b64=multi)
    c = ex.vm.load(data_b64=multi)
    assert (a["app_name"], b["app_name"], c["app_name"]) == ("worker", "worker_#0", "worker_#1")
    single = image(SPINNER, app_name="solo", single_instance=True)
    s1 = ex.vm.load(data_b64=single)
    before = len((await ex.task_list())["tasks"])
    with pytest.raises(ExecutiveError) as info:
        ex.vm.load(data_b64=single)
    assert info.value.code is ErrorCode.APP_EXISTS and "app_exists:solo" in info.value.message
    assert len((await ex.task_list())["tasks"]) == before  # the refused load left no task behind
    ex.vm.kill(s1["pid"])
    s2 = ex.vm.load(data_b64=single)  # the name is free again once the first one ended
    assert s2["app_name"] == "solo"
    for t in (a, b, c, s2):
        ex.vm.kill(t["pid"])


STDIO = """
.entry main
main:
    LDI R1, 1               ; FS_WRITE(fd=1, "out\\n") -> stdout through the stdio mailbox
    LDI32 R2, out
    LDI R3, 4
    SVC MOD=4, FN=2
    LDI R1, 2               ; fd 2 -> stderr
    LDI32 R2, err
    LDI R3, 4
    SVC MOD=4, FN=2
    LDI R1, 1               ; RECV on stdin (handle 1), wait forever
    LDI32 R2, buf
    LDI R3, 16
    LDI32 R4, 0xFFFF
    LDI R5, 0
    SVC MOD=5, FN=3
    MOV R3, R1              ; echo what arrived to stdout via MAILBOX_SEND on handle 2
    LDI R1, 2
    LDI32 R2, buf
    LDI R4, 0
    LDI R5, 0
    SVC MOD=5, FN=2
    LDI R0, 0
    RET
.data
out:
    .ascii "out\\n"
err:
    .ascii "err\\n"
buf:
    .zero 16
"""


async def test_stdio_mailboxes_are_task_output_and_input(ex: Executive) -> None:
    t = ex.vm.load(data_b64=image(STDIO), name="echo")
    pid = t["pid"]
    for _ in range(200):
        if ex.vm.info(pid)["vm_state"] == "waiting_mbx":
            break
        await asyncio.sleep(0.01)
    assert ex.vm.info(pid)["vm_state"] == "waiting_mbx"
    ex.task_input(pid, data="hello")
    done = await ex.task_wait(pid, timeout=10)
    assert done["end_reason"] == "exited"
    assert await output(ex, pid) == "out\nhello"
    assert await output(ex, pid, "stderr") == "err\n"


RECV_TIMEOUT = """
.entry main
main:
    LDI32 R1, box
    LDI R2, 0
    SVC MOD=5, FN=0         ; open app:quiet
    LDI32 R2, buf
    LDI R3, 8
    LDI R4, 50              ; wait 50 ms
    LDI32 R5, info
    SVC MOD=5, FN=3
    RET                     ; exit status = R0 = TIMEOUT (7)
.data
box:
    .asciz "app:quiet"
buf:
    .zero 8
info:
    .zero 20
"""


async def test_receive_times_out_with_status_and_info_record(ex: Executive) -> None:
    t = ex.vm.load(data_b64=image(RECV_TIMEOUT))
    done = await ex.task_wait(t["pid"], timeout=10)
    assert done["exit_code"] == 7
    info = bytes.fromhex(ex.vm.mem_read(t["pid"], 0x4000 + 10 + 8, 20)["data"])
    assert int.from_bytes(info[:4], "little") == 7


async def test_pause_resume_and_pause_while_blocked(ex: Executive) -> None:
    spin = ex.vm.load(data_b64=image(SPINNER))
    ex.task_pause(spin["pid"])
    assert ex.task_info(spin["pid"])["state"] == "paused"
    steps = ex.vm.task(spin["pid"]).cpu.steps
    await asyncio.sleep(0.05)
    assert ex.vm.task(spin["pid"]).cpu.steps == steps
    with pytest.raises(ExecutiveError) as info:
        ex.task_pause(spin["pid"])
    assert info.value.code is ErrorCode.INVALID_TRANSITION
    ex.task_resume(spin["pid"])
    await asyncio.sleep(0.05)
    assert ex.vm.task(spin["pid"]).cpu.steps > steps
    ex.task_kill(spin["pid"])
    # A sleeper paused mid-sleep keeps its deadline and stays paused after it passes.
    s = ex.vm.load(data_b64=image(SLEEPER))
    await asyncio.sleep(0.05)
    assert ex.vm.info(s["pid"])["vm_state"] == "sleeping"
    ex.task_pause(s["pid"])
    await asyncio.sleep(0.3)
    assert ex.vm.info(s["pid"])["vm_state"] == "paused" and ex.vm.task(s["pid"]).wait is None
    ex.task_resume(s["pid"])
    done = await ex.task_wait(s["pid"], timeout=10)
    assert done["end_reason"] == "exited" and await output(ex, s["pid"]) == "awake\n"


async def test_step_a_paused_program_and_edit_registers(ex: Executive) -> None:
    t = ex.vm.load(data_b64=image(FAULTY), paused=True)
    pid = t["pid"]
    assert ex.task_info(pid)["state"] == "paused"
    r = ex.vm.step(pid, 2)
    assert r["executed"] == 2 and r["pc"] == 8 and r["regs"][1] == 7
    ex.vm.set_reg(pid, "R2", 7)  # avoid the divide by zero
    r = ex.vm.step(pid, 1)
    assert r["regs"][3] == 1
    r = ex.vm.step(pid, 1)  # RET at depth 0 ends it
    assert r["state"] == "returned"
    done = await ex.task_wait(pid, timeout=5)
    assert done["end_reason"] == "exited" and done["exit_code"] == 0


async def test_bad_images_are_refused_with_the_rule(ex: Executive, tmp_path: Path) -> None:
    bad = tmp_path / "bad.hxe"
    bad.write_bytes(b"HSXE" + b"\0" * 40)
    with pytest.raises(ExecutiveError) as info:
        ex.vm.load(path=str(bad))
    assert info.value.code is ErrorCode.HXE_INVALID
    with pytest.raises(ExecutiveError) as info:
        ex.vm.load(path=str(tmp_path / "missing.hxe"))
    assert "cannot read" in info.value.message
    with pytest.raises(ExecutiveError):
        ex.vm.load(data_b64="%%%")
    assert (await ex.task_list())["tasks"] == []


def _with_values(*values: str) -> str:
    lines = [".entry main", *[f".value {v}" for v in values], "main:", "    LDI R1, 1", "loop:", "    JMP loop"]
    return image("\n".join(lines) + "\n")


async def test_metadata_conflicts_are_rejected_atomically(ex: Executive) -> None:
    a = ex.vm.load(
        data_b64=_with_values('{"group": 1, "id": 1, "name": "rpm"}', '{"group": 1, "id": 2, "name": "temp"}')
    )
    before = ex.vm.runtime.valcmd.val_list()["values"]
    assert {v["oid"] for v in before} == {0x101, 0x102}
    tasks_before = len((await ex.task_list())["tasks"])
    clash = _with_values('{"group": 1, "id": 3, "name": "fresh"}', '{"group": 1, "id": 2, "name": "temp"}')
    with pytest.raises(ExecutiveError) as info:
        ex.vm.load(data_b64=clash)
    assert info.value.code is ErrorCode.METADATA_CONFLICT and "1:2" in info.value.message
    after = ex.vm.runtime.valcmd.val_list()["values"]
    assert {v["oid"] for v in after} == {0x101, 0x102}  # 0x103 was not half-registered
    assert len((await ex.task_list())["tasks"]) == tasks_before
    ex.vm.kill(a["pid"])
    b = ex.vm.load(data_b64=clash)  # the owner's entries went with it
    assert {v["oid"] for v in ex.vm.runtime.valcmd.val_list()["values"]} == {0x102, 0x103}
    ex.vm.kill(b["pid"])


VALUE_GET = """
.entry main
.value {"group": 2, "id": 5, "name": "speed", "init": 1.5}
main:
    LDI R1, 2
    LDI R2, 5
    SVC MOD=7, FN=1         ; VAL_LOOKUP(2, 5) -> R1 = OID
    SVC MOD=7, FN=2         ; VAL_GET(OID) -> R0 = f16 bits of 1.5
    RET
"""


async def test_a_program_reads_its_metadata_value(ex: Executive) -> None:
    t = ex.vm.load(data_b64=image(VALUE_GET))
    done = await ex.task_wait(t["pid"], timeout=10)
    assert done["exit_code"] == 0x3E00  # 1.5 as an IEEE half


async def test_sending_to_the_stdin_of_an_ended_program_is_refused(ex: Executive) -> None:
    t = ex.vm.load(data_b64=image(VALUE_GET))
    await ex.task_wait(t["pid"], timeout=10)
    with pytest.raises(ExecutiveError) as info:
        ex.vm.mailbox_send(pid=t["pid"], data=b"late")
    assert info.value.code is ErrorCode.INVALID_TRANSITION and "ended" in info.value.message
    assert ex.vm.runtime.tasks[t["pid"]].stdio["in"].queue == collections.deque()
