"""HXE executable images: read and write versions 1 and 2 (spec hsx-vm.md §14).

:func:`load_hxe` parses and validates an image in exactly the order of spec §14.6, so the
first broken rule is the one reported, and it raises nothing but :class:`HxeError` for
any byte string (fuzzed in tests/hsx/test_hxe.py). :func:`write_hxe` produces the layout
hld.py writes (§14.2): header | code | rodata | section table | section payloads.

Header (all integers big-endian)::

    0x00 magic 'HSXE'  0x04 u16 version  0x06 u16 flags  0x08 entry  0x0C code_len
    0x10 ro_len  0x14 bss_size  0x18 req_caps  0x1C crc32
    v2 only: 0x20 app_name[32]  0x40 meta_offset  0x44 meta_count  0x48 reserved[24]

The CRC (zlib CRC-32) covers ``file[0:0x1C] ++ file[header_size:]`` (§14.3): the v2 name,
table pointer and reserved bytes are *not* covered, trailing bytes are.

Beyond the spec, :data:`MAX_IMAGE_SIZE`, :data:`MAX_META_SECTIONS` and
:data:`MAX_META_ENTRIES` bound what a hostile file can make the loader allocate.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from executive.hsx._hxe_meta import (
    AUTH_LEVELS,
    COMMAND_FLAGS,
    MAILBOX_MODES,
    VALUE_FLAGS,
    CommandEntry,
    HxeError,
    MailboxEntry,
    ValueEntry,
    decode_commands,
    decode_mailboxes,
    decode_values,
    encode_commands,
    encode_mailboxes,
    encode_values,
    parse_flag_names,
)

__all__ = [
    "APP_NAME_SIZE",
    "AUTH_LEVELS",
    "COMMAND_FLAGS",
    "FLAG_ALLOW_MULTIPLE",
    "FLAG_MANIFEST",
    "HEADER_V1_SIZE",
    "HEADER_V2_SIZE",
    "HXE_MAGIC",
    "MAILBOX_MODES",
    "MAX_IMAGE_SIZE",
    "MAX_META_ENTRIES",
    "MAX_META_SECTIONS",
    "MAX_SECTION_BYTES",
    "SECTION_COMMANDS",
    "SECTION_MAILBOXES",
    "SECTION_VALUES",
    "VALUE_FLAGS",
    "CommandEntry",
    "HxeError",
    "HxeImage",
    "HxeSection",
    "MailboxEntry",
    "ValueEntry",
    "hxe_crc",
    "load_hxe",
    "parse_flag_names",
    "write_hxe",
]

HXE_MAGIC = 0x48535845  # "HSXE"
HEADER_V1_SIZE = 32
HEADER_V2_SIZE = 96
APP_NAME_SIZE = 32
FLAG_MANIFEST = 0x0001  # recorded, never parsed
FLAG_ALLOW_MULTIPLE = 0x0002  # v2: another instance may load under a suffixed name
SECTION_VALUES = 1
SECTION_COMMANDS = 2
SECTION_MAILBOXES = 3
MAX_SECTION_BYTES = 0x10000  # code_len, ro_len, bss_size limit (§14.6 rule 3)

#: refuse files larger than this before looking at them (code+rodata are ≤ 128 KiB)
MAX_IMAGE_SIZE = 1 << 20
#: at most this many metadata table entries
MAX_META_SECTIONS = 64
#: at most this many entries in one metadata section
MAX_META_ENTRIES = 256

_HEAD = struct.Struct(">IHHIIIIII")  # 0x00..0x1F
_V2_TAIL = struct.Struct(">32sII24s")  # 0x20..0x5F
_SECTION = struct.Struct(">IIII")
_SECTION_NAMES = {SECTION_VALUES: "value", SECTION_COMMANDS: "command", SECTION_MAILBOXES: "mailbox"}


@dataclass(slots=True)
class HxeSection:
    """One metadata table entry as stored (offset is from the file start)."""

    type: int
    offset: int
    size: int
    entry_count: int
    data: bytes = b""  # the section payload (kept so unknown types survive a rewrite)

    @property
    def kind(self) -> str:
        """``value``/``command``/``mailbox`` or ``type N`` for unknown types."""
        return _SECTION_NAMES.get(self.type, f"type {self.type}")


@dataclass(slots=True)
class HxeImage:
    """A parsed (or to-be-written) HXE image.

    ``crc`` and ``sections`` describe the file as read; :func:`write_hxe` recomputes both
    from the other fields (sections of unknown type are carried over).
    """

    code: bytes
    rodata: bytes = b""
    entry: int = 0
    version: int = 2
    flags: int = FLAG_ALLOW_MULTIPLE
    bss_size: int = 0
    req_caps: int = 0
    crc: int = 0
    app_name: str | None = None
    values: list[ValueEntry] = field(default_factory=list)
    commands: list[CommandEntry] = field(default_factory=list)
    mailboxes: list[MailboxEntry] = field(default_factory=list)
    sections: list[HxeSection] = field(default_factory=list)
    file_size: int = 0  # bytes in the file as read (0 for a constructed image)
    crc_ok: bool = True  # False only when loaded with verify_crc=False and the CRC differs
    computed_crc: int = 0  # the CRC of the bytes as read

    @property
    def header_size(self) -> int:
        """32 for v1, 96 for v2."""
        return HEADER_V1_SIZE if self.version == 1 else HEADER_V2_SIZE

    @property
    def allow_multiple_instances(self) -> bool:
        """v1 images always allow; v2 when flag 0x0002 is set (spec §13.1)."""
        return self.version == 1 or bool(self.flags & FLAG_ALLOW_MULTIPLE)


def hxe_crc(data: bytes) -> int:
    """CRC-32 over ``data[0:0x1C] ++ data[header_size:]`` (spec §14.3)."""
    version = int.from_bytes(data[4:6], "big") if len(data) >= 6 else 1
    header = HEADER_V2_SIZE if version == 2 else HEADER_V1_SIZE
    return zlib.crc32(data[header:], zlib.crc32(data[0:0x1C])) & 0xFFFFFFFF


def load_hxe(data: bytes, *, verify_crc: bool = True) -> HxeImage:
    """Parse and validate an HXE image (spec §14.6, checks in the spec's order).

    Args:
        data: the whole file.
        verify_crc: False records a mismatch in ``crc_ok`` instead of raising (``hsx info``).

    Returns:
        The image, with metadata decoded into ``values``/``commands``/``mailboxes``.

    Raises:
        HxeError: the first rule the file breaks, with the values involved. Nothing else.
    """
    data = bytes(data)
    size = len(data)
    # rule 1 (plus our own size bound)
    if size < HEADER_V1_SIZE:
        raise HxeError(f"file too small: {size} bytes, an HXE header needs at least 32")
    if size > MAX_IMAGE_SIZE:
        raise HxeError(f"file too large: {size} bytes (limit {MAX_IMAGE_SIZE})")
    magic, version, flags, entry, code_len, ro_len, bss, caps, crc = _HEAD.unpack_from(data)
    # rule 2
    app_name: str | None = None
    meta_offset = meta_count = 0
    if version == 2:
        if size < HEADER_V2_SIZE:
            raise HxeError(f"file too small for a version 2 header: {size} bytes, need 96")
        raw_name, meta_offset, meta_count, reserved = _V2_TAIL.unpack_from(data, 0x20)
        if any(reserved):
            raise HxeError("version 2 header: reserved bytes 0x48..0x5F must be zero")
        app_name = _app_name(raw_name)
    elif version != 1:
        raise HxeError(f"unsupported HXE version {version} (expected 1 or 2)")
    header_size = HEADER_V2_SIZE if version == 2 else HEADER_V1_SIZE
    # rule 3
    if magic != HXE_MAGIC:
        raise HxeError(f"bad magic 0x{magic:08X} (expected 0x{HXE_MAGIC:08X} 'HSXE')")
    for name, value in (("code_len", code_len), ("ro_len", ro_len), ("bss_size", bss)):
        if value > MAX_SECTION_BYTES:
            raise HxeError(f"{name} {value} (0x{value:X}) exceeds the limit 0x10000")
    if code_len % 4:
        raise HxeError(f"code_len {code_len} is not a multiple of 4")
    if entry % 4:
        raise HxeError(f"entry 0x{entry:X} is not a multiple of 4")
    # rule 4
    computed = hxe_crc(data)
    if computed != crc and verify_crc:
        raise HxeError(f"CRC mismatch: header says 0x{crc:08X}, contents give 0x{computed:08X}")
    # rule 5
    end_of_ro = header_size + code_len + ro_len
    if end_of_ro > size:
        raise HxeError(
            f"file truncated: header ({header_size}) + code_len ({code_len}) + ro_len "
            f"({ro_len}) = {end_of_ro} bytes, file has {size}"
        )
    # rule 6
    if entry >= code_len:
        raise HxeError(f"entry 0x{entry:X} is outside the code (code_len {code_len})")
    # rule 7
    if version == 2 and meta_offset != 0 and meta_offset < end_of_ro:
        raise HxeError(f"metadata table at offset {meta_offset} overlaps code/rodata (they end at {end_of_ro})")
    image = HxeImage(
        code=data[header_size : header_size + code_len],
        rodata=data[header_size + code_len : end_of_ro],
        entry=entry, version=version, flags=flags, bss_size=bss, req_caps=caps, crc=crc,
        app_name=app_name, file_size=size, crc_ok=computed == crc, computed_crc=computed,
    )  # fmt: skip
    # rule 8
    if version == 2 and meta_count > 0 and meta_offset > 0:
        _load_metadata(image, data, header_size, meta_offset, meta_count)
    return image


def _app_name(raw: bytes) -> str | None:
    text = raw.split(b"\0", 1)[0]
    if any(b >= 0x80 for b in text):
        raise HxeError("version 2 header: app name is not ASCII")
    name = text.decode("ascii").strip()
    return name or None


def _load_metadata(image: HxeImage, data: bytes, header_size: int, offset: int, count: int) -> None:
    size = len(data)
    if count > MAX_META_SECTIONS:
        raise HxeError(f"metadata: {count} sections exceeds the limit {MAX_META_SECTIONS}")
    table_end = offset + count * _SECTION.size
    if offset < header_size or table_end > size:
        raise HxeError(
            f"metadata table at {offset}..{table_end} lies outside the file "
            f"(header ends at {header_size}, file has {size} bytes)"
        )
    for i in range(count):
        stype, soff, ssize, scount = _SECTION.unpack_from(data, offset + i * _SECTION.size)
        section = HxeSection(stype, soff, ssize, scount)
        where = f"metadata section {i} ({section.kind})"
        if soff < header_size or soff + ssize > size:
            raise HxeError(
                f"{where} at {soff}..{soff + ssize} lies outside the file "
                f"(header ends at {header_size}, file has {size} bytes)"
            )
        if scount > MAX_META_ENTRIES:
            raise HxeError(f"{where}: entry_count {scount} exceeds the limit {MAX_META_ENTRIES}")
        section.data = data[soff : soff + ssize]
        try:
            if stype == SECTION_VALUES:
                image.values.extend(decode_values(section.data, scount))
            elif stype == SECTION_COMMANDS:
                image.commands.extend(decode_commands(section.data, scount))
            elif stype == SECTION_MAILBOXES:
                image.mailboxes.extend(decode_mailboxes(section.data, scount))
        except HxeError as exc:
            raise HxeError(f"{where}: {exc}") from None
        if len(image.mailboxes) > MAX_META_ENTRIES:
            raise HxeError(f"{where}: more than {MAX_META_ENTRIES} mailboxes")
        image.sections.append(section)


def write_hxe(image: HxeImage, version: int | None = None) -> bytes:
    """Serialise ``image`` the way hld.py lays it out (spec §14.2), with a fresh CRC.

    Args:
        image: code, rodata, entry, flags and metadata to write (``crc``/``sections``
            offsets are recomputed; unknown-type sections are kept after the known ones).
        version: 1 or 2; None = ``image.version``.

    Raises:
        HxeError: v1 with an app name or metadata, sizes over 64 KiB, misaligned code or
            entry, an app name over 32 ASCII bytes, or a metadata field out of range.
    """
    version = image.version if version is None else version
    if version not in (1, 2):
        raise HxeError(f"cannot write HXE version {version} (expected 1 or 2)")
    code, rodata = bytes(image.code), bytes(image.rodata)
    for name, value in (("code", len(code)), ("rodata", len(rodata)), ("bss_size", image.bss_size)):
        if value > MAX_SECTION_BYTES:
            raise HxeError(f"{name} size {value} exceeds the limit 0x10000")
    if len(code) % 4 or image.entry % 4:
        raise HxeError("code length and entry must be multiples of 4")
    for name, value in (("entry", image.entry), ("bss_size", image.bss_size), ("req_caps", image.req_caps)):
        if not 0 <= value <= 0xFFFFFFFF:
            raise HxeError(f"{name} {value} does not fit an unsigned 32-bit header field")
    payloads: list[tuple[int, int, bytes]] = []  # (type, entry_count, bytes)
    if image.values:
        payloads.append((SECTION_VALUES, len(image.values), encode_values(image.values)))
    if image.commands:
        payloads.append((SECTION_COMMANDS, len(image.commands), encode_commands(image.commands)))
    if image.mailboxes:
        payloads.append((SECTION_MAILBOXES, len(image.mailboxes), encode_mailboxes(image.mailboxes)))
    known = (SECTION_VALUES, SECTION_COMMANDS, SECTION_MAILBOXES)
    payloads += [(s.type, s.entry_count, s.data) for s in image.sections if s.type not in known]
    name = (image.app_name or "").strip()
    if version == 1 and (payloads or name):
        raise HxeError("version 1 images cannot carry an app name or metadata; write version 2")
    header_size = HEADER_V2_SIZE if version == 2 else HEADER_V1_SIZE
    body = bytearray(code + rodata)
    meta_offset = 0
    if payloads:
        meta_offset = header_size + len(body)
        cursor = meta_offset + _SECTION.size * len(payloads)
        table = bytearray()
        for stype, count, blob in payloads:
            table += _SECTION.pack(stype, cursor, len(blob), count)
            cursor += len(blob)
        body += table
        for _, _, blob in payloads:
            body += blob
    head = _HEAD.pack(
        HXE_MAGIC, version, image.flags & 0xFFFF, image.entry, len(code), len(rodata),
        image.bss_size, image.req_caps & 0xFFFFFFFF, 0,
    )  # fmt: skip
    tail = b""
    if version == 2:
        try:
            raw_name = name.encode("ascii")
        except UnicodeEncodeError:
            raise HxeError(f"app name {name!r} is not ASCII") from None
        if len(raw_name) > APP_NAME_SIZE:
            raise HxeError(f"app name {name!r} is longer than {APP_NAME_SIZE} bytes")
        tail = _V2_TAIL.pack(raw_name, meta_offset, len(payloads), b"")
    out = bytearray(head + tail + body)
    out[0x1C:0x20] = hxe_crc(bytes(out)).to_bytes(4, "big")
    return bytes(out)
