"""Fuzzing the HXE loader beyond tests/hsx/test_hxe.py: rich version 2 images, mutated without the CRC in the way.

tests/hsx/test_hxe.py feeds random and mutated bytes with the CRC checked; most mutations stop there.
Here the seeds carry every metadata kind (values, commands, mailboxes) and are loaded with
``verify_crc=False``, so mutations reach the section table and payload decoders.  Properties:

* ``load_hxe`` raises nothing but :class:`HxeError`;
* an image it accepts is written back by ``write_hxe`` (or refused with :class:`HxeError`), and
  loading that output gives the same program and metadata (the loader and writer agree).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executive.hsx.hxe import CommandEntry, HxeError, HxeImage, MailboxEntry, ValueEntry, load_hxe, write_hxe

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))  # FUZZ_SCALE=20 for a longer hunt than CI affords
_FUZZ = settings(max_examples=300 * SCALE, deadline=2000, database=None, suppress_health_check=[HealthCheck.too_slow])

_names = st.one_of(
    st.none(), st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=10)
)
_u8, _u16 = st.integers(0, 255), st.integers(0, 0xFFFF)
_values = st.lists(
    st.builds(ValueEntry, _u8, _u8, _u8, st.integers(0, 3), _u16, _names, _names, _u16, _u16, _u16, _u16, _names),
    max_size=4,
    unique_by=lambda v: (v.group, v.value_id),
)
_commands = st.lists(
    st.builds(CommandEntry, _u8, _u8, _u8, st.integers(0, 3), st.integers(0, 0xFFFF), _names, _names, _names),
    max_size=4,
    unique_by=lambda c: (c.group, c.cmd_id),
)
_mailboxes = st.lists(
    st.builds(
        MailboxEntry,
        st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12),
        _u16,
        st.integers(0, 0xFF),
    ),
    max_size=3,
)


@st.composite
def _seed(draw: st.DrawFn) -> bytes:
    words = draw(st.integers(1, 8))
    image = HxeImage(
        code=draw(st.binary(min_size=4 * words, max_size=4 * words)),
        rodata=draw(st.binary(max_size=24)),
        entry=4 * draw(st.integers(0, words - 1)),
        bss_size=draw(st.integers(0, 64)),
        app_name=draw(st.one_of(st.none(), st.text(alphabet="abcxyz_0189", min_size=1, max_size=12))),
        values=draw(_values),
        commands=draw(_commands),
        mailboxes=draw(_mailboxes),
    )
    try:
        return write_hxe(image)
    except HxeError:
        return write_hxe(HxeImage(code=image.code, entry=image.entry))  # the writer refused the metadata


def _mutate(data: bytes, edits: list[tuple[int, int]], insert: tuple[int, bytes], cut: int) -> bytes:
    buf = bytearray(data)
    for pos, value in edits:
        if buf:
            buf[pos % len(buf)] = value
    at, extra = insert
    buf[at:at] = extra
    return bytes(buf[: len(buf) - cut] if cut < len(buf) else buf)


def _same(a: HxeImage, b: HxeImage) -> None:
    assert (a.code, a.rodata, a.entry, a.bss_size, a.req_caps, a.app_name) == (
        b.code,
        b.rodata,
        b.entry,
        b.bss_size,
        b.req_caps,
        b.app_name,
    )
    assert (a.values, a.commands) == (b.values, b.commands)
    assert [m.target for m in a.mailboxes] == [m.target for m in b.mailboxes]


@_FUZZ
@given(
    _seed(),
    st.lists(st.tuples(st.integers(0, 10_000), _u8), max_size=6),
    st.tuples(st.integers(0, 600), st.binary(max_size=8)),
    st.integers(0, 40),
)
def test_fuzz_mutated_rich_images(
    seed: bytes, edits: list[tuple[int, int]], insert: tuple[int, bytes], cut: int
) -> None:
    data = _mutate(seed, edits, insert, cut)
    try:
        image = load_hxe(data, verify_crc=False)
    except HxeError:
        return
    try:
        again = write_hxe(image)
    except HxeError:
        return  # a loaded image the writer cannot express (e.g. an unknown flag): refused cleanly
    _same(load_hxe(again), image)


@_FUZZ
@given(_seed())
def test_fuzz_rich_images_round_trip(seed: bytes) -> None:
    image = load_hxe(seed)
    _same(load_hxe(write_hxe(image)), image)
