"""Shared helpers for the HSX tests (VM-core and VM-tools append fixtures here)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from executive.hsx.isa import BY_MNEMONIC, encode


def asm_word(mn: str, rd: int = 0, rs1: int = 0, rs2: int = 0, imm: int = 0) -> int:
    """Encode one instruction word by mnemonic (no assembler needed)."""
    return encode(BY_MNEMONIC[mn].opcode, rd, rs1, rs2, imm)


def code_bytes(*items: int | tuple) -> bytes:
    """Big-endian code from words or (mnemonic, rd, rs1, rs2, imm) tuples."""
    out = bytearray()
    for it in items:
        w = asm_word(*it) if isinstance(it, tuple) else it
        out += (w & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes(out)


@pytest.fixture
def prog() -> Callable[..., bytes]:
    """``prog(("LDI", 1, 0, 0, 5), ("RET",))`` -> code bytes."""
    return code_bytes
