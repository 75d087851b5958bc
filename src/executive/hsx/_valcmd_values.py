"""The value table of the HSX value service (spec hsx-vm.md §12.1).

Theory of operation
-------------------
:class:`ValueRegistry` maps OID = ``(group << 8) | id`` to a :class:`ValueRecord` holding the
value as an f16 bit pattern, its flags, auth level, owner and the descriptors it was
registered with. Every operation takes plain arguments and returns a §12 status code (plus a
result where there is one); reading registers and guest memory is the SVC layer's business
(:mod:`executive.hsx._valcmd_svc`) and the executive protocol is :mod:`executive.hsx.valcmd`,
so both share one implementation of the permission, rate-limit, epsilon and notification
rules.

Side effects leave through injected seams only: the :class:`MailboxManager` (the double
change notification), ``emit`` (``value_registered``/``value_changed``), a clock (rate limits)
and two persistence callbacks. Nothing blocks, sleeps or reads the clock except through the
injected ``clock``.

Rejected alternative: one table for values and commands with a type tag (the design docs'
shared (group, id) space) — the reference keeps two tables and programs may reuse an OID (§17).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import f16
from ._valcmd_const import (
    EBUSY,
    EINVAL,
    ENOENT,
    EPERM,
    MAX_VALUES,
    OK,
    PERSIST_LOAD,
    PERSIST_LOAD_SAVE,
    PERSIST_VOLATILE,
    STRING_POOL_BYTES,
    VAL_PERSIST,
    VAL_RO,
)
from ._valcmd_pool import Emit, StringPool, admission_status, make_oid, no_emit, open_status, table_statistics
from .mailbox import MailboxError, MailboxManager, MailboxStatus

__all__ = ["PersistLoad", "PersistSave", "ValueDescriptors", "ValueRecord", "ValueRegistry"]

#: ``persist_save(key, f16_bits, debounce_ms)``
PersistSave = Callable[[int, int, int], None]
#: ``persist_load(key) -> f16_bits | None`` (None = nothing stored under that key)
PersistLoad = Callable[[int], "int | None"]


@dataclass(slots=True)
class ValueDescriptors:
    """What a value's descriptor chain (§12.1) or its metadata entry (§14.5) declares."""

    group_name: str | None = None  # type 0x01
    name: str | None = None  # type 0x02
    unit: str | None = None  # type 0x03: the 4-byte unit code as text; None = no unit descriptor
    epsilon: int = 0  # type 0x03, f16 bits; a change smaller than this is not stored
    rate_ms: int = 0  # type 0x03; minimum time between stored sets (0 = no limit)
    range: tuple[int, int] | None = None  # type 0x04, (min, max) f16 bits; reported, not enforced
    persist_key: int | None = None  # type 0x05; None = no persist descriptor
    debounce_ms: int = 0  # type 0x05; handed to the persistence hook
    head: int | None = None  # guest address of the first descriptor (None: none / synthesised)

    def strings(self) -> list[str]:
        """Strings that live in the table's pool."""
        return [s for s in (self.name, self.group_name) if s]


