"""Stand-alone system calls (spec §9, §10, §11 stand-alone rules) through real SVC instructions."""

from __future__ import annotations

import math
import struct

import pytest

from executive.hsx import f16
from executive.hsx.cpu import Cpu, HaltReason
from executive.hsx.isa import BY_MNEMONIC, ERR_ENOSYS, encode
from executive.hsx.mailbox import EMBEDDED
from executive.hsx.svc import StandaloneHost, read_cstring, write_bytes

RO = 0x4000


def w(mn: str, rd: int = 0, rs1: int = 0, rs2: int = 0, imm: int = 0) -> int:
    return encode(BY_MNEMONIC[mn].opcode, rd, rs1, rs2, imm)


def call(
    host: StandaloneHost,
    module: int,
    fn: int,
    regs: dict[int, int] | None = None,
    mem: dict[int, bytes] | None = None,
    cpu: Cpu | None = None,
) -> Cpu:
    """Run `SVC module/fn ; RET` with the given registers; `cpu` carries memory and registers over."""
    code = b"".join(x.to_bytes(4, "big") for x in [w("SVC", imm=(module << 8) | fn), w("RET")])
    prev, cpu = cpu, Cpu(code, svc=host)
    if prev is not None:
        cpu.mem[:] = prev.mem
        cpu.regs[:] = prev.regs
    for r, v in (regs or {}).items():
        cpu.set_register(r, v)
    for addr, data in (mem or {}).items():
        cpu.mem[addr : addr + len(data)] = data
    cpu.run(10)
    return cpu


def test_task_exit_logs_and_stops_after_retiring() -> None:
    host = StandaloneHost()
    cpu = call(host, 1, 0, {0: 0xFFFFFFFF})
    assert host.log == ["[EXIT 4294967295]"] and host.exit_code == 0xFFFFFFFF
    assert (cpu.halt, cpu.pc, cpu.steps, cpu.regs[0]) == (HaltReason.EXITED, 4, 1, 0xFFFFFFFF)


def test_uart_write() -> None:
    host = StandaloneHost()
    cpu = call(host, 1, 1, {1: RO, 2: 0x10007}, {RO: b"Hi \xff\xfethere\n"})  # len masked to 7
    assert host.log == ["[UART.tx] Hi th"] and host.output == ["Hi th"]  # invalid bytes dropped
    assert cpu.regs[0] == 7 and cpu.halt is HaltReason.RETURNED


def test_uart_write_truncated_at_end_of_memory_reports_requested_length() -> None:
    host = StandaloneHost()
    cpu = call(host, 1, 1, {1: 0xFFFE, 2: 10}, {0xFFFE: b"ok"})
    assert host.output == ["ok"] and cpu.regs[0] == 10


def test_can_tx() -> None:
    host = StandaloneHost()
    cpu = call(host, 2, 0, {1: 0xF123, 2: RO, 3: 0x103}, {RO: b"\x01\x02\xff\x00"})
    assert host.log == ["[CAN.tx] id=0x123 data=0102ff"] and cpu.regs[0] == 0


def test_core_get_steps_counts_instructions_before_the_svc() -> None:
    host = StandaloneHost()
    code = b"".join(x.to_bytes(4, "big") for x in [w("LDI", 1), w("LDI", 2), w("SVC", imm=0x000), w("RET")])
    cpu = Cpu(code, svc=host)
    cpu.run(10)
    assert cpu.regs[0] == 2 and cpu.steps == 3


@pytest.mark.parametrize(
    ("module", "fn", "line"),
    [
        (0x3, 0x05, "[SVC] mod=0x3 fn=0x5 (stub)"),
        (0x0, 0x01, "[SVC] mod=0x0 fn=0x1 (stub)"),
        (0x1, 0x02, "[SVC] mod=0x1 fn=0x2 (stub)"),
        (0x2, 0x01, "[SVC] mod=0x2 fn=0x1 (stub)"),
        (0xE, 0x00, "[SVC] mod=0xE fn=0x0 (stub)"),  # dev-libm off
        (0xF, 0xAB, "[SVC] mod=0xF fn=0xAB (stub)"),
        (0x6, 0x01, "[EXEC] fn=1 not implemented"),
    ],
)
def test_unknown_calls_are_enosys(module: int, fn: int, line: str) -> None:
    host = StandaloneHost()
    cpu = call(host, module, fn, {0: 5})
    assert host.log == [line] and cpu.regs[0] == ERR_ENOSYS and cpu.halt is HaltReason.RETURNED


