"""Stand-alone host system calls (spec §9, §10, §11 stand-alone rules, §16).

:class:`StandaloneHost` is the SVC handler of ``executive hsx run``: a single program with no
executive. Its semantics are those of the reference ``host_vm.py`` without a controller:
TASK_EXIT and UART/CAN write log lines, the FS stub lives in memory, mailbox calls act on a
private manager as pid 0 (errors become 0x00FF plus a log line, RECV never blocks), the first
sleep ends the run, values/commands answer ENOENT and everything else ENOSYS. Console lines
are collected in lists (and optionally streamed to a callback) — never printed here.

The guest-memory helpers (:func:`read_cstring`, :func:`read_bytes`, :func:`write_bytes`) and
:func:`write_recv_result` are shared with the multi-task executive. Host writes are clipped
at the end of the 64 KiB memory (the reference grows its memory array instead, §18).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

from . import f16
from ._fs import FS_ERROR, FsStub
from ._halt import HaltReason
from .cpu import Cpu
from .isa import ERR_ENOSYS, MEM_SIZE
from .mailbox import (
    DESKTOP,
    MailboxError,
    MailboxManager,
    MailboxStatus,
    Message,
    Profile,
)

__all__ = [
    "ENOENT",
    "FsStub",
    "StandaloneHost",
    "read_bytes",
    "read_cstring",
    "write_bytes",
    "write_recv_result",
]

M32 = 0xFFFFFFFF
ENOENT = 0x0001  # value/command status in stand-alone mode (§10.7)


def read_cstring(mem: bytearray, ptr: int) -> str:
    """NUL-terminated string at ``ptr & 0xFFFF`` (to the end of memory), UTF-8, errors ignored."""
    a = ptr & 0xFFFF
    end = mem.find(b"\0", a)
    if end < 0:
        end = MEM_SIZE
    return bytes(mem[a:end]).decode("utf-8", "ignore")


def read_bytes(mem: bytearray, ptr: int, n: int) -> bytes:
    """``n`` bytes at ``ptr & 0xFFFF``, truncated at the end of memory."""
    a = ptr & 0xFFFF
    return bytes(mem[a : a + n])


def write_bytes(mem: bytearray, ptr: int, data: bytes) -> int:
    """Copy ``data`` to ``ptr & 0xFFFF``, clipped at the end of memory; returns bytes written."""
    a = ptr & 0xFFFF
    n = min(len(data), MEM_SIZE - a)
    mem[a : a + n] = data[:n]
    return n


def write_recv_result(
    cpu: Cpu, status: int, msg: Message | None, buf: int, max_len: int, info_ptr: int, *, write_info: bool
) -> None:
    """Put a MAILBOX_RECV outcome into registers, the guest buffer and the info record (§11.5).

    ``msg`` None means no message (NO_DATA or TIMEOUT): R1 <- 0 (R1..R4 <- 0 when
    ``write_info``, the controller behaviour). Otherwise the first ``min(max_len, len)`` bytes
    are copied and R0..R4 <- status, n, flags, channel, src pid. The 20-byte info record
    ``{status, length, flags, channel, src_pid}`` is written only when ``write_info`` and
    ``info_ptr`` is non-zero.
    """
    regs = cpu.regs
    if msg is None:
        n = flags = channel = src = 0
        regs[0] = status & M32
        regs[1] = 0
        if write_info:
            regs[2] = regs[3] = regs[4] = 0
    else:
        n = min(max_len, len(msg.data))
        write_bytes(cpu.mem, buf, msg.data[:n])
        flags, channel, src = msg.flags & 0xFFFF, msg.channel & 0xFFFF, msg.src_pid & 0xFFFF
        regs[0:5] = [status & M32, n, flags, channel, src]
    if write_info and info_ptr:
        write_bytes(cpu.mem, info_ptr, struct.pack("<5I", status, n, flags, channel, src))


class StandaloneHost:
    """SVC handler for one stand-alone program (spec §10 without a controller).

    Args:
        profile: mailbox limits (DESKTOP, or EMBEDDED like ``HSX_MAILBOX_PROFILE=embedded``).
        dev_libm: enable module 0xE (sin/cos/exp on f16, ``--dev-libm``).
        svc_trace: log ``[SVC] mod=… fn=… R0..R3=[…]`` for every trap (``--svc-trace``).
        on_line: called with every log line as it happens (e.g. to print live).
        clock: seconds, only for the embedded tap rate limit.
        fs, mailboxes: shared instances (the multi-task executive passes its own); by default
            the host makes private ones.

    After the run: ``log`` holds every line in order, ``output`` the UART texts and
    ``exit_code`` the TASK_EXIT code (None if the program did not exit that way).
    """

    def __init__(
        self,
        *,
        profile: Profile = DESKTOP,
        dev_libm: bool = False,
        svc_trace: bool = False,
        on_line: Callable[[str], None] | None = None,
        clock: Callable[[], float] | None = None,
        fs: FsStub | None = None,
        mailboxes: MailboxManager | None = None,
    ) -> None:
        self.log: list[str] = []
        self.output: list[str] = []
        self.exit_code: int | None = None
        self.fs = fs if fs is not None else FsStub()  # a controller shares one FS stub between tasks
        self.mailboxes = mailboxes if mailboxes is not None else MailboxManager(profile, clock=clock)
        self.dev_libm = dev_libm
        self.svc_trace = svc_trace
        self.on_line = on_line
        self._modules: dict[int, Callable[[Cpu, int], None]] = {
            0x0: self._core,
            0x1: self._task,
            0x2: self._can,
            0x4: self._fs,
            0x5: self._mailbox,
            0x6: self._exec,
            0x7: self._value,
            0x8: self._command,
        }
        if dev_libm:
            self._modules[0xE] = self._libm

    def emit(self, line: str) -> None:
        """Record one console line (and stream it)."""
        self.log.append(line)
        if self.on_line is not None:
            self.on_line(line)

    def __call__(self, cpu: Cpu, module: int, fn: int) -> None:
        if self.svc_trace:
            r = cpu.regs
            self.emit(f"[SVC] mod=0x{module:X} fn=0x{fn:02X} R0..R3=[{r[0]}, {r[1]}, {r[2]}, {r[3]}]")
        handler = self._modules.get(module)
        if handler is None:
            self._stub(cpu, module, fn)
        else:
            handler(cpu, fn)

    def _stub(self, cpu: Cpu, module: int, fn: int) -> None:
        self.emit(f"[SVC] mod=0x{module:X} fn=0x{fn:X} (stub)")
        cpu.regs[0] = ERR_ENOSYS

    # -- modules 0x0 .. 0x2 -----------------------------------------------------------------

    def _core(self, cpu: Cpu, fn: int) -> None:
        if fn == 0x00:  # CORE_GET_STEPS: instructions retired before this SVC
            cpu.regs[0] = cpu.steps & M32
        else:
            self._stub(cpu, 0x0, fn)

    def _task(self, cpu: Cpu, fn: int) -> None:
        regs = cpu.regs
        if fn == 0x00:  # TASK_EXIT, code in R0 (kept)
            code = regs[0]
            self.exit_code = code
            self.emit(f"[EXIT {code}]")
            cpu.stop(HaltReason.EXITED, code=code)
        elif fn == 0x01:  # UART_WRITE
            n = regs[2] & 0xFFFF
            text = read_bytes(cpu.mem, regs[1], n).decode("utf-8", "ignore")
            self.output.append(text)
            self.emit(f"[UART.tx] {text}")
            regs[0] = n  # as requested, even if truncated at the end of memory
        else:
            self._stub(cpu, 0x1, fn)

    def _can(self, cpu: Cpu, fn: int) -> None:
        regs = cpu.regs
        if fn == 0x00:  # CAN_TX
            data = read_bytes(cpu.mem, regs[2], regs[3] & 0xFF)
            self.emit(f"[CAN.tx] id=0x{regs[1] & 0x7FF:03X} data={data.hex()}")
            regs[0] = 0
        else:
            self._stub(cpu, 0x2, fn)

    # -- module 0x4: FS stub ----------------------------------------------------------------

    def _fs(self, cpu: Cpu, fn: int) -> None:
        regs, mem, fs = cpu.regs, cpu.mem, self.fs
        r1, r2, r3 = regs[1] & 0xFFFF, regs[2] & 0xFFFF, regs[3] & 0xFFFF
        if fn == 0x00:  # FS_OPEN (flags ignored)
            regs[0] = fs.open(read_cstring(mem, r1))
        elif fn == 0x01:  # FS_READ
            regs[0] = write_bytes(mem, r2, fs.read(r1, r3))
        elif fn == 0x02:  # FS_WRITE: no fd table stand-alone, so fd 1/2 are unknown -> 0
            regs[0] = r3 if fs.write(r1, read_bytes(mem, r2, r3)) else 0
        elif fn == 0x03:  # FS_CLOSE
            regs[0] = fs.close(r1)
        elif fn == 0x0A:  # FS_LISTDIR (path ignored)
            regs[0] = write_bytes(mem, r2, fs.listdir()[:r3])
        elif fn == 0x0B:  # FS_DELETE
            regs[0] = fs.delete(read_cstring(mem, r1))
        elif fn == 0x0C:  # FS_RENAME
            regs[0] = fs.rename(read_cstring(mem, r1), read_cstring(mem, r2))
        elif fn == 0x0D:  # FS_MKDIR
            regs[0] = 0
        else:
            self.emit(f"[FS] fn={fn} not implemented")
            regs[0] = FS_ERROR

    # -- module 0x5: mailboxes as pid 0 -----------------------------------------------------

    def _mailbox(self, cpu: Cpu, fn: int) -> None:
        regs, mem, mb = cpu.regs, cpu.mem, self.mailboxes
        r1, r2, r3, r4, r5 = (regs[i] & 0xFFFF for i in range(1, 6))
        pid = 0
        try:
            if fn == 0x00:  # OPEN
                regs[1] = mb.open(pid, read_cstring(mem, r1), r2)
                regs[0] = 0  # OK
            elif fn == 0x01:  # BIND
                regs[1] = mb.bind(pid, read_cstring(mem, r1), r2, r3).id
                regs[0] = 0  # OK
            elif fn == 0x02:  # SEND
                status = mb.send(pid, r1, read_bytes(mem, r2, r3), r4, r5)
                regs[0] = int(status)
                if status == MailboxStatus.OK:
                    regs[1] = r3
            elif fn == 0x03:  # RECV: never blocks, never writes the info record stand-alone
                msg = mb.recv(pid, r1)
                status = MailboxStatus.OK if msg is not None else MailboxStatus.NO_DATA
                write_recv_result(cpu, status, msg, r2, r3, r5, write_info=False)
            elif fn == 0x04:  # PEEK
                info = mb.peek(pid, r1)
                regs[0:4] = [0, info.depth, info.bytes_used, info.next_len]
            elif fn == 0x05:  # TAP
                mb.tap(pid, r1, bool(r2 & 1))
                regs[0] = 0  # OK
            elif fn == 0x06:  # CLOSE
                mb.close(pid, r1)
                regs[0] = 0  # OK
            else:
                regs[0] = int(MailboxStatus.INTERNAL_ERROR)
        except MailboxError as exc:
            # Stand-alone, every manager error is 0x00FF plus a log line (§10.5).
            self.emit(f"[MBX] pid={pid} fn={fn} error: {exc}")
            regs[0] = int(MailboxStatus.INTERNAL_ERROR)

    # -- modules 0x6 .. 0x8, 0xE ------------------------------------------------------------

    def _exec(self, cpu: Cpu, fn: int) -> None:
        if fn == 0x00:  # EXEC_SLEEP_MS: stand-alone, the first real sleep ends the run
            ms = cpu.regs[0]
            cpu.regs[0] = 0
            if ms:
                cpu.stop(HaltReason.SLEEP, ms=ms)
        else:
            self.emit(f"[EXEC] fn={fn} not implemented")
            cpu.regs[0] = ERR_ENOSYS

    def _value(self, cpu: Cpu, fn: int) -> None:
        self.emit(f"[VALUE] fn=0x{fn:02X} - no handler (stub)")
        cpu.regs[0] = ENOENT

    def _command(self, cpu: Cpu, fn: int) -> None:
        self.emit(f"[COMMAND] fn=0x{fn:02X} - no handler (stub)")
        cpu.regs[0] = ENOENT

    def _libm(self, cpu: Cpu, fn: int) -> None:
        funcs = {0: math.sin, 1: math.cos, 2: math.exp}
        f = funcs.get(fn)
        if f is None:
            self.emit(f"[SVC] dev-libm fn={fn} unsupported")
            cpu.regs[0] = 0
            return
        x = f16.decode(cpu.regs[1])
        try:
            y = f(x)
        except (OverflowError, ValueError):
            y = math.inf if fn == 2 else math.nan
        cpu.regs[0] = (cpu.regs[0] & 0xFFFF0000) | f16.encode(y)