@dataclass(eq=False, slots=True)
class ValueRecord:
    """One registered value. ``f16`` is the stored bit pattern (0..0xFFFF)."""

    oid: int
    group_id: int
    value_id: int
    flags: int
    auth_level: int
    owner_pid: int
    f16: int
    desc: ValueDescriptors
    persist_mode: int = PERSIST_VOLATILE
    last_write: float | None = None  # clock() of the last stored set, for the rate limit
    subscribers: list[tuple[int, int]] = field(default_factory=list)  # (pid, handle), VAL_SUB order

    def summary(self) -> dict[str, Any]:
        """The ``val.list`` entry (hsx-executive §10.3)."""
        d = self.desc
        out: dict[str, Any] = {
            "oid": self.oid,
            "group_id": self.group_id,
            "value_id": self.value_id,
            "flags": self.flags,
            "auth_level": self.auth_level,
            "owner_pid": self.owner_pid,
            "desc_head": d.head,
            "f16": self.f16,
            "value": f16.decode(self.f16),
            "persist_mode": self.persist_mode,
            "subscribers": len(self.subscribers),
        }
        if d.name is not None:
            out["name"] = d.name
        if d.group_name is not None:
            out["group_name"] = d.group_name
        if d.unit is not None:
            out.update(unit=d.unit, epsilon=f16.decode(d.epsilon), epsilon_f16=d.epsilon, rate_ms=d.rate_ms)
        if d.range is not None:
            lo, hi = d.range
            out.update(min=f16.decode(lo), max=f16.decode(hi), min_f16=lo, max_f16=hi)
        if d.persist_key is not None:
            out.update(persist_key=d.persist_key, debounce_ms=d.debounce_ms)
        return out

    def event_data(self, caller_pid: int) -> dict[str, Any]:
        """Common fields of ``value_registered``/``value_changed`` (hsx-executive §5.3)."""
        out: dict[str, Any] = {
            "oid": self.oid,
            "group_id": self.group_id,
            "value_id": self.value_id,
            "flags": self.flags,
            "auth_level": self.auth_level,
            "owner_pid": self.owner_pid,
            "caller_pid": caller_pid,
        }
        if self.desc.name is not None:
            out["name"] = self.desc.name
        if self.desc.group_name is not None:
            out["group_name"] = self.desc.group_name
        return out


