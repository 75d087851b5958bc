"""MVASM metadata directives `.value`, `.cmd`, `.mailbox` → HXE metadata entries (spec §15.3).

Each directive takes a JSON object or a list of objects. Unknown keys are reported as
warnings (the reference ignores them); wrong types and out-of-range numbers are errors.
f16 fields given as numbers are encoded with IEEE round-to-nearest (``struct 'e'``, the
codec the value service uses); the ``*_raw`` variants take the 16-bit pattern directly.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

from executive.hsx._asm_source import Loc, SymRef, is_symbol
from executive.hsx._hxe_meta import (
    AUTH_LEVELS,
    COMMAND_FLAGS,
    VALUE_FLAGS,
    CommandEntry,
    HxeError,
    MailboxEntry,
    ValueEntry,
    parse_flag_names,
)

__all__ = ["PendingCommand", "command_entry", "mailbox_entry", "parse_json_objects", "value_entry"]

_VALUE_KEYS = {
    "group", "group_id", "id", "value", "value_id", "name", "group_name", "unit", "flags", "auth",
    "init", "init_raw", "epsilon", "epsilon_raw", "min", "min_raw", "max", "max_raw",
    "persist_key", "rate_ms",
}  # fmt: skip
_COMMAND_KEYS = {"group", "group_id", "id", "cmd", "cmd_id", "name", "group_name", "help", "flags", "auth",
                 "handler", "handler_offset"}  # fmt: skip


@dataclass(slots=True)
class PendingCommand:
    """A command whose handler label is resolved by the linker."""

    entry: CommandEntry
    handler: SymRef | None  # None: handler_offset is already final
    loc: Loc


def parse_json_objects(text: str, loc: Loc, directive: str) -> list[dict[str, Any]]:
    """Parse the JSON argument of a metadata directive into a list of objects."""
    text = text.strip()
    if not text:
        raise loc.error(f'{directive} needs a JSON object, e.g. {directive} {{"group": 1, "id": 2}}')
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        hint = " (note: ';' starts a comment, even inside JSON strings)" if text.count('"') % 2 else ""
        raise loc.error(f"{directive}: invalid JSON: {exc}{hint}") from None
    items = doc if isinstance(doc, list) else [doc]
    for item in items:
        if not isinstance(item, dict):
            raise loc.error(f"{directive}: expected a JSON object or a list of objects")
    return items


def _pick(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in obj and obj[key] is not None:
            return obj[key]
    return None


def _int(obj: dict[str, Any], keys: tuple[str, ...], loc: Loc, lo: int, hi: int, default: int | None = 0) -> int:
    value = _pick(obj, keys)
    if value is None:
        if default is None:
            raise loc.error(f"missing required key {keys[0]!r}")
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise loc.error(f"{keys[0]} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise loc.error(f"{keys[0]} = {value} is out of range {lo}..{hi}")
    return value


def _str(obj: dict[str, Any], key: str, loc: Loc) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise loc.error(f"{key} must be a string, got {value!r}")
    return value


def _names(obj: dict[str, Any], key: str, table: dict[str, int], loc: Loc, hi: int) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    try:
        mask = parse_flag_names(value, table, key)
    except HxeError as exc:
        raise loc.error(str(exc)) from None
    if not 0 <= mask <= hi:
        raise loc.error(f"{key} = {mask} is out of range 0..{hi}")
    return mask


def _f16(obj: dict[str, Any], key: str, loc: Loc) -> int:
    raw = obj.get(f"{key}_raw")
    if raw is not None:
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 0xFFFF:
            raise loc.error(f"{key}_raw must be a 16-bit integer pattern, got {raw!r}")
        return raw
    value = obj.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise loc.error(f"{key} must be a number, got {value!r}")
    if math.isfinite(value) and abs(value) > 65504:
        raise loc.error(f"{key} = {value} does not fit a half float (largest is 65504)")
    return int.from_bytes(struct.pack(">e", float(value)), "big")


def _unknown(obj: dict[str, Any], known: set[str], loc: Loc, directive: str, warnings: list[str]) -> None:
    for key in obj:
        if key not in known:
            warnings.append(f"{loc.file}:{loc.line}:{loc.column}: warning: {directive}: unknown key {key!r} ignored")


def value_entry(obj: dict[str, Any], loc: Loc, warnings: list[str]) -> ValueEntry:
    """Build a :class:`ValueEntry` from a `.value` object."""
    _unknown(obj, _VALUE_KEYS, loc, ".value", warnings)
    return ValueEntry(
        group=_int(obj, ("group", "group_id"), loc, 0, 255, None),
        value_id=_int(obj, ("id", "value", "value_id"), loc, 0, 255, None),
        flags=_names(obj, "flags", VALUE_FLAGS, loc, 255),
        auth=_names(obj, "auth", AUTH_LEVELS, loc, 255),
        init=_f16(obj, "init", loc),
        name=_str(obj, "name", loc),
        unit=_str(obj, "unit", loc),
        epsilon=_f16(obj, "epsilon", loc),
        min=_f16(obj, "min", loc),
        max=_f16(obj, "max", loc),
        persist_key=_int(obj, ("persist_key",), loc, 0, 0xFFFF),
        group_name=_str(obj, "group_name", loc),
    )


def command_entry(obj: dict[str, Any], loc: Loc, warnings: list[str]) -> PendingCommand:
    """Build a command entry from a `.cmd` object; a label handler is resolved at link time."""
    _unknown(obj, _COMMAND_KEYS, loc, ".cmd", warnings)
    entry = CommandEntry(
        group=_int(obj, ("group", "group_id"), loc, 0, 255, None),
        cmd_id=_int(obj, ("id", "cmd", "cmd_id"), loc, 0, 255, None),
        flags=_names(obj, "flags", COMMAND_FLAGS, loc, 255),
        auth=_names(obj, "auth", AUTH_LEVELS, loc, 255),
        name=_str(obj, "name", loc),
        help=_str(obj, "help", loc),
        group_name=_str(obj, "group_name", loc),
    )
    handler = obj.get("handler")
    if isinstance(handler, str):
        if not is_symbol(handler):
            raise loc.error(f".cmd handler must be a code label, got {handler!r}")
        return PendingCommand(entry, SymRef(handler), loc)
    if handler is not None:
        entry.handler_offset = _int(obj, ("handler",), loc, 0, 0xFFFFFFFF)
    else:
        entry.handler_offset = _int(obj, ("handler_offset",), loc, 0, 0xFFFFFFFF)
    return PendingCommand(entry, None, loc)


def mailbox_entry(obj: dict[str, Any], loc: Loc) -> MailboxEntry:
    """Validate a `.mailbox` object (target required; other keys kept verbatim)."""
    try:
        return MailboxEntry.from_json(obj, ".mailbox")
    except HxeError as exc:
        raise loc.error(str(exc)) from None
