"""The HSX-program half of the public surface: ``Executive.vm``.

Load images, list programs, step them, read and write registers and memory,
describe memory regions, drive the mailbox service and the scheduler clock.
Every transport — JSON-RPC ``vm.*``/``mailbox.*``, the HSX TCP port, the CLI —
calls these methods; they validate their arguments, check the task lock
(``session_id``), and never touch a CPU that is mid-slice (everything runs on
the one event loop, between slices).

Debugger services (breakpoints, symbols, disassembly, stack, watches, trace)
live in ``Executive.debug`` (debugger/), on top of this.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from executive.hsx.hxe import HxeError, HxeImage, load_hxe
from executive.hsx.valcmd import MetadataError, ValCmd
from executive.kernel.errors import BadParamsError, ErrorCode, InvalidTransitionError, LimitError, NotFoundError
from executive.kernel.tasks import EndReason, Task, TaskKind, Transition
from executive.runtimes.vm import VmRuntime, VmTask
from executive.runtimes.vm_state import VmState
from executive.service.results import (
    ClockStatus,
    MailboxDescriptor,
    MailboxSendResult,
    MailboxSnapshot,
    MemRead,
    MemRegion,
    MemWritten,
    Registers,
    StdioFanoutConfig,
    TaskInputResult,
    VmLoaded,
    VmOverview,
    VmProcesses,
    VmRegions,
    VmScheduler,
    VmStepResult,
    VmTaskEntry,
    VmTaskInfo,
)
from executive.service.vm_image import image_info
from executive.service.vm_stdio import stdio_fanout

if TYPE_CHECKING:  # pragma: no cover
    from executive.service.executive import Executive

__all__ = ["REGISTER_NAMES", "VmService", "VmState", "VmTask"]

REGISTER_NAMES = [f"R{i}" for i in range(16)] + ["PC", "SP", "PSW"]


class VmService:
    def __init__(self, executive: Executive) -> None:
        self.ex = executive
        lim = executive.limits
        self.runtime = VmRuntime(
            executive, home=executive.home, writer=lambda: executive.processes.writer, quantum=lim.vm_quantum
        )

    async def aclose(self) -> None:
        await self.runtime.aclose()

    # ------------------------------------------------------------------ lookup
    def task(self, ref: int | str) -> VmTask:
        """The live or finished VM task behind a task id/name.

        Raises:
            NotFoundError: unknown id, or the task is not an HSX program.
        """
        task = self.ex.tasks.get(ref)
        vt = self.runtime.tasks.get(task.id)
        if vt is None:
            raise NotFoundError(
                f"task {task.id} ({task.name}) is a {task.kind.value} task, not an HSX program",
                code=ErrorCode.NOT_A_VM_TASK,
                data={"task": task.id},
            )
        return vt

    def control(self, ref: int | str, session_id: str | None) -> VmTask:
        """The VM task behind ``ref`` if ``session_id`` may control it (a task locked by another session refuses)."""
        vt = self.task(ref)
        if session_id:
            self.ex.sessions.get(session_id)
        self.ex.sessions.check_control(vt.pid, session_id)
        return vt

    # ------------------------------------------------------------------ loading
    def read_image(self, path: str | None, data_b64: str | None) -> tuple[HxeImage, str | None]:
        """Read and validate an image from a path or base64 bytes (exactly one)."""
        limit = self.ex.limits.max_hxe_bytes
        if (path is None) == (data_b64 is None):
            raise BadParamsError("give exactly one of path (a file the daemon can read) or data_b64 (the image bytes)")
        if path is not None:
            p = Path(path).expanduser()
            try:
                size = p.stat().st_size
                if size > limit:
                    raise LimitError(f"{p} is {size} bytes; HXE images are limited to {limit}", data={"limit": limit})
                raw = p.read_bytes()
            except OSError as exc:
                raise BadParamsError(f"cannot read {p}: {exc.strerror or exc}", data={"path": str(p)}) from exc
            shown = str(p.resolve())
        else:
            assert data_b64 is not None
            if len(data_b64) > limit * 4 // 3 + 8:
                raise LimitError(f"upload exceeds the HXE limit of {limit} bytes", data={"limit": limit})
            try:
                raw = base64.b64decode(data_b64, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise BadParamsError(f"data_b64 is not valid base64: {exc}") from exc
            shown = None
        try:
            return load_hxe(raw), shown
        except HxeError as exc:
            raise BadParamsError(
                f"not a valid HXE image: {exc}", code=ErrorCode.HXE_INVALID, data={"path": shown}
            ) from exc

    def load(
        self,
        *,
        path: str | None = None,
        data_b64: str | None = None,
        name: str | None = None,
        paused: bool = False,
        session_id: str | None = None,
        lock: bool = False,
        pause_reason: str = "loaded",
        clocked: bool = False,
    ) -> VmLoaded:
        """Load an HXE image as a new task; it runs at once unless ``paused``.

        A ``clocked`` task (the HSX port's loads) runs only while the HSX clock runs
        (:meth:`clock`), as under the reference executive.

        Raises:
            BadParamsError: unreadable or invalid image (code HXE_INVALID names the rule).
            LimitError: too many programs, or the single-instance app is running (APP_EXISTS).
        """
        image, shown = self.read_image(path, data_b64)
        session = self.ex.sessions.get(session_id) if session_id else None
        hint = name or (Path(shown).stem if shown else None)
        plan = self.runtime.plan(image, shown, hint)
        self.validate_metadata(image)  # mailbox conflicts are refused here, before anything is registered
        # Values and commands register atomically (all or nothing) under the pid the task will get.
        pid = self.ex.tasks.peek_next_id()
        try:
            self.runtime.valcmd.register_metadata(image.values, image.commands, pid)
        except MetadataError as exc:
            raise BadParamsError(
                f"{exc.code}: {exc}", code=ErrorCode.METADATA_CONFLICT, data={"reason": exc.code}
            ) from exc
        task = self.ex.tasks.create(
            kind=TaskKind.VM,
            name=name or plan.app_name,
            image=shown or "<upload>",
            cwd=None,
            owner=session.id if session else None,
        )
        if session is not None and lock:
            self.ex.sessions.lock(session, task.id)
        self.ex.register_task(task)
        self.ex.bus.publish(
            "task_state",
            task.id,
            {"from": None, "to": "queued", "reason": "created", "name": task.name, "kind": "vm", "image": task.image},
        )
        self.ex.transition(task, Transition.START, reason="loading")
        assert task.id == pid
        vt = self.runtime.load(task, plan, paused=paused, pause_reason=pause_reason, clocked=clocked)
        self.ex.transition(task, Transition.STARTED, reason="loaded", app_name=vt.app_name)
        if paused:
            self.ex.transition(task, Transition.PAUSE, reason=pause_reason)
        return cast(VmLoaded, {**self.image_info(vt), **self.ex.debug.on_load(vt)})

    def validate_metadata(self, image: HxeImage) -> None:
        """Refuse an image whose metadata cannot be registered whole (spec §13.1 step 5, §14.5)."""
        from executive.hsx.mailbox import MailboxError, parse_target

        seen: set[str] = set()
        for m in image.mailboxes:
            try:
                parse_target(m.target, 0)
            except (MailboxError, ValueError) as exc:
                raise BadParamsError(
                    f"metadata mailbox {m.target!r} is not a valid target: {exc}", code=ErrorCode.METADATA_CONFLICT
                ) from exc
            if m.target in seen:
                raise BadParamsError(f"metadata declares mailbox {m.target!r} twice", code=ErrorCode.METADATA_CONFLICT)
            seen.add(m.target)
        mb = self.runtime.mailboxes
        needed = 4 + len(image.mailboxes)
        if len(mb.descriptors) + needed > mb.profile.max_descriptors:
            raise LimitError(
                f"the mailbox descriptor pool is full ({mb.profile.max_descriptors}); "
                "kill finished programs or raise vm_max_descriptors"
            )

    def image_info(self, vt: VmTask) -> dict[str, Any]:
        """The HSX ``load`` reply's image block (service/vm_image.py)."""
        return image_info(vt)

    # ------------------------------------------------------------------ tasks
    def ps(self, *, ended: bool = False) -> VmProcesses:
        """The live programs; with ``ended``, also those that returned, exited or faulted and that no
        client has reaped (:meth:`reap`) — a killed program is gone, as in the HSX reference."""
        known = self.ex.tasks
        tasks = [
            _entry(vt)
            for vt in sorted(self.runtime.tasks.values(), key=lambda v: v.pid)
            if not vt.finished or (ended and not vt.reaped and vt.state is not VmState.KILLED and known.has(vt.pid))
        ]
        return {"tasks": tasks, "current_pid": self.runtime._last_pid}

    def reap(self, ref: int | str, *, session_id: str | None = None) -> VmTaskEntry:
        """Dismiss an ended program: it leaves ``ps(ended=True)`` (the HSX ``kill`` of a finished task).

        Raises:
            InvalidTransitionError: the task is still live (kill it instead).
        """
        vt = self.control(ref, session_id)
        if not vt.finished:
            raise InvalidTransitionError(
                f"task {vt.pid} is still {vt.state.value}; kill it (only ended programs are reaped)",
                data={"task": vt.pid},
            )
        vt.reaped = True
        return _entry(vt)

    def sched(
        self,
        ref: int | str,
        *,
        priority: int | None = None,
        quantum: int | None = None,
        session_id: str | None = None,
    ) -> VmTaskEntry:
        """Set a program's scheduling: ``priority`` (0..255, higher runs first; equal ones share
        round robin) and ``quantum`` (instructions per slice, 1..limits.max_step).

        Raises:
            BadParamsError: a value out of range (nothing changes).
        """
        vt = self.control(ref, session_id)
        limit = self.ex.limits.max_step
        if priority is not None and not 0 <= priority <= 255:
            raise BadParamsError(f"priority must be 0..255 (higher runs first), got {priority}")
        if quantum is not None and not 1 <= quantum <= limit:
            raise BadParamsError(f"quantum must be 1..{limit} instructions per slice, got {quantum}")
        if vt.finished and (priority is not None or quantum is not None):
            raise InvalidTransitionError(f"task {vt.pid} has ended ({vt.state.value}); it is not scheduled any more")
        self.runtime.set_sched(vt, priority=priority, quantum=quantum)
        return _entry(vt)

    def info(self, ref: int | str) -> VmTaskInfo:
        vt = self.task(ref)
        d = cast(VmTaskInfo, vt.summary())
        d["task"] = self.ex.task_info(vt.pid)
        return d

    def pause(self, ref: int | str, *, session_id: str | None = None) -> VmTaskEntry:
        vt = self.control(ref, session_id)
        self.runtime.pause(vt, "user")
        return _entry(vt)

    def resume(self, ref: int | str, *, session_id: str | None = None) -> VmTaskEntry:
        vt = self.control(ref, session_id)
        self.runtime.resume(vt)
        return _entry(vt)

    def kill(
        self, ref: int | str, *, session_id: str | None = None, reason: EndReason = EndReason.KILLED
    ) -> VmTaskEntry:
        vt = self.control(ref, session_id)
        self.runtime.kill(vt, reason)
        return _entry(vt)

    def step(self, ref: int | str, steps: int = 1, *, session_id: str | None = None) -> VmStepResult:
        vt = self.control(ref, session_id)
        limit = self.ex.limits.max_step
        if not 1 <= steps <= limit:
            raise LimitError(f"steps must be 1..{limit}", data={"limit": limit})
        result = cast(VmStepResult, self.runtime.step(vt, steps))
        result["regs"] = list(vt.cpu.regs)
        return result

    def clock(self, op: str = "status", *, steps: int | None = None) -> ClockStatus:
        """The HSX clock: ``status``, ``start`` (also un-holds the clocked tasks loaded paused), ``stop``, ``step``.

        It governs only clocked tasks (loaded through the HSX port); it starts stopped.
        ``step`` runs up to ``steps`` instructions through the scheduler now, clocked tasks first.
        """
        rt = self.runtime
        result: dict[str, Any] | None = None
        if op in ("start", "run"):
            rt.start_clock()
            for vt in list(rt.tasks.values()):
                if vt.clocked and vt.state is VmState.PAUSED and vt.pause_reason == "loaded":
                    rt.resume(vt)
        elif op in ("stop", "halt"):
            rt.stop_clock()
        elif op == "step":
            n = steps if steps is not None else 1
            if not 1 <= n <= self.ex.limits.max_step:
                raise LimitError(f"clock step steps must be 1..{self.ex.limits.max_step}")
            result = rt.clock_step(n)
        elif op != "status":
            raise BadParamsError(f"unknown clock op {op!r}; use status, start, stop or step")
        status: ClockStatus = {
            "state": "running" if rt.clock_running else "stopped",
            "running": rt.clock_running,
            "mode": "active" if rt.clock_running and rt._ready else ("idle" if rt.clock_running else "stopped"),
            "clocked_tasks": sum(1 for vt in rt.tasks.values() if vt.clocked and not vt.finished),
            "throttled": False,
            "rate_hz": 0,
            "step_size": rt.quantum,
            "auto_total_steps": rt.total_steps,
        }
        if result is not None:
            status["result"] = cast(Any, result)
        return status

    # ------------------------------------------------------------------ registers and memory
    def regs(self, ref: int | str) -> Registers:
        vt = self.task(ref)
        cpu = vt.cpu
        d: dict[str, Any] = {
            "pid": vt.pid,
            "pc": cpu.pc,
            "regs": list(cpu.regs),
            "sp": cpu.sp,
            "flags": cpu.psw,
            "psw": cpu.psw,
            "running": vt.state.value in ("ready", "running"),
            "steps": cpu.steps,
            "cycles": cpu.steps,
            "depth": cpu.depth,
            "reg_base": vt.reg_base,
            "stack_base": vt.stack_base,
            "stack_limit": vt.stack_limit,
            "stack_size": 0x1000,
            "sp_effective": cpu.sp,
            "state": vt.summary()["state"],
        }
        for i, v in enumerate(cpu.regs):
            d[f"R{i}"] = v
        d.update(PC=cpu.pc, SP=cpu.sp, PSW=cpu.psw)
        return cast(Registers, d)

    def set_reg(self, ref: int | str, name: str, value: int, *, session_id: str | None = None) -> Registers:
        vt = self.control(ref, session_id)
        self._require_stopped(vt, "write registers")
        key = name.upper()
        if key not in REGISTER_NAMES:
            raise BadParamsError(f"unknown register {name!r}; use one of {', '.join(REGISTER_NAMES)}")
        cpu = vt.cpu
        if key == "PC":
            if value % 4 or not 0 <= value < len(cpu.code):
                raise BadParamsError(f"PC must be a multiple of 4 inside the code (0..0x{len(cpu.code) - 4:X})")
            cpu.pc = value
        elif key == "SP":
            cpu.sp = value & 0xFFFFFFFF
        elif key == "PSW":
            cpu.psw = value & 0x0F
        else:
            cpu.set_register(int(key[1:]), value)
        return self.regs(vt.pid)

    def _require_stopped(self, vt: VmTask, what: str) -> None:
        if vt.state.value not in ("paused",) and not vt.finished:
            raise BadParamsError(
                f"pause task {vt.pid} before you {what} (it is {vt.state.value})", code=ErrorCode.INVALID_TRANSITION
            )

    def mem_read(self, ref: int | str, addr: int, length: int = 16) -> MemRead:
        vt = self.task(ref)
        limit = self.ex.limits.max_mem_read
        if not 0 <= addr <= 0xFFFF:
            raise BadParamsError(f"address {addr} ({addr:#x}) is outside the 64 KiB data memory (0..0xFFFF)")
        if not 0 < length <= limit:
            raise LimitError(f"length must be 1..{limit}", data={"limit": limit})
        data = bytes(vt.cpu.mem[addr : addr + length])
        return {"pid": vt.pid, "addr": addr, "length": len(data), "data": data.hex(), "truncated": len(data) < length}

    def mem_write(self, ref: int | str, addr: int, data_hex: str, *, session_id: str | None = None) -> MemWritten:
        vt = self.control(ref, session_id)
        self._require_stopped(vt, "write memory")
        try:
            data = bytes.fromhex(data_hex)
        except ValueError as exc:
            raise BadParamsError(f"data must be hex bytes, e.g. '0a0b': {exc}") from exc
        if not data or len(data) > self.ex.limits.max_mem_read:
            raise LimitError(f"write 1..{self.ex.limits.max_mem_read} bytes")
        if not 0 <= addr or addr + len(data) > 0x10000:
            raise BadParamsError(f"write of {len(data)} bytes at 0x{addr:X} would pass the end of memory (0xFFFF)")
        vt.cpu.mem[addr : addr + len(data)] = data
        base = vt.reg_base
        if base < addr + len(data) and addr < base + 64:  # the register window aliases R0..R15 (spec §1.1)
            for i in range(16):
                vt.cpu.regs[i] = int.from_bytes(vt.cpu.mem[base + 4 * i : base + 4 * i + 4], "little")
        return {"pid": vt.pid, "addr": addr, "length": len(data)}

    def regions(self, ref: int | str) -> VmRegions:
        """Memory regions (spec hsx-executive §8.5): code, rodata, bss, register window, stack."""
        vt = self.task(ref)
        img = vt.image
        regions: list[MemRegion] = [
            {
                "name": "code",
                "type": "code",
                "start": 0,
                "length": len(img.code),
                "end": len(img.code),
                "permissions": "rx",
                "source": "hxe",
                "space": "code",
                "details": {"entry": img.entry},
            },
            {
                "name": "rodata",
                "type": "rodata",
                "start": 0x4000,
                "length": len(img.rodata),
                "end": (0x4000 + len(img.rodata)) & 0xFFFF,
                "permissions": "r",
                "source": "hxe",
                "space": "data",
            },
            {
                "name": "bss",
                "type": "bss",
                "start": 0x4000 + len(img.rodata),
                "length": img.bss_size,
                "end": (0x4000 + len(img.rodata) + img.bss_size) & 0xFFFF,
                "permissions": "rw",
                "source": "hxe",
                "space": "data",
            },
            {
                "name": "registers",
                "type": "registers",
                "start": vt.reg_base,
                "length": 64,
                "end": vt.reg_base + 64,
                "permissions": "rw",
                "source": "vm",
                "space": "data",
            },
            {
                "name": "stack",
                "type": "stack",
                "start": vt.stack_limit,
                "length": 0x1000,
                "end": vt.stack_base & 0xFFFF,
                "permissions": "rw",
                "source": "vm",
                "space": "data",
                "details": {"sp": vt.cpu.sp, "stack_base": vt.stack_base},
            },
        ]
        regions = [r for r in regions if r["length"] > 0]
        regions.sort(key=lambda r: (r["space"] != "code", r["start"]))
        return {
            "pid": vt.pid,
            "program": vt.path,
            "regions": regions,
            "layout": {
                "entry": img.entry,
                "code_len": len(img.code),
                "ro_len": len(img.rodata),
                "bss": img.bss_size,
                "app_name": vt.app_name,
                "version": img.version,
            },
        }

    # ------------------------------------------------------------------ scheduler views (the HSX port's sched/info)
    def has_task(self, task_id: int) -> bool:
        """Whether a task id is (or was, while its state is kept) an HSX program."""
        return task_id in self.runtime.tasks

    @property
    def total_steps(self) -> int:
        """Instructions the scheduler has run in all (the HSX ``clock_steps``)."""
        return self.runtime.total_steps

    @property
    def quantum(self) -> int:
        """Instructions per slice (the same for every program)."""
        return self.runtime.quantum

    def scheduler(self) -> VmScheduler:
        """The scheduler's quantum, its step total, and per live program its steps, slices and state."""
        rt = self.runtime
        counters = {
            vt.pid: {"steps": vt.cpu.steps, "slices": vt.slices, "state": _entry(vt)["state"]}
            for vt in rt.tasks.values()
            if not vt.finished
        }
        return {"quantum": rt.quantum, "total_steps": rt.total_steps, "counters": cast(Any, counters)}

    def overview(self) -> VmOverview:
        """The programs at a glance: any loaded, the newest program's path, whether any can run or
        sleeps, the current task and its PC, and the HSX-port loads held since loading (paused, no wait)."""
        rt = self.runtime
        live = [vt for vt in rt.tasks.values() if not vt.finished]
        current_pid = rt._last_pid
        current = rt.tasks.get(current_pid) if current_pid is not None else None
        newest = max(rt.tasks.values(), key=lambda v: v.pid, default=None)
        held = sorted(  # HSX-port loads waiting for the clock (a `--paused` load of the CLI is not "held")
            vt.pid
            for vt in live
            if vt.clocked and vt.state is VmState.PAUSED and vt.pause_reason == "loaded" and vt.wait is None
        )
        return {
            "loaded": bool(live),
            "program": newest.path if newest else None,
            "runnable": any(vt.state in (VmState.READY, VmState.RUNNING) for vt in live),
            "sleeping": any(vt.state is VmState.SLEEPING for vt in live),
            "current_pid": current_pid,
            "current_pc": current.cpu.pc if current else None,
            "held": held,
        }

    def stdio_fanout(
        self,
        scope: str,
        *,
        pid: int | None = None,
        streams: list[str] | None = None,
        mode: str | None = None,
        session_id: str | None = None,
    ) -> StdioFanoutConfig:
        """Query or set fan-out on programs' stdio mailboxes; see service/vm_stdio.py.

        ``scope``: ``default`` (the template, and every live program), ``pid`` or ``all``;
        ``streams``: some of ``in``, ``out``, ``err`` (default ``out``); ``mode``: ``off``,
        ``fanout`` or ``fanout_block`` (None queries).
        """
        out = stdio_fanout(self, scope, pid=pid, streams=streams or ["out"], mode=mode, session_id=session_id)
        return cast(StdioFanoutConfig, out)

    # ------------------------------------------------------------------ values and commands
    @property
    def valcmd(self) -> ValCmd:
        """The shared value/command registry (spec hsx-vm §12): its host API ``val_list``,
        ``val_get``, ``val_set``, ``val_stats``, ``cmd_list``, ``cmd_call``, ``cmd_stats``
        answers in the HSX reply shapes (hsx-executive §10.3).  Check the caller's lock with
        :meth:`control` before a call on behalf of a task."""
        return self.runtime.valcmd

    # ------------------------------------------------------------------ mailboxes
    def mailbox_snapshot(self) -> MailboxSnapshot:
        mb = self.runtime.mailboxes
        descs: list[MailboxDescriptor] = []
        for d in mb.descriptors.values():
            descs.append(
                {
                    "descriptor_id": d.id,
                    "target": d.target,
                    "namespace": int(d.namespace),
                    "name": d.name,
                    "owner_pid": d.owner,
                    "capacity": d.capacity,
                    "bytes_used": d.bytes_used,
                    "queue_depth": len(d.queue),
                    "mode_mask": d.mode,
                    "subscriber_count": len(d.handles),
                    "waiters": list(d.waiters),
                }
            )
        return {
            "descriptors": descs,
            "stats": {"descriptors": len(descs), "max_descriptors": mb.profile.max_descriptors},
        }

    def mailbox_send(
        self,
        *,
        pid: int | None = None,
        target: str | None = None,
        data: bytes,
        channel: int = 0,
        session_id: str | None = None,
    ) -> MailboxSendResult:
        """Send as the executive (pid 0); default target: the task's stdin (``svc:stdio.in@<pid>``)."""
        if target is None:
            if pid is None:
                raise BadParamsError("give a target (e.g. app:demo) or a pid (sends to its stdin)")
            vt = self.control(pid, session_id)
            if vt.finished:  # its stdin would hold the message forever
                raise InvalidTransitionError(
                    f"cannot send to task {vt.pid}'s stdin: it has ended ({vt.state.value})", data={"task": vt.pid}
                )
            target = f"svc:stdio.in@{vt.pid}"
        if len(data) > 0xFFFF:
            raise LimitError("a mailbox message is at most 65535 bytes")
        try:
            return cast(MailboxSendResult, self.runtime.host_send(target, data, channel=channel))
        except Exception as exc:  # MailboxError carries the HSX status
            status = getattr(exc, "status", None)
            if status is None:
                raise
            raise BadParamsError(
                f"mailbox send to {target} failed: {exc}", data={"mbx_status": int(status), "target": target}
            ) from exc

    def task_input(self, task: Task, data: bytes, eof: bool) -> TaskInputResult:
        """``task.input`` for an HSX program: the bytes go to its stdin mailbox."""
        out = self.mailbox_send(pid=task.id, data=data) if data else {"length": 0}
        return {"task": task.id, "written": out.get("length", 0), "eof": eof}


def _entry(vt: VmTask) -> VmTaskEntry:
    return cast(VmTaskEntry, vt.summary())