@pytest.mark.parametrize(
    ("module", "line"), [(7, "[VALUE] fn=0x03 - no handler (stub)"), (8, "[COMMAND] fn=0x03 - no handler (stub)")]
)
def test_values_and_commands_are_enoent(module: int, line: str) -> None:
    host = StandaloneHost()
    cpu = call(host, module, 3)
    assert host.log == [line] and cpu.regs[0] == 1


def test_sleep_ends_the_run_but_zero_does_not() -> None:
    host = StandaloneHost()
    cpu = call(host, 6, 0, {0: 0})
    assert cpu.halt is HaltReason.RETURNED and cpu.regs[0] == 0
    cpu = call(host, 6, 0, {0: 250})
    assert (cpu.halt, cpu.halt_info, cpu.regs[0], cpu.pc) == (HaltReason.SLEEP, {"ms": 250}, 0, 4)


def test_svc_trace_line() -> None:
    host = StandaloneHost(svc_trace=True)
    call(host, 0, 0, {0: 1, 1: 2, 2: 3, 3: 4})
    assert host.log == ["[SVC] mod=0x0 fn=0x00 R0..R3=[1, 2, 3, 4]"]


def test_dev_libm() -> None:
    host = StandaloneHost(dev_libm=True)
    cpu = call(host, 0xE, 1, {0: 0xABCD0000, 1: 0x0000})  # cos(0) = 1
    assert cpu.regs[0] == 0xABCD3C00
    cpu = call(host, 0xE, 2, {0: 0, 1: 0x4000})  # exp(2)
    assert cpu.regs[0] == f16.encode(math.exp(2.0))
    cpu = call(host, 0xE, 7, {0: 9})
    assert cpu.regs[0] == 0 and host.log[-1] == "[SVC] dev-libm fn=7 unsupported"


# -- FS stub (§10.4) ------------------------------------------------------------------------------


def _fs(
    host: StandaloneHost, cpu: Cpu | None, fn: int, regs: dict[int, int], mem: dict[int, bytes] | None = None
) -> Cpu:
    return call(host, 4, fn, regs, mem, cpu)


def test_fs_open_write_read_close_and_fd_numbers() -> None:
    host = StandaloneHost()
    cpu = _fs(host, None, 0, {1: RO}, {RO: b"notes/a.txt\0", RO + 0x100: b"hello fs"})
    assert cpu.regs[0] == 3
    cpu = _fs(host, cpu, 2, {1: 3, 2: RO + 0x100, 3: 8})
    assert cpu.regs[0] == 8
    cpu = _fs(host, cpu, 3, {1: 3})
    assert cpu.regs[0] == 0
    cpu = _fs(host, cpu, 3, {1: 3})
    assert cpu.regs[0] == 0xFFFFFFFF  # already closed
    cpu = _fs(host, cpu, 0, {1: RO})
    assert cpu.regs[0] == 4  # fds are never reused
    cpu = _fs(host, cpu, 1, {1: 4, 2: 0x200, 3: 5})
    assert cpu.regs[0] == 5 and bytes(cpu.mem[0x200:0x205]) == b"hello"
    cpu = _fs(host, cpu, 1, {1: 4, 2: 0xFFFE, 3: 50})  # host write clipped at the end of memory
    assert cpu.regs[0] == 2 and bytes(cpu.mem[0xFFFE:]) == b" f"
    cpu = _fs(host, cpu, 1, {1: 99, 2: 0x200, 3: 5})
    assert cpu.regs[0] == 0  # unknown fd
    cpu = _fs(host, cpu, 2, {1: 1, 2: 0x200, 3: 5})
    assert cpu.regs[0] == 0  # stand-alone: no fd table, so stdout is unknown


@pytest.mark.parametrize("path", [b"", b"/hello.txt", b"a/../b", b"a//b", b"c:x", b"a\\..\\b", b"dir/", b".."])
def test_fs_refused_paths(path: bytes) -> None:
    host = StandaloneHost()
    cpu = _fs(host, None, 0, {1: RO}, {RO: path + b"\0"})
    assert cpu.regs[0] == 0xFFFFFFEA


