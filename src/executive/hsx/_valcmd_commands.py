"""The command table of the HSX command service (spec hsx-vm.md §12.2).

Theory of operation
-------------------
:class:`CommandRegistry` maps OID = ``(group << 8) | id`` to a :class:`CommandRecord`. Guest
handlers are never executed (§12.2, §17 "Command call"): a permitted call succeeds, and only a
*host* handler installed with :meth:`CommandRegistry.set_handler` can produce a result.

CMD_CALL_ASYNC in the reference starts a host thread that posts the completion "shortly
afterwards". Here an accepted async call is queued and completes when the host calls
:meth:`CommandRegistry.run_pending` (e.g. once per scheduler round): no thread, and a test
decides exactly when the completion happens.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._valcmd_const import (
    CMD_ASYNC,
    CMD_PIN,
    EFAIL,
    EINVAL,
    ENOASYNC,
    ENOENT,
    EPERM,
    MAX_COMMANDS,
    OK,
    STRING_POOL_BYTES,
)
from ._valcmd_pool import Emit, StringPool, admission_status, make_oid, no_emit, open_status, table_statistics
from .mailbox import MailboxError, MailboxManager

__all__ = ["CommandDescriptors", "CommandHandler", "CommandRecord", "CommandRegistry", "PendingCall"]

M32 = 0xFFFFFFFF

#: host handler of a command: ``handler(command, caller_pid, token) -> number | None``
CommandHandler = Callable[["CommandRecord", int, "str | None"], object]


@dataclass(slots=True)
class CommandDescriptors:
    """What a command's descriptor chain (type 0x10, §12.2) or metadata entry declares."""

    name: str | None = None
    help: str | None = None
    group_name: str | None = None
    has_name: bool = False  # a type-0x10 descriptor exists (CMD_HELP needs one)
    head: int | None = None  # guest address of the first descriptor

    def strings(self) -> list[str]:
        """Strings that live in the table's pool."""
        return [s for s in (self.name, self.help, self.group_name) if s]


@dataclass(eq=False, slots=True)
class CommandRecord:
    """One registered command. ``handler_ref`` is the metadata handler offset (never run)."""

    oid: int
    group_id: int
    cmd_id: int
    flags: int
    auth_level: int
    owner_pid: int
    desc: CommandDescriptors
    handler_ref: int | None = None

    def summary(self) -> dict[str, Any]:
        """The ``cmd.list`` entry (hsx-executive §10.3)."""
        out: dict[str, Any] = {
            "oid": self.oid,
            "group_id": self.group_id,
            "cmd_id": self.cmd_id,
            "flags": self.flags,
            "auth_level": self.auth_level,
            "owner_pid": self.owner_pid,
            "handler_ref": self.handler_ref,
            "desc_head": self.desc.head,
        }
        for key in ("name", "help", "group_name"):
            text = getattr(self.desc, key)
            if text is not None:
                out[key] = text
        return out

    def event_data(self, caller_pid: int, status: int) -> dict[str, Any]:
        """Common fields of the ``cmd_*`` events (hsx-executive §5.3)."""
        return {
            "oid": self.oid,
            "group_id": self.group_id,
            "cmd_id": self.cmd_id,
            "caller_pid": caller_pid,
            "owner_pid": self.owner_pid,
            "status": status,
        }


@dataclass(slots=True)
class PendingCall:
    """An accepted CMD_CALL_ASYNC (or host async ``cmd.call``) waiting for ``run_pending``."""

    oid: int
    caller_pid: int
    handle: int | None  # caller's mailbox handle for the completion; None for host calls
    token: str | None


