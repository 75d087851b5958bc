"""Guest system calls of modules 0x7 (values) and 0x8 (commands) (spec hsx-vm.md §9, §12).

:func:`handle_value_svc` and :func:`handle_command_svc` read the arguments from R1..R4 and
guest memory (descriptor chains and strings; every pointer masked to 16 bits), call the
tables of :mod:`executive.hsx._valcmd_values` / :mod:`executive.hsx._valcmd_commands` and
write R0 (status) and, on OK, R1. Conventions where the spec is silent:

* R1 is written only on OK (VAL_LOOKUP/CMD_LOOKUP included); CMD_CALL writes R1 only when a
  host handler returned a number.
* A descriptor pointer, a string pointer or a chain's ``next`` of 0 or 0xFFFF means "none" /
  end of chain. A bad chain (unknown type byte, a descriptor past the end of memory, a loop)
  is EINVAL.
* Host writes (VAL_LIST, CMD_HELP) stop at the end of the 64 KiB memory; the reference grows
  its memory array instead (§18).

Any unexpected exception inside a handler answers EINVAL, and an unknown function EINVAL (§12).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from ._valcmd_commands import CommandDescriptors, CommandRegistry
from ._valcmd_const import (
    CMD_CALL,
    CMD_CALL_ASYNC,
    CMD_HELP,
    CMD_LOOKUP,
    CMD_REGISTER,
    DESC_COMMAND,
    DESC_GROUP,
    DESC_NAME,
    DESC_PERSIST,
    DESC_RANGE,
    DESC_SIZE,
    DESC_UNIT,
    EINVAL,
    NONE_PTRS,
    OK,
    VAL_GET,
    VAL_LIST,
    VAL_LOOKUP,
    VAL_PERSIST_FN,
    VAL_REGISTER,
    VAL_SET,
    VAL_SUB,
)
from ._valcmd_pool import Emit
from ._valcmd_values import ValueDescriptors, ValueRegistry
from .cpu import Cpu
from .isa import MEM_SIZE
from .mailbox import MailboxManager
from .svc import read_cstring, write_bytes

__all__ = [
    "BadDescriptorChain",
    "handle_command_svc",
    "handle_value_svc",
    "parse_command_descriptors",
    "parse_value_descriptors",
]

M32 = 0xFFFFFFFF


class BadDescriptorChain(ValueError):
    """A guest descriptor chain cannot be parsed; the SVC answers EINVAL (§12.1)."""


# ---------------------------------------------------------------------------------------------
# descriptor chains in guest memory


def _u16(mem: bytearray, addr: int) -> int:
    return mem[addr] | (mem[addr + 1] << 8)


def _string_at(mem: bytearray, ptr: int) -> str | None:
    """The string a descriptor points at; 0/0xFFFF or an empty string mean "none"."""
    ptr &= 0xFFFF
    if ptr in NONE_PTRS:
        return None
    return read_cstring(mem, ptr) or None


def _walk_chain(mem: bytearray, ptr: int) -> list[tuple[int, int]]:
    """``(type, address)`` of every descriptor from ``ptr`` to a ``next`` of 0xFFFF (or 0).

    Raises:
        BadDescriptorChain: unknown type byte, a descriptor running past the end of memory, or a loop.
    """
    out: list[tuple[int, int]] = []
    seen: set[int] = set()
    ptr &= 0xFFFF
    while ptr not in NONE_PTRS:
        if ptr in seen:
            raise BadDescriptorChain(f"descriptor chain loops back to 0x{ptr:04X}")
        seen.add(ptr)
        kind = mem[ptr]
        size = DESC_SIZE.get(kind)
        if size is None:
            raise BadDescriptorChain(f"unknown descriptor type 0x{kind:02X} at 0x{ptr:04X}")
        if ptr + size > MEM_SIZE:
            raise BadDescriptorChain(f"descriptor at 0x{ptr:04X} runs past the end of memory")
        out.append((kind, ptr))
        ptr = _u16(mem, ptr + 2)
    return out


def parse_value_descriptors(mem: bytearray, ptr: int) -> ValueDescriptors:
    """Parse VAL_REGISTER's descriptor chain (§12.1).

    All six descriptor types are understood in any chain; a value uses group, name, unit,
    range and persist descriptors and ignores a command descriptor. A later descriptor of
    the same type overrides an earlier one. The group descriptor's own group-id byte is not
    compared with R1 (the spec gives no rule; we only take its name).

    Raises:
        BadDescriptorChain: see :func:`_walk_chain` (the SVC answers EINVAL).
    """
    d = ValueDescriptors()
    chain = _walk_chain(mem, ptr)
    d.head = (ptr & 0xFFFF) if chain else None
    for kind, a in chain:
        if kind == DESC_GROUP:
            d.group_name = _string_at(mem, _u16(mem, a + 4))
        elif kind == DESC_NAME:
            d.name = _string_at(mem, _u16(mem, a + 4))
        elif kind == DESC_UNIT:
            d.unit = bytes(mem[a + 4 : a + 8]).decode("ascii", "ignore").rstrip("\0")
            d.epsilon = _u16(mem, a + 8)
            d.rate_ms = _u16(mem, a + 10)
        elif kind == DESC_RANGE:
            d.range = (_u16(mem, a + 4), _u16(mem, a + 6))
        elif kind == DESC_PERSIST:
            d.persist_key = _u16(mem, a + 4)
            d.debounce_ms = _u16(mem, a + 6)
    return d


def parse_command_descriptors(mem: bytearray, ptr: int) -> CommandDescriptors:
    """Parse CMD_REGISTER's descriptor chain (§12.2): type 0x10 gives name and help.

    A group descriptor (0x01) supplies the group name; the value-only types are ignored.

    Raises:
        BadDescriptorChain: see :func:`_walk_chain` (the SVC answers EINVAL).
    """
    d = CommandDescriptors()
    chain = _walk_chain(mem, ptr)
    d.head = (ptr & 0xFFFF) if chain else None
    for kind, a in chain:
        if kind == DESC_COMMAND:
            d.has_name = True
            d.name = _string_at(mem, _u16(mem, a + 4))
            d.help = _string_at(mem, _u16(mem, a + 6))
        elif kind == DESC_GROUP:
            d.group_name = _string_at(mem, _u16(mem, a + 4))
    return d


_SvcOp = Callable[[Cpu, int, Any, MailboxManager, "Emit | None"], None]


def _registering(parse: Callable[[bytearray, int], Any]) -> _SvcOp:
    """VAL_REGISTER / CMD_REGISTER: the same steps over each table's descriptor types."""

    def op(cpu: Cpu, pid: int, reg: Any, mbx: MailboxManager, emit: Emit | None) -> None:
        r = cpu.regs
        try:
            desc = parse(cpu.mem, r[4])
        except BadDescriptorChain:
            r[0] = EINVAL
            return
        status, oid = reg.register(r[1] & 0xFF, r[2] & 0xFF, r[3] & 0xFF, pid, desc=desc, emit=emit)
        r[0] = status
        if status == OK:
            r[1] = oid

    return op


