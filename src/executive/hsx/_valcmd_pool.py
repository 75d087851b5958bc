"""The shared string pool of a value or command table, and small shared helpers (spec §12).

Each table (values, commands) has its own 4096-byte pool for the names, group names and
help texts of its entries (§12 "4096-byte string table"; hsx-executive §10.3 reports it as
``strings`` in ``val.stats``/``cmd.stats``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ._valcmd_const import EEXIST, EINVAL, ENOSPC, OK, STRING_POOL_BYTES, WARNING_PCT
from .mailbox import MailboxError, MailboxStatus

__all__ = ["Emit", "StringPool", "make_oid", "no_emit", "open_status", "table_statistics"]

#: ``emit(type, pid, data)``: one ``value_*``/``cmd_*`` event (hsx-executive §5.3); its result is ignored
Emit = Callable[[str, "int | None", dict[str, Any]], object]


def make_oid(group: int, item_id: int) -> int:
    """OID = ``(group << 8) | id`` (§12), both parts taken as u8."""
    return ((group & 0xFF) << 8) | (item_id & 0xFF)


def no_emit(kind: str, pid: int | None, data: dict[str, Any]) -> None:
    """The event sink used when the host passes none."""
    return None


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def table_statistics(count: int, capacity: int, high_water: int) -> dict[str, Any]:
    """``{count, capacity, usage_pct, high_water, high_water_pct, warning}`` (§10.3)."""
    usage = _pct(count, capacity)
    return {
        "count": count,
        "capacity": capacity,
        "usage_pct": usage,
        "high_water": high_water,
        "high_water_pct": _pct(high_water, capacity),
        "warning": usage >= WARNING_PCT,
    }


def open_status(exc: MailboxError) -> int:
    """Status for a failed handle open: the handle/descriptor quota is ENOSPC, else EINVAL."""
    return ENOSPC if exc.status == MailboxStatus.NO_DESCRIPTOR else EINVAL


class StringPool:
    """A table's string budget (§12: 4096 bytes per table).

    Each distinct string costs its UTF-8 length plus a NUL. Strings are de-duplicated and
    reference-counted, so twenty values of one group pay for the group name once, and the
    bytes come back when the last entry using a string is removed. (The spec gives only the
    size; de-duplication is our choice and never makes a registration fail that a
    non-de-duplicating pool would accept.)
    """

    def __init__(self, capacity: int = STRING_POOL_BYTES) -> None:
        self.capacity = capacity  # total bytes
        self.used = 0  # == sum of size(s) over the keys of _refs
        self.high_water = 0  # max of ``used`` ever
        self._refs: dict[str, int] = {}  # string -> number of entries holding it (always > 0)

    @staticmethod
    def size(text: str) -> int:
        """Bytes one copy of ``text`` takes in the pool."""
        return len(text.encode("utf-8")) + 1

    def cost(self, strings: Iterable[str]) -> int:
        """Bytes that :meth:`acquire` of ``strings`` would add (new distinct strings only)."""
        return sum(self.size(s) for s in set(strings) if s not in self._refs)

    def fits(self, strings: Iterable[str]) -> bool:
        """Whether ``strings`` can be acquired without passing the capacity."""
        return self.used + self.cost(strings) <= self.capacity

    def acquire(self, strings: Iterable[str]) -> None:
        """Take one reference per item; the caller checked :meth:`fits` first."""
        for s in strings:
            n = self._refs.get(s, 0)
            if n == 0:
                self.used += self.size(s)
            self._refs[s] = n + 1
        self.high_water = max(self.high_water, self.used)

    def release(self, strings: Iterable[str]) -> None:
        """Drop one reference per item; a string's bytes return when its count reaches 0."""
        for s in strings:
            n = self._refs.get(s, 0)
            if n > 1:
                self._refs[s] = n - 1
            elif n == 1:
                del self._refs[s]
                self.used -= self.size(s)

    def statistics(self) -> dict[str, Any]:
        """``{used_bytes, total_bytes, usage_pct, high_water_bytes, high_water_pct, warning}``
        (hsx-executive §10.3)."""
        usage = _pct(self.used, self.capacity)
        return {
            "used_bytes": self.used,
            "total_bytes": self.capacity,
            "usage_pct": usage,
            "high_water_bytes": self.high_water,
            "high_water_pct": _pct(self.high_water, self.capacity),
            "warning": usage >= WARNING_PCT,
        }


def admission_status(
    entries: dict[int, Any], capacity: int, pool: StringPool, oids: list[int], strings: list[str]
) -> int:
    """Status a registration of ``oids`` with ``strings`` would get in one table: EEXIST, ENOSPC or OK."""
    if any(o in entries for o in oids):
        return EEXIST
    if len(entries) + len(oids) > capacity or not pool.fits(strings):
        return ENOSPC
    return OK
