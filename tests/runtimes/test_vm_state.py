"""The HSX task machine (runtimes/vm_state.py): one test per edge, through the daemon's VM surface.

The scheduler clock is stopped, so slices run only when a test says so
(``clock step``), and every move the runtime makes is recorded at the table
lookup (``executive.runtimes.vm.next_state``).  Each scenario then checks that
its edge was taken and what it led to.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import executive.runtimes.vm as vm_module
from executive.hsx.asm import assemble_text
from executive.kernel.limits import DEFAULT_LIMITS
from executive.runtimes.vm_state import TABLE, VmEvent, VmState, next_state
from executive.service import Executive

S, E = VmState, VmEvent

SPIN = ".entry main\nmain:\n    LDI R1, 1\nloop:\n    ADD R2, R2, R1\n    JMP loop\n"
RET0 = ".entry main\nmain:\n    LDI R0, 0\n    RET\n"
EXIT3 = ".entry main\nmain:\n    LDI R0, 3\n    SVC MOD=1, FN=0\n"
BRK = ".entry main\nmain:\n    BRK 1\n    LDI R0, 0\n    RET\n"
FAULT = ".entry main\nmain:\n    LDI R1, 7\n    LDI R2, 0\n    DIV R3, R1, R2\n    RET\n"
NAP = ".entry main\nmain:\n    LDI32 R0, {ms}\n    SVC MOD=6, FN=0\n    LDI R0, 0\n    RET\n"
RECV = """
.entry main
main:
    LDI R1, 1
    LDI32 R2, buf
    LDI R3, 16
    LDI32 R4, 0xFFFF
    LDI R5, 0
    SVC MOD=5, FN=3         ; receive on stdin, no deadline
    LDI R0, 0
    RET
.data
buf:
    .zero 16
