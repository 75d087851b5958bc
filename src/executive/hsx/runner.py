"""Run one program stand-alone, like the reference ``host_vm.py PROG`` (spec §16).

Used by ``executive hsx run``. The CPU runs in batches until it halts or the step budget is
used up; every console line the reference prints is collected, in order, into
:attr:`RunResult.log`. No preload defect (spec §18): rodata sits at 0x4000 in exactly 64 KiB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ._halt import HaltReason
from ._interp import MemAccess
from .cpu import Cpu
from .isa import OPCODES
from .mailbox import DESKTOP, Profile
from .svc import StandaloneHost

__all__ = ["DEFAULT_MAX_STEPS", "STANDALONE_SP", "RunResult", "run_standalone"]

DEFAULT_MAX_STEPS = 100_000
STANDALONE_SP = 0x8000  # spec §1.3
_BATCH = 1_000_000  # steps per run() call when unlimited


@dataclass
class RunResult:
    """Outcome of a stand-alone run."""

    output: list[str]  # UART texts, one per UART_WRITE
    exit: int | None  # TASK_EXIT code, or R0 when the entry function returned; else None
    steps: int  # retired instructions
    pc: int
    regs: list[int]
    halt: str  # HaltReason name in lower case ("step_limit" when the budget ran out)
    log: list[str] = field(default_factory=list)  # every console line, as host_vm.py prints them
    halt_info: dict[str, object] = field(default_factory=dict)


def _fault_line(cpu: Cpu, traced: bool) -> str | None:
    """The console line the reference prints for a halt (spec §3.2), if any."""
    h, info, pc = cpu.halt, cpu.halt_info, cpu.pc
    if h is HaltReason.ILLEGAL:
        return f"[VM] Illegal opcode 0x{info.get('opcode', 0):02X} at PC=0x{info.get('pc', pc):04X}"
    if h is HaltReason.PC_OUT_OF_RANGE:
        return f"[VM] PC 0x{pc:04X} is outside code length {len(cpu.code)}"
    if h is HaltReason.LDI32_OVERRUN:
        return f"[VM] LDI32 at 0x{pc:04X} overruns code"
    if h is HaltReason.STACK_OVERFLOW:
        if info.get("op") == "CALL":
            return "[CALL] stack overflow"
        return "[PUSH] stack overflow" if traced else None
    if h is HaltReason.STACK_UNDERFLOW:
        if info.get("op") == "RET":
            return "[RET] stack underflow"
        return "[POP] stack underflow" if traced else None
    if h is HaltReason.DIV_ZERO:
        return "[VM] divide by zero" if traced else None
    if h is HaltReason.MEM_FAULT:
        return "[VM] memory access out of range" if traced else None
    if h is HaltReason.F2I_INVALID:
        return f"[VM] F2I of non-finite value 0x{info.get('value', 0):04X} at PC=0x{pc:04X}"
    return None


def _trace_line(pc: int, word: int, next_pc: int, access: MemAccess | None) -> str:
    info = OPCODES.get(word >> 24)
    name = info.mnemonic if info else f"ILLEGAL(0x{word >> 24:02X})"
    mem = ""
    if access is not None:
        mem = f" mem={access.kind}:{access.width}@0x{access.addr:04X}=0x{access.value:X}"
    return f"[TRACE] PC=0x{pc:04X} W=0x{word:08X} {name} -> 0x{next_pc:04X}{mem}"


def run_standalone(
    code: bytes,
    rodata: bytes,
    entry: int,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
    trace: Callable[[str], object] | None = None,
    svc_trace: bool = False,
    dev_libm: bool = False,
    profile: Profile = DESKTOP,
    on_line: Callable[[str], None] | None = None,
) -> RunResult:
    """Run a program with stand-alone semantics and collect its console lines.

    Args:
        code, rodata, entry: the image (e.g. from ``hxe.load_hxe``).
        max_steps: step budget; <= 0 means unlimited (spec §16 ``--max-steps``).
        trace: receives one ``[TRACE]`` line per retired instruction and enables the fault
            lines the reference prints only under ``--trace`` (those go to ``log``); uses the
            slower debug path.
        svc_trace: add ``[SVC] mod=… fn=… R0..R3=[…]`` lines for every trap.
        dev_libm: enable SVC module 0xE.
        profile: mailbox limits.
        on_line: receives every log line as it is produced (for live printing).

    Returns:
        RunResult; ``log`` ends with the ``[VM] Halted after …`` and ``[VM] R0..R7`` lines.
    """
    host = StandaloneHost(profile=profile, dev_libm=dev_libm, svc_trace=svc_trace, on_line=on_line)
    cpu = Cpu(code, rodata, entry=entry, sp=STANDALONE_SP, stack_limit=0, svc=host)
    cpu.console = host.emit  # the stuck-CALL warning (spec §3.2)
    if trace is not None:

        def hook(_cpu: Cpu, pc: int, word: int, next_pc: int, access: MemAccess | None) -> None:
            trace(_trace_line(pc, word, next_pc, access))

        cpu.set_trace(hook)
    unlimited = max_steps <= 0
    while cpu.halt is HaltReason.RUNNING:
        budget = _BATCH if unlimited else max_steps - cpu.steps
        if budget <= 0:
            break
        cpu.run(budget)
    line = _fault_line(cpu, traced=trace is not None)
    if line is not None:
        host.emit(line)
    halt = cpu.halt.value
    if cpu.halt is HaltReason.RUNNING:
        halt = HaltReason.STEP_LIMIT.value
        host.emit(f"[VM] Max steps {max_steps} reached; halting")
    host.emit(f"[VM] Halted after {cpu.steps} cycles @ PC=0x{cpu.pc:04X}")
    host.emit(f"[VM] R0..R7: [{', '.join(str(r) for r in cpu.regs[:8])}]")
    exit_code = host.exit_code
    if cpu.halt is HaltReason.RETURNED:
        exit_code = cpu.regs[0]
    return RunResult(
        output=list(host.output),
        exit=exit_code,
        steps=cpu.steps,
        pc=cpu.pc,
        regs=list(cpu.regs),
        halt=halt,
        log=list(host.log),
        halt_info=dict(cpu.halt_info),
    )
