"""What unhit breakpoints and an untouched write watch cost the HSX fast path.

The three programs of ``bench/vm_speed.py`` (counted loop, fib(23), memory), each followed
by 16 instructions that never run, are run with

* no breakpoints (the baseline),
* 1 and 16 breakpoints on those never-run instructions,
* one 4-byte write watch on an address no program writes (0x2000),

and each configuration's speed is printed as a ratio against the baseline: time without /
time with, so 1.00x means free. Rounds interleave the configurations (rotating their order)
so drift on a shared machine hits all of them alike; the table shows min / median / max of
the per-round ratios. Every configuration must end in the same state as the baseline.
Times are CPU time of this process (``time.process_time``).

Target: >= 0.9x with 16 unhit breakpoints (before block splitting: 0.035x, because any
breakpoint sent the whole task to the per-instruction interpreter).

Each configuration is recorded through the harness as A (M instructions/s with it) against
B (without), so the ratio A/B is the same time-without / time-with.

Usage: ``.venv/bin/python bench/vm_breakpoints.py [--rounds N]`` (default 5; about 30 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import _harness
from vm_speed import COUNTED, FIB, MEMORY

from executive.hsx.cpu import Cpu, HaltReason
from executive.hsx.isa import BY_MNEMONIC, encode

TARGET = 0.9
LIMIT = 50_000_000
PAD = 16  # never-run instructions appended to each program, where the breakpoints go
UNTOUCHED = 0x2000  # no program writes here

_MOV = encode(BY_MNEMONIC["MOV"].opcode, 1, 1).to_bytes(4, "big")
PROGRAMS = [
    (name, code + _MOV * PAD) for name, code in [("counted loop", COUNTED), ("fib(23)", FIB), ("memory", MEMORY)]
]


def _no_breakpoints(cpu: Cpu, code_len: int) -> None:
    return None


def _one_breakpoint(cpu: Cpu, code_len: int) -> None:
    cpu.add_breakpoint(code_len - 4 * PAD)


def _sixteen_breakpoints(cpu: Cpu, code_len: int) -> None:
    cpu.set_breakpoints(range(code_len - 4 * PAD, code_len, 4))


def _one_watch(cpu: Cpu, code_len: int) -> None:
    def hit(c: Cpu, addr: int, width: int) -> None:
        raise AssertionError(f"watch at 0x{UNTOUCHED:X} reported a write at 0x{addr:X}")

    cpu.set_write_watch(hit, (UNTOUCHED, UNTOUCHED + 4))


CONFIGS: list[tuple[str, Callable[[Cpu, int], None]]] = [
    ("none", _no_breakpoints),
    ("1 bp", _one_breakpoint),
    ("16 bps", _sixteen_breakpoints),
    ("1 watch", _one_watch),
]


def _run(code: bytes, setup: Callable[[Cpu, int], None]) -> tuple[float, tuple[Any, ...]]:
    cpu = Cpu(code)
    setup(cpu, len(code))
    t0 = time.process_time()
    cpu.run(LIMIT)
    dt = time.process_time() - t0
    assert cpu.halt is HaltReason.RETURNED, (cpu.halt, cpu.halt_info)
    return dt, (tuple(cpu.regs), cpu.pc, cpu.sp, cpu.psw, cpu.steps)


def main() -> int:
    worst16 = float("inf")
    with _harness.Bench("vm_breakpoints", __doc__.splitlines()[0]) as bench:
        rounds = bench.rounds
        for name, code in PROGRAMS:
            for _, setup in CONFIGS:
                _run(code, setup)  # warm: compile the shared blocks once
            times: dict[str, list[float]] = {label: [] for label, _ in CONFIGS}
            states: dict[str, tuple[Any, ...]] = {}
            for r in range(rounds):
                order = CONFIGS[r % len(CONFIGS) :] + CONFIGS[: r % len(CONFIGS)]
                for label, setup in order:
                    dt, state = _run(code, setup)
                    times[label].append(dt)
                    states[label] = state
            steps = states["none"][-1]
            for label, _ in CONFIGS[1:]:
                assert states[label] == states["none"], f"{name} with {label} ended in a different state"
                rec = bench.record(
                    f"{name} with {label}",
                    "instructions",
                    "M instr/s",
                    f"{label}, never hit",
                    [steps / t / 1e6 for t in times[label]],
                    "no breakpoints or watches",
                    [steps / t / 1e6 for t in times["none"]],
                    verified="final state",
                )
                if label == "16 bps":
                    worst16 = min(worst16, rec["ratio"]["median"])
    verdict = "PASS" if worst16 >= TARGET else "FAIL"
    print(f"SUMMARY worst median ratio with 16 unhit breakpoints {worst16:.2f}x; target >= {TARGET}x: {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
