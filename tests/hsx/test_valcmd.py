"""The value and command services (spec hsx-vm.md §12; hsx-executive §3.9, §5.3, §10.3).

Guest calls go through a real :class:`Cpu` (registers and memory set by hand, or an MVASM
program) and a real :class:`MailboxManager`; time is a fake clock. Expected values are worked
out from the spec, e.g. f16 1.0 = 0x3C00, 0.5 = 0x3800, OID 0x0102 = group 1, id 2.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

from executive.hsx import valcmd
from executive.hsx._hxe_meta import CommandEntry, ValueEntry
from executive.hsx.asm import assemble_text
from executive.hsx.cpu import Cpu, HaltReason
from executive.hsx.mailbox import DESKTOP, EMBEDDED, MailboxManager
from executive.hsx.valcmd import (
    CMD_ASYNC,
    CMD_CALL,
    CMD_CALL_ASYNC,
    CMD_HELP,
    CMD_LOOKUP,
    CMD_PIN,
    CMD_REGISTER,
    EBUSY,
    EEXIST,
    EFAIL,
    EINVAL,
    ENOASYNC,
    ENOENT,
    ENOSPC,
    EPERM,
    OK,
    VAL_GET,
    VAL_LIST,
    VAL_LOOKUP,
    VAL_PERSIST,
    VAL_PERSIST_FN,
    VAL_REGISTER,
    VAL_RO,
    VAL_SET,
    VAL_SUB,
    MetadataError,
    ValCmd,
    ValCmdRequestError,
)

ONE, HALF, TWO = 0x3C00, 0x3800, 0x4000  # f16 1.0, 0.5, 2.0
SENTINEL = 0xDEADBEEF


class FakeClock:
    """Virtual monotonic seconds."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Env:
    """One executive's services plus a CPU per task (pid -> Cpu)."""

    def __init__(self, **kw: Any) -> None:
        self.clock = FakeClock()
        self.mbx = MailboxManager(kw.pop("profile", DESKTOP))
        self.events: list[tuple[str, int | None, dict[str, Any]]] = []
        self.saved: list[tuple[int, int, int]] = []
        self.store: dict[int, int] = {}
        self.vc = ValCmd(
            self.mbx,
            emit=lambda t, p, d: self.events.append((t, p, d)),
            clock=self.clock,
            persist_save=lambda k, v, d: self.saved.append((k, v, d)),
            persist_load=self.store.get,
            **kw,
        )
        self.cpus: dict[int, Cpu] = {}

    def cpu(self, pid: int) -> Cpu:
        if pid not in self.cpus:
            self.cpus[pid] = Cpu(b"")
        return self.cpus[pid]

    def _call(self, module: int, pid: int, fn: int, regs: tuple[int, ...]) -> Cpu:
        cpu = self.cpu(pid)
        cpu.regs[0] = SENTINEL
        for i, v in enumerate(regs, start=1):
            cpu.regs[i] = v
        before = list(cpu.regs[5:])
        if module == 7:
            self.vc.value_svc(cpu, fn, pid)
        else:
            self.vc.command_svc(cpu, fn, pid)
        assert cpu.regs[5:] == before  # handlers touch only R0 and R1
        return cpu

    def val(self, pid: int, fn: int, *regs: int) -> Cpu:
        return self._call(7, pid, fn, regs)

    def cmd(self, pid: int, fn: int, *regs: int) -> Cpu:
        return self._call(8, pid, fn, regs)

    def kinds(self) -> list[str]:
        return [e[0] for e in self.events]


@pytest.fixture
def env() -> Env:
    return Env()


def put(cpu: Cpu, addr: int, data: bytes) -> int:
    cpu.mem[addr : addr + len(data)] = data
    return addr


def d_group(nxt: int, gid: int, name: int) -> bytes:
    return struct.pack("<BBHH", 0x01, gid, nxt, name)


def d_name(nxt: int, name: int) -> bytes:
    return struct.pack("<BxHH", 0x02, nxt, name)


def d_unit(nxt: int, code: bytes, eps: int, rate: int) -> bytes:
    return struct.pack("<BxH4sHH", 0x03, nxt, code, eps, rate)


def d_range(nxt: int, lo: int, hi: int) -> bytes:
    return struct.pack("<BxHHH", 0x04, nxt, lo, hi)


def d_persist(nxt: int, key: int, debounce: int) -> bytes:
    return struct.pack("<BxHHH", 0x05, nxt, key, debounce)


def d_cmd(nxt: int, name: int, help_ptr: int) -> bytes:
    return struct.pack("<BxHHH", 0x10, nxt, name, help_ptr)


END = 0xFFFF


def register_value(
    env: Env, pid: int, group: int, vid: int, flags: int = 0, *, unit: tuple[int, int] | None = None
) -> int:
    """VAL_REGISTER with an optional unit descriptor (epsilon, rate_ms) at 0x1000."""
    ptr = 0
    if unit is not None:
        ptr = put(env.cpu(pid), 0x1000, d_unit(END, b"V\0\0\0", *unit))
    cpu = env.val(pid, VAL_REGISTER, group, vid, flags, ptr)
    assert cpu.regs[0] == OK
    return cpu.regs[1]


def recv_all(env: Env, pid: int, handle: int) -> list[tuple[bytes, int]]:
    out = []
    while (m := env.mbx.recv(pid, handle)) is not None:
        out.append((m.data, m.src_pid))
    return out


# ---------------------------------------------------------------------------------------------
# public surface


def test_public_names_are_pinned() -> None:
    pinned = {"ValCmd", "ValueRegistry", "CommandRegistry", "handle_value_svc", "handle_command_svc",
              "register_metadata", "MetadataError", "ValCmdRequestError", "MetadataRegistration"}  # fmt: skip
    assert pinned <= set(valcmd.__all__)
    for name in valcmd.__all__:
        assert hasattr(valcmd, name), name
    assert (OK, ENOENT, EPERM, ENOSPC, EINVAL, EEXIST, EBUSY, ENOASYNC, EFAIL) == (0, 1, 2, 3, 4, 5, 6, 6, 7)


# ---------------------------------------------------------------------------------------------
# VAL_REGISTER and descriptor chains


def test_register_returns_oid_and_emits_event(env: Env) -> None:
    cpu = env.val(3, VAL_REGISTER, 0x101, 0x202, 0x1F4, 0)  # group/id/flags are u8: masked
    assert (cpu.regs[0], cpu.regs[1]) == (OK, 0x0102)
    rec = env.vc.values.entry(0x0102)
    assert rec is not None
    assert (rec.owner_pid, rec.auth_level, rec.flags, rec.f16, rec.desc.head) == (3, 0, 0xF4, 0, None)
    assert env.events == [
        ("value_registered", 3, {"oid": 0x0102, "group_id": 1, "value_id": 2, "flags": 0xF4,
                                 "auth_level": 0, "owner_pid": 3, "caller_pid": 3})
    ]  # fmt: skip


