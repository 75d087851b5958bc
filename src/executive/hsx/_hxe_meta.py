"""HXE v2 metadata sections: value, command and mailbox entries (spec hsx-vm.md §14.4).

This module is the codec for the *payload* of the three metadata section types; the
header, the section table and the validation order live in :mod:`executive.hsx.hxe`.
It also owns :class:`HxeError` (the one error type of the HXE layer) because it is the
lowest module that raises it; :mod:`executive.hsx.hxe` re-exports it.

Entry layouts (big-endian like the header)::

    value   (20 bytes): u8 group, u8 value_id, u8 flags, u8 auth, u16 init f16, u16 name_off,
                        u16 unit_off, u16 epsilon f16, u16 min f16, u16 max f16,
                        u16 persist_key, u16 group_name_off
    command (16 bytes): u8 group, u8 cmd_id, u8 flags, u8 auth, u32 handler_offset,
                        u16 name_off, u16 help_off, u32 (low 16 bits group_name_off)
    mailbox (16 bytes, legacy binary): u32 name_off, u16 queue_depth, u16 mode, u64 reserved

String offsets are relative to the section start; 0 means "no string". The writer
de-duplicates strings per section. Mailbox sections are normally UTF-8 JSON
(``{"version":1,"mailboxes":[...]}``), which is what :func:`encode_mailboxes` writes.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AUTH_LEVELS",
    "COMMAND_ENTRY_SIZE",
    "COMMAND_FLAGS",
    "MAILBOX_ENTRY_SIZE",
    "MAILBOX_MODES",
    "VALUE_ENTRY_SIZE",
    "VALUE_FLAGS",
    "CommandEntry",
    "HxeError",
    "MailboxEntry",
    "ValueEntry",
    "decode_commands",
    "decode_mailboxes",
    "decode_values",
    "encode_commands",
    "encode_mailboxes",
    "encode_values",
    "parse_flag_names",
]


class HxeError(ValueError):
    """An HXE image is malformed, or an image cannot be written in the requested form.

    The message says which rule of spec §14.6 failed, with the offending values.
    """


VALUE_ENTRY_SIZE = 20
COMMAND_ENTRY_SIZE = 16
MAILBOX_ENTRY_SIZE = 16

_VALUE = struct.Struct(">BBBBHHHHHHHH")
_COMMAND = struct.Struct(">BBBBIHHI")
_MAILBOX = struct.Struct(">IHHQ")

#: value flag names (spec §12.1)
VALUE_FLAGS: dict[str, int] = {"RO": 0x01, "PERSIST": 0x02, "STICKY": 0x04, "PIN": 0x08, "BOOL": 0x10}
#: command flag names (spec §12.2)
COMMAND_FLAGS: dict[str, int] = {"PIN": 0x01, "ASYNC": 0x02}
#: auth level names (spec §15.3 `.value`)
AUTH_LEVELS: dict[str, int] = {"PUBLIC": 0, "USER": 1, "ADMIN": 2, "FACTORY": 3}
#: mailbox mode names accepted in JSON metadata (spec §14.4, §11.4)
MAILBOX_MODES: dict[str, int] = {
    "RDONLY": 0x01,
    "READONLY": 0x01,
    "RO": 0x01,
    "WRONLY": 0x02,
    "WRITEONLY": 0x02,
    "WO": 0x02,
    "RDWR": 0x03,
    "RW": 0x03,
    "TAP": 0x04,
    "FANOUT": 0x08,
    "FANOUT_DROP": 0x10,
    "FANOUT_BLOCK": 0x20,
}


def parse_flag_names(value: object, table: dict[str, int], what: str) -> int:
    """Turn an int or a ``"A|B"`` string of names from ``table`` into a bit mask.

    Raises:
        HxeError: unknown name or a value that is neither int nor str.
    """
    if isinstance(value, bool):
        raise HxeError(f"{what} must be an integer or a name string, got {value!r}")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise HxeError(f"{what} must be an integer or a name string, got {value!r}")
    mask = 0
    for part in value.split("|"):
        name = part.strip().upper()
        if not name:
            continue
        if name not in table:
            known = "|".join(table)
            raise HxeError(f"{what}: unknown name {part.strip()!r} (known: {known})")
        mask |= table[name]
    return mask


@dataclass(slots=True)
class ValueEntry:
    """A declared value (`.value`); f16 fields are raw 16-bit patterns."""

    group: int
    value_id: int
    flags: int = 0
    auth: int = 0
    init: int = 0  # f16 bits
    name: str | None = None
    unit: str | None = None
    epsilon: int = 0  # f16 bits
    min: int = 0  # f16 bits
    max: int = 0  # f16 bits
    persist_key: int = 0
    group_name: str | None = None


@dataclass(slots=True)
class CommandEntry:
    """A declared command (`.cmd`); ``handler_offset`` is a code byte offset, never executed."""

    group: int
    cmd_id: int
    flags: int = 0
    auth: int = 0
    handler_offset: int = 0
    name: str | None = None
    help: str | None = None
    group_name: str | None = None


@dataclass(slots=True)
class MailboxEntry:
    """A declared mailbox (`.mailbox`). ``raw`` keeps the JSON object verbatim for writing."""

    target: str
    capacity: int = 0  # 0 = the manager's default
    mode_mask: int = 0  # 0 = RDWR at bind time
    owner_pid: int | None = None
    bindings: list[tuple[int, int]] = field(default_factory=list)  # (pid, flags), stored only
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: object, where: str = "mailbox") -> MailboxEntry:
        """Validate one JSON mailbox object (spec §14.4) and normalise its fields.

        Raises:
            HxeError: not an object, no ``target``/``name``, or a field of the wrong type.
        """
        if not isinstance(obj, dict):
            raise HxeError(f"{where}: entry must be a JSON object, got {type(obj).__name__}")
        target = obj.get("target") or obj.get("name")
        if not isinstance(target, str) or not target:
            raise HxeError(f"{where}: entry needs a non-empty string 'target' (or 'name')")
        capacity = _json_int(obj, ("capacity", "queue_depth"), where)
        mode_value: object = 0
        for key in ("mode_mask", "mode", "flags"):
            if key in obj and obj[key] is not None:
                mode_value = obj[key]
                break
        mode = parse_flag_names(mode_value, MAILBOX_MODES, f"{where}: mode")
        owner = obj.get("owner_pid")
        if owner is not None and (isinstance(owner, bool) or not isinstance(owner, int)):
            raise HxeError(f"{where}: owner_pid must be an integer, got {owner!r}")
        bindings: list[tuple[int, int]] = []
        raw_bindings = obj.get("bindings") or []
        if not isinstance(raw_bindings, list):
            raise HxeError(f"{where}: bindings must be a list")
        for i, b in enumerate(raw_bindings):
            if not isinstance(b, dict):
                raise HxeError(f"{where}: bindings[{i}] must be an object with pid and flags")
            pid = _json_int(b, ("pid",), f"{where}: bindings[{i}]")
            flags = _json_int(b, ("flags",), f"{where}: bindings[{i}]")
            bindings.append((pid, flags))
        return cls(target, capacity, mode, owner, bindings, dict(obj))

    def to_json(self) -> dict[str, Any]:
        """The JSON object written into the mailbox section."""
        if self.raw:
            return dict(self.raw)
        obj: dict[str, Any] = {"target": self.target}
        if self.capacity:
            obj["capacity"] = self.capacity
        if self.mode_mask:
            obj["mode_mask"] = self.mode_mask
        if self.owner_pid is not None:
            obj["owner_pid"] = self.owner_pid
        if self.bindings:
            obj["bindings"] = [{"pid": p, "flags": f} for p, f in self.bindings]
        return obj


def _json_int(obj: dict[str, Any], keys: tuple[str, ...], where: str) -> int:
    for key in keys:
        if key in obj and obj[key] is not None:
            value = obj[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise HxeError(f"{where}: {key} must be an integer, got {value!r}")
            return value
    return 0


# ---------------------------------------------------------------------------------------
# decoding


def _string(section: bytes, off: int, what: str) -> str | None:
    """Read the NUL-terminated UTF-8 string at ``off`` (0 = none) inside ``section``."""
    if off == 0:
        return None
    if off >= len(section):
        raise HxeError(f"{what}: string offset {off} is outside the section ({len(section)} bytes)")
    end = section.find(b"\0", off)
    if end < 0:
        raise HxeError(f"{what}: string at offset {off} is not NUL-terminated inside the section")
    try:
        return section[off:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HxeError(f"{what}: string at offset {off} is not valid UTF-8") from exc


def _check_count(section: bytes, count: int, size: int, kind: str) -> None:
    if count * size > len(section):
        raise HxeError(
            f"{kind} section holds {len(section)} bytes but entry_count {count} needs "
            f"{count * size} ({size} bytes per entry)"
        )


def decode_values(section: bytes, count: int) -> list[ValueEntry]:
    """Decode ``count`` value entries plus their strings from a value section."""
    _check_count(section, count, VALUE_ENTRY_SIZE, "value")
    out = []
    for i in range(count):
        f = _VALUE.unpack_from(section, i * VALUE_ENTRY_SIZE)
        where = f"value entry {i}"
        out.append(
            ValueEntry(
                group=f[0], value_id=f[1], flags=f[2], auth=f[3], init=f[4],
                name=_string(section, f[5], where), unit=_string(section, f[6], where),
                epsilon=f[7], min=f[8], max=f[9], persist_key=f[10],
                group_name=_string(section, f[11], where),
            )
        )  # fmt: skip
    return out


def decode_commands(section: bytes, count: int) -> list[CommandEntry]:
    """Decode ``count`` command entries plus their strings from a command section."""
    _check_count(section, count, COMMAND_ENTRY_SIZE, "command")
    out = []
    for i in range(count):
        f = _COMMAND.unpack_from(section, i * COMMAND_ENTRY_SIZE)
        where = f"command entry {i}"
        out.append(
            CommandEntry(
                group=f[0], cmd_id=f[1], flags=f[2], auth=f[3], handler_offset=f[4],
                name=_string(section, f[5], where), help=_string(section, f[6], where),
                group_name=_string(section, f[7] & 0xFFFF, where),
            )
        )  # fmt: skip
    return out


def decode_mailboxes(section: bytes, count: int) -> list[MailboxEntry]:
    """Decode a mailbox section: JSON when it starts with ``{``/``[``, else legacy binary."""
    text = section.rstrip(b"\0").lstrip()
    if text[:1] in (b"{", b"["):
        return _decode_mailbox_json(text)
    _check_count(section, count, MAILBOX_ENTRY_SIZE, "mailbox")
    out = []
    for i in range(count):
        name_off, depth, mode, _reserved = _MAILBOX.unpack_from(section, i * MAILBOX_ENTRY_SIZE)
        target = _string(section, name_off, f"mailbox entry {i}")
        if not target:
            raise HxeError(f"mailbox entry {i}: needs a target name")
        out.append(MailboxEntry(target, depth, mode, raw={}))
    return out


def _decode_mailbox_json(text: bytes) -> list[MailboxEntry]:
    try:
        doc = json.loads(text.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise HxeError(f"mailbox section: invalid JSON ({_short(exc)})") from exc
    if isinstance(doc, dict):
        version = doc.get("version", 1)
        if version != 1 or isinstance(version, bool):
            raise HxeError(f"mailbox section: unsupported JSON version {version!r} (expected 1)")
        items = doc.get("mailboxes", [])
    else:
        items = doc
    if not isinstance(items, list):
        raise HxeError("mailbox section: 'mailboxes' must be a JSON list")
    return [MailboxEntry.from_json(obj, f"mailbox entry {i}") for i, obj in enumerate(items)]


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


# ---------------------------------------------------------------------------------------
# encoding


class _Strings:
    """Per-section string area with de-duplication; offsets are from the section start."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.data = bytearray()
        self.index: dict[str, int] = {}

    def add(self, text: str | None) -> int:
        if text is None:
            return 0
        if text not in self.index:
            if "\0" in text:
                raise HxeError(f"string {text!r} contains a NUL character")
            try:
                raw = text.encode("utf-8")
            except UnicodeEncodeError:
                raise HxeError(f"string {text!r} cannot be encoded as UTF-8") from None
            self.index[text] = self.base + len(self.data)
            self.data += raw + b"\0"
        off = self.index[text]
        if off > 0xFFFF:
            raise HxeError(f"string table too large: offset {off} does not fit 16 bits")
        return off


def _u(value: int, bits: int, what: str) -> int:
    if not 0 <= value < (1 << bits):
        raise HxeError(f"{what} = {value} does not fit an unsigned {bits}-bit field")
    return value


def encode_values(values: list[ValueEntry]) -> bytes:
    """Encode value entries sorted by (group, id), followed by their string area."""
    entries = sorted(values, key=lambda v: (v.group, v.value_id))
    strings = _Strings(len(entries) * VALUE_ENTRY_SIZE)
    out = bytearray()
    for v in entries:
        w = f"value {v.group}:{v.value_id}"
        out += _VALUE.pack(
            _u(v.group, 8, f"{w} group"), _u(v.value_id, 8, f"{w} id"),
            _u(v.flags, 8, f"{w} flags"), _u(v.auth, 8, f"{w} auth"), _u(v.init, 16, f"{w} init"),
            strings.add(v.name), strings.add(v.unit), _u(v.epsilon, 16, f"{w} epsilon"),
            _u(v.min, 16, f"{w} min"), _u(v.max, 16, f"{w} max"),
            _u(v.persist_key, 16, f"{w} persist_key"), strings.add(v.group_name),
        )  # fmt: skip
    return bytes(out + strings.data)


def encode_commands(commands: list[CommandEntry]) -> bytes:
    """Encode command entries sorted by (group, id), followed by their string area."""
    entries = sorted(commands, key=lambda c: (c.group, c.cmd_id))
    strings = _Strings(len(entries) * COMMAND_ENTRY_SIZE)
    out = bytearray()
    for c in entries:
        w = f"command {c.group}:{c.cmd_id}"
        out += _COMMAND.pack(
            _u(c.group, 8, f"{w} group"), _u(c.cmd_id, 8, f"{w} id"),
            _u(c.flags, 8, f"{w} flags"), _u(c.auth, 8, f"{w} auth"),
            _u(c.handler_offset, 32, f"{w} handler_offset"),
            strings.add(c.name), strings.add(c.help), strings.add(c.group_name),
        )  # fmt: skip
    return bytes(out + strings.data)


def encode_mailboxes(mailboxes: list[MailboxEntry]) -> bytes:
    """Encode mailboxes as compact JSON with sorted keys, entries sorted by target (as hld.py)."""
    items = [m.to_json() for m in sorted(mailboxes, key=lambda m: m.target)]
    doc = {"version": 1, "mailboxes": items}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")
