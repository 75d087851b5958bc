"""Half-precision (binary16) arithmetic exactly as the HSX reference does it (spec §6).

Values are bit patterns in the low 16 bits of a register. An operation decodes both operands
to Python floats (IEEE double), computes in double precision, and re-encodes with the
reference rounding :func:`encode`, which is IEEE round-half-even except that

* every NaN becomes ``0x7E00`` (positive quiet NaN, payload and sign dropped), and
* magnitudes in ``[1023.5 * 2**-24, 2**-14)`` clamp to the largest subnormal ``0x03FF``
  instead of rounding up to the smallest normal ``0x0400`` (spec §6 step 4).

Decoding uses a 65 536-entry table built once (a list index is the cheapest decode in
CPython). We do not use ``struct``'s ``'e'`` codec for encoding: it raises on overflow
instead of returning infinity and does not have the subnormal clamp.
"""

from __future__ import annotations

import math

__all__ = [
    "DECODE_TABLE",
    "F2IInvalid",
    "decode",
    "encode",
    "f2i",
    "fadd",
    "fdiv",
    "fmul",
    "fsub",
    "i2f",
]

_INF = math.inf


class F2IInvalid(ArithmeticError):
    """F2I of ±inf or NaN: there is no architectural result (the reference crashes, §18)."""


def _decode_exact(h: int) -> float:
    """Decode one binary16 pattern following the spec's formula literally."""
    s = -1.0 if h & 0x8000 else 1.0
    e = (h >> 10) & 0x1F
    f = h & 0x3FF
    if e == 0:
        return s * math.ldexp(f, -24)  # ±0 when f = 0 (s * 0.0 keeps the sign)
    if e == 31:
        return s * _INF if f == 0 else math.nan
    return s * math.ldexp(1024 + f, e - 25)


#: bit pattern -> float for all 65 536 patterns (NaN patterns decode to a NaN).
DECODE_TABLE: list[float] = [_decode_exact(h) for h in range(0x10000)]


def decode(h: int) -> float:
    """Decode the low 16 bits of ``h`` as a binary16 value."""
    return DECODE_TABLE[h & 0xFFFF]


def encode(v: float) -> int:
    """Encode a float to binary16 with the reference rounding ``enc(v)`` (spec §6)."""
    if math.isnan(v):  # NaN -> canonical positive quiet NaN
        return 0x7E00
    s = 0x8000 if math.copysign(1.0, v) < 0.0 else 0  # -0.0 keeps the sign bit
    a = -v if s else v
    if a == 0.0:
        return s
    if a == _INF:
        return s | 0x7C00
    m, e = math.frexp(a)  # a = m * 2**e with 0.5 <= m < 1, so floor(log2 a) = e - 1 exactly
    big_e = e - 1
    if big_e > 15:
        return s | 0x7C00
    if big_e < -14:
        # Subnormal range: a * 2**24 is exact (power-of-two scaling); round() is half-even.
        mant = round(math.ldexp(a, 24))
        mant = min(mant, 0x3FF)  # the reference's clamp: no promotion to the smallest normal
        return s | mant
    # (a / 2**E - 1) * 1024 == 2048*m - 1024, exact in double; round() is half-even.
    frac = round(math.ldexp(m, 11) - 1024.0)
    if frac == 1024:
        frac = 0
        big_e += 1
        if big_e + 15 >= 31:
            return s | 0x7C00
    return s | ((big_e + 15) << 10) | frac


_D = DECODE_TABLE


def fadd(a: int, b: int) -> int:
    """FADD on two binary16 patterns (low 16 bits used)."""
    return encode(_D[a & 0xFFFF] + _D[b & 0xFFFF])


def fsub(a: int, b: int) -> int:
    """FSUB on two binary16 patterns."""
    return encode(_D[a & 0xFFFF] - _D[b & 0xFFFF])


def fmul(a: int, b: int) -> int:
    """FMUL on two binary16 patterns."""
    return encode(_D[a & 0xFFFF] * _D[b & 0xFFFF])


def fdiv(a: int, b: int) -> int:
    """FDIV on two binary16 patterns; a divisor of ±0 is replaced by +inf (spec §6)."""
    x = _D[a & 0xFFFF]
    y = _D[b & 0xFFFF]
    if y == 0.0:
        y = _INF  # reference quirk: finite/±0 -> ±0 (dividend's sign), inf/±0 -> NaN
    return encode(x / y)


def i2f(a: int) -> int:
    """I2F: the signed 32-bit integer in ``a`` to binary16 (|x| >= 65520 gives ±inf)."""
    a &= 0xFFFFFFFF
    return encode(float(a - 0x100000000 if a & 0x80000000 else a))


def f2i(a: int) -> int:
    """F2I: binary16 to integer truncated toward zero, wrapped to 32 bits.

    Raises:
        F2IInvalid: the operand is ±inf or NaN; the CPU turns this into an F2I_INVALID halt.
    """
    x = _D[a & 0xFFFF]
    if not math.isfinite(x):
        raise F2IInvalid(f"F2I of non-finite half 0x{a & 0xFFFF:04X}")
    return int(x) & 0xFFFFFFFF