def _lookup(cpu: Cpu, pid: int, reg: Any, mbx: MailboxManager, emit: Emit | None) -> None:
    """VAL_LOOKUP / CMD_LOOKUP: R1 group, R2 id -> R0 status, R1 OID."""
    r = cpu.regs
    status, oid = reg.lookup(r[1] & 0xFF, r[2] & 0xFF)
    r[0] = status
    if status == OK:
        r[1] = oid


_val_register = _registering(parse_value_descriptors)
_val_lookup = _lookup


def _val_get(cpu: Cpu, pid: int, reg: ValueRegistry, mbx: MailboxManager, emit: Emit | None) -> None:
    # OK puts the f16 bits in R0 (upper half 0), so a tiny f16 such as 0x0001 looks like ENOENT:
    # the reference's ambiguity, kept (§12.1, §18 item 9).
    status, bits = reg.read(cpu.regs[1] & 0xFFFF, pid)
    cpu.regs[0] = bits if status == OK else status


def _val_set(cpu: Cpu, pid: int, reg: ValueRegistry, mbx: MailboxManager, emit: Emit | None) -> None:
    r = cpu.regs
    r[0] = reg.write(r[1] & 0xFFFF, r[2] & 0xFFFF, pid, mbx, emit=emit)


def _val_list(cpu: Cpu, pid: int, reg: ValueRegistry, mbx: MailboxManager, emit: Emit | None) -> None:
    r = cpu.regs
    oids = reg.owned(pid, r[1] & 0xFF)[: r[3]]
    write_bytes(cpu.mem, r[2], b"".join(struct.pack("<H", o) for o in oids))
    r[0] = OK
    r[1] = len(oids)


def _val_sub(cpu: Cpu, pid: int, reg: ValueRegistry, mbx: MailboxManager, emit: Emit | None) -> None:
    r = cpu.regs
    status, handle = reg.subscribe(r[1] & 0xFFFF, pid, read_cstring(cpu.mem, r[2]), mbx)
    r[0] = status
    if status == OK:
        r[1] = handle


def _val_persist(cpu: Cpu, pid: int, reg: ValueRegistry, mbx: MailboxManager, emit: Emit | None) -> None:
    r = cpu.regs
    r[0] = reg.set_persist_mode(r[1] & 0xFFFF, r[2], pid, mbx, emit=emit)


