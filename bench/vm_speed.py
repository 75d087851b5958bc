"""HSX VM speed: our Cpu (block-compiled fast path) against a plain interpreter.

Runs three CPU-bound programs built with ``isa.encode`` (no assembler needed):

* counted loop  - ADD/SUB/JNZ, one million iterations (3 M instructions)
* fib           - naive recursive fib(23): CALL/RET/PUSH/POP heavy, short blocks
* memory        - fill, sum and copy a 4000-word array, 16 times (LD/ST heavy)

For each it prints instructions/second of ``executive.hsx.Cpu`` (A, warm runs; the first,
cold run including block compilation is noted) and of ``bench/baseline_vm.py`` (B), one run
of each per round, alternating over ``--rounds``, with min/median/max and their ratio, and
checks that both end in the same registers, PC, SP and step count. The last line is a
one-line summary. Target: >= 3 M instructions/s on the counted loop (median).
Times are CPU time of this process (``time.process_time``), so other work on a shared
2-core machine does not distort the rates much.

Usage: ``.venv/bin/python bench/vm_speed.py [--rounds N]`` (about 15 s per round on 2 busy cores).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import _harness
from baseline_vm import BaselineVM

from executive.hsx.cpu import Cpu, HaltReason
from executive.hsx.isa import BY_MNEMONIC, encode

TARGET = 3_000_000

Item = tuple[Any, ...]  # ("label:",) or (mnemonic, rd, rs1, rs2, imm_or_label) or ("WORD", value)


def assemble(items: list[Item]) -> bytes:
    """Two-pass helper: labels for JMP/JZ/JNZ (absolute) and CALL (PC-relative words)."""
    labels: dict[str, int] = {}
    pc = 0
    for it in items:
        if it[0].endswith(":"):
            labels[it[0][:-1]] = pc
        else:
            pc += 8 if it[0] == "LDI32" else 4
    out = bytearray()
    pc = 0
    for it in items:
        if it[0].endswith(":"):
            continue
        mn, *args = it
        args += [0] * (4 - len(args))
        rd, rs1, rs2, imm = args
        if mn == "LDI32":
            out += encode(BY_MNEMONIC[mn].opcode, rd).to_bytes(4, "big") + (imm & 0xFFFFFFFF).to_bytes(4, "big")
            pc += 8
            continue
        if isinstance(imm, str):
            imm = labels[imm] if mn != "CALL" else (labels[imm] - pc) // 4
        out += encode(BY_MNEMONIC[mn].opcode, rd, rs1, rs2, imm).to_bytes(4, "big")
        pc += 4
    return bytes(out)


COUNTED = assemble(
    [
        ("LDI32", 1, 0, 0, 1_000_000),
        ("LDI", 2, 0, 0, 1),
        ("LDI", 3, 0, 0, 0),
        ("loop:",),
        ("ADD", 3, 3, 1),
        ("SUB", 1, 1, 2),
        ("JNZ", 0, 0, 0, "loop"),
        ("MOV", 0, 3),
        ("RET",),
    ]
)

FIB = assemble(
    [
        ("LDI", 1, 0, 0, 23),
        ("CALL", 0, 0, 0, "fib"),
        ("RET",),
        ("fib:",),
        ("LDI", 2, 0, 0, 2),
        ("SUB", 3, 1, 2),
        ("LDI32", 4, 0, 0, 0x80000000),
        ("AND", 3, 3, 4),
        ("JZ", 0, 0, 0, "recurse"),
        ("MOV", 0, 1),
        ("RET",),
        ("recurse:",),
        ("PUSH", 0, 1),
        ("LDI", 2, 0, 0, 1),
        ("SUB", 1, 1, 2),
        ("CALL", 0, 0, 0, "fib"),
        ("POP", 1),
        ("PUSH", 0, 0),
        ("LDI", 2, 0, 0, 2),
        ("SUB", 1, 1, 2),
        ("CALL", 0, 0, 0, "fib"),
        ("POP", 2),
        ("ADD", 0, 0, 2),
        ("RET",),
    ]
)

MEMORY = assemble(
    [
        ("LDI32", 1, 0, 0, 0x5000),
        ("LDI32", 5, 0, 0, 4000),
        ("LDI", 9, 0, 0, 16),
        ("LDI", 6, 0, 0, 3),
        ("LDI", 7, 0, 0, 4),
        ("LDI", 8, 0, 0, 1),
        ("outer:",),
        ("MOV", 2, 1),
        ("MOV", 3, 5),
        ("LDI", 4, 0, 0, 0),
        ("fill:",),
        ("ST", 0, 2, 4, 0),
        ("ADD", 4, 4, 6),
        ("ADD", 2, 2, 7),
        ("SUB", 3, 3, 8),
        ("JNZ", 0, 0, 0, "fill"),
        ("MOV", 2, 1),
        ("MOV", 3, 5),
        ("LDI", 10, 0, 0, 0),
        ("sum:",),
        ("LD", 11, 2, 0, 0),
        ("ADD", 10, 10, 11),
        ("ADD", 2, 2, 7),
        ("SUB", 3, 3, 8),
        ("JNZ", 0, 0, 0, "sum"),
        ("MOV", 2, 1),
        ("LDI32", 12, 0, 0, 0x9000),
        ("MOV", 3, 5),
        ("copy:",),
        ("LD", 11, 2, 0, 0),
        ("ST", 0, 12, 11, 0),
        ("ADD", 2, 2, 7),
        ("ADD", 12, 12, 7),
        ("SUB", 3, 3, 8),
        ("JNZ", 0, 0, 0, "copy"),
        ("SUB", 9, 9, 8),
        ("JNZ", 0, 0, 0, "outer"),
        ("MOV", 0, 10),
        ("RET",),
    ]
)

PROGRAMS = [("counted loop", COUNTED), ("fib(23)", FIB), ("memory", MEMORY)]
LIMIT = 50_000_000


def run_ours(code: bytes) -> tuple[float, Cpu]:
    cpu = Cpu(code)
    t0 = time.process_time()
    cpu.run(LIMIT)
    dt = time.process_time() - t0
    assert cpu.halt is HaltReason.RETURNED, cpu.halt
    return dt, cpu


def run_baseline(code: bytes) -> tuple[float, BaselineVM]:
    vm = BaselineVM(code)
    t0 = time.process_time()
    vm.run(LIMIT)
    dt = time.process_time() - t0
    assert vm.fault is None and not vm.running, vm.fault
    return dt, vm


def main() -> int:
    summary = []
    ok = True
    counted_rate = 0.0
    with _harness.Bench("vm_speed", __doc__.splitlines()[0]) as bench:
        for name, code in PROGRAMS:
            cold, cpu = run_ours(code)  # includes compiling the blocks
            last: dict[str, Any] = {}

            def ours(code: bytes = code, last: dict[str, Any] = last) -> float:
                dt, last["cpu"] = run_ours(code)
                return float(last["cpu"].steps / dt / 1e6)

            def base(code: bytes = code, last: dict[str, Any] = last) -> float:
                dt, last["vm"] = run_baseline(code)
                return float(last["vm"].steps / dt / 1e6)

            xs, ys = _harness.interleave(bench.rounds, ours, base)
            cpu, vm = last["cpu"], last["vm"]
            same = (cpu.regs, cpu.pc, cpu.sp, cpu.steps) == (vm.regs, vm.pc, vm.sp, vm.steps)
            ok &= same
            rate, ratio = statistics.median(xs), statistics.median(_harness.ratios(xs, ys))
            if name == "counted loop":
                counted_rate = rate * 1e6
            bench.record(
                f"{name}, {cpu.steps:,} instructions",
                "instructions",
                "M instr/s",
                "executive.hsx.Cpu (warm)",
                xs,
                "decode-every-step interpreter",
                ys,
                verified="final state" if same else None,
                note=f"cold first run {cpu.steps / cold / 1e6:.2f} M/s; end state (regs, pc, sp, steps) "
                f"{'same' if same else 'DIFFERENT'} (R0={cpu.regs[0]})",
            )
            summary.append(f"{name}={rate:.1f}M/s ({ratio:.0f}x)")
    verdict = "PASS" if counted_rate >= TARGET and ok else "FAIL"
    print(
        f"SUMMARY {'; '.join(summary)}; states {'match' if ok else 'DIFFER'}; "
        f"counted-loop target {TARGET / 1e6:.0f}M/s: {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