class CommandRegistry:
    """All commands of one executive (spec §12.2).

    Guest handlers are never executed (§12.2, §17): a call succeeds, and only a *host*
    handler installed with :meth:`set_handler` can produce a result.

    Args:
        capacity: entry limit (256).
        pool_bytes: string pool size (4096).
    """

    def __init__(self, *, capacity: int = MAX_COMMANDS, pool_bytes: int = STRING_POOL_BYTES) -> None:
        self.capacity = capacity
        self.strings = StringPool(pool_bytes)
        self.entries: dict[int, CommandRecord] = {}  # oid -> record
        self.high_water = 0  # max len(entries) ever
        self.handlers: dict[int, CommandHandler] = {}  # oid -> host handler; survives re-registration
        self.pending: deque[PendingCall] = deque()  # accepted async calls, FIFO

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, oid: int) -> CommandRecord | None:
        """The record for ``oid`` (masked to 16 bits), if registered."""
        return self.entries.get(oid & 0xFFFF)

    def set_handler(self, oid: int, handler: CommandHandler | None) -> None:
        """Install (or with None remove) the host handler run for calls of ``oid``.

        The handler is called ``handler(record, caller_pid, token)``; an int or finite float
        result becomes R1 / ``result`` (masked to u32), anything else means "no result";
        raising makes the call EFAIL.
        """
        if handler is None:
            self.handlers.pop(oid & 0xFFFF, None)
        else:
            self.handlers[oid & 0xFFFF] = handler

    def check_new(self, oids: list[int], strings: list[str]) -> int:
        """Status a registration of ``oids`` with ``strings`` would get: EEXIST, ENOSPC or OK."""
        return admission_status(self.entries, self.capacity, self.strings, oids, strings)

    def register(
        self,
        group: int,
        cmd_id: int,
        flags: int,
        owner_pid: int,
        *,
        auth_level: int = 0,
        desc: CommandDescriptors | None = None,
        handler_ref: int | None = None,
        emit: Emit | None = None,
    ) -> tuple[int, int]:
        """CMD_REGISTER / one metadata command (§12.2, §14.5): ``(status, oid)``.

        OK, EEXIST or ENOSPC as for values; on OK a ``cmd_registered`` event is emitted.
        """
        desc = desc or CommandDescriptors()
        oid = make_oid(group, cmd_id)
        status = self.check_new([oid], desc.strings())
        if status != OK:
            return status, oid
        self.strings.acquire(desc.strings())
        rec = CommandRecord(
            oid, group & 0xFF, cmd_id & 0xFF, flags & 0xFF, auth_level & 0xFF, owner_pid, desc, handler_ref
        )
        self.entries[oid] = rec
        self.high_water = max(self.high_water, len(self.entries))
        (emit or no_emit)("cmd_registered", owner_pid, rec.event_data(owner_pid, OK))
        return OK, oid

    def lookup(self, group: int, cmd_id: int) -> tuple[int, int]:
        """CMD_LOOKUP: ``(OK, oid)`` or ``(ENOENT, oid)``."""
        oid = make_oid(group, cmd_id)
        return (OK if oid in self.entries else ENOENT), oid

    @staticmethod
    def _call_check(rec: CommandRecord, caller_pid: int) -> int:
        """§12.2: commands are owner-only whatever their auth level; PIN is always EPERM."""
        if caller_pid != rec.owner_pid or rec.flags & CMD_PIN:
            return EPERM
        return OK

    def _run(self, rec: CommandRecord, caller_pid: int, token: str | None) -> tuple[int, int | None]:
        """Run the host handler if any: ``(OK, result|None)`` or ``(EFAIL, None)``."""
        handler = self.handlers.get(rec.oid)
        if handler is None:
            return OK, None
        try:
            result = handler(rec, caller_pid, token)
        except Exception:  # a failing host command is the command's failure, not the VM's
            return EFAIL, None
        if isinstance(result, bool) or not isinstance(result, (int, float)):
            return OK, None
        if isinstance(result, float):
            if not math.isfinite(result):
                return OK, None
            result = int(result)
        return OK, result & M32

    def call(
        self, oid: int, caller_pid: int, token: str | None = None, *, emit: Emit | None = None
    ) -> tuple[int, int | None]:
        """CMD_CALL (§12.2): ``(status, result)``.

        ENOENT; EPERM (non-owner or PIN); else the host handler, if any, runs now
        (OK with its numeric result or None; EFAIL if it raised). Emits ``cmd_invoked``
        for every call of an existing command and ``cmd_completed`` when it ran.
        """
        rec = self.entry(oid)
        if rec is None:
            return ENOENT, None
        out = emit or no_emit
        status = self._call_check(rec, caller_pid)
        out("cmd_invoked", caller_pid, {**rec.event_data(caller_pid, status), "async": False})
        if status != OK:
            return status, None
        status, result = self._run(rec, caller_pid, token)
        out("cmd_completed", caller_pid, {**rec.event_data(caller_pid, status), "result": result, "async": False})
        return status, result

    def call_async(
        self,
        oid: int,
        caller_pid: int,
        token: str | None,
        target: str | None,
        mailboxes: MailboxManager,
        *,
        emit: Emit | None = None,
    ) -> tuple[int, int]:
        """CMD_CALL_ASYNC (§12.2): ``(status, handle)``.

        Order: an empty target is EINVAL; an unknown OID ENOENT (no handle opened); then a
        new handle is opened for the caller on ``target`` (ENOSPC / EINVAL if that fails);
        ENOASYNC without the ASYNC flag; EPERM as for CALL. On any failure the handle is
        closed again. On OK the call is queued and completes in :meth:`run_pending`.
        ``target`` None is a host call with no mailbox (``cmd.call`` with ``async``).
        """
        if target is not None and not target:
            return EINVAL, 0
        rec = self.entry(oid)
        if rec is None:
            return ENOENT, 0
        handle: int | None = None
        if target is not None:
            try:
                handle = mailboxes.open(caller_pid, target)
            except MailboxError as exc:
                return open_status(exc), 0
        status = ENOASYNC if not rec.flags & CMD_ASYNC else self._call_check(rec, caller_pid)
        (emit or no_emit)("cmd_invoked", caller_pid, {**rec.event_data(caller_pid, status), "async": True})
        if status != OK:
            if handle is not None:
                mailboxes.close(caller_pid, handle)
            return status, 0
        self.pending.append(PendingCall(rec.oid, caller_pid, handle, token))
        return OK, handle or 0

    def run_pending(self, mailboxes: MailboxManager, *, emit: Emit | None = None) -> list[dict[str, Any]]:
        """Complete the async calls queued so far — the reference's "shortly afterwards".

        Each runs its host handler, posts ``<u16 oid, u16 status>`` plus ``<u32 result>``
        when there is a numeric result to the caller's handle (sent through that handle, so
        the caller is the sender; a closed handle or full queue loses the message) and
        emits ``cmd_completed``. Calls queued by a handler meanwhile wait for the next run.

        Returns:
            one ``{oid, pid, handle, status, result}`` dict per completed call, in order.
        """
        out = emit or no_emit
        done: list[dict[str, Any]] = []
        for _ in range(len(self.pending)):
            p = self.pending.popleft()
            rec = self.entries.get(p.oid)
            status, result = (ENOENT, None) if rec is None else self._run(rec, p.caller_pid, p.token)
            if p.handle is not None:
                payload = struct.pack("<HH", p.oid, status)
                if result is not None:
                    payload += struct.pack("<I", result)
                try:
                    mailboxes.send(p.caller_pid, p.handle, payload)
                except MailboxError:
                    pass  # the caller closed the handle or its queue cannot take the message
            if rec is not None:
                out(
                    "cmd_completed",
                    p.caller_pid,
                    {**rec.event_data(p.caller_pid, status), "result": result, "async": True},
                )
            done.append({"oid": p.oid, "pid": p.caller_pid, "handle": p.handle, "status": status, "result": result})
        return done

    def help(self, oid: int) -> tuple[int, str]:
        """CMD_HELP text: ENOENT if unknown or without a name descriptor; no permission check."""
        rec = self.entry(oid)
        if rec is None or not rec.desc.has_name:
            return ENOENT, ""
        return OK, rec.desc.help or ""

    def remove_owner(self, pid: int) -> int:
        """Drop every command owned by ``pid`` and the async calls ``pid`` still has queued."""
        gone = [oid for oid, r in self.entries.items() if r.owner_pid == pid]
        for oid in gone:
            self.strings.release(self.entries.pop(oid).desc.strings())
        self.pending = deque(p for p in self.pending if p.caller_pid != pid)
        return len(gone)

    def statistics(self) -> dict[str, Any]:
        """``{count, capacity, usage_pct, high_water, high_water_pct, warning}`` (§10.3)."""
        return table_statistics(len(self.entries), self.capacity, self.high_water)
