"""HXE reader/writer (spec hsx-vm.md §14): round trips, CRC coverage, each §14.6 rejection, fuzzing."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executive.hsx import hxe
from executive.hsx.hxe import (
    CommandEntry,
    HxeError,
    HxeImage,
    HxeSection,
    MailboxEntry,
    ValueEntry,
    hxe_crc,
    load_hxe,
    write_hxe,
)

CODE = bytes.fromhex("0110000525000000")  # LDI R1, 5 ; RET


def _image(**kw: object) -> HxeImage:
    base: dict[str, object] = dict(
        code=CODE,
        rodata=b"hello\0",
        app_name="demo",
        values=[ValueEntry(1, 2, flags=3, auth=1, init=0x3C00, name="temp", unit="degC", group_name="sensors")],
        commands=[CommandEntry(1, 7, flags=2, handler_offset=4, name="reset", help="reset it", group_name="sensors")],
        mailboxes=[MailboxEntry.from_json({"target": "app:log", "capacity": 128, "mode": "RDWR|FANOUT"})],
    )
    base.update(kw)
    return HxeImage(**base)  # type: ignore[arg-type]


def _refresh_crc(data: bytearray) -> bytes:
    data[0x1C:0x20] = hxe_crc(bytes(data)).to_bytes(4, "big")
    return bytes(data)


def _patch(data: bytes, offset: int, fmt: str, value: int, crc: bool = True) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return _refresh_crc(out) if crc else bytes(out)


def _with_section(stype: int, payload: bytes, count: int) -> bytes:
    """A v2 image whose only metadata section is ``payload`` verbatim (the writer would re-encode)."""
    plain = bytearray(write_hxe(HxeImage(code=CODE)))
    table = len(plain)
    struct.pack_into(">II", plain, 0x40, table, 1)
    plain += struct.pack(">IIII", stype, table + 16, len(payload), count) + payload
    return _refresh_crc(plain)


def _reject(data: bytes, *fragments: str) -> str:
    with pytest.raises(HxeError) as info:
        load_hxe(data)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


# ------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("version", [1, 2])
def test_round_trip_plain(version: int) -> None:
    image = HxeImage(code=CODE, rodata=b"\x01\x02\x03", entry=4, version=version, bss_size=16, req_caps=0x12)
    data = write_hxe(image)
    assert len(data) == (32 if version == 1 else 96) + 8 + 3
    back = load_hxe(data)
    assert (back.version, back.code, back.rodata, back.entry) == (version, CODE, b"\x01\x02\x03", 4)
    assert (back.bss_size, back.req_caps, back.flags) == (16, 0x12, 0x0002)
    assert back.crc == int.from_bytes(data[0x1C:0x20], "big") == back.computed_crc
    assert back.allow_multiple_instances
    assert write_hxe(back) == data


def test_round_trip_metadata() -> None:
    data = write_hxe(_image())
    back = load_hxe(data)
    assert back.app_name == "demo"
    assert back.values == [
        ValueEntry(1, 2, flags=3, auth=1, init=0x3C00, name="temp", unit="degC", group_name="sensors")
    ]
    assert back.commands == [
        CommandEntry(1, 7, flags=2, handler_offset=4, name="reset", help="reset it", group_name="sensors")
    ]
    (mbx,) = back.mailboxes
    assert (mbx.target, mbx.capacity, mbx.mode_mask) == ("app:log", 128, 0x0B)
    assert [s.kind for s in back.sections] == ["value", "command", "mailbox"]
    assert write_hxe(back) == data


def test_layout_is_header_code_rodata_table_payloads() -> None:
    data = write_hxe(_image())
    meta_offset, meta_count = struct.unpack_from(">II", data, 0x40)
    assert meta_offset == 96 + len(CODE) + 6 and meta_count == 3
    table = [struct.unpack_from(">IIII", data, meta_offset + 16 * i) for i in range(3)]
    assert [t[0] for t in table] == [1, 2, 3]
    assert table[0][1] == meta_offset + 48  # payloads follow the table without padding
    assert table[1][1] == table[0][1] + table[0][2]
    assert table[2][1] + table[2][2] == len(data)
    # value section: the entry, then the de-duplicated strings ("sensors" once per section)
    value_section = data[table[0][1] : table[0][1] + table[0][2]]
    assert value_section.count(b"sensors\0") == 1
    mailbox_json = json.loads(data[table[2][1] :])
    assert mailbox_json == {"version": 1, "mailboxes": [{"capacity": 128, "mode": "RDWR|FANOUT", "target": "app:log"}]}


def test_entries_are_sorted_and_strings_shared() -> None:
    values = [ValueEntry(2, 1, name="b"), ValueEntry(1, 9, name="a"), ValueEntry(1, 3, name="a")]
    back = load_hxe(write_hxe(HxeImage(code=CODE, values=values)))
    assert [(v.group, v.value_id) for v in back.values] == [(1, 3), (1, 9), (2, 1)]
    assert back.sections[0].data.count(b"a\0") == 1


def test_header_fields_big_endian_and_flags() -> None:
    data = write_hxe(_image(flags=0, entry=4))
    assert data[:4] == b"HSXE"
    assert struct.unpack_from(">HHIII", data, 4) == (2, 0, 4, 8, 6)
    assert data[0x20:0x24] == b"demo" and data[0x24:0x40] == bytes(28)
    assert not load_hxe(data).allow_multiple_instances
    assert load_hxe(write_hxe(_image(flags=hxe.FLAG_ALLOW_MULTIPLE))).allow_multiple_instances


def test_crc_covers_exactly_the_named_bytes() -> None:
    data = write_hxe(_image())
    expected = zlib.crc32(data[:0x1C] + data[96:])
    assert int.from_bytes(data[0x1C:0x20], "big") == expected
    # v2 name is not covered: changing it keeps the CRC valid
    renamed = bytearray(data)
    renamed[0x20:0x24] = b"xyzw"
    assert load_hxe(bytes(renamed)).app_name == "xyzw"
    # trailing bytes are covered
    _reject(data + b"\0", "CRC mismatch")
    assert load_hxe(_refresh_crc(bytearray(data + b"\0"))).file_size == len(data) + 1


def test_unknown_section_type_is_kept() -> None:
    data = write_hxe(_image(sections=[HxeSection(type=9, offset=0, size=3, entry_count=1, data=b"xyz")]))
    back = load_hxe(data)
    assert [s.kind for s in back.sections] == ["value", "command", "mailbox", "type 9"]
    assert back.sections[-1].data == b"xyz"
    assert write_hxe(back) == data


def test_legacy_binary_mailbox_section() -> None:
    payload = struct.pack(">IHHQ", 16, 32, 3, 0) + b"svc:rx\0"
    back = load_hxe(_with_section(3, payload, 1))
    assert [(m.target, m.capacity, m.mode_mask) for m in back.mailboxes] == [("svc:rx", 32, 3)]


def test_mailbox_json_bare_array_and_name_alias() -> None:
    blob = b'  [{"name":"pid:3","queue_depth":16,"flags":"RO","owner_pid":3,"bindings":[{"pid":1,"flags":2}]}]\0\0'
    back = load_hxe(_with_section(3, blob, 1))
    (m,) = back.mailboxes
    assert (m.target, m.capacity, m.mode_mask, m.owner_pid, m.bindings) == ("pid:3", 16, 1, 3, [(1, 2)])


def test_load_without_crc_check_reports_status() -> None:
    data = bytearray(write_hxe(_image()))
    data[0x1C] ^= 0xFF
    image = load_hxe(bytes(data), verify_crc=False)
    assert not image.crc_ok and image.crc != image.computed_crc


# ------------------------------------------------------------------------------------------
# rejections, in the order of spec §14.6


def _v2() -> bytes:
    return write_hxe(_image())


def _v1() -> bytes:
    return write_hxe(HxeImage(code=CODE, rodata=b"ab", version=1))


def _meta_table(data: bytes) -> int:
    return int.from_bytes(data[0x40:0x44], "big")


REJECTIONS: list[tuple[str, object, tuple[str, ...]]] = [
    ("too small", lambda: _v1()[:31], ("too small", "31 bytes")),
    ("v2 too small", lambda: _v2()[:95], ("version 2", "95 bytes")),
    ("reserved", lambda: _patch(_v2(), 0x50, ">B", 1), ("reserved",)),
    ("name not ascii", lambda: _patch(_v2(), 0x20, ">B", 0xC3), ("not ASCII",)),
    ("version 3", lambda: _patch(_v1(), 4, ">H", 3), ("unsupported HXE version 3",)),
    ("version 0", lambda: _patch(_v1(), 4, ">H", 0), ("unsupported HXE version 0",)),
    ("magic", lambda: _patch(_v1(), 0, ">I", 0x48535846), ("bad magic 0x48535846",)),
    ("code_len big", lambda: _patch(_v1(), 0x0C, ">I", 0x10004), ("code_len", "0x10000")),
    ("ro_len big", lambda: _patch(_v1(), 0x10, ">I", 0x10001), ("ro_len",)),
    ("bss big", lambda: _patch(_v1(), 0x14, ">I", 0x20000), ("bss_size",)),
    ("code_len align", lambda: _patch(_v1(), 0x0C, ">I", 6), ("code_len 6", "multiple of 4")),
    ("entry align", lambda: _patch(_v1(), 0x08, ">I", 2), ("entry 0x2", "multiple of 4")),
    ("crc", lambda: _patch(_v1(), 0x1C, ">I", 0x12345678, crc=False), ("CRC mismatch", "0x12345678")),
    ("truncated", lambda: _patch(_v1(), 0x10, ">I", 50), ("truncated", "file has 42")),
    ("entry outside", lambda: _patch(_v1(), 0x08, ">I", 8), ("entry 0x8", "outside the code")),
    ("overlaps", lambda: _patch(_v2(), 0x40, ">I", 100), ("overlaps",)),
    ("table outside", lambda: _patch(_v2(), 0x44, ">I", 40), ("table", "outside the file")),
    ("too many sections", lambda: _patch(_v2(), 0x44, ">I", 65), ("65 sections",)),
    ("section outside", lambda: _patch(_v2(), _meta_table(_v2()) + 8, ">I", 5000), ("section 0", "outside the file")),
    ("section in header", lambda: _patch(_v2(), _meta_table(_v2()) + 4, ">I", 10), ("section 0", "outside the file")),
    ("value count", lambda: _patch(_v2(), _meta_table(_v2()) + 12, ">I", 3), ("entry_count 3", "needs 60")),
    ("too many entries", lambda: _patch(_v2(), _meta_table(_v2()) + 28, ">I", 300), ("entry_count 300", "limit")),
]


def test_entry_outside_code_without_code() -> None:
    data = bytearray(write_hxe(HxeImage(code=CODE, version=1)))
    struct.pack_into(">I", data, 0x0C, 0)
    _reject(_refresh_crc(data[:32] + data[32:]), "entry 0x0", "outside the code (code_len 0)")


@pytest.mark.parametrize(("name", "make", "fragments"), REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_rejections(name: str, make: object, fragments: tuple[str, ...]) -> None:
    _reject(make(), *fragments)  # type: ignore[operator]


def test_order_version_before_magic() -> None:
    data = _patch(_patch(_v1(), 0, ">I", 0), 4, ">H", 9)
    _reject(data, "unsupported HXE version 9")


def test_order_magic_before_crc() -> None:
    _reject(_patch(_v1(), 0, ">I", 0, crc=False), "bad magic")


def test_order_crc_before_truncation() -> None:
    _reject(_v1()[:-1], "CRC mismatch")


def test_file_too_large() -> None:
    _reject(_v1() + bytes(hxe.MAX_IMAGE_SIZE), "too large")


def test_string_offset_outside_section() -> None:
    entry = struct.pack(">BBBBHHHHHHHH", 1, 1, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0)
    _reject(_with_section(1, entry, 1), "value entry 0", "offset 40 is outside")


def test_string_not_terminated() -> None:
    entry = struct.pack(">BBBBIHHI", 1, 1, 0, 0, 0, 16, 0, 0) + b"abc"
    _reject(_with_section(2, entry, 1), "command entry 0", "not NUL-terminated")


def test_string_not_utf8() -> None:
    entry = struct.pack(">BBBBIHHI", 1, 1, 0, 0, 0, 0, 16, 0) + b"\xff\0"
    _reject(_with_section(2, entry, 1), "not valid UTF-8")


@pytest.mark.parametrize(
    ("blob", "fragment"),
    [
        (b"{not json", "invalid JSON"),
        (b'{"version": 2, "mailboxes": []}', "unsupported JSON version 2"),
        (b'{"mailboxes": {"target": "x"}}', "must be a JSON list"),
        (b'[{"capacity": 4}]', "needs a non-empty string 'target'"),
        (b"[3]", "must be a JSON object"),
        (b'[{"target": "x", "capacity": "big"}]', "capacity must be an integer"),
        (b'[{"target": "x", "mode": "SIDEWAYS"}]', "unknown name 'SIDEWAYS'"),
        (b'[{"target": "x", "bindings": 5}]', "bindings must be a list"),
        (b"[" * 100_000, "invalid JSON"),
    ],
)
def test_bad_mailbox_json(blob: bytes, fragment: str) -> None:
    _reject(_with_section(3, blob, 1), "mailbox", fragment)


def test_legacy_mailbox_without_name() -> None:
    _reject(_with_section(3, struct.pack(">IHHQ", 0, 1, 1, 0), 1), "mailbox entry 0", "target")


# ------------------------------------------------------------------------------------------
# writer refusals


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        (_image(version=1), "version 1 images cannot carry"),
        (_image(app_name="x" * 33), "longer than 32"),
        (_image(app_name="ünï"), "not ASCII"),
        (HxeImage(code=b"\0" * 6), "multiples of 4"),
        (HxeImage(code=bytes(4), rodata=bytes(0x10001)), "rodata size"),
        (HxeImage(code=bytes(4), values=[ValueEntry(300, 1)]), "does not fit"),
        (HxeImage(code=bytes(4), bss_size=-1), "bss_size -1 does not fit"),
        (HxeImage(code=bytes(4), entry=-4), "entry -4 does not fit"),
    ],
)
def test_writer_refusals(image: HxeImage, fragment: str) -> None:
    with pytest.raises(HxeError, match=fragment):
        write_hxe(image)


# ------------------------------------------------------------------------------------------
# fuzzing: no byte string makes load_hxe raise anything but HxeError

_FUZZ = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _load_or_reject(data: bytes) -> None:
    try:
        load_hxe(data)
    except HxeError:
        pass


@_FUZZ
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    _load_or_reject(data)


@_FUZZ
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_with_valid_magic_and_crc(tail: bytes) -> None:
    data = bytearray(b"HSXE" + tail)
    if len(data) >= 32:
        data = bytearray(_refresh_crc(data))
    _load_or_reject(bytes(data))


_SEEDS = [
    write_hxe(_image()),
    write_hxe(HxeImage(code=CODE, version=1)),
    _with_section(3, struct.pack(">IHHQ", 16, 1, 1, 0) + b"a\0", 1),
]


@_FUZZ
@given(
    st.sampled_from(_SEEDS),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=8),
    st.integers(0, 420),
    st.booleans(),
)
def test_fuzz_mutated_valid_images(seed: bytes, edits: list[tuple[int, int]], cut: int, fix_crc: bool) -> None:
    data = bytearray(seed)
    for pos, value in edits:
        if pos < len(data):
            data[pos] = value
    data = data[: max(cut, 0)] if cut < len(data) else data
    if fix_crc and len(data) >= 32:
        data = bytearray(_refresh_crc(data))
    _load_or_reject(bytes(data))


@_FUZZ
@given(
    st.lists(
        st.builds(
            ValueEntry,
            st.integers(0, 255),
            st.integers(0, 255),
            st.integers(0, 255),
            st.integers(0, 3),
            st.integers(0, 0xFFFF),
            st.one_of(
                st.none(),
                st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=8),
            ),
        ),
        max_size=5,
    ),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=32),
)
def test_fuzz_round_trip_values(values: list[ValueEntry], name: str) -> None:
    image = HxeImage(code=CODE, values=values, app_name=name or None)
    back = load_hxe(write_hxe(image))
    assert back.values == sorted(values, key=lambda v: (v.group, v.value_id))  # stable sort
    assert back.app_name == (name or None)