def test_register_parses_full_descriptor_chain(env: Env) -> None:
    cpu = env.cpu(1)
    put(cpu, 0x2000, b"temp\0")
    put(cpu, 0x2010, b"sensors\0")
    put(cpu, 0x1000, d_group(0x1010, 9, 0x2010))
    put(cpu, 0x1010, d_name(0x1020, 0x2000))
    put(cpu, 0x1020, d_unit(0x1030, b"degC", 0x3400, 250))
    put(cpu, 0x1030, d_range(0x1040, 0xBC00, 0x5640))
    put(cpu, 0x1040, d_persist(END, 0x0042, 500))
    assert env.val(1, VAL_REGISTER, 1, 2, 0, 0x1000).regs[0] == OK
    [summary] = env.vc.val_list()["values"]
    assert summary == {
        "oid": 0x0102, "group_id": 1, "value_id": 2, "flags": 0, "auth_level": 0, "owner_pid": 1,
        "desc_head": 0x1000, "f16": 0, "value": 0.0, "persist_mode": 0, "subscribers": 0,
        "name": "temp", "group_name": "sensors", "unit": "degC", "epsilon": 0.25, "epsilon_f16": 0x3400,
        "rate_ms": 250, "min": -1.0, "max": 100.0, "min_f16": 0xBC00, "max_f16": 0x5640,
        "persist_key": 0x42, "debounce_ms": 500,
    }  # fmt: skip
    assert env.events[-1][2]["name"] == "temp" and env.events[-1][2]["group_name"] == "sensors"


@pytest.mark.parametrize("ptr", [0, 0xFFFF, 0x1_0000])  # 0x10000 masks to 0: none
def test_register_without_descriptors(env: Env, ptr: int) -> None:
    assert env.val(1, VAL_REGISTER, 1, 1, 0, ptr).regs[0] == OK
    assert env.vc.val_list()["values"][0]["desc_head"] is None


@pytest.mark.parametrize(
    "layout",
    [
        {0x1000: bytes([0x07, 0, 0xFF, 0xFF, 0, 0])},  # unknown type
        {0x1000: d_name(0x1010, 0), 0x1010: d_name(0x1000, 0)},  # loop
        {0x1000: d_name(0x1000, 0)},  # points at itself
        {0xFFFC: bytes([0x03, 0, 0xFF, 0xFF])},  # unit descriptor (12 bytes) past the end of memory
    ],
)
def test_bad_descriptor_chain_is_einval_and_registers_nothing(env: Env, layout: dict[int, bytes]) -> None:
    cpu = env.cpu(1)
    for addr, data in layout.items():
        put(cpu, addr, data)
    head = min(layout)
    r = env.val(1, VAL_REGISTER, 1, 1, 0, head).regs
    assert (r[0], r[1]) == (EINVAL, 1)  # R1 written only on OK
    assert len(env.vc.values) == 0 and env.events == []
    assert env.cmd(1, CMD_REGISTER, 1, 1, 0, head).regs[0] == EINVAL
    assert len(env.vc.commands) == 0


def test_later_descriptor_overrides_and_command_descriptor_is_ignored_for_values(env: Env) -> None:
    cpu = env.cpu(1)
    put(cpu, 0x2000, b"a\0b\0")
    put(cpu, 0x1000, d_name(0x1010, 0x2000))
    put(cpu, 0x1010, d_cmd(0x1020, 0x2000, 0x2000))
    put(cpu, 0x1020, d_name(0, 0x2002))  # next = 0 also ends the chain
    env.val(1, VAL_REGISTER, 1, 1, 0, 0x1000)
    assert env.vc.val_list()["values"][0]["name"] == "b"


def test_existing_oid_is_eexist_for_any_owner_but_tables_are_separate(env: Env) -> None:
    register_value(env, 1, 4, 5)
    assert env.val(1, VAL_REGISTER, 4, 5, 0, 0).regs[0] == EEXIST
    assert env.val(2, VAL_REGISTER, 4, 5, 0, 0).regs[0] == EEXIST
    assert env.cmd(2, CMD_REGISTER, 4, 5, 0, 0).regs[:2] == [OK, 0x0405]  # same OID, command table


def test_257th_value_is_enospc(env: Env) -> None:
    for i in range(256):
        register_value(env, 1, i >> 8 | 1, i & 0xFF)
    r = env.val(1, VAL_REGISTER, 9, 9, 0, 0).regs
    assert (r[0], r[1]) == (ENOSPC, 9)
    stats = env.vc.val_stats()["stats"]["values"]
    assert stats == {"count": 256, "capacity": 256, "usage_pct": 100.0, "high_water": 256,
                     "high_water_pct": 100.0, "warning": True}  # fmt: skip


def test_string_pool_exhaustion_is_enospc_and_stores_nothing(env: Env) -> None:
    cpu = env.cpu(1)
    for i in range(4):  # four distinct 1000-char names: 4 * 1001 = 4004 bytes of 4096
        put(cpu, 0x2000 + i * 0x400, bytes([0x41 + i]) * 1000 + b"\0")
        put(cpu, 0x1000 + i * 8, d_name(END, 0x2000 + i * 0x400))
        assert env.val(1, VAL_REGISTER, 1, i, 0, 0x1000 + i * 8).regs[0] == OK
    put(cpu, 0x3000, b"x" * 92 + b"\0")  # 93 bytes > 92 free
    put(cpu, 0x1100, d_name(END, 0x3000))
    assert env.val(1, VAL_REGISTER, 1, 9, 0, 0x1100).regs[0] == ENOSPC
    assert env.vc.values.entry(0x0109) is None
    strings = env.vc.val_stats()["stats"]["strings"]
    assert strings == {"used_bytes": 4004, "total_bytes": 4096, "usage_pct": 97.8, "high_water_bytes": 4004,
                       "high_water_pct": 97.8, "warning": True}  # fmt: skip
    # an already pooled name costs nothing (de-duplicated)
    assert env.val(1, VAL_REGISTER, 1, 10, 0, 0x1000).regs[0] == OK
    assert env.vc.values.strings.used == 4004
    # the command table has its own pool
    assert env.cmd(1, CMD_REGISTER, 1, 9, 0, 0).regs[0] == OK
    assert env.vc.cmd_stats()["stats"]["strings"]["used_bytes"] == 0


