"""Load-time registration of an image's value and command metadata (spec §13.1 step 5, §14.5).

:func:`register_metadata` is all or nothing: every entry is validated against the image and
both tables first, and only then registered, so a conflict leaves the tables untouched and the
executive can fail the load cleanly (§13.1: "failure aborts the load"). Error codes follow the
executive's ``metadata_value_*`` style (hsx-executive §7.3) and name ``group:id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ._hxe_meta import CommandEntry, ValueEntry
from ._valcmd_commands import CommandDescriptors, CommandRegistry
from ._valcmd_const import OK, VAL_PERSIST, MetadataError
from ._valcmd_pool import Emit, make_oid
from ._valcmd_values import ValueDescriptors, ValueRegistry

__all__ = ["MetadataRegistration", "register_metadata"]


@dataclass(frozen=True, slots=True)
class MetadataRegistration:
    """OIDs registered for one image, in the order of its metadata entries."""

    values: list[int]
    commands: list[int]


def _metadata_unit(unit: str | None) -> str | None:
    """A metadata unit string as a unit descriptor holds it: its first 4 bytes (u32 code)."""
    if unit is None:
        return None
    return unit.encode("utf-8")[:4].decode("utf-8", "ignore")


def _value_descriptors(v: ValueEntry) -> ValueDescriptors:
    """The descriptors the reference synthesises for a metadata value (§14.5)."""
    d = ValueDescriptors(group_name=v.group_name or None, name=v.name or None)
    if v.unit or v.epsilon:
        d.unit = _metadata_unit(v.unit) or ""
        d.epsilon = v.epsilon
    if v.min or v.max:
        d.range = (v.min, v.max)
    if v.persist_key:
        d.persist_key = v.persist_key
    return d


def _command_descriptors(c: CommandEntry) -> CommandDescriptors:
    """The descriptors synthesised for a metadata command: a 0x10 one if it has name or help."""
    return CommandDescriptors(
        name=c.name or None,
        help=c.help or None,
        group_name=c.group_name or None,
        has_name=bool(c.name or c.help),
    )


def _u(value: object, bits: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < (1 << bits)


class _Item(NamedTuple):
    """One metadata entry reduced to what validation needs."""

    group: object
    item_id: object
    fields: list[tuple[object, int]]  # (value, bits) of the other integer fields
    strings: list[str]  # what it would put into the string pool


def _check_entries(kind: str, items: list[_Item], table: ValueRegistry | CommandRegistry, owner_pid: int) -> None:
    """Validate one kind of metadata entries against the image and the table (no changes)."""
    seen: set[int] = set()
    for i, item in enumerate(items):
        group, item_id = item.group, item.item_id
        if not (isinstance(group, int) and _u(group, 8) and isinstance(item_id, int) and _u(item_id, 8)):
            raise MetadataError(
                f"metadata_{kind}_range:{group}:{item_id}",
                f"{kind} entry {i} has group {group!r} and id {item_id!r}; both must be integers 0..255",
            )
        for value, bits in item.fields:
            if not _u(value, bits):
                raise MetadataError(
                    f"metadata_{kind}_invalid:{group}:{item_id}",
                    f"{kind} {group}:{item_id} has field value {value!r}, expected an unsigned {bits}-bit integer",
                )
        oid = make_oid(group, item_id)
        if oid in seen:
            raise MetadataError(
                f"metadata_{kind}_duplicate:{group}:{item_id}",
                f"{kind} {group}:{item_id} (oid 0x{oid:04X}) is declared twice in the image; remove one",
            )
        seen.add(oid)
        existing = table.entries.get(oid)
        if existing is not None:
            raise MetadataError(
                f"metadata_{kind}_exists:{group}:{item_id}",
                f"{kind} {group}:{item_id} (oid 0x{oid:04X}) is already registered by pid {existing.owner_pid}; "
                f"end that task or change the id (loading pid {owner_pid})",
            )
    if len(table.entries) + len(items) > table.capacity:
        raise MetadataError(
            f"metadata_{kind}_capacity",
            f"the image declares {len(items)} {kind}s but only {table.capacity - len(table.entries)} of "
            f"{table.capacity} slots are free",
        )
    strings = [s for item in items for s in item.strings]
    if not table.strings.fits(strings):
        need = table.strings.cost(strings)
        free = table.strings.capacity - table.strings.used
        raise MetadataError(
            f"metadata_{kind}_strings",
            f"the image's {kind} names need {need} more bytes of the {kind} string pool but {free} are free",
        )


def register_metadata(
    value_table: ValueRegistry,
    command_table: CommandRegistry,
    values: list[ValueEntry],
    commands: list[CommandEntry],
    owner_pid: int,
    *,
    emit: Emit | None = None,
) -> MetadataRegistration:
    """Register an image's metadata values and commands for ``owner_pid``, all or nothing.

    Spec §13.1 step 5 and §14.5: values get the entry's flags (PERSIST forced when
    ``persist_key`` ≠ 0), auth level and initial f16, with name/group/unit/range/persist
    descriptors synthesised; commands keep ``handler_offset`` as ``handler_ref`` (never run).

    Everything is validated before anything is stored: ids 0..255, no OID twice in the
    image, no OID already in the table (whoever owns it), room in the table and the string
    pool. Only then is each entry registered (emitting ``value_registered`` /
    ``cmd_registered``).

    Returns:
        the registered OIDs.

    Raises:
        MetadataError: the first problem, with a ``code`` naming ``group:id``; no entry was
            registered. The caller must then fail the load (§13.1: "failure aborts the load").
    """
    vitems = [
        _Item(v.group, v.value_id, [(v.flags, 8), (v.auth, 8), (v.init, 16), (v.epsilon, 16), (v.min, 16),
                                    (v.max, 16), (v.persist_key, 16)], _value_descriptors(v).strings())
        for v in values
    ]  # fmt: skip
    citems = [
        _Item(c.group, c.cmd_id, [(c.flags, 8), (c.auth, 8), (c.handler_offset, 32)], _command_descriptors(c).strings())
        for c in commands
    ]
    _check_entries("value", vitems, value_table, owner_pid)
    _check_entries("command", citems, command_table, owner_pid)
    voids: list[int] = []
    for v in values:
        flags = v.flags | (VAL_PERSIST if v.persist_key else 0)
        status, oid = value_table.register(
            v.group, v.value_id, flags, owner_pid, auth_level=v.auth, init=v.init,
            desc=_value_descriptors(v), emit=emit,
        )  # fmt: skip
        assert status == OK, f"validated value {v.group}:{v.value_id} failed with status {status}"
        voids.append(oid)
    coids: list[int] = []
    for c in commands:
        status, oid = command_table.register(
            c.group, c.cmd_id, c.flags, owner_pid, auth_level=c.auth, desc=_command_descriptors(c),
            handler_ref=c.handler_offset, emit=emit,
        )  # fmt: skip
        assert status == OK, f"validated command {c.group}:{c.cmd_id} failed with status {status}"
        coids.append(oid)
    return MetadataRegistration(voids, coids)
