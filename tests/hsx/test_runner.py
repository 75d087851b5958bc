"""run_standalone: the console lines of ``host_vm.py PROG`` (spec §3.2, §10, §16, §18)."""

from __future__ import annotations

from executive.hsx.isa import BY_MNEMONIC, encode
from executive.hsx.runner import RunResult, run_standalone


def w(mn: str, rd: int = 0, rs1: int = 0, rs2: int = 0, imm: int = 0) -> int:
    return encode(BY_MNEMONIC[mn].opcode, rd, rs1, rs2, imm)


def code(*words: int) -> bytes:
    return b"".join(x.to_bytes(4, "big") for x in words)


HELLO = code(
    w("LDI32", 1),
    0x4000,  # "Hello" is the first rodata byte: no preload shift (spec §18)
    w("LDI", 2, imm=5),
    w("SVC", imm=0x101),  # UART_WRITE
    w("LDI", 0, imm=3),
    w("SVC", imm=0x100),  # TASK_EXIT 3
    w("BRK"),
)


def test_hello_world_log() -> None:
    r = run_standalone(HELLO, b"Hello, world", 0)
    assert isinstance(r, RunResult)
    assert r.log == [
        "[UART.tx] Hello",
        "[EXIT 3]",
        "[VM] Halted after 5 cycles @ PC=0x0018",
        "[VM] R0..R7: [3, 16384, 5, 0, 0, 0, 0, 0]",
    ]
    assert (r.output, r.exit, r.steps, r.pc, r.halt) == (["Hello"], 3, 5, 0x18, "exited")
    assert r.regs[:3] == [3, 0x4000, 5]


def test_return_from_entry_gives_exit_status_r0() -> None:
    r = run_standalone(code(w("BRK"), w("LDI", 0, imm=-2), w("RET")), b"", 4)
    assert (r.halt, r.exit, r.steps, r.pc) == ("returned", 0xFFFFFFFE, 1, 8)
    assert r.log[-1] == "[VM] R0..R7: [4294967294, 0, 0, 0, 0, 0, 0, 0]"


def test_max_steps_and_unlimited() -> None:
    loop = code(w("LDI", 1, imm=1), w("ADD", 2, 2, 1), w("JMP", imm=4))
    r = run_standalone(loop, b"", 0, max_steps=100)
    assert r.log == [
        "[VM] Max steps 100 reached; halting",
        "[VM] Halted after 100 cycles @ PC=0x0008",
        "[VM] R0..R7: [0, 1, 50, 0, 0, 0, 0, 0]",
    ]
    assert r.halt == "step_limit"
    counted = code(w("LDI32", 1), 300_000, w("LDI", 2, imm=1), w("SUB", 1, 1, 2), w("JNZ", imm=12), w("RET"))
    r = run_standalone(counted, b"", 0, max_steps=0)
    assert (r.halt, r.steps) == ("returned", 600_002)


def test_halt_lines() -> None:
    r = run_standalone(code(w("LDI", 1), 0x05000000), b"", 0)
    assert r.log[:2] == ["[VM] Illegal opcode 0x05 at PC=0x0004", "[VM] Halted after 2 cycles @ PC=0x0008"]
    r = run_standalone(code(w("LDI", 1), w("LDI", 2)), b"", 0)
    assert r.log[:2] == ["[VM] PC 0x0008 is outside code length 8", "[VM] Halted after 2 cycles @ PC=0x0008"]
    assert r.halt == "pc_out_of_range"
    r = run_standalone(code(w("LDI", 1), w("LDI32", 2)), b"", 0)
    assert r.log[0] == "[VM] LDI32 at 0x0004 overruns code" and r.steps == 1
    r = run_standalone(
        code(w("LDI32", 1), 0x10000, w("LDI", 2, imm=4), w("PUSH", 0, 1), w("ADD", 1, 1, 2), w("RET")), b"", 0
    )
    assert r.halt == "returned"  # PUSH with SP 0x8000 is fine
    r = run_standalone(code(w("RET")), b"", 0)
    assert r.log[0].startswith("[VM] Halted after 0 cycles")


