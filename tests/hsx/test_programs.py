"""MVASM test programs in tests/hsx/programs/, run end to end.

Each ``NAME.mvasm`` has a ``NAME.json`` with the expected result, worked out from the spec
(hsx-vm.md) by hand — the ``why`` field shows the counting — not copied from the VM:
``halt`` (HaltReason value), ``exit``, ``steps``, ``pc``, a subset of ``regs`` (ints or hex
strings), ``output`` (UART lines), optional ``log_contains`` and ``max_steps``.

Every program also goes through assemble → disassemble → assemble (same code words) and
HXE write → read → write (same bytes, v2 and v1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from executive.hsx.asm import AsmResult, assemble
from executive.hsx.disasm import disassemble, render, render_data
from executive.hsx.hxe import load_hxe, write_hxe

PROGRAMS = Path(__file__).parent / "programs"
NAMES = sorted(p.stem for p in PROGRAMS.glob("*.mvasm"))


def _build(name: str) -> AsmResult:
    path = PROGRAMS / f"{name}.mvasm"
    return assemble([(str(path), path.read_text())], include_loader=lambda p: Path(p).read_text())


def _expected(name: str) -> dict[str, Any]:
    return json.loads((PROGRAMS / f"{name}.json").read_text())


def _int(value: int | str) -> int:
    return int(value, 0) if isinstance(value, str) else value


def test_every_program_has_expectations() -> None:
    assert len(NAMES) >= 15
    for name in NAMES:
        assert (PROGRAMS / f"{name}.json").exists(), name


@pytest.mark.parametrize("name", NAMES)
def test_disassembly_reassembles(name: str) -> None:
    result = _build(name)
    listing = disassemble(result.image.code, result.sym)
    text = f".entry 0x{result.image.entry:X}\n" + render(listing, result.sym, end=len(result.image.code))
    text += render_data(result.image.rodata, result.sym)
    again = assemble([("roundtrip.mvasm", text)])
    assert again.code_words == result.code_words
    assert (again.image.entry, again.image.rodata) == (result.image.entry, result.image.rodata)
    # without symbols too
    plain = assemble([("plain.mvasm", render(disassemble(result.image.code)))])
    assert plain.code_words == result.code_words


@pytest.mark.parametrize("name", NAMES)
def test_hxe_round_trip(name: str) -> None:
    result = _build(name)
    image = load_hxe(result.hxe)
    assert write_hxe(image) == result.hxe
    v1 = write_hxe(image, version=1) if not (image.values or image.commands or image.mailboxes) else None
    if v1 is not None:
        back = load_hxe(v1)
        assert (back.version, back.code, back.rodata, back.entry) == (1, image.code, image.rodata, image.entry)


@pytest.mark.parametrize("name", NAMES)
def test_program_runs_as_expected(name: str) -> None:
    runner = pytest.importorskip("executive.hsx.runner")
    expected = _expected(name)
    image = load_hxe(_build(name).hxe)
    result = runner.run_standalone(image.code, image.rodata, image.entry, max_steps=expected.get("max_steps", 100_000))
    got = {"halt": result.halt, "exit": result.exit, "steps": result.steps, "pc": result.pc}
    want = {k: expected[k] for k in ("halt", "exit", "steps", "pc")}
    assert got == want, expected.get("why")
    regs = {f"R{i}": v for i, v in enumerate(result.regs)}
    for reg, value in expected.get("regs", {}).items():
        assert regs[reg] == _int(value), f"{reg}: got 0x{regs[reg]:08X}, want 0x{_int(value):08X}"
    assert list(result.output) == expected["output"]
    for line in expected.get("log_contains", []):
        assert line in result.log, f"{line!r} not in {result.log}"