"""


@dataclasses.dataclass
class Vm:
    ex: Executive
    moves: list[tuple[VmState, VmEvent, VmState]]

    def load(self, src: str, *, paused: bool = False) -> int:
        data = base64.b64encode(assemble_text(src, "t.mvasm").hxe).decode()
        # clocked: held by the stopped HSX clock, so only step() runs it
        return int(self.ex.vm.load(data_b64=data, paused=paused, clocked=True)["pid"])

    def step(self, n: int = 100) -> None:
        """Run slices now (the clock is stopped otherwise)."""
        self.ex.vm.clock("step", steps=n)

    def state(self, pid: int) -> VmState:
        return self.ex.vm.task(pid).state

    async def until(self, pid: int, state: VmState) -> None:
        for _ in range(1000):
            if self.state(pid) is state:
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"task {pid} never became {state.value}; it is {self.state(pid).value}")

    def took(self, state: VmState, event: VmEvent) -> VmState:
        """The state the recorded ``state --event-->`` move led to."""
        hits = [new for s, e, new in self.moves if (s, e) == (state, event)]
        assert hits, f"{state.value} --{event.value}--> never happened: {self.moves}"
        return hits[-1]


@pytest.fixture
async def vm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Vm]:
    moves: list[tuple[VmState, VmEvent, VmState]] = []

    def spy(task_id: int, state: VmState, event: VmEvent) -> VmState:
        new = next_state(task_id, state, event)
        moves.append((state, event, new))
        return new

    monkeypatch.setattr(vm_module, "next_state", spy)
    ex = await Executive.open(tmp_path / "home", limits=dataclasses.replace(DEFAULT_LIMITS, vm_quantum=1000))
    try:
        yield Vm(ex, moves)
    finally:
        await ex.aclose()


# --- READY ------------------------------------------------------------------------------------
async def ready_schedule(v: Vm) -> None:
    pid = v.load(SPIN)
    v.step(10)
    assert v.ex.vm.task(pid).cpu.steps == 10


async def ready_pause(v: Vm) -> None:
    pid = v.load(SPIN)
    v.ex.vm.pause(pid)
    v.step(10)
    assert v.state(pid) is S.PAUSED and v.ex.vm.task(pid).cpu.steps == 0


async def ready_kill(v: Vm) -> None:
    pid = v.load(SPIN)
    v.ex.vm.kill(pid)
    assert v.state(pid) is S.KILLED and v.ex.task_info(pid)["end_reason"] == "killed"


# --- RUNNING ----------------------------------------------------------------------------------
async def running_preempt(v: Vm) -> None:
    pid = v.load(SPIN)
    v.step(10)  # the slice is 10 instructions: its quantum runs out
    assert v.state(pid) is S.READY


async def running_sleep(v: Vm) -> None:
    pid = v.load(NAP.format(ms=10_000))
    v.step()
    assert v.state(pid) is S.SLEEPING


async def running_block(v: Vm) -> None:
    pid = v.load(RECV)
    v.step()
    assert v.state(pid) is S.WAITING_MBX


async def running_pause(v: Vm) -> None:
    pid = v.load(BRK)
    v.step()
    assert v.state(pid) is S.PAUSED and v.ex.vm.task(pid).pause_reason == "brk"


async def running_return(v: Vm) -> None:
    pid = v.load(RET0)
    v.step()
    assert v.state(pid) is S.RETURNED and v.ex.task_info(pid)["exit_code"] == 0


async def running_exit(v: Vm) -> None:
    pid = v.load(EXIT3)
    v.step()
    assert v.state(pid) is S.EXITED and v.ex.task_info(pid)["exit_code"] == 3


async def running_fault(v: Vm) -> None:
    pid = v.load(FAULT)
    v.step()
    assert v.state(pid) is S.FAULTED and v.ex.task_info(pid)["end_reason"] == "faulted"


async def running_kill(v: Vm) -> None:
    # A slice cut short by an exception (a bug in a hook, or a timeout raised inside it) leaves
    # the task RUNNING; it must still be killable (aclose kills it the same way).
    def broken_hook(vt: Any, data: dict[str, Any]) -> None:
        raise RuntimeError("hook failed")

    v.ex.vm.runtime.on_break = broken_hook
    pid = v.load(BRK)
    with pytest.raises(RuntimeError, match="hook failed"):
        v.step()
    assert v.state(pid) is S.RUNNING
    v.ex.vm.kill(pid)
    assert v.state(pid) is S.KILLED


# --- SLEEPING ---------------------------------------------------------------------------------
async def sleeping_wake(v: Vm) -> None:
    pid = v.load(NAP.format(ms=1))
    v.step()
    await v.until(pid, S.READY)  # the deadline passed (event-loop timer)
    v.step()
    assert v.state(pid) is S.RETURNED


async def sleeping_pause(v: Vm) -> None:
    pid = v.load(NAP.format(ms=10_000))
    v.step()
    v.ex.vm.pause(pid)
    assert v.state(pid) is S.PAUSED


async def sleeping_kill(v: Vm) -> None:
    pid = v.load(NAP.format(ms=10_000))
    v.step()
    v.ex.vm.kill(pid)
    assert v.state(pid) is S.KILLED


# --- WAITING_MBX ------------------------------------------------------------------------------
async def waiting_wake(v: Vm) -> None:
    pid = v.load(RECV)
    v.step()
    v.ex.task_input(pid, data="hi")  # a message arrives: the waiter is served at once
    assert v.state(pid) is S.READY


async def waiting_pause(v: Vm) -> None:
    pid = v.load(RECV)
    v.step()
    v.ex.vm.pause(pid)
    assert v.state(pid) is S.PAUSED and v.ex.vm.task(pid).wait is not None  # it keeps its wait


async def waiting_kill(v: Vm) -> None:
    pid = v.load(RECV)
    v.step()
    v.ex.vm.kill(pid)
    assert v.state(pid) is S.KILLED


# --- PAUSED -----------------------------------------------------------------------------------
async def paused_resume(v: Vm) -> None:
    pid = v.load(SPIN, paused=True)  # READY -> PAUSED at load, through the table
    assert v.took(S.READY, E.PAUSE) is S.PAUSED
    v.ex.vm.resume(pid)
    assert v.state(pid) is S.READY


async def paused_resume_sleeping(v: Vm) -> None:
    pid = v.load(NAP.format(ms=10_000))
    v.step()
    v.ex.vm.pause(pid)
    v.ex.vm.resume(pid)
    assert v.state(pid) is S.SLEEPING  # its deadline is still ahead


async def paused_resume_waiting(v: Vm) -> None:
    pid = v.load(RECV)
    v.step()
    v.ex.vm.pause(pid)
    v.ex.vm.resume(pid)
    assert v.state(pid) is S.WAITING_MBX


async def paused_wake(v: Vm) -> None:
    pid = v.load(RECV)
    v.step()
    v.ex.vm.pause(pid)
    v.ex.task_input(pid, data="hi")  # the wait resolves while paused: it stays paused
    assert v.state(pid) is S.PAUSED and v.ex.vm.task(pid).wait is None
    v.ex.vm.resume(pid)
    assert v.state(pid) is S.READY


async def paused_return(v: Vm) -> None:
    pid = v.load(RET0, paused=True)
    v.ex.vm.step(pid, 10)  # a debugger single-step can end it
    assert v.state(pid) is S.RETURNED


async def paused_exit(v: Vm) -> None:
    pid = v.load(EXIT3, paused=True)
    v.ex.vm.step(pid, 10)
    assert v.state(pid) is S.EXITED


async def paused_fault(v: Vm) -> None:
    pid = v.load(FAULT, paused=True)
    v.ex.vm.step(pid, 10)
    assert v.state(pid) is S.FAULTED


async def paused_kill(v: Vm) -> None:
    pid = v.load(SPIN, paused=True)
    v.ex.vm.kill(pid)
    assert v.state(pid) is S.KILLED


SCENARIOS: dict[tuple[VmState, VmEvent], Callable[[Vm], Awaitable[None]]] = {
    (S.READY, E.SCHEDULE): ready_schedule,
    (S.READY, E.PAUSE): ready_pause,
    (S.READY, E.KILL): ready_kill,
    (S.RUNNING, E.PREEMPT): running_preempt,
    (S.RUNNING, E.SLEEP): running_sleep,
    (S.RUNNING, E.BLOCK): running_block,
    (S.RUNNING, E.PAUSE): running_pause,
    (S.RUNNING, E.RETURN): running_return,
    (S.RUNNING, E.EXIT): running_exit,
    (S.RUNNING, E.FAULT): running_fault,
    (S.RUNNING, E.KILL): running_kill,
    (S.SLEEPING, E.WAKE): sleeping_wake,
    (S.SLEEPING, E.PAUSE): sleeping_pause,
    (S.SLEEPING, E.KILL): sleeping_kill,
    (S.WAITING_MBX, E.WAKE): waiting_wake,
    (S.WAITING_MBX, E.PAUSE): waiting_pause,
    (S.WAITING_MBX, E.KILL): waiting_kill,
    (S.PAUSED, E.RESUME): paused_resume,
    (S.PAUSED, E.RESUME_SLEEPING): paused_resume_sleeping,
    (S.PAUSED, E.RESUME_WAITING): paused_resume_waiting,
    (S.PAUSED, E.WAKE): paused_wake,
    (S.PAUSED, E.RETURN): paused_return,
    (S.PAUSED, E.EXIT): paused_exit,
    (S.PAUSED, E.FAULT): paused_fault,
    (S.PAUSED, E.KILL): paused_kill,
}


def test_every_edge_of_the_table_has_a_test() -> None:
    assert set(SCENARIOS) == {(s, e) for s, row in TABLE.items() for e in row}


@pytest.mark.parametrize(
    ("edge", "scenario"), list(SCENARIOS.items()), ids=[f"{s.value}-{e.value}" for s, e in SCENARIOS]
)
async def test_transition(vm: Vm, edge: tuple[VmState, VmEvent], scenario: Any) -> None:
    state, event = edge
    await scenario(vm)
    assert vm.took(state, event) is TABLE[state][event]


# --- closing ------------------------------------------------------------------------------------
async def test_aclose_ends_every_task_even_after_the_scheduler_died(vm: Vm) -> None:
    def broken_hook(vt: Any, data: dict[str, Any]) -> None:
        raise RuntimeError("hook failed")

    vm.ex.vm.runtime.on_break = broken_hook
    spin, brk = vm.load(SPIN), vm.load(BRK)
    vm.ex.vm.clock("start")  # the scheduler task runs both and dies in the BRK's hook
    await vm.until(brk, S.RUNNING)
    await vm.ex.vm.runtime.aclose()
    assert vm.state(spin) is S.KILLED and vm.state(brk) is S.KILLED
    assert vm.ex.task_info(spin)["end_reason"] == "cancelled"


async def test_aclose_stops_a_scheduler_that_is_running_a_spinner(vm: Vm) -> None:
    pid = vm.load(SPIN)
    vm.ex.vm.clock("start")
    for _ in range(1000):
        if vm.ex.vm.task(pid).cpu.steps > 0:
            break
        await asyncio.sleep(0.005)
    await asyncio.wait_for(vm.ex.vm.runtime.aclose(), 10)
    steps = vm.ex.vm.task(pid).cpu.steps
    await asyncio.sleep(0.05)
    assert vm.ex.vm.task(pid).cpu.steps == steps and vm.state(pid) is S.KILLED
    vm.ex.vm.runtime.start()  # a closed runtime starts no new scheduler
    await asyncio.sleep(0.05)
    assert vm.ex.vm.task(pid).cpu.steps == steps