# ---------------------------------------------------------------------------------------------
# VAL_LOOKUP, VAL_GET


def test_lookup(env: Env) -> None:
    register_value(env, 1, 7, 8)
    assert env.val(2, VAL_LOOKUP, 7, 8).regs[:2] == [OK, 0x0708]
    assert env.val(2, VAL_LOOKUP, 7, 9).regs[:2] == [ENOENT, 7]  # R1 written only on OK


def test_get_puts_f16_bits_in_r0_and_is_ambiguous_with_status(env: Env) -> None:
    oid = register_value(env, 1, 1, 1)
    env.val(1, VAL_SET, oid, 0xFFFF_0000 | ONE)  # R2 masked to 16 bits
    cpu = env.val(2, VAL_GET, 0xABCD_0000 | oid)  # OID masked to 16 bits; auth 0: anybody
    assert cpu.regs[:2] == [ONE, 0xABCD_0000 | oid]
    env.val(1, VAL_SET, oid, 0x0001)  # the smallest subnormal ...
    assert env.val(1, VAL_GET, oid).regs[0] == ENOENT == 0x0001  # ... reads like ENOENT (§18 item 9)
    assert env.val(1, VAL_GET, 0x0909).regs[0] == ENOENT


# ---------------------------------------------------------------------------------------------
# permissions (auth levels come from metadata; guest registration is always auth 0)


@pytest.fixture
def authed(env: Env) -> Env:
    env.vc.register_metadata(
        [ValueEntry(1, 1, auth=1, init=ONE), ValueEntry(1, 2, auth=0, init=ONE), ValueEntry(1, 3, flags=VAL_RO)],
        [], owner_pid=1,
    )  # fmt: skip
    return env


def test_non_owner_may_use_only_auth0_values(authed: Env) -> None:
    env = authed
    assert env.val(2, VAL_GET, 0x0101).regs[0] == EPERM
    assert env.val(2, VAL_SET, 0x0101, TWO).regs[0] == EPERM
    assert env.val(1, VAL_GET, 0x0101).regs[0] == ONE
    assert env.val(1, VAL_SET, 0x0101, TWO).regs[0] == OK
    assert env.val(2, VAL_GET, 0x0102).regs[0] == ONE
    assert env.val(2, VAL_SET, 0x0102, TWO).regs[0] == OK
    assert env.vc.values.entry(0x0102).f16 == TWO  # type: ignore[union-attr]
    assert env.val(2, VAL_SUB, 0x0101, 0).regs[0] == EINVAL  # empty target checked first
    put(env.cpu(2), 0x100, b"app:w\0")
    assert env.val(2, VAL_SUB, 0x0101, 0x100).regs[0] == EPERM
    assert env.mbx.handles_of(2) == []


def test_ro_value_cannot_be_set_even_by_owner(authed: Env) -> None:
    assert authed.val(1, VAL_SET, 0x0103, ONE).regs[0] == EPERM
    assert authed.vc.values.entry(0x0103).f16 == 0  # type: ignore[union-attr]
    assert authed.val(1, VAL_SET, 0x0999, ONE).regs[0] == ENOENT


# ---------------------------------------------------------------------------------------------
# VAL_SET: rate limit, epsilon, events


def test_rate_limit_uses_injected_clock(env: Env) -> None:
    oid = register_value(env, 1, 1, 1, unit=(0, 100))  # rate_ms 100
    assert env.val(1, VAL_SET, oid, ONE).regs[0] == OK  # first set: no previous write
    env.clock.now += 0.099
    assert env.val(1, VAL_SET, oid, TWO).regs[0] == EBUSY
    assert env.vc.values.entry(oid).f16 == ONE  # type: ignore[union-attr]
    env.clock.now += 0.001  # exactly 100 ms after the stored set
    assert env.val(1, VAL_SET, oid, TWO).regs[0] == OK
    assert env.val(1, VAL_SET, oid, HALF).regs[0] == EBUSY


def test_epsilon_filters_small_changes_without_storing(env: Env) -> None:
    oid = register_value(env, 1, 1, 1, unit=(HALF, 0))  # epsilon 0.5
    sub = subscribe(env, 2, oid)
    assert env.val(1, VAL_SET, oid, ONE).regs[0] == OK  # |1 - 0| >= 0.5: stored
    env.events.clear()
    recv_all(env, 2, sub)
    assert env.val(1, VAL_SET, oid, 0x3D00).regs[0] == OK  # 1.25: |0.25| < 0.5: OK, not stored
    assert env.vc.values.entry(oid).f16 == ONE  # type: ignore[union-attr]
    assert env.events == [] and recv_all(env, 2, sub) == []
    assert env.val(1, VAL_SET, oid, 0x3E00).regs[0] == OK  # 1.5: exactly epsilon away: stored
    assert env.vc.values.entry(oid).f16 == 0x3E00  # type: ignore[union-attr]


def test_epsilon_filtered_set_does_not_restart_rate_window(env: Env) -> None:
    oid = register_value(env, 1, 1, 1, unit=(HALF, 100))
    env.val(1, VAL_SET, oid, ONE)
    env.clock.now += 0.1
    assert env.val(1, VAL_SET, oid, ONE).regs[0] == OK  # same value: filtered by epsilon
    assert env.val(1, VAL_SET, oid, 0x4200).regs[0] == OK  # still 100 ms after the stored set


def test_set_without_epsilon_stores_even_unchanged_bits(env: Env) -> None:
    oid = register_value(env, 1, 1, 1)
    env.val(1, VAL_SET, oid, 0)
    assert env.kinds() == ["value_registered", "value_changed"]


