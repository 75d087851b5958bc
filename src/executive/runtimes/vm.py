"""HSX programs as tasks: loading, the round-robin scheduler, sleep timers, mailbox wait/wake.

Theory of operation
-------------------
Every loaded HXE image becomes a :class:`VmTask` (its own CPU and 64 KiB data
memory) bound to a kernel task whose id is the HSX pid.  Mailboxes, the file
system stub and the value/command registries are shared by all VM tasks, as in
the reference controller (spec hsx-vm §1.3, §13).

The scheduler is one asyncio task.  It takes READY tasks from the run queue —
highest ``priority`` first, round robin within a priority (runtimes/vm_ready.py) —
and runs each for at most its own ``quantum`` instructions (``Cpu.run``, the
compiled fast path when no debug hook is set; both are set with HSX ``sched``),
then looks at why the CPU stopped: quantum used up
→ back of the queue; sleep or mailbox wait → off the queue with a deadline on
the timer heap; breakpoint or BRK → paused; return, exit or fault → the task
ends (a fault never re-executes).  It yields to the event loop every few
milliseconds of work, so requests and I/O are served while programs compute.

Blocking is host-side: an SVC that must wait records a :class:`Wait` and stops
the CPU after the instruction retires.  A mailbox send wakes waiters in FIFO
order (fan-out: every waiter with an unread message); a deadline wakes sleepers
and times out receives.  A paused task keeps its wait; if the wait resolves
while paused the task stays paused, and on resume it returns to whatever its
wait says.

The HSX clock: tasks loaded through the HSX port are *clocked* — like the
reference executive's, they run only while that port's clock runs, and it
starts stopped.  A READY clocked task waits in ``_held`` until ``clock start``;
``step`` without a pid runs the held ones by hand.  Tasks loaded any other way
(JSON-RPC, the CLI) are not clocked and run as soon as they are READY.

Output: UART writes and the task's ``svc:stdio.out``/``err`` mailboxes are
drained at once into the same logs and ``output`` events as a process task's
stdout/stderr (runtimes/output.py), so ``executive logs`` works for both.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import structlog

from executive.hsx import HaltReason
from executive.hsx._fs import FsStub
from executive.hsx.cpu import Cpu
from executive.hsx.hxe import HxeImage
from executive.hsx.mailbox import (
    Descriptor,
    MailboxManager,
    MailboxStatus,
    Message,
    Mode,
    Profile,
)
from executive.hsx.svc import write_recv_result
from executive.hsx.valcmd import ValCmd
from executive.kernel.errors import ErrorCode, InvalidTransitionError, LimitError
from executive.kernel.events import EventBus
from executive.kernel.limits import Limits
from executive.kernel.tasks import EndReason, Task, Transition
from executive.runtimes.logwriter import LogWriter
from executive.runtimes.output import TaskOutput
from executive.runtimes.vm_ready import ReadyQueue
from executive.runtimes.vm_state import (
    HSX_NAMES,
    VmEvent,
    VmState,
    next_state,
)
from executive.runtimes.vm_stdio import drain_stdio, rebind_stdio
from executive.runtimes.vm_svc import INFINITE, TaskSvc
from executive.runtimes.vm_task import LoadPlan, VmTask, Wait

__all__ = ["LoadPlan", "VmRuntime", "VmTask", "Wait"]

log = structlog.get_logger("executive.vm")

_FAULT_TEXT = {
    HaltReason.MEM_FAULT: "memory access out of range",
    HaltReason.DIV_ZERO: "divide by zero",
    HaltReason.STACK_OVERFLOW: "stack overflow",
    HaltReason.STACK_UNDERFLOW: "stack underflow",
    HaltReason.LDI32_OVERRUN: "LDI32 overruns the code",
    HaltReason.PC_OUT_OF_RANGE: "PC outside the code",
    HaltReason.F2I_INVALID: "F2I of an infinite or NaN value",
    HaltReason.ILLEGAL: "illegal opcode",
}
_SWITCH_REASON = {  # scheduler-event reason for each way a slice ends (spec hsx-executive §5.3)
    HaltReason.RUNNING: "quantum_expired",
    HaltReason.SLEEP: "sleep",
    HaltReason.BLOCKED: "wait_mbx",
    HaltReason.BREAKPOINT: "paused",
    HaltReason.BRK: "paused",
    HaltReason.RETURNED: "returned",
    HaltReason.EXITED: "exited",
}
_SLICE_BUDGET_S = 0.004  # work the scheduler does before yielding to the loop
_CHUNK_S = 0.002  # longest a slice should hold the loop
_MAX_CREDIT_QUANTA = 16  # most unrun quanta a time-cut task carries into its next slice
_CLOSE_WAIT_S = 5.0  # longest aclose() waits for the scheduler task to end
_STACK_SLOTS = 8  # distinct stack/register-window positions (reference formula, spec §1.3)


class RuntimeHost(Protocol):
    bus: EventBus
    limits: Limits

    def transition(self, task: Task, tr: Transition, *, reason: str, **data: Any) -> None: ...

    def vm_task_ended(self, task: Task) -> None: ...


class VmRuntime:
    """All VM tasks of the daemon and the scheduler that runs them."""

    def __init__(
        self,
        host: RuntimeHost,
        *,
        home: Path,
        writer: Callable[[], LogWriter],
        quantum: int = 20000,
        profile: Profile | None = None,
    ) -> None:
        self.host = host
        self.home = home
        self._writer = writer
        self.quantum = quantum
        lim = host.limits
        self.mailboxes = MailboxManager(
            profile
            or Profile(
                "executive", max_descriptors=lim.vm_max_descriptors, max_handles_per_pid=64, tap_rate_per_second=None
            ),
            clock=time.monotonic,
            on_enqueue=self._on_enqueue,
        )
        self.fs = FsStub()
        self.dev_libm = False
        self.tasks: dict[int, VmTask] = {}
        self.symbolize: Callable[[int, int], str | None] | None = None  # set by the debugger layer
        self.on_break: Callable[[VmTask, dict[str, Any]], None] | None = (
            None  # debugger: adds fields (changed_regs) to debug_break
        )
        # Values and commands (spec §12), shared by all tasks like the mailboxes.
        self.valcmd = ValCmd(self.mailboxes, emit=lambda type_, pid, data: host.bus.publish(type_, pid, data))
        self._ready: ReadyQueue[VmTask] = ReadyQueue()  # READY tasks the scheduler may run now
        self._held: ReadyQueue[VmTask] = ReadyQueue()  # READY clocked tasks waiting for the HSX clock
        self._kick = asyncio.Event()  # set when the ready queue may have work
        self._heap: list[tuple[float, int, int]] = []  # (deadline, token, pid)
        self._tokens = itertools.count(1)
        self._timer: asyncio.TimerHandle | None = None
        self._stdio_owner: dict[int, tuple[VmTask, str]] = {}  # descriptor id -> (task, stream)
        # Mode masks new tasks' stdio descriptors get (HSX `stdio_fanout` without a pid).
        self.stdio_template: dict[str, int] = {"in": int(Mode.RDWR), "out": int(Mode.RDWR), "err": int(Mode.RDWR)}
        self._free_slots: list[int] = []
        self._next_slot = 0
        self._runner: asyncio.Task[None] | None = None
        self._last_pid: int | None = None
        self._last_stop = "quantum_expired"  # why the previous slice ended (scheduler events)
        self._last_quantum_left = 0  # instructions of its quantum the previous slice did not use
        # The HSX port's clock (spec hsx-executive §3.5): it starts stopped, as the reference's,
        # and governs only *clocked* tasks (loaded through that port); every other task runs
        # whenever it is READY.  `clock start` releases the held ones, `clock stop` holds them again.
        self.clock_running = False
        self._closing = False  # aclose() began: the scheduler returns at its next check
        self.total_steps = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._runner is None and not self._closing:
            self._runner = asyncio.ensure_future(self._schedule())

    async def aclose(self) -> None:
        """Stop the scheduler and end every task (daemon stop); returns even if the scheduler misbehaves.

        The scheduler sees ``_closing`` between slices and cancellation at its next yield,
        so it normally stops at once.  If it does not within ``_CLOSE_WAIT_S`` (a bug: a
        slice that never yields), or if it died of an exception, that is logged and the
        close goes on: the tasks still end and the store is still flushed.
        """
        self._closing = True
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            done, _ = await asyncio.wait([runner], timeout=_CLOSE_WAIT_S)
            if not done:
                log.error("vm_scheduler_stuck", waited_s=_CLOSE_WAIT_S, total_steps=self.total_steps)
            elif not runner.cancelled() and runner.exception() is not None:
                exc = runner.exception()
                log.error("vm_scheduler_died", error=repr(exc), exc_info=exc)
        if self._timer is not None:
            self._timer.cancel()
        for vt in list(self.tasks.values()):
            if not vt.finished:
                self._finish(vt, VmEvent.KILL, EndReason.CANCELLED, "the daemon stopped")

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # ------------------------------------------------------------------ loading
    def plan(self, image: HxeImage, path: str | None, name_hint: str | None) -> LoadPlan:
        """Validate a load without changing anything (app name rule, task limit).

        Raises:
            LimitError: too many VM tasks, or the app name is taken and the image is single-instance.
        """
        live = [vt for vt in self.tasks.values() if not vt.finished]
        if len(live) >= self.host.limits.max_vm_tasks:
            raise LimitError(
                f"{len(live)} HSX programs are loaded (limit max_vm_tasks); kill some first",
                data={"limit": self.host.limits.max_vm_tasks},
            )
        base = (image.app_name or name_hint or (Path(path).stem if path else "") or "task").strip()[:31] or "task"
        used = {vt.app_name for vt in live}
        name = base
        if base in used:
            if not image.allow_multiple_instances:
                raise LimitError(
                    f"app_exists:{base}: a task named {base!r} is running and "
                    "the image allows one instance; kill it first",
                    code=ErrorCode.APP_EXISTS,
                    data={"app_name": base},
                )
            for n in itertools.count():
                suffix = f"_#{n}"
                cand = base[: 31 - len(suffix)] + suffix
                if cand not in used:
                    name = cand
                    break
        return LoadPlan(image=image, path=path, app_name=name, app_name_base=base)

    def load(
        self, task: Task, plan: LoadPlan, *, paused: bool = False, pause_reason: str = "loaded", clocked: bool = False
    ) -> VmTask:
        """Create the task's machine, stdio mailboxes and metadata mailboxes; schedule it.

        A ``clocked`` task runs only while the HSX clock runs (:attr:`clock_running`).
        """
        slot = self._free_slots.pop() if self._free_slots else self._alloc_slot()
        vt = VmTask(task, plan, slot, quantum=self.quantum, clocked=clocked)
        vt.cpu.svc = TaskSvc(self, vt)
        vt.output = TaskOutput(
            task.id,
            self.home / "tasks" / str(task.id),
            writer=self._writer(),
            bus=self.host.bus,
            chunk_bytes=self.host.limits.output_chunk_bytes,
        )
        pid = vt.pid
        mb = self.mailboxes
        for stream in ("in", "out", "err"):  # spec §11.7: stdio descriptors, then the control box, then handles 1..3
            d = mb.bind(pid, f"svc:stdio.{stream}", 0, self.stdio_template[stream])
            vt.stdio[stream] = d
        mb.bind(pid, f"pid:{pid}", 0, int(Mode.RDWR))
        for fd, stream in enumerate(("in", "out", "err")):
            vt.fd_table[fd] = mb.open(pid, f"svc:stdio.{stream}")
        self._stdio_owner[vt.stdio["out"].id] = (vt, "stdout")
        self._stdio_owner[vt.stdio["err"].id] = (vt, "stderr")
        for entry in plan.image.mailboxes:
            owner = entry.owner_pid if entry.owner_pid is not None else pid
            mb.bind(owner, entry.target, entry.capacity, entry.mode_mask or int(Mode.RDWR))
        self.tasks[pid] = vt
        task.meta.update(
            app_name=vt.app_name, entry=plan.image.entry, code_len=len(plan.image.code), ro_len=len(plan.image.rodata)
        )
        if paused:
            # READY -> PAUSED before it ever ran; no task_state event (the kernel task is not RUNNING yet).
            vt.state = next_state(vt.pid, vt.state, VmEvent.PAUSE)
            vt.pause_reason = pause_reason
        else:
            self._make_ready(vt)
        self.start()
        return vt

    def _alloc_slot(self) -> int:
        slot = self._next_slot % _STACK_SLOTS
        self._next_slot += 1
        return slot

    # ------------------------------------------------------------------ state changes
    def _move(self, vt: VmTask, event: VmEvent, *, reason: str | None, **details: Any) -> None:
        """Apply one VM state edge and publish ``task_state`` (except the READY<->RUNNING churn of every slice)."""
        prev = vt.state
        vt.state = next_state(vt.pid, prev, event)
        if event in (VmEvent.SCHEDULE, VmEvent.PREEMPT):
            return
        # One edge, one pair of names: `from`/`to` repeat the HSX names (the kernel task's own
        # edges, when there is one, follow as their own task_state event with kernel names).
        self.host.bus.publish(
            "task_state",
            vt.pid,
            {
                "from": HSX_NAMES[prev],
                "to": HSX_NAMES[vt.state],
                "prev_state": HSX_NAMES[prev],
                "new_state": HSX_NAMES[vt.state],
                "vm_from": prev.value,
                "vm_to": vt.state.value,
                "reason": reason,
                "details": details or None,
                "name": vt.task.name,
                "kind": "vm",
            },
        )

    def _make_ready(self, vt: VmTask) -> None:
        if vt.clocked and not self.clock_running:
            self._held.append(vt)
            return
        self._ready.append(vt)
        self._kick.set()

    def _unqueue(self, vt: VmTask) -> None:
        """Take a task out of the run queues (it stops being READY)."""
        if not self._ready.remove(vt):
            self._held.remove(vt)

    # ------------------------------------------------------------------ the HSX clock and `sched`
    def start_clock(self) -> None:
        """Run clocked tasks again: the held ones join the run queue."""
        self.clock_running = True
        for vt in self._held.take_where(lambda _vt: True):
            self._ready.append(vt)
        self._kick.set()

    def stop_clock(self) -> None:
        """Hold clocked tasks between slices; other tasks keep running."""
        self.clock_running = False
        for vt in self._ready.take_where(lambda v: v.clocked):
            self._held.append(vt)

    def set_sched(self, vt: VmTask, *, priority: int | None = None, quantum: int | None = None) -> None:
        """Change a task's priority (re-filed in its queue at once) and/or quantum (from its next slice)."""
        if quantum is not None:
            vt.quantum = quantum
        if priority is not None and priority != vt.priority:
            queued = self._ready.remove(vt)
            held = not queued and self._held.remove(vt)
            vt.priority = priority
            if queued:
                self._ready.append(vt)
            elif held:
                self._held.append(vt)

    def pause(self, vt: VmTask, reason: str = "user") -> None:
        if vt.state is VmState.PAUSED:
            raise InvalidTransitionError(f"task {vt.pid} is already paused", data={"task": vt.pid})
        if vt.finished:
            raise InvalidTransitionError(f"task {vt.pid} has ended ({vt.state.value})", data={"task": vt.pid})
        if vt.state is VmState.READY:
            self._unqueue(vt)
        self._enter_pause(vt, reason)

    def _enter_pause(self, vt: VmTask, reason: str, **details: Any) -> None:
        """Move to PAUSED (from any live state) and mirror it on the kernel task."""
        if vt.state is not VmState.PAUSED:
            self._move(vt, VmEvent.PAUSE, reason=reason, **details)
        vt.pause_reason = reason
        if vt.task.can(Transition.PAUSE):
            self.host.transition(vt.task, Transition.PAUSE, reason=reason, **details)

    def resume(self, vt: VmTask) -> None:
        if vt.state is VmState.FAULTED:
            f = vt.fault or {}
            raise InvalidTransitionError(
                f"cannot resume task {vt.pid}: it faulted ({f.get('text', f.get('reason', 'fault'))} at PC "
                f"0x{f.get('pc', vt.cpu.pc):04X}) and cannot run again; inspect it (dumpregs, stack, disasm), "
                "then kill it and load the program again",
                data={"task": vt.pid, "state": vt.state.value, "fault": f},
            )
        if vt.state is not VmState.PAUSED:
            raise InvalidTransitionError(
                f"cannot resume task {vt.pid}: it is {HSX_NAMES[vt.state]}; only paused tasks resume",
                data={"task": vt.pid, "state": vt.state.value},
            )
        if vt.cpu.halt in (HaltReason.BREAKPOINT, HaltReason.BRK, HaltReason.STEP_LIMIT):
            vt.cpu.resume()
        vt.step_over_bp = vt.cpu.pc  # continuing from a stop steps over a breakpoint at the PC
        w = vt.wait
        if w is None:
            self._move(vt, VmEvent.RESUME, reason="resume")
            self._make_ready(vt)
        elif w.kind == "sleep":
            self._move(vt, VmEvent.RESUME_SLEEPING, reason="resume")
        else:
            self._move(vt, VmEvent.RESUME_WAITING, reason="resume")
        vt.pause_reason = None
        if vt.task.can(Transition.RESUME):
            self.host.transition(vt.task, Transition.RESUME, reason="resume")

    def kill(self, vt: VmTask, reason: EndReason = EndReason.KILLED) -> None:
        if vt.finished:
            raise InvalidTransitionError(f"task {vt.pid} has already ended ({vt.state.value})", data={"task": vt.pid})
        self._finish(
            vt, VmEvent.KILL, reason, "killed by a client" if reason is EndReason.KILLED else "cancelled by a client"
        )

    def _finish(self, vt: VmTask, event: VmEvent, reason: EndReason, detail: str, **data: Any) -> None:
        """End a task for good: leave queues and wait lists, free its slot, end the kernel task."""
        self._unqueue(vt)
        self._cancel_wait(vt)
        self._move(vt, event, reason=reason.value, **data)
        self.mailboxes.close_all(vt.pid)
        self.valcmd.unregister_owner(vt.pid)
        for d in vt.stdio.values():
            self._stdio_owner.pop(d.id, None)
        self._free_slots.append(vt.slot)
        task = vt.task
        task.end_reason = reason
        task.end_detail = detail
        if vt.exit_status is not None:
            task.exit_code = vt.exit_status
        out = vt.output

        def report_end() -> None:
            if task.can(Transition.END):
                self.host.transition(
                    task, Transition.END, reason=reason.value, exit_code=task.exit_code, detail=detail, **data
                )
                self.host.vm_task_ended(task)

        if out is None:
            report_end()
            return
        out.finish("stdout")
        out.finish("stderr")
        out.close()
        if out.pending == 0:
            report_end()
        else:
            # Like process tasks: the end is reported once the logs hold every byte.
            def on_progress() -> None:
                if out.pending == 0:
                    report_end()

            for lg in out.logs.values():
                lg.on_progress = on_progress

    def value_svc(self, vt: VmTask, cpu: Cpu, fn: int) -> None:
        self.valcmd.value_svc(cpu, fn, vt.pid)

    def command_svc(self, vt: VmTask, cpu: Cpu, fn: int) -> None:
        self.valcmd.command_svc(cpu, fn, vt.pid)

    # ------------------------------------------------------------------ output
    def write_output(self, vt: VmTask, stream: str, data: bytes) -> None:
        if vt.output is not None and data:
            vt.output.append(stream, data)

    def console(self, vt: VmTask, line: str) -> None:
        self.write_output(vt, "stderr", line.encode() + b"\n")

    def drain_stdio(self, vt: VmTask) -> None:
        """Move what the task's stdout/stderr mailboxes hold into its logs (runtimes/vm_stdio.py)."""
        drain_stdio(vt, self.write_output)

    def set_stdio_mode(self, vt: VmTask, stream: str, mask: int) -> bool:
        """Re-bind one stdio descriptor of a live task with ``mask``; False when it already had it."""
        return rebind_stdio(self.mailboxes, vt, stream, mask, self.write_output)

    def host_send(self, target: str, data: bytes, *, channel: int = 0, flags: int = 0) -> dict[str, Any]:
        """Send from the executive (pid 0) to a mailbox target; wakes waiters."""
        d = self.mailboxes.lookup(target, 0) or self.mailboxes.bind(0, target)
        status = self.mailboxes.post(d, data, flags, channel, src_pid=0)
        return {
            "mbx_status": int(status),
            "length": len(data) if status == MailboxStatus.OK else 0,
            "descriptor": d.id,
            "target": d.target,
        }

    def mailbox_event(self, vt: VmTask, type_: str, **data: Any) -> None:
        self.host.bus.publish(type_, vt.pid, data)

    # ------------------------------------------------------------------ waits
    def block_sleep(self, vt: VmTask, ms: int) -> None:
        token = next(self._tokens)
        deadline = self._now() + ms / 1000.0
        vt.wait = Wait("sleep", deadline, token, ms=ms)
        self._push_deadline(deadline, token, vt.pid)
        vt.cpu.stop(HaltReason.SLEEP, ms=ms)

    def block_recv(self, vt: VmTask, *, handle: int, buf: int, max_len: int, timeout: int, info_ptr: int) -> None:
        d = self.mailboxes.descriptor_of(vt.pid, handle)
        token = next(self._tokens)
        deadline = None if timeout == INFINITE else self._now() + timeout / 1000.0
        vt.wait = Wait(
            "mbx",
            deadline,
            token,
            descriptor=d,
            handle=handle,
            buf=buf,
            max_len=max_len,
            info_ptr=info_ptr,
            timeout=timeout,
        )
        if vt.pid not in d.waiters:
            d.waiters.append(vt.pid)
        if deadline is not None:
            self._push_deadline(deadline, token, vt.pid)
        vt.cpu.stop(HaltReason.BLOCKED, descriptor=d.id)
        self.host.bus.publish(
            "mailbox_wait", vt.pid, {"descriptor": d.id, "handle": handle, "timeout": timeout, "deadline": deadline}
        )

    def _cancel_wait(self, vt: VmTask) -> None:
        w = vt.wait
        if w is not None and w.descriptor is not None and vt.pid in w.descriptor.waiters:
            w.descriptor.waiters.remove(vt.pid)
        vt.wait = None

    def _on_enqueue(self, d: Descriptor) -> None:
        """A notifying send enqueued on ``d``: drain stdio, serve blocked receivers (spec §11.5)."""
        owner = self._stdio_owner.get(d.id)
        if owner is not None:
            self.drain_stdio(owner[0])
            return
        if not d.waiters:
            return
        for pid in list(d.waiters):
            if not d.fanout and not d.queue:
                break
            vt = self.tasks.get(pid)
            if vt is None or vt.wait is None or vt.wait.kind != "mbx":
                d.waiters.remove(pid)
                continue
            msg = self.mailboxes.recv(pid, vt.wait.handle)
            if msg is None:
                continue
            d.waiters.remove(pid)
            self._wake_recv(vt, MailboxStatus.OK, msg, "mailbox_wake")

    def _wake_recv(self, vt: VmTask, status: MailboxStatus, msg: Message | None, reason: str) -> None:
        w = vt.wait
        assert w is not None
        write_recv_result(vt.cpu, status, msg, w.buf, w.max_len, w.info_ptr, write_info=True)
        data = {
            "descriptor": w.descriptor.id if w.descriptor else None,
            "handle": w.handle,
            "status": int(status),
            "length": len(msg.data) if msg else 0,
            "flags": msg.flags if msg else 0,
            "channel": msg.channel if msg else 0,
            "src_pid": msg.src_pid if msg else 0,
        }
        self.host.bus.publish("mailbox_wake" if msg else "mailbox_timeout", vt.pid, data)
        self._wake(vt, reason, **data)

    def _wake(self, vt: VmTask, reason: str, **details: Any) -> None:
        vt.wait = None
        if vt.cpu.halt in (HaltReason.SLEEP, HaltReason.BLOCKED):
            vt.cpu.resume()
        if vt.state is VmState.PAUSED:
            self._move(vt, VmEvent.WAKE, reason=reason, **details)
            return
        self._move(vt, VmEvent.WAKE, reason=reason, **details)
        self._make_ready(vt)

    def _push_deadline(self, deadline: float, token: int, pid: int) -> None:
        heapq.heappush(self._heap, (deadline, token, pid))
        if self._heap[0][1] == token:
            self._arm_timer()

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._heap:
            self._timer = asyncio.get_running_loop().call_at(self._heap[0][0], self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = self._now()
        while self._heap and self._heap[0][0] <= now:
            _, token, pid = heapq.heappop(self._heap)
            vt = self.tasks.get(pid)
            if vt is None or vt.wait is None or vt.wait.token != token:
                continue  # that wait ended some other way
            if vt.wait.kind == "sleep":
                self._wake(vt, "sleep_wake", sleep_ms=vt.wait.ms)
            else:
                d = vt.wait.descriptor
                if d is not None and vt.pid in d.waiters:
                    d.waiters.remove(vt.pid)
                self._wake_recv(vt, MailboxStatus.TIMEOUT, None, "timeout")
        self._arm_timer()

    # ------------------------------------------------------------------ execution
    async def _schedule(self) -> None:
        """The scheduler task: slices in round robin, yielding to the loop between bursts."""
        while not self._closing:
            self.valcmd.run_pending()  # complete async command calls; their replies wake waiters (spec §12.2)
            if not self._ready:
                self._kick.clear()
                await self._kick.wait()
                continue
            budget_end = time.perf_counter() + _SLICE_BUDGET_S
            while self._ready and not self._closing:
                vt = self._ready.popleft()
                self._run_slice(vt, vt.quantum + vt.credit)
                if time.perf_counter() >= budget_end:
                    break
            await asyncio.sleep(0)

    def _run_slice(self, vt: VmTask, quantum: int) -> int:
        if vt.pid != self._last_pid:
            self.host.bus.publish(
                "scheduler",
                vt.pid,
                {
                    "state": "switch",
                    "prev_pid": self._last_pid,
                    "next_pid": vt.pid,
                    "reason": self._last_stop,
                    "quantum_remaining": self._last_quantum_left,
                    "quantum": quantum,
                },
            )
            self._last_pid = vt.pid
        self._move(vt, VmEvent.SCHEDULE, reason=None)
        # A slice is bounded in instructions (the quantum) and in time: a program whose
        # instructions are expensive (many SVCs writing output) runs in smaller chunks, so
        # no slice holds the event loop much longer than _CHUNK_S.  The chunk adapts per task.
        cpu = vt.cpu
        executed = 0
        deadline = time.perf_counter() + _CHUNK_S
        while executed < quantum:
            # Cpu.run never stops at a breakpoint on its first instruction; only a resume
            # steps over one.  A slice or chunk that starts on a breakpoint (after a wake,
            # a preemption, a chunk boundary) must stop there.
            if (
                cpu.breakpoints
                and cpu.pc in cpu.breakpoints
                and cpu.pc != vt.step_over_bp
                and cpu.halt is HaltReason.RUNNING
            ):
                cpu.stop(HaltReason.BREAKPOINT, pc=cpu.pc)
            t0 = time.perf_counter()
            n = cpu.run(min(vt.chunk, quantum - executed))
            if n:
                vt.step_over_bp = None
            executed += n
            now = time.perf_counter()
            if now - t0 > _CHUNK_S and vt.chunk > 64:
                vt.chunk //= 2
            elif now - t0 < _CHUNK_S / 4 and vt.chunk < quantum:
                vt.chunk = min(quantum, vt.chunk * 2)
            if cpu.halt is not HaltReason.RUNNING or now >= deadline:
                break
        vt.slices += 1
        self._last_quantum_left = quantum - executed
        # Deficit round robin: a slice cut short by the time bound (the daemon was descheduled, or
        # the instructions were slow) keeps what it did not run for its next turn, so every task
        # gets the same instructions per round; a task that stops by itself starts afresh.
        # (Capped, so a task whose instructions are always slow does not pile up credit it cannot use.)
        cut_short = cpu.halt is HaltReason.RUNNING and executed < quantum
        vt.credit = min(quantum - executed, _MAX_CREDIT_QUANTA * vt.quantum) if cut_short else 0
        self.total_steps += executed
        self._after_run(vt)
        return executed

    def _after_run(self, vt: VmTask) -> None:
        """Act on why the CPU stopped (or did not)."""
        cpu = vt.cpu
        halt = cpu.halt
        self._last_stop = _SWITCH_REASON.get(halt, "killed")
        if halt is HaltReason.RUNNING:
            if vt.state is VmState.RUNNING:
                self._move(vt, VmEvent.PREEMPT, reason=None)
                self._make_ready(vt)
            return
        if halt is HaltReason.SLEEP:
            self._move(vt, VmEvent.SLEEP, reason="sleep", sleep_ms=vt.wait.ms if vt.wait else 0)
            self.host.bus.publish(
                "sleep_request",
                vt.pid,
                {"ms": vt.wait.ms if vt.wait else 0, "deadline": vt.wait.deadline if vt.wait else None},
            )
        elif halt is HaltReason.BLOCKED:
            w = vt.wait
            self._move(
                vt,
                VmEvent.BLOCK,
                reason="mailbox_wait",
                descriptor=w.descriptor.id if w and w.descriptor else None,
                handle=w.handle if w else None,
                timeout=w.timeout if w else None,
            )
        elif halt in (HaltReason.BREAKPOINT, HaltReason.BRK):
            kind = "breakpoint" if halt is HaltReason.BREAKPOINT else "brk"
            pc = cpu.pc
            data: dict[str, Any] = {"pc": pc, "phase": "pre" if kind == "breakpoint" else "post", "reason": kind}
            if kind == "brk":
                data["code"] = cpu.halt_info.get("code", 0)
            if self.symbolize is not None:
                data["symbol"] = self.symbolize(vt.pid, pc)
            if self.on_break is not None:
                self.on_break(vt, data)
            self._enter_pause(vt, "debug_break" if kind == "breakpoint" else "brk", pc=pc)
            self.host.bus.publish("debug_break", vt.pid, data)
        elif halt in (HaltReason.RETURNED, HaltReason.EXITED):
            vt.exit_status = cpu.regs[0]
            event = VmEvent.RETURN if halt is HaltReason.RETURNED else VmEvent.EXIT
            self._finish(
                vt,
                event,
                EndReason.EXITED,
                f"{'main returned' if event is VmEvent.RETURN else 'TASK_EXIT'} with status {cpu.regs[0]}",
                exit_status=cpu.regs[0],
            )
        else:
            text = _FAULT_TEXT.get(halt, halt.value)
            # The faulting instruction's address: an aborting fault leaves the PC on it; a
            # stop-after-retire one (illegal opcode) has moved past it and records it in halt_info.
            info = {k: v for k, v in cpu.halt_info.items() if isinstance(v, int)}
            fault_pc = info.pop("pc", cpu.pc)
            vt.fault = {"reason": halt.value, "pc": fault_pc, "text": text, "r0": cpu.regs[0], **info}
            if fault_pc != cpu.pc:
                vt.fault["next_pc"] = cpu.pc
            self._finish(vt, VmEvent.FAULT, EndReason.FAULTED, f"{text} at PC 0x{fault_pc:04X}", fault=vt.fault)

    def step(self, vt: VmTask, steps: int) -> dict[str, Any]:
        """Execute up to ``steps`` instructions of a paused task (debugger single-step)."""
        if vt.state is not VmState.PAUSED:
            raise InvalidTransitionError(
                f"task {vt.pid} is {HSX_NAMES[vt.state]}; pause it before stepping",
                data={"task": vt.pid, "state": vt.state.value},
            )
        if vt.wait is not None:
            raise InvalidTransitionError(
                f"task {vt.pid} is blocked in {'a sleep' if vt.wait.kind == 'sleep' else 'a mailbox receive'}; "
                "resume it to let the wait finish",
                data={"task": vt.pid},
            )
        cpu = vt.cpu
        if cpu.halt in (HaltReason.BREAKPOINT, HaltReason.BRK, HaltReason.STEP_LIMIT):
            cpu.resume()
        before = cpu.pc
        executed = cpu.run(steps)
        self.total_steps += executed
        halt = cpu.halt
        result: dict[str, Any] = {
            "pid": vt.pid,
            "executed": executed,
            "pc": cpu.pc,
            "prev_pc": before,
            "steps": cpu.steps,
            "halt": halt.value,
        }
        # The task stays PAUSED unless the step ended it.  A step into a sleep or a mailbox
        # wait leaves it paused with the wait open (it resolves on its own; resume continues).
        if halt in (HaltReason.BREAKPOINT, HaltReason.BRK):
            data: dict[str, Any] = {
                "pc": cpu.pc,
                "phase": "pre" if halt is HaltReason.BREAKPOINT else "post",
                "reason": "breakpoint" if halt is HaltReason.BREAKPOINT else "brk",
            }
            if self.symbolize is not None:
                data["symbol"] = self.symbolize(vt.pid, cpu.pc)
            if self.on_break is not None:
                self.on_break(vt, data)
            self.host.bus.publish("debug_break", vt.pid, data)
            result["debug_break"] = data
        elif halt not in (HaltReason.RUNNING, HaltReason.SLEEP, HaltReason.BLOCKED):
            self._after_run(vt)
        result["state"] = HSX_NAMES[vt.state]
        return result

    def clock_step(self, steps: int) -> dict[str, Any]:
        """Run up to ``steps`` instructions through the scheduler now (HSX ``step`` without a pid)."""
        executed = 0
        while executed < steps and (self._held or self._ready):
            vt = self._held.popleft() if self._held else self._ready.popleft()  # the clock's own tasks first
            executed += self._run_slice(vt, min(vt.quantum, steps - executed))
        return {
            "executed": executed,
            "running": bool(self._ready or self._held),
            "current_pid": self._last_pid,
        }