class ValueRegistry:
    """All values of one executive (spec §12.1).

    Args:
        capacity: entry limit (256).
        pool_bytes: string pool size (4096).
        clock: monotonic seconds for the rate limit (inject a fake in tests).
        persist_save: called ``(key, f16, debounce_ms)`` when a value with the PERSIST flag
            and a persist key changes.
        persist_load: ``key -> f16 | None``, used by VAL_PERSIST modes 1 and 2.
    """

    def __init__(
        self,
        *,
        capacity: int = MAX_VALUES,
        pool_bytes: int = STRING_POOL_BYTES,
        clock: Callable[[], float] = time.monotonic,
        persist_save: PersistSave | None = None,
        persist_load: PersistLoad | None = None,
    ) -> None:
        self.capacity = capacity
        self.strings = StringPool(pool_bytes)
        self.clock = clock
        self.persist_save = persist_save
        self.persist_load = persist_load
        self.entries: dict[int, ValueRecord] = {}  # oid -> record
        self.high_water = 0  # max len(entries) ever

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, oid: int) -> ValueRecord | None:
        """The record for ``oid`` (masked to 16 bits), if registered."""
        return self.entries.get(oid & 0xFFFF)

    @staticmethod
    def permitted(rec: ValueRecord, caller_pid: int) -> bool:
        """§12 permission rule: the owner, or anybody when the auth level is 0."""
        return caller_pid == rec.owner_pid or rec.auth_level == 0

    def check_new(self, oids: list[int], strings: list[str]) -> int:
        """Status a registration of ``oids`` with ``strings`` would get: EEXIST, ENOSPC or OK."""
        return admission_status(self.entries, self.capacity, self.strings, oids, strings)

    def register(
        self,
        group: int,
        value_id: int,
        flags: int,
        owner_pid: int,
        *,
        auth_level: int = 0,
        init: int = 0,
        desc: ValueDescriptors | None = None,
        emit: Emit | None = None,
    ) -> tuple[int, int]:
        """VAL_REGISTER / one metadata value (§12.1, §14.5).

        Returns:
            ``(status, oid)``: OK, EEXIST (OID taken, whoever owns it) or ENOSPC (256 values,
            or the names do not fit the string pool). Nothing is stored unless OK; on OK a
            ``value_registered`` event is emitted.
        """
        desc = desc or ValueDescriptors()
        oid = make_oid(group, value_id)
        status = self.check_new([oid], desc.strings())
        if status != OK:
            return status, oid
        self.strings.acquire(desc.strings())
        rec = ValueRecord(
            oid, group & 0xFF, value_id & 0xFF, flags & 0xFF, auth_level & 0xFF, owner_pid, init & 0xFFFF, desc,
            persist_mode=PERSIST_LOAD_SAVE if flags & VAL_PERSIST else PERSIST_VOLATILE,
        )  # fmt: skip
        self.entries[oid] = rec
        self.high_water = max(self.high_water, len(self.entries))
        (emit or no_emit)("value_registered", owner_pid, rec.event_data(owner_pid))
        return OK, oid

    def lookup(self, group: int, value_id: int) -> tuple[int, int]:
        """VAL_LOOKUP: ``(OK, oid)`` or ``(ENOENT, oid)``. No permission check (nothing is read)."""
        oid = make_oid(group, value_id)
        return (OK if oid in self.entries else ENOENT), oid

    def read(self, oid: int, caller_pid: int) -> tuple[int, int]:
        """VAL_GET: ``(status, f16)``; ENOENT or EPERM (§12 permission rule)."""
        rec = self.entry(oid)
        if rec is None:
            return ENOENT, 0
        if not self.permitted(rec, caller_pid):
            return EPERM, 0
        return OK, rec.f16

    def write(
        self, oid: int, value: int, caller_pid: int, mailboxes: MailboxManager, *, emit: Emit | None = None
    ) -> int:
        """VAL_SET (§12.1), in this order of checks:

        ENOENT; EPERM for the RO flag; EPERM for a non-owner on an auth > 0 value; EBUSY when
        ``rate_ms`` has not elapsed since the last *stored* set; OK without storing when the
        change is smaller than epsilon (and then the rate window does not restart). Otherwise
        the value is stored — even when the bits are unchanged, as the spec filters only by
        epsilon — then saved (PERSIST flag and a persist key), subscribers get the double
        notification and ``value_changed`` is emitted.
        """
        rec = self.entry(oid)
        if rec is None:
            return ENOENT
        if rec.flags & VAL_RO or not self.permitted(rec, caller_pid):
            return EPERM
        now = self.clock()
        rate = rec.desc.rate_ms
        if rate and rec.last_write is not None and (now - rec.last_write) * 1000.0 < rate:
            return EBUSY
        new = value & 0xFFFF
        if rec.desc.epsilon:
            eps = f16.decode(rec.desc.epsilon)
            if abs(f16.decode(new) - f16.decode(rec.f16)) < eps:
                return OK
        rec.last_write = now
        self._apply(rec, new, caller_pid, mailboxes, emit, save=True)
        return OK

    def _apply(
        self, rec: ValueRecord, new: int, caller_pid: int, mailboxes: MailboxManager, emit: Emit | None, *, save: bool
    ) -> None:
        """Store a change and publish it: persistence, notifications, event (§12.1 VAL_SET)."""
        old = rec.f16
        rec.f16 = new
        key = rec.desc.persist_key
        if save and rec.flags & VAL_PERSIST and key is not None and self.persist_save is not None:
            self.persist_save(key, new, rec.desc.debounce_ms)
        self._notify(rec, old, new, mailboxes)
        data = rec.event_data(caller_pid)
        data.update(old_f16=old, new_f16=new, old_value=f16.decode(old), new_value=f16.decode(new))
        (emit or no_emit)("value_changed", caller_pid, data)

    @staticmethod
    def _notify(rec: ValueRecord, old: int, new: int, mailboxes: MailboxManager) -> None:
        """The reference's double notification (§12.1, §18 item 9).

        Every subscriber handle gets ``<u16 oid, u16 old, u16 new>`` and then
        ``<u16 oid, u16 new>``, each sent through the subscriber's own handle (so the
        message's sender is the subscriber). A full queue loses that message (WOULDBLOCK is
        ignored, as any sender would see it); a handle that no longer exists drops the
        subscription.
        """
        first = struct.pack("<HHH", rec.oid, old, new)
        second = struct.pack("<HH", rec.oid, new)
        alive: list[tuple[int, int]] = []
        for pid, handle in rec.subscribers:
            ok = True
            for payload in (first, second):
                try:
                    mailboxes.send(pid, handle, payload)
                except MailboxError as exc:
                    if exc.status == MailboxStatus.INVALID_HANDLE:
                        ok = False
                        break
            if ok:
                alive.append((pid, handle))
        rec.subscribers = alive

    def owned(self, caller_pid: int, group_filter: int = 0xFF) -> list[int]:
        """VAL_LIST: OIDs owned by ``caller_pid`` in ascending order; group 0xFF = all groups."""
        g = group_filter & 0xFF
        return sorted(
            r.oid for r in self.entries.values() if r.owner_pid == caller_pid and (g == 0xFF or r.group_id == g)
        )

    def subscribe(self, oid: int, caller_pid: int, target: str, mailboxes: MailboxManager) -> tuple[int, int]:
        """VAL_SUB: open a new handle for the caller on ``target`` and subscribe it (§12.1).

        Returns:
            ``(status, handle)``: EINVAL for an empty or malformed target, ENOENT, EPERM
            (non-owner on an auth > 0 value), ENOSPC when the caller's handle quota or the
            descriptor pool is exhausted. No handle is left open unless OK.
        """
        if not target:
            return EINVAL, 0
        rec = self.entry(oid)
        if rec is None:
            return ENOENT, 0
        if not self.permitted(rec, caller_pid):
            return EPERM, 0
        try:
            handle = mailboxes.open(caller_pid, target)
        except MailboxError as exc:
            return open_status(exc), 0
        rec.subscribers.append((caller_pid, handle))
        return OK, handle

    def set_persist_mode(
        self, oid: int, mode: int, caller_pid: int, mailboxes: MailboxManager, *, emit: Emit | None = None
    ) -> int:
        """VAL_PERSIST (§12.1): owner only; mode 0 volatile, 1 load, 2 load+save.

        Mode 0 clears the PERSIST flag. Modes 1 and 2 ask ``persist_load`` for the value
        stored under the value's persist key and, if there is one that differs, apply it as
        a change (subscribers and ``value_changed`` see it; it is not saved back). Mode 2
        sets PERSIST so later changes are saved, mode 1 clears it. Other modes: EINVAL.
        """
        rec = self.entry(oid)
        if rec is None:
            return ENOENT
        if caller_pid != rec.owner_pid:
            return EPERM
        if mode not in (PERSIST_VOLATILE, PERSIST_LOAD, PERSIST_LOAD_SAVE):
            return EINVAL
        rec.persist_mode = mode
        if mode == PERSIST_LOAD_SAVE:
            rec.flags |= VAL_PERSIST
        else:
            rec.flags &= ~VAL_PERSIST & 0xFF
        key = rec.desc.persist_key
        if mode != PERSIST_VOLATILE and key is not None and self.persist_load is not None:
            loaded = self.persist_load(key)
            if loaded is not None and (loaded & 0xFFFF) != rec.f16:
                self._apply(rec, loaded & 0xFFFF, caller_pid, mailboxes, emit, save=False)
        return OK

    def remove_owner(self, pid: int) -> int:
        """Drop every value owned by ``pid`` and every subscription held by ``pid``.

        Returns the number of values removed (their strings go back to the pool).
        """
        gone = [oid for oid, r in self.entries.items() if r.owner_pid == pid]
        for oid in gone:
            self.strings.release(self.entries.pop(oid).desc.strings())
        for rec in self.entries.values():
            rec.subscribers = [s for s in rec.subscribers if s[0] != pid]
        return len(gone)

    def statistics(self) -> dict[str, Any]:
        """``{count, capacity, usage_pct, high_water, high_water_pct, warning}`` (§10.3)."""
        return table_statistics(len(self.entries), self.capacity, self.high_water)
