"""The data of one HSX program under the scheduler: :class:`VmTask`, its :class:`Wait`, a :class:`LoadPlan`.

Kept apart from the scheduler (``vm.py``) so the debugger and the transports
can use the task model without the scheduling machinery.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from executive.hsx.cpu import Cpu
from executive.hsx.hxe import HxeImage
from executive.hsx.mailbox import Descriptor
from executive.kernel.tasks import Task
from executive.runtimes.output import TaskOutput
from executive.runtimes.vm_state import FINISHED, HSX_NAMES, VmState

__all__ = ["LoadPlan", "VmTask", "Wait"]


@dataclasses.dataclass(slots=True)
class Wait:
    """What a blocked task waits for."""

    kind: str  # "sleep" or "mbx"
    deadline: float | None  # loop-clock seconds; None = forever
    token: int  # identifies this wait on the timer heap
    ms: int = 0
    descriptor: Descriptor | None = None
    handle: int = 0
    buf: int = 0
    max_len: int = 0
    info_ptr: int = 0
    timeout: int = 0


@dataclasses.dataclass(slots=True)
class LoadPlan:
    """A validated load: everything checked, nothing registered yet."""

    image: HxeImage
    path: str | None
    app_name: str
    app_name_base: str


class VmTask:
    """One HSX program under the scheduler."""

    def __init__(self, task: Task, plan: LoadPlan, slot: int, *, quantum: int, clocked: bool = False) -> None:
        self.task = task
        self.pid = task.id
        self.image = plan.image
        self.path = plan.path
        self.app_name = plan.app_name
        self.app_name_base = plan.app_name_base
        self.slot = slot
        self.stack_base = 0xFFFC - 0x1000 * slot  # initial SP (top of its 4 KiB stack block)
        self.stack_limit = self.stack_base - 0x1000
        self.reg_base = 0x1000 + 0x40 * slot
        self.state = VmState.READY
        self.wait: Wait | None = None
        self.pause_reason: str | None = None
        self.step_over_bp: int | None = None  # PC whose breakpoint the next slice steps over (set on resume)
        self.exit_status: int | None = None
        self.fault: dict[str, Any] | None = None
        self.fd_table: dict[int, int] = {}
        self.stdio: dict[str, Descriptor] = {}
        self.stdio_seen: dict[str, int] = {}  # fan-out stdout/stderr: the last message seq copied to the log
        self.output: TaskOutput | None = None
        self.cpu = Cpu(
            plan.image.code,
            plan.image.rodata,
            entry=plan.image.entry,
            sp=self.stack_base,
            stack_limit=self.stack_limit,
            reg_base=self.reg_base,
        )
        self.slices = 0
        self.priority = 0  # higher runs first (runtimes/vm_ready.py); set with HSX `sched`
        self.quantum = quantum  # instructions per slice; set with HSX `sched`
        self.clocked = clocked  # runs only while the HSX port's clock runs (loaded through that port)
        self.reaped = False  # an ended task a client has dismissed (HSX `kill`); it leaves the HSX `ps`
        self.chunk = 256  # instructions per Cpu.run inside a slice; the scheduler adapts it to time
        self.credit = 0  # instructions of its last quantum a time-cut slice did not run; added to the next one

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def summary(self) -> dict[str, Any]:
        """The task entry of the HSX protocol (spec hsx-executive §3.4), plus our fields."""
        w = self.wait
        d: dict[str, Any] = {
            "pid": self.pid,
            "program": self.path,
            "state": HSX_NAMES[self.state],
            "vm_state": self.state.value,
            "app_name": self.app_name,
            "app_name_base": self.app_name_base,
            "pc": self.cpu.pc,
            "priority": self.priority,
            "quantum": self.quantum,
            "clocked": self.clocked,
            "accounted_steps": self.cpu.steps,
            "accounted_cycles": self.cpu.steps,
            "sleep_pending": bool(w and w.kind == "sleep"),
            "sleep_pending_ms": w.ms if w and w.kind == "sleep" else None,
            "sleep_deadline": w.deadline if w and w.kind == "sleep" else None,
            "exit_status": self.exit_status,
            "fault": self.fault,
            "pause_reason": self.pause_reason,
            "reg_base": self.reg_base,
            "stack_base": self.stack_base,
            "stack_limit": self.stack_limit,
            "stack_size": 0x1000,
            "metadata": {
                "values": len(self.image.values),
                "commands": len(self.image.commands),
                "mailboxes": len(self.image.mailboxes),
                "sections": len(self.image.sections),
            },
        }
        if w is not None and w.kind == "mbx":
            d.update(
                wait_mailbox=w.descriptor.id if w.descriptor else None,
                wait_handle=w.handle,
                wait_timeout=w.timeout,
                wait_deadline=w.deadline,
            )
        return d