def test_value_changed_event_fields(env: Env) -> None:
    cpu = env.cpu(1)
    put(cpu, 0x2000, b"speed\0")
    put(cpu, 0x1000, d_name(END, 0x2000))
    env.val(1, VAL_REGISTER, 2, 3, 0x04, 0x1000)
    env.val(5, VAL_SET, 0x0203, HALF)
    assert env.events[-1] == (
        "value_changed", 5,
        {"oid": 0x0203, "group_id": 2, "value_id": 3, "flags": 0x04, "auth_level": 0, "owner_pid": 1,
         "caller_pid": 5, "name": "speed", "old_f16": 0, "new_f16": HALF, "old_value": 0.0, "new_value": 0.5},
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# VAL_SUB and the double notification


def subscribe(env: Env, pid: int, oid: int, target: bytes = b"app:watch") -> int:
    cpu = env.cpu(pid)
    put(cpu, 0x300, target + b"\0")
    r = env.val(pid, VAL_SUB, oid, 0x1_0300).regs  # pointer masked to 16 bits
    assert r[0] == OK
    return r[1]


def test_double_notification_bytes_and_sender(env: Env) -> None:
    oid = register_value(env, 1, 0x12, 0x34)
    env.val(1, VAL_SET, oid, ONE)
    h2 = subscribe(env, 2, oid, b"app:watch2")
    h3 = subscribe(env, 3, oid, b"app:watch3")
    assert env.mbx.handle(2, h2).descriptor.target == "app:watch2"
    env.val(1, VAL_SET, oid, TWO)
    for pid, h in ((2, h2), (3, h3)):
        assert recv_all(env, pid, h) == [
            (struct.pack("<HHH", 0x1234, ONE, TWO), pid),  # 6 bytes: oid, old, new
            (struct.pack("<HH", 0x1234, TWO), pid),  # then 4 bytes: oid, new
        ]
        assert recv_all(env, pid, h) == []


def test_notification_wakes_waiters_through_on_enqueue() -> None:
    enqueued: list[str] = []
    env = Env()
    env.mbx.on_enqueue = lambda d: enqueued.append(d.target)
    oid = register_value(env, 1, 1, 1)
    subscribe(env, 2, oid)
    env.val(1, VAL_SET, oid, ONE)
    assert enqueued == ["app:watch", "app:watch"]


def test_sub_errors_open_no_handle(env: Env) -> None:
    put(env.cpu(2), 0x100, b"app:w\0")
    assert env.val(2, VAL_SUB, 0x0505, 0x100).regs[:2] == [ENOENT, 0x0505]
    oid = register_value(env, 1, 1, 1)
    put(env.cpu(2), 0x200, b"\0")
    assert env.val(2, VAL_SUB, oid, 0x200).regs[0] == EINVAL
    put(env.cpu(2), 0x200, b"pid:x\0")  # malformed target
    assert env.val(2, VAL_SUB, oid, 0x200).regs[0] == EINVAL
    assert env.mbx.handles_of(2) == []


def test_sub_handle_quota_is_enospc() -> None:
    env = Env(profile=EMBEDDED)  # 8 handles per pid
    oid = register_value(env, 1, 1, 1)
    for _ in range(8):
        subscribe(env, 2, oid)
    put(env.cpu(2), 0x100, b"app:w\0")
    assert env.val(2, VAL_SUB, oid, 0x100).regs[0] == ENOSPC


def test_closed_subscriber_is_dropped_and_full_queue_is_tolerated(env: Env) -> None:
    oid = register_value(env, 1, 1, 1)
    h2 = subscribe(env, 2, oid, b"app:a")
    h3 = subscribe(env, 3, oid, b"app:b")
    env.mbx.close(2, h2)
    for i in range(1, 6):  # each message costs len + 8 of the 64-byte queue: 14 and 12
        assert env.val(1, VAL_SET, oid, i).regs[0] == OK
    assert env.vc.values.entry(oid).subscribers == [(3, h3)]  # type: ignore[union-attr]
    # set 1: 14 + 12 = 26; set 2: 52; set 3: the 6-byte one would make 66 (WOULDBLOCK, lost),
    # the 4-byte one makes exactly 64; sets 4 and 5 find the queue full.
    got = [data for data, _ in recv_all(env, 3, h3)]
    assert got == [struct.pack("<HHH", oid, 0, 1), struct.pack("<HH", oid, 1),
                   struct.pack("<HHH", oid, 1, 2), struct.pack("<HH", oid, 2), struct.pack("<HH", oid, 3)]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# VAL_LIST


def test_list_writes_callers_oids_as_u16_le(env: Env) -> None:
    for g, i in ((2, 1), (1, 7), (1, 3), (3, 0)):
        register_value(env, 1, g, i)
    register_value(env, 2, 1, 5)  # another owner: never listed for pid 1
    cpu = env.val(1, VAL_LIST, 0xFF, 0x500, 10)
    assert cpu.regs[:2] == [OK, 4]
    assert bytes(cpu.mem[0x500:0x50A]) == struct.pack("<4H", 0x0103, 0x0107, 0x0201, 0x0300) + b"\0\0"
    cpu = env.val(1, VAL_LIST, 1, 0x600, 10)  # group filter
    assert cpu.regs[:2] == [OK, 2] and bytes(cpu.mem[0x600:0x604]) == struct.pack("<2H", 0x0103, 0x0107)
    cpu = env.val(1, VAL_LIST, 0xFF, 0x700, 3)  # max
    assert cpu.regs[1] == 3 and bytes(cpu.mem[0x706:0x708]) == b"\0\0"
    assert env.val(1, VAL_LIST, 0xFF, 0x700, 0).regs[:2] == [OK, 0]
    assert env.val(9, VAL_LIST, 0xFF, 0x700, 10).regs[:2] == [OK, 0]


def test_list_never_writes_past_end_of_memory(env: Env) -> None:
    register_value(env, 1, 1, 1)
    register_value(env, 1, 1, 2)
    cpu = env.val(1, VAL_LIST, 0xFF, 0xFFFF, 10)
    assert cpu.regs[:2] == [OK, 2]
    assert len(cpu.mem) == 0x10000 and cpu.mem[0xFFFF] == 0x01  # low byte of 0x0101 only


# ---------------------------------------------------------------------------------------------
# VAL_PERSIST and persistence


@pytest.fixture
def persisted(env: Env) -> Env:
    env.vc.register_metadata([ValueEntry(1, 1, persist_key=0x77, init=ONE)], [], owner_pid=1)
    return env


def test_metadata_persist_key_forces_persist_flag_and_saves_changes(persisted: Env) -> None:
    env = persisted
    rec = env.vc.values.entry(0x0101)
    assert rec is not None and rec.flags & VAL_PERSIST and rec.persist_mode == 2
    env.val(1, VAL_SET, 0x0101, TWO)
    assert env.saved == [(0x77, TWO, 0)]


def test_persist_modes(persisted: Env) -> None:
    env = persisted
    rec = env.vc.values.entry(0x0101)
    assert rec is not None
    assert env.val(2, VAL_PERSIST_FN, 0x0101, 0).regs[0] == EPERM  # owner only
    assert env.val(1, VAL_PERSIST_FN, 0x0202, 0).regs[0] == ENOENT
    assert env.val(1, VAL_PERSIST_FN, 0x0101, 3).regs[0] == EINVAL
    assert env.val(1, VAL_PERSIST_FN, 0x0101, 0).regs[0] == OK  # volatile: no more saves
    env.val(1, VAL_SET, 0x0101, HALF)
    assert env.saved == [] and not rec.flags & VAL_PERSIST
    env.store[0x77] = TWO
    env.events.clear()
    assert env.val(1, VAL_PERSIST_FN, 0x0101, 1).regs[0] == OK  # load, still no saving
    assert rec.f16 == TWO and env.kinds() == ["value_changed"]
    env.val(1, VAL_SET, 0x0101, ONE)
    assert env.saved == []
    env.store[0x77] = HALF
    assert env.val(1, VAL_PERSIST_FN, 0x0101, 2).regs[0] == OK  # load + save
    assert rec.f16 == HALF and rec.flags & VAL_PERSIST and env.saved == []  # a load is not saved back
    env.val(1, VAL_SET, 0x0101, ONE)
    assert env.saved == [(0x77, ONE, 0)]


def test_failing_persistence_hook_is_einval(env: Env) -> None:
    def boom(key: int, value: int, debounce: int) -> None:
        raise OSError("disk full")

    env.vc.values.persist_save = boom
    env.vc.register_metadata([ValueEntry(1, 1, persist_key=1)], [], owner_pid=1)
    assert env.val(1, VAL_SET, 0x0101, ONE).regs[0] == EINVAL


# ---------------------------------------------------------------------------------------------
# unknown functions


@pytest.mark.parametrize("fn", [0x07, 0x10, 0xFF])
def test_unknown_value_function_is_einval(env: Env, fn: int) -> None:
    assert env.val(1, fn, 1, 1).regs[:2] == [EINVAL, 1]


@pytest.mark.parametrize("fn", [0x05, 0x06, 0xFF])
def test_unknown_command_function_is_einval(env: Env, fn: int) -> None:
    assert env.cmd(1, fn, 1, 1).regs[:2] == [EINVAL, 1]


# ---------------------------------------------------------------------------------------------
# commands


def register_command(
    env: Env, pid: int, group: int, cid: int, flags: int = 0, *, help_text: bytes | None = None
) -> int:
    ptr = 0
    if help_text is not None:
        cpu = env.cpu(pid)
        put(cpu, 0x2100, b"reset\0")
        put(cpu, 0x2200, help_text + b"\0")
        ptr = put(cpu, 0x1100, d_cmd(END, 0x2100, 0x2200))
    r = env.cmd(pid, CMD_REGISTER, group, cid, flags, ptr).regs
    assert r[0] == OK
    return r[1]


def test_command_register_lookup_and_event(env: Env) -> None:
    assert register_command(env, 4, 3, 9, CMD_ASYNC, help_text=b"Resets") == 0x0309
    assert env.cmd(4, CMD_REGISTER, 3, 9, 0, 0).regs[0] == EEXIST
    assert env.cmd(1, CMD_LOOKUP, 3, 9).regs[:2] == [OK, 0x0309]
    assert env.cmd(1, CMD_LOOKUP, 3, 8).regs[:2] == [ENOENT, 3]
    assert env.events == [
        (
            "cmd_registered",
            4,
            {"oid": 0x0309, "group_id": 3, "cmd_id": 9, "caller_pid": 4, "owner_pid": 4, "status": OK},
        )
    ]
    assert env.vc.cmd_list()["commands"] == [
        {"oid": 0x0309, "group_id": 3, "cmd_id": 9, "flags": CMD_ASYNC, "auth_level": 0, "owner_pid": 4,
         "handler_ref": None, "desc_head": 0x1100, "name": "reset", "help": "Resets"}
    ]  # fmt: skip


def test_257th_command_is_enospc(env: Env) -> None:
    for i in range(256):
        register_command(env, 1, 1 + (i >> 8), i & 0xFF)
    assert env.cmd(1, CMD_REGISTER, 9, 9, 0, 0).regs[0] == ENOSPC
    assert env.vc.cmd_stats()["stats"]["commands"]["count"] == 256


def test_call_is_owner_only_and_pin_always_eperm(env: Env) -> None:
    plain = register_command(env, 1, 1, 1)
    pinned = register_command(env, 1, 1, 2, CMD_PIN)
    assert env.cmd(2, CMD_CALL, plain, 0).regs[:2] == [EPERM, plain]
    assert env.cmd(1, CMD_CALL, pinned, 0).regs[:2] == [EPERM, pinned]
    assert env.cmd(1, CMD_CALL, 0x0707, 0).regs[:2] == [ENOENT, 0x0707]
    env.events.clear()
    assert env.cmd(1, CMD_CALL, plain, 0).regs[:2] == [OK, plain]  # no host handler: R1 untouched
    assert env.kinds() == ["cmd_invoked", "cmd_completed"]
    assert env.events[1][2]["result"] is None


def test_call_never_runs_guest_code_only_host_handlers(env: Env) -> None:
    env.vc.register_metadata([], [CommandEntry(1, 1, handler_offset=0x40)], owner_pid=1)
    cpu = env.cpu(1)
    pc = cpu.pc
    assert env.cmd(1, CMD_CALL, 0x0101, 0).regs[:2] == [OK, 0x0101]
    assert cpu.pc == pc and env.vc.cmd_list()["commands"][0]["handler_ref"] == 0x40
    seen: list[tuple[int, int, str | None]] = []

    def handler(rec: valcmd.CommandRecord, pid: int, token: str | None) -> object:
        seen.append((rec.oid, pid, token))
        return -1

    env.vc.set_command_handler(0x0101, handler)
    put(cpu, 0x800, b"secret\0")
    assert env.cmd(1, CMD_CALL, 0x0101, 0x800).regs[:2] == [OK, 0xFFFFFFFF]
    assert seen == [(0x0101, 1, "secret")]
    assert env.events[-1][2]["result"] == 0xFFFFFFFF


@pytest.mark.parametrize("result", [None, "text", True, float("nan")])
def test_non_numeric_handler_result_leaves_r1(env: Env, result: object) -> None:
    oid = register_command(env, 1, 1, 1)
    env.vc.set_command_handler(oid, lambda r, p, t: result)
    assert env.cmd(1, CMD_CALL, oid, 0).regs[:2] == [OK, oid]


def test_raising_handler_is_efail(env: Env) -> None:
    oid = register_command(env, 1, 1, 1)
    env.vc.set_command_handler(oid, lambda r, p, t: 1 // 0)
    assert env.cmd(1, CMD_CALL, oid, 0).regs[:2] == [EFAIL, oid]
    assert env.events[-1][0] == "cmd_completed" and env.events[-1][2]["status"] == EFAIL
    env.vc.set_command_handler(oid, None)
    assert env.cmd(1, CMD_CALL, oid, 0).regs[0] == OK


def test_call_async_completes_only_when_the_host_runs_pending(env: Env) -> None:
    oid = register_command(env, 1, 2, 3, CMD_ASYNC)
    put(env.cpu(1), 0x900, b"app:done\0")
    cpu = env.cmd(1, CMD_CALL_ASYNC, oid, 0, 0x900)
    assert cpu.regs[0] == OK
    handle = cpu.regs[1]
    assert env.mbx.handle(1, handle).descriptor.target == "app:done"
    assert recv_all(env, 1, handle) == [] and env.kinds()[-1] == "cmd_invoked"
    done = env.vc.run_pending()
    assert done == [{"oid": oid, "pid": 1, "handle": handle, "status": OK, "result": None}]
    assert recv_all(env, 1, handle) == [(struct.pack("<HH", oid, OK), 1)]
    env.vc.set_command_handler(oid, lambda r, p, t: 0x12345678)
    handle2 = env.cmd(1, CMD_CALL_ASYNC, oid, 0, 0x900).regs[1]
    assert handle2 != handle
    env.vc.run_pending()
    assert recv_all(env, 1, handle2) == [(struct.pack("<HHI", oid, OK, 0x12345678), 1)]
    assert env.events[-1] == (
        "cmd_completed", 1,
        {"oid": oid, "group_id": 2, "cmd_id": 3, "caller_pid": 1, "owner_pid": 1, "status": OK,
         "result": 0x12345678, "async": True},
    )  # fmt: skip
    assert env.vc.run_pending() == []


def test_call_async_errors_close_the_handle(env: Env) -> None:
    sync_only = register_command(env, 1, 1, 1)
    pinned = register_command(env, 1, 1, 2, CMD_ASYNC | CMD_PIN)
    async_ok = register_command(env, 1, 1, 3, CMD_ASYNC)
    for pid in (1, 2):
        put(env.cpu(pid), 0x900, b"app:done\0")
        put(env.cpu(pid), 0x910, b"\0")
    assert env.cmd(1, CMD_CALL_ASYNC, sync_only, 0, 0x910).regs[:2] == [EINVAL, sync_only]  # empty target
    assert env.cmd(1, CMD_CALL_ASYNC, 0x0909, 0, 0x900).regs[:2] == [ENOENT, 0x0909]
    assert env.cmd(1, CMD_CALL_ASYNC, sync_only, 0, 0x900).regs[:2] == [ENOASYNC, sync_only]
    assert env.cmd(1, CMD_CALL_ASYNC, pinned, 0, 0x900).regs[:2] == [EPERM, pinned]
    assert env.cmd(2, CMD_CALL_ASYNC, async_ok, 0, 0x900).regs[:2] == [EPERM, async_ok]
    assert env.mbx.handles_of(1) == [] and env.mbx.handles_of(2) == []
    assert env.vc.commands.pending == type(env.vc.commands.pending)()


def test_async_completion_to_a_closed_handle_is_dropped(env: Env) -> None:
    oid = register_command(env, 1, 1, 1, CMD_ASYNC)
    put(env.cpu(1), 0x900, b"app:done\0")
    handle = env.cmd(1, CMD_CALL_ASYNC, oid, 0, 0x900).regs[1]
    env.mbx.close(1, handle)
    assert env.vc.run_pending()[0]["status"] == OK


def test_help_copies_text_truncated_with_nul(env: Env) -> None:
    oid = register_command(env, 1, 1, 1, help_text=b"Reset the board")
    bare = register_command(env, 1, 1, 2)  # no 0x10 descriptor
    cpu = env.cpu(2)
    put(cpu, 0xA00, b"\xaa" * 32)
    assert env.cmd(2, CMD_HELP, oid, 0xA00, 64).regs[:2] == [OK, 15]  # no permission check for help
    assert bytes(cpu.mem[0xA00:0xA11]) == b"Reset the board\0\xaa"
    put(cpu, 0xA00, b"\xaa" * 32)
    assert env.cmd(2, CMD_HELP, oid, 0xA00, 6).regs[:2] == [OK, 5]
    assert bytes(cpu.mem[0xA00:0xA07]) == b"Reset\0\xaa"
    assert env.cmd(2, CMD_HELP, oid, 0xA00, 0).regs[:2] == [OK, 0]
    assert cpu.mem[0xA00] == ord("R")  # max 0: nothing written
    assert env.cmd(2, CMD_HELP, bare, 0xA00, 64).regs[:2] == [ENOENT, bare]
    assert env.cmd(2, CMD_HELP, 0x0808, 0xA00, 64).regs[:2] == [ENOENT, 0x0808]
    assert env.cmd(2, CMD_HELP, oid, 0xFFFE, 64).regs[:2] == [OK, 15]  # clipped at end of memory
    assert len(cpu.mem) == 0x10000 and bytes(cpu.mem[0xFFFE:]) == b"Re"


def test_command_descriptor_with_group_and_no_help(env: Env) -> None:
    cpu = env.cpu(1)
    put(cpu, 0x2000, b"grp\0nm\0")
    put(cpu, 0x1000, d_group(0x1010, 1, 0x2000))
    put(cpu, 0x1010, d_cmd(END, 0x2004, 0))
    assert env.cmd(1, CMD_REGISTER, 1, 1, 0, 0x1000).regs[0] == OK
    [c] = env.vc.cmd_list()["commands"]
    assert (c["name"], c["group_name"], "help" in c) == ("nm", "grp", False)
    assert env.cmd(1, CMD_HELP, 0x0101, 0x500, 8).regs[:2] == [OK, 0]


# ---------------------------------------------------------------------------------------------
# load-time metadata


def test_register_metadata_registers_everything(env: Env) -> None:
    result = env.vc.register_metadata(
        [ValueEntry(1, 2, flags=VAL_RO, auth=2, init=HALF, name="temp", unit="degCelsius", epsilon=0x2E66,
                    min=0xBC00, max=0x5640, group_name="sensors"),
         ValueEntry(1, 1, name="other", group_name="sensors")],
        [CommandEntry(1, 2, flags=CMD_ASYNC, handler_offset=0x20, name="go", help="Go!")],
        owner_pid=7,
    )  # fmt: skip
    assert (result.values, result.commands) == ([0x0102, 0x0101], [0x0102])
    v = env.vc.val_list(oid=0x0102)["values"][0]
    assert (v["flags"], v["auth_level"], v["owner_pid"], v["f16"], v["value"]) == (VAL_RO, 2, 7, HALF, 0.5)
    assert (v["name"], v["group_name"], v["unit"], v["epsilon_f16"], v["rate_ms"]) == (
        "temp",
        "sensors",
        "degC",
        0x2E66,
        0,
    )
    assert (v["min"], v["max"], "persist_key" in v, v["desc_head"]) == (-1.0, 100.0, False, None)
    assert "unit" not in env.vc.val_list(oid=0x0101)["values"][0]
    # "temp", "sensors", "other" = 5 + 8 + 6 bytes; "sensors" is shared
    assert env.vc.values.strings.used == 19
    assert env.kinds() == ["value_registered", "value_registered", "cmd_registered"]
    assert env.cmd(7, CMD_HELP, 0x0102, 0x100, 16).regs[:2] == [OK, 3]


def _nothing_registered(env: Env) -> bool:
    return len(env.vc.values) == 1 and len(env.vc.commands) == 0 and env.kinds() == ["value_registered"]


@pytest.mark.parametrize(
    ("values", "commands", "code"),
    [
        ([ValueEntry(2, 1), ValueEntry(2, 1)], [], "metadata_value_duplicate:2:1"),
        ([ValueEntry(2, 1), ValueEntry(9, 9)], [], "metadata_value_exists:9:9"),  # taken by pid 1
        ([ValueEntry(2, 1), ValueEntry(256, 1)], [], "metadata_value_range:256:1"),
        ([ValueEntry(2, 1), ValueEntry(2, -1)], [], "metadata_value_range:2:-1"),
        ([ValueEntry(2, 1, init=0x10000)], [], "metadata_value_invalid:2:1"),
        ([ValueEntry(2, 1)], [CommandEntry(3, 1), CommandEntry(3, 1)], "metadata_command_duplicate:3:1"),
        ([ValueEntry(2, 1)], [CommandEntry(3, 300)], "metadata_command_range:3:300"),
        ([ValueEntry(2, 1, name="n" * 5000)], [], "metadata_value_strings"),
        ([ValueEntry(2, 1)], [CommandEntry(3, 1, help="h" * 4096)], "metadata_command_strings"),
    ],
)
def test_metadata_conflict_registers_nothing(
    env: Env, values: list[ValueEntry], commands: list[CommandEntry], code: str
) -> None:
    env.vc.register_metadata([ValueEntry(9, 9)], [], owner_pid=1)
    with pytest.raises(MetadataError) as info:
        env.vc.register_metadata(values, commands, owner_pid=2)
    assert info.value.code == code
    assert str(info.value).startswith(code + ": ")
    assert _nothing_registered(env)
    assert env.vc.values.strings.used == 0 and env.vc.commands.strings.used == 0


def test_metadata_exists_message_names_the_owner(env: Env) -> None:
    env.vc.register_metadata([], [CommandEntry(4, 5)], owner_pid=3)
    with pytest.raises(MetadataError, match=r"metadata_command_exists:4:5: .*pid 3"):
        env.vc.register_metadata([ValueEntry(4, 5)], [CommandEntry(4, 5)], owner_pid=8)
    assert env.vc.values.entry(0x0405) is None  # the value part was valid, yet nothing was stored


def test_metadata_capacity(env: Env) -> None:
    small = Env(value_capacity=2)
    small.vc.register_metadata([ValueEntry(1, 1)], [], owner_pid=1)
    with pytest.raises(MetadataError) as info:
        small.vc.register_metadata([ValueEntry(1, 2), ValueEntry(1, 3)], [], owner_pid=2)
    assert info.value.code == "metadata_value_capacity" and len(small.vc.values) == 1


def test_metadata_program_through_the_assembler(env: Env) -> None:
    src = """
.entry main
main:
    RET
.value {"group": 1, "id": 2, "name": "temp", "unit": "degC", "init": 1.5, "auth": "USER", "persist_key": 7}
.cmd {"group": 1, "id": 3, "name": "reset", "help": "Reset it", "flags": "ASYNC", "handler": "main"}
"""
    image = assemble_text(src).image
    env.vc.register_metadata(image.values, image.commands, owner_pid=4)
    assert env.vc.val_get(0x0102) == {"value": {"status": OK, "value": 1.5, "f16": 0x3E00, "pid": 4}}
    assert env.vc.val_get(0x0102, pid=5) == {"value": {"status": EPERM}}  # auth USER, not the owner
    assert env.vc.cmd_call(0x0103, async_=True) == {"command": {"status": OK, "result": None, "pid": 4}}


# ---------------------------------------------------------------------------------------------
# end of a task


def test_unregister_owner_frees_entries_strings_subscriptions_and_pending(env: Env) -> None:
    meta = ([ValueEntry(1, 1, name="a"), ValueEntry(1, 2)], [CommandEntry(1, 1, flags=CMD_ASYNC, name="c")])
    env.vc.register_metadata(*meta, owner_pid=1)
    other = register_value(env, 2, 5, 5)
    subscribe(env, 1, other)  # pid 1 watches pid 2's value
    env.vc.cmd_call(0x0101, async_=True)
    assert env.vc.unregister_owner(1) == {"values": 2, "commands": 1}
    assert env.vc.val_list(pid=1)["values"] == [] and env.vc.cmd_list()["commands"] == []
    assert env.vc.values.strings.used == 0 and env.vc.commands.strings.used == 0
    assert env.vc.values.entry(other).subscribers == []  # type: ignore[union-attr]
    assert env.vc.run_pending() == []
    env.vc.register_metadata(*meta, owner_pid=3)  # a reload gets a new pid and succeeds
    stats = env.vc.val_stats()["stats"]["values"]
    assert (stats["count"], stats["high_water"]) == (3, 3)


# ---------------------------------------------------------------------------------------------
# host protocol (hsx-executive §10.3)


def test_host_list_filters(env: Env) -> None:
    env.vc.register_metadata([ValueEntry(1, 1, name="a"), ValueEntry(2, 1, name="b")], [], owner_pid=1)
    env.vc.register_metadata([ValueEntry(1, 2, name="a")], [CommandEntry(1, 1, name="a")], owner_pid=2)
    oids = lambda **kw: [v["oid"] for v in env.vc.val_list(**kw)["values"]]  # noqa: E731
    assert oids() == [0x0101, 0x0102, 0x0201]
    assert oids(pid=1) == [0x0101, 0x0201]
    assert oids(group=1) == [0x0101, 0x0102]
    assert oids(name="a") == [0x0101, 0x0102]
    assert oids(name="a", pid=2) == [0x0102]
    assert oids(oid=0x0201) == [0x0201]
    assert oids(name="zzz") == []
    assert [c["oid"] for c in env.vc.cmd_list(pid=2, name="a")["commands"]] == [0x0101]
    assert env.vc.cmd_list(pid=1)["commands"] == []


def test_host_get_and_set(env: Env) -> None:
    env.vc.register_metadata([ValueEntry(1, 1, auth=1), ValueEntry(1, 2, flags=VAL_RO)], [], owner_pid=3)
    assert env.vc.val_set(0x0101, 0.1) == {"value": {"status": OK, "value": pytest.approx(0.0999755859375),
                                                      "f16": 0x2E66, "pid": 3}}  # fmt: skip
    assert env.events[-1][0] == "value_changed" and env.events[-1][2]["caller_pid"] == 3
    assert env.vc.val_set(0x0101, "2") == {"value": {"status": OK, "value": 2.0, "f16": TWO, "pid": 3}}
    assert env.vc.val_set(0x0101, 1, pid=4) == {"value": {"status": EPERM}}
    assert env.vc.val_set(0x0102, 1) == {"value": {"status": EPERM}}
    assert env.vc.val_set(0x0909, 1) == {"value": {"status": ENOENT}}
    assert env.vc.val_set(0x0101, 1e6) == {"value": {"status": EINVAL}}  # beyond f16 (struct 'e' overflows)
    assert env.vc.val_get(0x0101) == {"value": {"status": OK, "value": 2.0, "f16": TWO, "pid": 3}}
    assert env.vc.val_get(0x0909) == {"value": {"status": ENOENT}}
    with pytest.raises(ValCmdRequestError, match="val_set requires numeric 'value'"):
        env.vc.val_set(0x0101, "warm")
    with pytest.raises(ValCmdRequestError):
        env.vc.val_set(0x0101, None)


@pytest.mark.parametrize("x", [0.1, 1 / 3, 65504.0, -2.5e-7, 6e-8, 1e-9, -0.0, float("inf")])
def test_host_set_rounds_like_struct_e(env: Env, x: float) -> None:
    oid = register_value(env, 1, 1, 1)
    expected = struct.unpack("<H", struct.pack("<e", x))[0]
    assert env.vc.val_set(oid, x)["value"]["f16"] == expected


def test_host_set_notifies_subscribers(env: Env) -> None:
    oid = register_value(env, 1, 1, 1)
    h = subscribe(env, 2, oid)
    env.vc.val_set(oid, 1.0)
    assert [d for d, _ in recv_all(env, 2, h)] == [struct.pack("<HHH", oid, 0, ONE), struct.pack("<HH", oid, ONE)]


def test_host_cmd_call(env: Env) -> None:
    env.vc.register_metadata([], [CommandEntry(1, 1), CommandEntry(1, 2, flags=CMD_PIN)], owner_pid=5)
    env.vc.set_command_handler(0x0101, lambda r, p, t: 99)
    assert env.vc.cmd_call(0x0101) == {"command": {"status": OK, "result": 99, "pid": 5}}
    assert env.vc.cmd_call(0x0101, pid=6) == {"command": {"status": EPERM, "result": None, "pid": 6}}
    assert env.vc.cmd_call(0x0102) == {"command": {"status": EPERM, "result": None, "pid": 5}}
    assert env.vc.cmd_call(0x0101, async_=True) == {"command": {"status": ENOASYNC, "result": None, "pid": 5}}
    assert env.vc.cmd_call(0x0303) == {"command": {"status": ENOENT, "result": None, "pid": 0}}


def test_host_stats_shapes(env: Env) -> None:
    assert env.vc.val_stats() == {"stats": {
        "values": {"count": 0, "capacity": 256, "usage_pct": 0.0, "high_water": 0, "high_water_pct": 0.0,
                   "warning": False},
        "strings": {"used_bytes": 0, "total_bytes": 4096, "usage_pct": 0.0, "high_water_bytes": 0,
                    "high_water_pct": 0.0, "warning": False},
    }}  # fmt: skip
    env.vc.register_metadata([ValueEntry(1, 1, name="abc")], [CommandEntry(1, 1)], owner_pid=1)
    env.vc.unregister_owner(1)
    vs = env.vc.val_stats()["stats"]
    assert (vs["values"]["count"], vs["values"]["high_water"], vs["values"]["high_water_pct"]) == (0, 1, 0.4)
    assert (vs["strings"]["used_bytes"], vs["strings"]["high_water_bytes"]) == (0, 4)
    cs = env.vc.cmd_stats()["stats"]
    assert set(cs) == {"commands", "strings"} and cs["commands"]["high_water"] == 1


# ---------------------------------------------------------------------------------------------
# a guest program end to end


def test_mvasm_program_registers_sets_and_reads_a_value() -> None:
    src = """
.entry main
main:
    LDI R1, 3               ; group
    LDI R2, 4               ; id
    LDI R3, 0               ; flags
    LDI32 R4, desc
    SVC MOD=7, FN=0         ; VAL_REGISTER -> R1 = 0x0304
    MOV R8, R1
    LDI32 R2, 0x4000        ; f16 2.0
    SVC MOD=7, FN=3         ; VAL_SET
    MOV R9, R0
    MOV R1, R8
    SVC MOD=7, FN=2         ; VAL_GET -> R0 = 0x4000
    MOV R10, R0
    LDI R1, 3
    LDI R2, 9
    SVC MOD=8, FN=0         ; CMD_REGISTER 3:9 without descriptors
    MOV R1, R1
    LDI R2, 0
    SVC MOD=8, FN=2         ; CMD_CALL -> OK
    MOV R11, R0
    RET
.data
desc:
    .byte 2, 0
    .half 0xFFFF, name
name:
    .asciz "volts"
"""
    image = assemble_text(src).image
    mbx = MailboxManager()
    vc = ValCmd(mbx)

    def svc(cpu: Cpu, module: int, fn: int) -> None:
        if module == 7:
            vc.value_svc(cpu, fn, 1)
        elif module == 8:
            vc.command_svc(cpu, fn, 1)
        else:  # pragma: no cover - the program uses only these modules
            raise AssertionError(module)

    cpu = Cpu(image.code, image.rodata, entry=image.entry, svc=svc)
    cpu.run(1000)
    assert cpu.halt == HaltReason.RETURNED
    assert (cpu.regs[8], cpu.regs[9], cpu.regs[10], cpu.regs[11]) == (0x0304, OK, 0x4000, OK)
    assert vc.val_list()["values"][0]["name"] == "volts"
    assert vc.cmd_list()["commands"][0]["oid"] == 0x0309