def test_fs_listdir_delete_rename_mkdir() -> None:
    host = StandaloneHost()
    cpu = _fs(host, None, 0, {1: RO}, {RO: b"b.txt\0", RO + 16: b"a.txt\0", RO + 32: b"c.txt\0"})
    cpu = _fs(host, cpu, 0, {1: RO + 16})
    cpu = _fs(host, cpu, 0xA, {1: 0, 2: 0x300, 3: 100})
    listing = b"/hello.txt\na.txt\nb.txt"
    assert cpu.regs[0] == len(listing) and bytes(cpu.mem[0x300 : 0x300 + len(listing)]) == listing
    cpu = _fs(host, cpu, 0xA, {2: 0x300, 3: 4})
    assert cpu.regs[0] == 4
    cpu = _fs(host, cpu, 0xC, {1: RO + 16, 2: RO})  # rename a -> b: b exists
    assert cpu.regs[0] == 0xFFFFFFFF
    cpu = _fs(host, cpu, 0xC, {1: RO + 16, 2: RO + 32})  # a -> c
    assert cpu.regs[0] == 0 and set(host.fs.files) == {"/hello.txt", "b.txt", "c.txt"}
    cpu = _fs(host, cpu, 0xB, {1: RO + 32})
    assert cpu.regs[0] == 0
    cpu = _fs(host, cpu, 0xB, {1: RO + 32})
    assert cpu.regs[0] == 0xFFFFFFFF
    cpu = _fs(host, cpu, 0xD, {1: RO})
    assert cpu.regs[0] == 0
    cpu = _fs(host, cpu, 0x9, {})
    assert cpu.regs[0] == 0xFFFFFFFF and host.log == ["[FS] fn=9 not implemented"]


# -- mailboxes as pid 0 (§10.5) ---------------------------------------------------------------------


def test_mailbox_round_trip_through_svcs() -> None:
    host = StandaloneHost()
    cpu = call(host, 5, 0, {1: RO}, {RO: b"app:chat\0", RO + 0x40: b"ping!"})
    assert cpu.regs[0:2] == [0, 1]
    cpu = call(host, 5, 2, {1: 1, 2: RO + 0x40, 3: 5, 4: 0x10, 5: 3}, cpu=cpu)
    assert cpu.regs[0:2] == [0, 5]
    cpu = call(host, 5, 4, {1: 1}, cpu=cpu)
    assert cpu.regs[0:4] == [0, 1, 13, 5]
    cpu = call(host, 5, 3, {1: 1, 2: 0x500, 3: 4, 4: 0, 5: 0x600}, cpu=cpu)
    assert cpu.regs[0:5] == [0, 4, 0x10, 3, 0]
    assert bytes(cpu.mem[0x500:0x505]) == b"ping\0"  # truncated to max_len
    assert bytes(cpu.mem[0x600:0x614]) == bytes(20)  # stand-alone never writes the info record
    cpu = call(host, 5, 3, {1: 1, 2: 0x500, 3: 4, 5: 0x600}, cpu=cpu)
    assert cpu.regs[0:2] == [3, 0]  # NO_DATA, never blocks
    cpu = call(host, 5, 1, {1: RO, 2: 128, 3: 0x08}, cpu=cpu)  # BIND existing: descriptor id 1
    assert cpu.regs[0:2] == [0, 1]
    cpu = call(host, 5, 5, {1: 1, 2: 1}, cpu=cpu)  # TAP on
    assert cpu.regs[0] == 0
    cpu = call(host, 5, 6, {1: 1}, cpu=cpu)
    assert cpu.regs[0] == 0
    assert host.log == []


def test_mailbox_errors_become_0xff_with_a_log_line() -> None:
    host = StandaloneHost()
    cpu = call(host, 5, 3, {1: 7})
    assert cpu.regs[0] == 0xFF
    assert host.log == ["[MBX] pid=0 fn=3 error: invalid handle 7 for pid 0"]
    cpu = call(host, 5, 0, {1: RO}, {RO: b"\0"}, cpu=cpu)  # empty target
    assert cpu.regs[0] == 0xFF and host.log[-1].startswith("[MBX] pid=0 fn=0 error: empty")
    cpu = call(host, 5, 9, {}, cpu=cpu)
    assert cpu.regs[0] == 0xFF


def test_embedded_profile_handle_quota() -> None:
    host = StandaloneHost(profile=EMBEDDED)
    cpu = None
    for _ in range(8):
        cpu = call(host, 5, 0, {1: RO}, {RO: b"x\0"}, cpu=cpu)
        assert cpu.regs[0] == 0
    cpu = call(host, 5, 0, {1: RO}, cpu=cpu)
    assert cpu.regs[0] == 0xFF and "quota 8" in host.log[-1]


def test_guest_memory_helpers() -> None:
    mem = bytearray(0x10000)
    mem[0xFFFC:] = b"ab\xffc"
    assert read_cstring(mem, 0x1FFFC) == "abc"  # to the end of memory, bad UTF-8 dropped
    assert write_bytes(mem, 0xFFFE, b"xyz") == 2 and len(mem) == 0x10000
    assert struct.unpack_from("<H", mem, 0xFFFE)[0] == 0x7978
