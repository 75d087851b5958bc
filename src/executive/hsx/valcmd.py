"""HSX value and command services (spec hsx-vm.md §12) for the multi-task executive.

A pure synchronous library: no I/O, no asyncio, no threads. Three surfaces share two tables
(values and commands are separate, §12/§17):

* **Guest SVCs** — :func:`handle_value_svc` (module 0x7) and :func:`handle_command_svc`
  (module 0x8) execute one system call for a task: registers and guest memory in, R0/R1 out.
* **Load-time metadata** — :func:`register_metadata` registers an image's ``.value``/``.cmd``
  entries for the new task, all or nothing (§13.1 step 5, §14.5).
* **Host protocol** — :class:`ValCmd` ``val_list`` … ``cmd_stats`` return the payloads of the
  executive's ``val.*``/``cmd.*`` replies (hsx-executive §3.9, §10.3).

:class:`ValCmd` bundles both tables with the mailbox manager and the event callback so the
executive holds one object; the free functions take the pieces separately.

Module map (one noun each)::

    _valcmd_const     status codes, flags, modes, limits, function numbers, errors (leaf)
    _valcmd_pool      StringPool, statistics and OID helpers
    _valcmd_values    ValueRegistry: permission, RO, rate limit, epsilon, notifications, persistence
    _valcmd_commands  CommandRegistry: owner-only/PIN calls, host handlers, deferred async completion
    _valcmd_svc       descriptor chains in guest memory and the SVC handlers
    _valcmd_meta      atomic metadata registration
    valcmd            this façade and the host protocol

Errors (raised by the host-side API only; SVCs answer with status codes)::

    ValCmdError(Exception)
     ├── MetadataError      an image's metadata cannot be registered; nothing was registered
     └── ValCmdRequestError a host request is malformed (e.g. a non-numeric ``val.set`` value)
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Any

from . import f16
from ._hxe_meta import CommandEntry, ValueEntry
from ._valcmd_commands import CommandDescriptors, CommandHandler, CommandRecord, CommandRegistry, PendingCall
from ._valcmd_const import (
    CMD_ASYNC,
    CMD_CALL,
    CMD_CALL_ASYNC,
    CMD_HELP,
    CMD_LOOKUP,
    CMD_PIN,
    CMD_REGISTER,
    DESC_COMMAND,
    DESC_GROUP,
    DESC_NAME,
    DESC_PERSIST,
    DESC_RANGE,
    DESC_UNIT,
    EBUSY,
    EEXIST,
    EFAIL,
    EINVAL,
    ENOASYNC,
    ENOENT,
    ENOSPC,
    EPERM,
    MAX_COMMANDS,
    MAX_VALUES,
    OK,
    PERSIST_LOAD,
    PERSIST_LOAD_SAVE,
    PERSIST_VOLATILE,
    STRING_POOL_BYTES,
    VAL_BOOL,
    VAL_GET,
    VAL_LIST,
    VAL_LOOKUP,
    VAL_PERSIST,
    VAL_PERSIST_FN,
    VAL_PIN,
    VAL_REGISTER,
    VAL_RO,
    VAL_SET,
    VAL_STICKY,
    VAL_SUB,
    WARNING_PCT,
    MetadataError,
    ValCmdError,
    ValCmdRequestError,
)
from ._valcmd_meta import MetadataRegistration, register_metadata
from ._valcmd_pool import Emit, StringPool, make_oid
from ._valcmd_svc import (
    BadDescriptorChain,
    handle_command_svc,
    handle_value_svc,
    parse_command_descriptors,
    parse_value_descriptors,
)
from ._valcmd_values import PersistLoad, PersistSave, ValueDescriptors, ValueRecord, ValueRegistry
from .cpu import Cpu
from .mailbox import MailboxManager

__all__ = [
    "CMD_ASYNC",
    "CMD_CALL",
    "CMD_CALL_ASYNC",
    "CMD_HELP",
    "CMD_LOOKUP",
    "CMD_PIN",
    "CMD_REGISTER",
    "DESC_COMMAND",
    "DESC_GROUP",
    "DESC_NAME",
    "DESC_PERSIST",
    "DESC_RANGE",
    "DESC_UNIT",
    "EBUSY",
    "EEXIST",
    "EFAIL",
    "EINVAL",
    "ENOASYNC",
    "ENOENT",
    "ENOSPC",
    "EPERM",
    "MAX_COMMANDS",
    "MAX_VALUES",
    "OK",
    "PERSIST_LOAD",
    "PERSIST_LOAD_SAVE",
    "PERSIST_VOLATILE",
    "STRING_POOL_BYTES",
    "VAL_BOOL",
    "VAL_GET",
    "VAL_LIST",
    "VAL_LOOKUP",
    "VAL_PERSIST",
    "VAL_PERSIST_FN",
    "VAL_PIN",
    "VAL_REGISTER",
    "VAL_RO",
    "VAL_SET",
    "VAL_STICKY",
    "VAL_SUB",
    "WARNING_PCT",
    "BadDescriptorChain",
    "CommandDescriptors",
    "CommandHandler",
    "CommandRecord",
    "CommandRegistry",
    "Emit",
    "MetadataError",
    "MetadataRegistration",
    "PendingCall",
    "PersistLoad",
    "PersistSave",
    "StringPool",
    "ValCmd",
    "ValCmdError",
    "ValCmdRequestError",
    "ValueDescriptors",
    "ValueRecord",
    "ValueRegistry",
    "handle_command_svc",
    "handle_value_svc",
    "make_oid",
    "parse_command_descriptors",
    "parse_value_descriptors",
    "register_metadata",
]


def _host_f16(value: object) -> int | None:
    """A ``val.set`` value as f16 bits, rounded like Python ``struct 'e'``; None on overflow.

    Raises:
        ValCmdRequestError: not a number (``val_set requires numeric 'value'``).
    """
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValCmdRequestError("val_set requires numeric 'value'") from None
    try:
        return int(struct.unpack("<H", struct.pack("<e", x))[0])
    except (OverflowError, struct.error):
        return None


def _filtered(
    records: list[Any], pid: int | None, group: int | None, oid: int | None, name: str | None
) -> list[dict[str, Any]]:
    out = []
    for rec in sorted(records, key=lambda r: r.oid):
        if pid is not None and rec.owner_pid != pid:
            continue
        if group is not None and rec.group_id != group:
            continue
        if oid is not None and rec.oid != oid:
            continue
        if name is not None and rec.desc.name != name:
            continue
        out.append(rec.summary())
    return out


class ValCmd:
    """The value and command services of one executive (spec §12; hsx-executive §10.3).

    Args:
        mailboxes: the executive's mailbox manager (VAL_SUB, notifications, async calls).
        emit: ``emit(type, pid, data)`` for the ``value_*``/``cmd_*`` events (§5.3).
        clock: monotonic seconds for value rate limits.
        persist_save, persist_load: persistence callbacks (see :class:`ValueRegistry`).
        value_capacity, command_capacity, pool_bytes: limits (256, 256, 4096 per table).

    Wire it as: module 0x7 SVCs -> :meth:`value_svc`, 0x8 -> :meth:`command_svc`; at load
    :meth:`register_metadata` (fail the load on :class:`MetadataError`); when a task ends
    :meth:`unregister_owner`; now and then (e.g. once per scheduler round)
    :meth:`run_pending` to complete async command calls.
    """

    def __init__(
        self,
        mailboxes: MailboxManager,
        *,
        emit: Emit | None = None,
        clock: Callable[[], float] = time.monotonic,
        persist_save: PersistSave | None = None,
        persist_load: PersistLoad | None = None,
        value_capacity: int = MAX_VALUES,
        command_capacity: int = MAX_COMMANDS,
        pool_bytes: int = STRING_POOL_BYTES,
    ) -> None:
        self.mailboxes = mailboxes
        self.emit = emit
        self.values = ValueRegistry(
            capacity=value_capacity, pool_bytes=pool_bytes, clock=clock,
            persist_save=persist_save, persist_load=persist_load,
        )  # fmt: skip
        self.commands = CommandRegistry(capacity=command_capacity, pool_bytes=pool_bytes)

    # -- guest side ------------------------------------------------------------------------

    def value_svc(self, cpu: Cpu, fn: int, caller_pid: int) -> int:
        """Module 0x7 SVC for ``caller_pid`` (see :func:`handle_value_svc`)."""
        return handle_value_svc(cpu, fn, caller_pid, self.values, self.mailboxes, emit=self.emit)

    def command_svc(self, cpu: Cpu, fn: int, caller_pid: int) -> int:
        """Module 0x8 SVC for ``caller_pid`` (see :func:`handle_command_svc`)."""
        return handle_command_svc(cpu, fn, caller_pid, self.commands, self.mailboxes, emit=self.emit)

    def register_metadata(
        self, values: list[ValueEntry], commands: list[CommandEntry], owner_pid: int
    ) -> MetadataRegistration:
        """Atomic load-time registration (see :func:`register_metadata`)."""
        return register_metadata(self.values, self.commands, values, commands, owner_pid, emit=self.emit)

    def unregister_owner(self, pid: int) -> dict[str, int]:
        """Forget everything task ``pid`` owned in both tables; call when the task ends.

        Removes its values and commands (their strings return to the pools), its
        subscriptions to other tasks' values and its queued async calls. Mailbox handles
        are the executive's to close (``MailboxManager.close_all``).

        The spec does not say what the reference VM does here: the executive only drops its
        own caches for a killed PID (hsx-executive §3.4), and if the VM kept the entries a
        ``reload`` (kill + load, which gets a new PID) of an image with metadata would fail
        with EEXIST. We remove them so that kill + load works and the tables do not fill up
        with dead tasks' entries.

        Returns:
            ``{"values": n, "commands": m}`` removed.
        """
        return {"values": self.values.remove_owner(pid), "commands": self.commands.remove_owner(pid)}

    def set_command_handler(self, oid: int, handler: CommandHandler | None) -> None:
        """Install a host handler for command ``oid`` (see :meth:`CommandRegistry.set_handler`)."""
        self.commands.set_handler(oid, handler)

    def run_pending(self) -> list[dict[str, Any]]:
        """Complete queued async command calls (see :meth:`CommandRegistry.run_pending`)."""
        return self.commands.run_pending(self.mailboxes, emit=self.emit)

    # -- host protocol ---------------------------------------------------------------------

    def val_list(
        self, *, pid: int | None = None, group: int | None = None, oid: int | None = None, name: str | None = None
    ) -> dict[str, Any]:
        """``val.list`` → ``{"values": [summary, …]}`` in OID order; filters combine with AND,
        ``name`` matches the value name exactly."""
        return {"values": _filtered(list(self.values.entries.values()), pid, group, oid, name)}

    def val_get(self, oid: int, *, pid: int | None = None) -> dict[str, Any]:
        """``val.get`` → ``{"value": {status, value?, f16?, pid?}}``; the caller defaults to the owner."""
        rec = self.values.entry(oid)
        caller = pid if pid is not None else (rec.owner_pid if rec else 0)
        status, bits = self.values.read(oid, caller)
        if status != OK:
            return {"value": {"status": status}}
        return {"value": {"status": OK, "value": f16.decode(bits), "f16": bits, "pid": caller}}

    def val_set(self, oid: int, value: object, *, pid: int | None = None) -> dict[str, Any]:
        """``val.set`` → ``{"value": {status, value?, f16?, pid?}}`` (hsx-executive §10.3).

        ``value`` is converted like ``float()`` and rounded to f16 like ``struct 'e'``; a
        magnitude beyond the f16 range answers EINVAL. The caller defaults to the owner, and
        the same rules as VAL_SET apply (RO, permission, rate limit, epsilon). On OK the
        reply carries the value now stored (unchanged when epsilon filtered the set).

        Raises:
            ValCmdRequestError: ``value`` is not numeric.
        """
        bits = _host_f16(value)
        rec = self.values.entry(oid)
        caller = pid if pid is not None else (rec.owner_pid if rec else 0)
        if bits is None:
            return {"value": {"status": EINVAL}}
        status = self.values.write(oid, bits, caller, self.mailboxes, emit=self.emit)
        if status != OK or rec is None:
            return {"value": {"status": status}}
        return {"value": {"status": OK, "value": f16.decode(rec.f16), "f16": rec.f16, "pid": caller}}

    def val_stats(self) -> dict[str, Any]:
        """``val.stats`` → ``{"stats": {"values": {…}, "strings": {…}}}``."""
        return {"stats": {"values": self.values.statistics(), "strings": self.values.strings.statistics()}}

    def cmd_list(
        self, *, pid: int | None = None, group: int | None = None, oid: int | None = None, name: str | None = None
    ) -> dict[str, Any]:
        """``cmd.list`` → ``{"commands": [summary, …]}`` in OID order (filters as ``val_list``)."""
        return {"commands": _filtered(list(self.commands.entries.values()), pid, group, oid, name)}

    def cmd_call(self, oid: int, *, pid: int | None = None, async_: bool = False) -> dict[str, Any]:
        """``cmd.call`` → ``{"command": {status, result, pid}}`` (hsx-executive §10.3).

        The caller defaults to the owner (commands are owner-only). Synchronous calls run
        the host handler now; ``async_`` calls need the ASYNC flag (else ENOASYNC), return
        ``result: None`` at once and complete in :meth:`run_pending` (no mailbox message).
        """
        rec = self.commands.entry(oid)
        caller = pid if pid is not None else (rec.owner_pid if rec else 0)
        result: int | None = None
        if async_:
            status, _ = self.commands.call_async(oid, caller, None, None, self.mailboxes, emit=self.emit)
        else:
            status, result = self.commands.call(oid, caller, None, emit=self.emit)
        return {"command": {"status": status, "result": result, "pid": caller}}

    def cmd_stats(self) -> dict[str, Any]:
        """``cmd.stats`` → ``{"stats": {"commands": {…}, "strings": {…}}}``."""
        return {"stats": {"commands": self.commands.statistics(), "strings": self.commands.strings.statistics()}}