def test_stack_fault_lines_always_for_call_ret_trace_only_for_push_pop() -> None:
    self_call = code(w("CALL", imm=0))
    r = run_standalone(self_call, b"", 0, max_steps=0)
    assert r.halt == "stack_overflow" and r.regs[0] == 0xFFFFFF03 and r.steps == 0x2000
    stuck = [line for line in r.log if line.startswith("[VM] Possible stuck CALL")]
    assert stuck[0] == "[VM] Possible stuck CALL at PC=0x0000; check stack state"
    assert len(stuck) == 0x2000 - 31  # from the 32nd repetition on
    assert r.log[-3] == "[CALL] stack overflow"

    push_loop = code(w("PUSH", 0, 1), w("JMP", imm=0))
    assert "[PUSH] stack overflow" not in run_standalone(push_loop, b"", 0, max_steps=0).log
    lines: list[str] = []
    r = run_standalone(push_loop, b"", 0, max_steps=0, trace=lines.append)
    assert "[PUSH] stack overflow" in r.log and len(lines) == r.steps

    pop_loop = code(w("POP", 1), w("JMP", imm=0))
    r = run_standalone(pop_loop, b"", 0, max_steps=0)
    assert r.halt == "stack_underflow" and not any("underflow" in line for line in r.log)
    r = run_standalone(pop_loop, b"", 0, max_steps=0, trace=lambda line: None)
    assert r.log[0] == "[POP] stack underflow"

    # CALL, then POP until SP (mirrored in R15) reaches 0x10000, then RET at depth 1
    ret_underflow = code(
        w("LDI32", 4), 0x10000, w("CALL", imm=1), w("POP", 1), w("SUB", 3, 15, 4), w("JNZ", imm=12), w("RET")
    )
    r = run_standalone(ret_underflow, b"", 0, max_steps=0)
    assert r.halt == "stack_underflow" and r.pc == 24 and r.regs[0] == 0xFFFFFF02
    assert r.log[0] == "[RET] stack underflow"


def test_divide_by_zero_line_only_with_trace() -> None:
    prog = code(w("DIV", 1, 1, 2), w("RET"))
    r = run_standalone(prog, b"", 0)
    assert r.halt == "div_zero" and r.log[0].startswith("[VM] Halted after 0 cycles")
    traced: list[str] = []
    r = run_standalone(prog, b"", 0, trace=traced.append)
    assert r.log[0] == "[VM] divide by zero" and traced == []


def test_trace_lines() -> None:
    traced: list[str] = []
    run_standalone(code(w("LDI", 1, imm=0x100), w("ST", 0, 1, 1), w("RET")), b"", 0, trace=traced.append)
    assert traced == [
        "[TRACE] PC=0x0000 W=0x01100100 LDI -> 0x0004",
        "[TRACE] PC=0x0004 W=0x03011000 ST -> 0x0008 mem=w:4@0x0100=0x100",
    ]


def test_sleep_ends_the_run_and_lines_stream() -> None:
    streamed: list[str] = []
    prog = code(w("LDI", 0, imm=10), w("SVC", imm=0x600), w("LDI", 0, imm=1), w("SVC", imm=0x100))
    r = run_standalone(prog, b"", 0, on_line=streamed.append, svc_trace=True)
    assert r.halt == "sleep" and r.steps == 2 and r.exit is None
    assert streamed == r.log and r.log[0] == "[SVC] mod=0x6 fn=0x00 R0..R3=[10, 0, 0, 0]"


def test_rodata_is_truncated_at_the_end_of_memory() -> None:
    prog = code(w("LDI32", 1), 0xFFFF, w("LDB", 0, 1), w("RET"))
    r = run_standalone(prog, bytes([7]) * 0x10000, 0)
    assert r.exit == 7 and r.halt == "returned"
