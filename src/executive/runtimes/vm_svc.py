"""System calls of HSX programs running under the executive (spec hsx-vm §9–§12, controller rules).

One :class:`TaskSvc` per VM task is the CPU's SVC handler.  It differs from the
stand-alone host (``hsx/svc.py``) exactly where the spec says the controller
differs, and where the reference has defects a user would not want:

* UART_WRITE and writes to fd 1/2 become the task's stdout/stderr (logs +
  ``output`` events), like a process task's output; VM console lines
  (``[CAN.tx]``, stub notices) go to stderr.
* Mailbox calls run as the task's pid, report real statuses, and RECV with a
  timeout blocks: the task waits (state ``waiting_mbx``) until a send wakes it
  or the deadline passes (the runtime keeps the wait lists and the timer heap).
* EXEC_SLEEP_MS blocks until its deadline and the scheduler wakes the task by
  itself (the reference never does, spec hsx-vm §10.6).
* Values and commands go to the shared registries (spec §12).

The handler never blocks: it records the wait on the task and calls
``cpu.stop(...)``; the runtime does the rest after the instruction retires.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from executive.hsx import HaltReason
from executive.hsx.cpu import Cpu
from executive.hsx.mailbox import FLAG_STDERR, FLAG_STDOUT, MailboxError, MailboxStatus
from executive.hsx.svc import StandaloneHost, read_bytes, read_cstring, write_recv_result

if TYPE_CHECKING:  # pragma: no cover
    from executive.runtimes.vm import VmRuntime, VmTask

__all__ = ["INFINITE", "TaskSvc"]

INFINITE = 0xFFFF  # mailbox timeout meaning "wait forever" (spec §10.5)


class TaskSvc(StandaloneHost):
    """The SVC handler of one VM task under the executive."""

    def __init__(self, runtime: VmRuntime, vt: VmTask) -> None:
        super().__init__(fs=runtime.fs, mailboxes=runtime.mailboxes, dev_libm=runtime.dev_libm)
        self.rt = runtime
        self.vt = vt

    # Console lines of the VM itself (stubs, CAN) are diagnostics: the task's stderr.
    def emit(self, line: str) -> None:
        self.rt.console(self.vt, line)

    def _task(self, cpu: Cpu, fn: int) -> None:
        regs = cpu.regs
        if fn == 0x00:  # TASK_EXIT: status in R0
            cpu.stop(HaltReason.EXITED, code=regs[0])
        elif fn == 0x01:  # UART_WRITE: the program's console -> stdout, one line per write
            n = regs[2] & 0xFFFF
            text = read_bytes(cpu.mem, regs[1], n).decode("utf-8", "ignore")
            self.rt.write_output(self.vt, "stdout", text.encode() + b"\n")
            regs[0] = n
        else:
            self._stub(cpu, 0x1, fn)

    def _fs(self, cpu: Cpu, fn: int) -> None:
        regs = cpu.regs
        fd = regs[1] & 0xFFFF
        if fn == 0x02 and fd in self.vt.fd_table:  # FS_WRITE to a stdio fd -> its mailbox (spec §10.4)
            n = regs[3] & 0xFFFF
            if n == 0:
                regs[0] = 0
                return
            data = read_bytes(cpu.mem, regs[2], n)
            flags = FLAG_STDOUT if fd == 1 else FLAG_STDERR if fd == 2 else 0
            try:
                status = self.mailboxes.send(self.vt.pid, self.vt.fd_table[fd], data, flags, 0, notify=False)
            except MailboxError:
                status = MailboxStatus.INTERNAL_ERROR
            regs[0] = n if status == MailboxStatus.OK else 0
            self.rt.drain_stdio(self.vt)
            return
        super()._fs(cpu, fn)

    def _mailbox(self, cpu: Cpu, fn: int) -> None:
        regs, mem, mb = cpu.regs, cpu.mem, self.mailboxes
        r1, r2, r3, r4, r5 = (regs[i] & 0xFFFF for i in range(1, 6))
        pid = self.vt.pid
        try:
            if fn == 0x00:  # OPEN
                regs[1] = mb.open(pid, read_cstring(mem, r1), r2)
                regs[0] = 0
            elif fn == 0x01:  # BIND
                regs[1] = mb.bind(pid, read_cstring(mem, r1), r2, r3).id
                regs[0] = 0
            elif fn == 0x02:  # SEND: never blocks; wakes waiters through on_enqueue
                status = mb.send(pid, r1, read_bytes(mem, r2, r3), r4, r5)
                regs[0] = int(status)
                if status == MailboxStatus.OK:
                    regs[1] = r3
                else:
                    self.rt.mailbox_event(self.vt, "mailbox_backpressure", handle=r1, requested=r3)
            elif fn == 0x03:  # RECV
                msg = mb.recv(pid, r1)
                if msg is not None:
                    write_recv_result(cpu, MailboxStatus.OK, msg, r2, r3, r5, write_info=True)
                    self.rt.mailbox_event(
                        self.vt,
                        "mailbox_recv",
                        handle=r1,
                        length=len(msg.data),
                        flags=msg.flags,
                        channel=msg.channel,
                        src_pid=msg.src_pid,
                    )
                elif r4 == 0:
                    write_recv_result(cpu, MailboxStatus.NO_DATA, None, r2, r3, r5, write_info=True)
                else:
                    self.rt.block_recv(self.vt, handle=r1, buf=r2, max_len=r3, timeout=r4, info_ptr=r5)
            elif fn == 0x04:  # PEEK
                info = mb.peek(pid, r1)
                regs[0:4] = [0, info.depth, info.bytes_used, info.next_len]
            elif fn == 0x05:  # TAP
                mb.tap(pid, r1, bool(r2 & 1))
                regs[0] = 0
            elif fn == 0x06:  # CLOSE
                mb.close(pid, r1)
                regs[0] = 0
            else:
                regs[0] = int(MailboxStatus.INTERNAL_ERROR)
        except MailboxError as exc:
            regs[0] = int(exc.status)
            self.rt.mailbox_event(self.vt, "mailbox_error", fn=fn, error=str(exc), status=int(exc.status))

    def _exec(self, cpu: Cpu, fn: int) -> None:
        if fn == 0x00:  # EXEC_SLEEP_MS
            ms = cpu.regs[0]
            cpu.regs[0] = 0
            if ms:
                self.rt.block_sleep(self.vt, ms)
        else:
            self.emit(f"[EXEC] fn={fn} not implemented")
            cpu.regs[0] = 0xFFFFFF01

    def _value(self, cpu: Cpu, fn: int) -> None:
        self.rt.value_svc(self.vt, cpu, fn)

    def _command(self, cpu: Cpu, fn: int) -> None:
        self.rt.command_svc(self.vt, cpu, fn)