_VALUE_OPS: dict[int, _SvcOp] = {
    VAL_REGISTER: _val_register,
    VAL_LOOKUP: _val_lookup,
    VAL_GET: _val_get,
    VAL_SET: _val_set,
    VAL_LIST: _val_list,
    VAL_SUB: _val_sub,
    VAL_PERSIST_FN: _val_persist,
}


_cmd_register = _registering(parse_command_descriptors)
_cmd_lookup = _lookup


def _token(cpu: Cpu, ptr: int) -> str | None:
    """The optional token string (0 = none); it is passed to host handlers, never validated."""
    return None if ptr & 0xFFFF == 0 else read_cstring(cpu.mem, ptr)


def _cmd_call(cpu: Cpu, pid: int, reg: CommandRegistry, mbx: MailboxManager, emit: Emit | None) -> None:
    r = cpu.regs
    status, result = reg.call(r[1] & 0xFFFF, pid, _token(cpu, r[2]), emit=emit)
    r[0] = status
    if status == OK and result is not None:
        r[1] = result & M32


def _cmd_call_async(cpu: Cpu, pid: int, reg: CommandRegistry, mbx: MailboxManager, emit: Emit | None) -> None:
    r = cpu.regs
    target = read_cstring(cpu.mem, r[3])
    status, handle = reg.call_async(r[1] & 0xFFFF, pid, _token(cpu, r[2]), target, mbx, emit=emit)
    r[0] = status
    if status == OK:
        r[1] = handle


def _cmd_help(cpu: Cpu, pid: int, reg: CommandRegistry, mbx: MailboxManager, emit: Emit | None) -> None:
    r = cpu.regs
    status, text = reg.help(r[1] & 0xFFFF)
    if status != OK:
        r[0] = status
        return
    limit = r[3]
    if limit == 0:
        n = 0  # no room even for the NUL: write nothing (our choice; the spec assumes max >= 1)
    else:
        data = text.encode("utf-8")[: limit - 1]
        write_bytes(cpu.mem, r[2], data + b"\0")
        n = len(data)
    r[0] = OK
    r[1] = n


_COMMAND_OPS: dict[int, _SvcOp] = {
    CMD_REGISTER: _cmd_register,
    CMD_LOOKUP: _cmd_lookup,
    CMD_CALL: _cmd_call,
    CMD_CALL_ASYNC: _cmd_call_async,
    CMD_HELP: _cmd_help,
}


def _dispatch(
    ops: dict[int, _SvcOp], cpu: Cpu, fn: int, pid: int, reg: Any, mbx: MailboxManager, emit: Emit | None
) -> int:
    op = ops.get(fn)
    if op is None:
        cpu.regs[0] = EINVAL
        return EINVAL
    try:
        op(cpu, pid, reg, mbx, emit)
    except Exception:  # §12: any unexpected exception inside a handler -> EINVAL
        cpu.regs[0] = EINVAL
    cpu.regs[0] &= M32
    cpu.regs[1] &= M32
    return cpu.regs[0]


def handle_value_svc(
    cpu: Cpu,
    fn: int,
    caller_pid: int,
    registry: ValueRegistry,
    mailboxes: MailboxManager,
    *,
    emit: Emit | None = None,
) -> int:
    """Execute one module-0x7 SVC for task ``caller_pid`` (spec §12.1).

    Args:
        cpu: the caller's CPU; arguments in R1..R4, results in R0 (and R1 on OK).
        fn: the function number (0x00 VAL_REGISTER … 0x06 VAL_PERSIST; others EINVAL).
        registry: the executive's value table.
        mailboxes: for VAL_SUB handles and change notifications.
        emit: ``emit(type, pid, data)`` for ``value_registered``/``value_changed``.

    Returns:
        R0 after the call (for VAL_GET on OK that is the f16 bits, not a status).

    The handler never blocks; the caller advances PC as for any SVC. A notification may
    enqueue messages on other tasks' mailboxes, so waiters must be served from the
    manager's ``on_enqueue`` hook as for MAILBOX_SEND.
    """
    return _dispatch(_VALUE_OPS, cpu, fn, caller_pid, registry, mailboxes, emit)


def handle_command_svc(
    cpu: Cpu,
    fn: int,
    caller_pid: int,
    registry: CommandRegistry,
    mailboxes: MailboxManager,
    *,
    emit: Emit | None = None,
) -> int:
    """Execute one module-0x8 SVC for task ``caller_pid`` (spec §12.2).

    Same conventions as :func:`handle_value_svc`. CMD_CALL runs only a host handler (the
    guest handler is never executed); CMD_CALL_ASYNC queues the call, and the completion
    message is posted when the host calls ``registry.run_pending(mailboxes)``.

    Returns:
        R0 after the call.
    """
    return _dispatch(_COMMAND_OPS, cpu, fn, caller_pid, registry, mailboxes, emit)
