"""Half precision (spec §6): exhaustive decode, encode rounding and the reference quirks."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executive.hsx import f16


def _ieee_half(h: int) -> float:
    return struct.unpack("<e", struct.pack("<H", h))[0]


def _ieee_enc(x: float) -> int:
    return struct.unpack("<H", struct.pack("<e", x))[0]


def test_decode_all_65536_patterns() -> None:
    for h in range(0x10000):
        got = f16.decode(h)
        want = _ieee_half(h)
        if math.isnan(want):
            assert math.isnan(got), hex(h)
        else:
            assert got == want and math.copysign(1, got) == math.copysign(1, want), hex(h)


def test_decode_uses_low_16_bits_only() -> None:
    assert f16.decode(0xDEAD3C00) == 1.0


def test_encode_round_trips_every_non_nan_pattern() -> None:
    for h in range(0x10000):
        x = f16.decode(h)
        if math.isnan(x):
            assert f16.encode(x) == 0x7E00
        else:
            assert f16.encode(x) == h, hex(h)


ENCODE_CASES = [
    # (value, expected bits, why)
    (math.nan, 0x7E00, "NaN is always positive quiet NaN"),
    (-math.nan, 0x7E00, "NaN sign dropped"),
    (math.inf, 0x7C00, "+inf"),
    (-math.inf, 0xFC00, "-inf"),
    (0.0, 0x0000, "+0"),
    (-0.0, 0x8000, "-0 keeps the sign"),
    (65504.0, 0x7BFF, "largest normal"),
    (65519.99, 0x7BFF, "just below the overflow tie"),
    (65520.0, 0x7C00, "tie rounds to even = overflow to inf"),
    (-70000.0, 0xFC00, "E > 15 -> -inf"),
    (1.0 + 2**-11, 0x3C00, "tie between 1.0 and next: even (1.0)"),
    (1.0 + 3 * 2**-11, 0x3C02, "tie rounds up to even"),
    (2.0**-24, 0x0001, "smallest subnormal"),
    (2.0**-25, 0x0000, "half the smallest subnormal ties to even 0"),
    (1.5 * 2.0**-24, 0x0002, "1.5 ulp ties to even 2"),
    (-(2.0**-26), 0x8000, "tiny negative -> -0"),
    (1023.0 * 2**-24, 0x03FF, "largest subnormal exactly"),
    (1023.5 * 2**-24, 0x03FF, "clamp: IEEE would give 0x0400"),
    (1023.9 * 2**-24, 0x03FF, "clamp just below the smallest normal"),
    (-1023.75 * 2**-24, 0x83FF, "clamp keeps the sign"),
    (2.0**-14, 0x0400, "smallest normal"),
    (1023.25 * 2**-24, 0x03FF, "rounds down normally"),
]


@pytest.mark.parametrize(("value", "bits", "why"), ENCODE_CASES, ids=[c[2] for c in ENCODE_CASES])
def test_encode_cases(value: float, bits: int, why: str) -> None:
    assert f16.encode(value) == bits


@settings(max_examples=2000, deadline=None)
@given(x=st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_encode_equals_ieee_except_documented_quirks(x: float) -> None:
    if abs(x) >= 65520.0:
        assert f16.encode(x) == (0xFC00 if x < 0 else 0x7C00)
    elif 1023.5 * 2**-24 <= abs(x) < 2.0**-14:
        assert f16.encode(x) & 0x7FFF == 0x03FF
    else:
        assert f16.encode(x) == _ieee_enc(x)


def test_fdiv_by_zero_divides_by_plus_infinity() -> None:
    one, neg_one, zero, neg_zero, inf = 0x3C00, 0xBC00, 0x0000, 0x8000, 0x7C00
    assert f16.fdiv(one, zero) == 0x0000  # finite / 0 -> +0
    assert f16.fdiv(neg_one, neg_zero) == 0x8000  # sign of the dividend, not of the zero
    assert f16.fdiv(inf, zero) == 0x7E00  # inf / inf -> NaN
    assert f16.fdiv(one, 0x4000) == 0x3800  # ordinary division still works


def test_i2f_range_and_sign() -> None:
    assert f16.i2f(0xFFFFFFFF) == 0xBC00  # -1
    assert f16.i2f(65519) == 0x7BFF
    assert f16.i2f(65520) == 0x7C00
    assert f16.i2f(0x80000000) == 0xFC00
    assert f16.i2f(2049) == 0x6800  # 2049 is a tie between 2048 and 2050: even -> 2048


def test_f2i_truncates_and_wraps() -> None:
    assert f16.f2i(0xC300) == (-3) & 0xFFFFFFFF  # -3.5 -> -3
    assert f16.f2i(0x3BFF) == 0  # 0.99951 -> 0
    assert f16.f2i(0x7BFF) == 65504
    for bad in (0x7C00, 0xFC00, 0x7E00, 0x7C01):
        with pytest.raises(f16.F2IInvalid):
            f16.f2i(bad)
