"""JSON-RPC methods for HSX programs: ``vm.*`` and ``mailbox.*`` onto ``Executive.vm``.

Addresses and values accept integers or ``"0x…"`` strings (clients paste
addresses from disassembly).  Every mutating call runs under the connection's
session for the task-lock check.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from executive.api.methods import CallContext, TaskRef, _touch
from executive.api.rpc import Method
from executive.kernel.errors import BadParamsError
from executive.service import results

__all__ = ["Int", "vm_methods"]


def _int(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return int(v, 0)
        except ValueError:
            raise ValueError(f"expected an integer or a 0x hex string, got {v!r}") from None
    return v


Int = Annotated[int, BeforeValidator(_int)]


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VmLoad(_P):
    path: str | None = Field(None, max_length=4096)
    data_b64: str | None = None
    name: str | None = Field(None, min_length=1, max_length=128)
    paused: bool = False
    lock: bool = False


class VmTaskRef(_P):
    task: TaskRef


class VmStep(_P):
    task: TaskRef
    steps: int = Field(1, ge=1)


class VmSetReg(_P):
    task: TaskRef
    name: str = Field(max_length=8)
    value: Int


class VmMemRead(_P):
    task: TaskRef
    addr: Int
    length: int = Field(16, ge=1)


class VmMemWrite(_P):
    task: TaskRef
    addr: Int
    data: str = Field(description="hex bytes, e.g. '0a0b0c'")


class VmSched(_P):
    task: TaskRef
    priority: int | None = Field(None, ge=0, le=255, description="higher runs first; equal ones share round robin")
    quantum: int | None = Field(None, ge=1, description="instructions per slice")


Stream = Literal["in", "out", "err"]


def _stdout_only() -> list[Stream]:
    return ["out"]


class VmStdioFanout(_P):
    scope: Literal["default", "pid", "all"] = "default"
    task: TaskRef | None = None
    streams: list[Stream] = Field(default_factory=_stdout_only, min_length=1, max_length=3)
    mode: Literal["off", "fanout", "fanout_block"] | None = None


class VmClock(_P):
    op: Literal["status", "start", "run", "stop", "halt", "step"] = "status"
    steps: int | None = Field(None, ge=1)


class MailboxSend(_P):
    task: TaskRef | None = None
    target: str | None = Field(None, max_length=64)
    data: str | None = None
    data_b64: str | None = None
    channel: int = Field(0, ge=0, le=0xFFFF)


class _NoParams(_P):
    pass


def _send(ctx: CallContext, p: MailboxSend) -> results.MailboxSendResult:
    if (p.data is None) == (p.data_b64 is None):
        raise BadParamsError("give exactly one of data (text) or data_b64 (bytes)")
    if p.data is not None:
        raw = p.data.encode()
    else:
        try:
            raw = base64.b64decode(p.data_b64 or "", validate=True)
        except ValueError as exc:  # binascii.Error
            raise BadParamsError(f"data_b64 is not valid base64: {exc}") from exc
    pid = ctx.service.task_id(p.task) if p.task is not None else None
    return ctx.service.vm.mailbox_send(pid=pid, target=p.target, data=raw, channel=p.channel, session_id=_touch(ctx))


def vm_methods() -> list[Method]:
    return [
        Method(
            "vm.load",
            VmLoad,
            results.VmLoaded,
            lambda c, p: c.service.vm.load(
                path=p.path, data_b64=p.data_b64, name=p.name, paused=p.paused, session_id=_touch(c), lock=p.lock
            ),
            "Load an HXE image (path on the daemon's machine, or data_b64) as a new task.",
        ),
        Method(
            "vm.ps",
            _NoParams,
            results.VmProcesses,
            lambda c, p: c.service.vm.ps(),
            "Live HSX programs (HSX task entries).",
        ),
        Method(
            "vm.info",
            VmTaskRef,
            results.VmTaskInfo,
            lambda c, p: c.service.vm.info(p.task),
            "One program: state, PC, wait, stack layout.",
        ),
        Method(
            "vm.pause",
            VmTaskRef,
            results.VmTaskEntry,
            lambda c, p: c.service.vm.pause(p.task, session_id=_touch(c)),
            "Pause a program.",
        ),
        Method(
            "vm.resume",
            VmTaskRef,
            results.VmTaskEntry,
            lambda c, p: c.service.vm.resume(p.task, session_id=_touch(c)),
            "Resume a paused program.",
        ),
        Method(
            "vm.kill",
            VmTaskRef,
            results.VmTaskEntry,
            lambda c, p: c.service.vm.kill(p.task, session_id=_touch(c)),
            "End a program now.",
        ),
        Method(
            "vm.step",
            VmStep,
            results.VmStepResult,
            lambda c, p: c.service.vm.step(p.task, p.steps, session_id=_touch(c)),
            "Execute N instructions of a paused program.",
        ),
        Method(
            "vm.clock",
            VmClock,
            results.ClockStatus,
            lambda c, p: c.service.vm.clock(p.op, steps=p.steps),
            "The HSX clock (programs loaded through the HSX port run only while it runs; it starts "
            "stopped): status, start, stop, step.",
        ),
        Method(
            "vm.sched",
            VmSched,
            results.VmTaskEntry,
            lambda c, p: c.service.vm.sched(p.task, priority=p.priority, quantum=p.quantum, session_id=_touch(c)),
            "Set a program's priority (0..255, higher runs first) and quantum (instructions per slice).",
        ),
        Method(
            "vm.stdio_fanout",
            VmStdioFanout,
            results.StdioFanoutConfig,
            lambda c, p: c.service.vm.stdio_fanout(
                p.scope,
                pid=c.service.task_id(p.task) if p.task is not None else None,
                streams=list(p.streams),
                mode=p.mode,
                session_id=_touch(c),
            ),
            "Query or set fan-out on programs' stdio mailboxes (default template, one program, or all).",
        ),
        Method(
            "vm.regs",
            VmTaskRef,
            results.Registers,
            lambda c, p: c.service.vm.regs(p.task),
            "Registers R0..R15, PC, SP, PSW.",
        ),
        Method(
            "vm.set_reg",
            VmSetReg,
            results.Registers,
            lambda c, p: c.service.vm.set_reg(p.task, p.name, p.value, session_id=_touch(c)),
            "Write a register of a paused program.",
        ),
        Method(
            "vm.mem_read",
            VmMemRead,
            results.MemRead,
            lambda c, p: c.service.vm.mem_read(p.task, p.addr, p.length),
            "Read data memory (hex).",
        ),
        Method(
            "vm.mem_write",
            VmMemWrite,
            results.MemWritten,
            lambda c, p: c.service.vm.mem_write(p.task, p.addr, p.data, session_id=_touch(c)),
            "Write data memory of a paused program.",
        ),
        Method(
            "vm.regions",
            VmTaskRef,
            results.VmRegions,
            lambda c, p: c.service.vm.regions(p.task),
            "Memory regions: code, rodata, bss, registers, stack.",
        ),
        Method(
            "mailbox.snapshot",
            _NoParams,
            results.MailboxSnapshot,
            lambda c, p: c.service.vm.mailbox_snapshot(),
            "Every mailbox descriptor.",
        ),
        Method(
            "mailbox.send",
            MailboxSend,
            results.MailboxSendResult,
            _send,
            "Send as the executive to a target, or to a program's stdin.",
        ),
    ]
