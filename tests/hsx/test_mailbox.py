"""The mailbox manager (spec §11): names, descriptors, handles, capacity, fan-out, taps."""

from __future__ import annotations

import pytest

from executive.hsx.mailbox import (
    DEFAULT_CAPACITY,
    DESKTOP,
    EMBEDDED,
    FLAG_OVERRUN,
    MailboxError,
    MailboxManager,
    MailboxStatus,
    Mode,
    Namespace,
    parse_target,
)

TARGETS = [
    # (target, caller, expected (namespace, name, owner))
    ("pid:5", 2, (Namespace.PID, "pid:5", 5)),
    ("pid:", 2, (Namespace.PID, "pid:2", 2)),
    ("svc:stdio.out", 3, (Namespace.SVC, "stdio.out", 3)),
    ("svc:stdio.out@5", 3, (Namespace.SVC, "stdio.out", 5)),
    ("app:telemetry", 3, (Namespace.APP, "telemetry", None)),
    ("app:telemetry@7", 3, (Namespace.APP, "telemetry", 7)),
    ("shared:bus@9", 3, (Namespace.SHARED, "bus", None)),
    ("plain", 4, (Namespace.SVC, "plain", 4)),
    ("plain@1", 4, (Namespace.SVC, "plain", 1)),
    ("app:" + "x" * 40, 0, (Namespace.APP, "x" * 28, None)),  # only 32 characters are used
]


@pytest.mark.parametrize(("target", "caller", "want"), TARGETS, ids=[t[0][:20] for t in TARGETS])
def test_parse_target(target: str, caller: int, want: tuple) -> None:
    assert parse_target(target, caller) == want


@pytest.mark.parametrize("bad", ["", "pid:abc", "svc:", "svc:x@y"])
def test_bad_targets_are_internal_errors(bad: str) -> None:
    with pytest.raises(MailboxError) as e:
        parse_target(bad, 0)
    assert e.value.status is MailboxStatus.INTERNAL_ERROR


def test_descriptors_are_created_once_and_numbered_globally() -> None:
    m = MailboxManager()
    h1 = m.open(1, "svc:stdio.out")
    h2 = m.open(2, "svc:stdio.out")  # a different descriptor: owner is the caller
    h3 = m.open(3, "svc:stdio.out@1")  # task 1's stdout
    assert (h1, h2, h3) == (1, 1, 1)
    d1, d2, d3 = m.descriptor_of(1, h1), m.descriptor_of(2, h2), m.descriptor_of(3, h3)
    assert (d1.id, d2.id) == (1, 2) and d3 is d1
    assert d1.capacity == DEFAULT_CAPACITY and d1.mode == 0
    b = m.bind(0, "app:log", 128, Mode.RDWR | Mode.FANOUT)
    assert b.id == 3 and b.capacity == 128 and b.fanout
    assert m.lookup("app:log") is b and m.lookup("app:nothing") is None


def test_handles_are_per_pid_and_never_reused() -> None:
    m = MailboxManager()
    assert [m.open(1, "a"), m.open(1, "b"), m.open(2, "a")] == [1, 2, 1]
    m.close(1, 1)
    assert m.open(1, "a") == 3
    with pytest.raises(MailboxError) as e:
        m.close(1, 1)
    assert e.value.status is MailboxStatus.INVALID_HANDLE
    assert [h.number for h in m.handles_of(1)] == [2, 3]
    m.close_all(1)
    assert m.handles_of(1) == []


@pytest.mark.parametrize(("profile", "handles", "descriptors"), [(DESKTOP, 64, 256), (EMBEDDED, 8, 16)])
def test_quotas(profile, handles: int, descriptors: int) -> None:
    m = MailboxManager(profile)
    for _ in range(handles):
        m.open(1, "q")
    with pytest.raises(MailboxError) as e:
        m.open(1, "q")
    assert e.value.status is MailboxStatus.NO_DESCRIPTOR
    for i in range(descriptors - 1):
        m.bind(0, f"app:d{i}")
    with pytest.raises(MailboxError) as e:
        m.bind(0, "app:one-too-many")
    assert e.value.status is MailboxStatus.NO_DESCRIPTOR


def test_capacity_accounting_and_single_reader_fifo() -> None:
    m = MailboxManager()
    m.bind(0, "app:q", 40)
    tx, rx1, rx2 = m.open(1, "app:q"), m.open(2, "app:q"), m.open(3, "app:q")
    d = m.descriptor_of(1, tx)
    with pytest.raises(MailboxError) as e:
        m.send(1, tx, b"x" * 33)  # 33 + 8 > 40
    assert e.value.status is MailboxStatus.MSG_TOO_LARGE
    assert m.send(1, tx, b"") is MailboxStatus.OK and d.bytes_used == 0  # nothing enqueued
    assert m.send(1, tx, b"a" * 10, flags=1, channel=2) is MailboxStatus.OK
    assert m.send(1, tx, b"b" * 10) is MailboxStatus.OK
    assert d.bytes_used == 36
    assert m.send(1, tx, b"c") is MailboxStatus.WOULDBLOCK  # 9 more bytes do not fit
    assert m.peek(2, rx1) == (2, 36, 10)
    first = m.recv(3, rx2)  # any handle takes the head
    assert first is not None and (first.data, first.flags, first.channel, first.src_pid) == (b"a" * 10, 1, 2, 1)
    assert m.recv(2, rx1).data == b"b" * 10
    assert m.recv(2, rx1) is None and d.bytes_used == 0
    assert m.peek(2, rx1) == (0, 0, 0)


def test_fanout_every_reader_sees_every_message() -> None:
    m = MailboxManager()
    m.bind(0, "app:bus", 100, Mode.FANOUT)
    pub = m.open(1, "app:bus")
    a = m.open(2, "app:bus")
    m.send(1, pub, b"one")
    late = m.open(3, "app:bus")  # starts after the newest message
    m.send(1, pub, b"two")
    d = m.descriptor_of(1, pub)
    assert [m.recv(2, a).data, m.recv(2, a).data, m.recv(2, a)] == [b"one", b"two", None]
    assert len(d.queue) == 1  # "one" removed: both readers passed it; "two" waits for `late`
    assert m.peek(3, late).next_len == 3
    msg = m.recv(3, late)
    assert msg.data == b"two" and msg.seq == 1
    assert len(d.queue) == 0 and d.bytes_used == 0


def test_fanout_drops_oldest_with_overrun_flag() -> None:
    m = MailboxManager()
    m.bind(0, "app:bus", 30, Mode.FANOUT)  # room for two 7-byte messages (15 each)
    pub, slow, fast = m.open(1, "app:bus"), m.open(2, "app:bus"), m.open(3, "app:bus")
    m.send(1, pub, b"msg-000")
    assert m.recv(3, fast).data == b"msg-000"
    m.send(1, pub, b"msg-001")
    assert m.send(1, pub, b"msg-002") is MailboxStatus.OK  # drops msg-000 (slow never read it)
    got = m.recv(2, slow)
    assert got.data == b"msg-001" and got.flags & FLAG_OVERRUN
    assert not m.recv(2, slow).flags & FLAG_OVERRUN  # flag only on the next message
    got_fast = m.recv(3, fast)
    assert got_fast.data == b"msg-001" and not got_fast.flags & FLAG_OVERRUN


def test_fanout_block_refuses_instead_of_dropping() -> None:
    m = MailboxManager()
    m.bind(0, "app:b", 20, Mode.FANOUT | Mode.FANOUT_BLOCK)
    pub, _ = m.open(1, "app:b"), m.open(2, "app:b")
    assert m.send(1, pub, b"1234") is MailboxStatus.OK
    assert m.send(1, pub, b"1234") is MailboxStatus.WOULDBLOCK


def test_fanout_without_readers_keeps_messages_until_space_is_needed() -> None:
    m = MailboxManager()
    m.bind(0, "app:b", 20, Mode.FANOUT)  # one 4-byte message (12) fits, two do not
    pub = m.open(1, "app:b")
    m.send(1, pub, b"aaaa")  # the publisher is a sender, not a reader
    d = m.descriptor_of(1, pub)
    assert len(d.queue) == 1
    m.send(1, pub, b"bbbb")
    assert [x.data for x in d.queue] == [b"bbbb"]  # oldest dropped to make room


def test_close_reexamines_fanout_queue() -> None:
    m = MailboxManager()
    m.bind(0, "app:b", 100, Mode.FANOUT)
    pub, r1, r2 = m.open(1, "app:b"), m.open(2, "app:b"), m.open(3, "app:b")
    m.send(1, pub, b"x")
    m.recv(2, r1)
    d = m.descriptor_of(1, pub)
    assert len(d.queue) == 1  # r2 has not read it
    m.close(3, r2)
    assert len(d.queue) == 0


def test_bind_reconfigures_existing_descriptor() -> None:
    m = MailboxManager()
    h = m.open(1, "app:r")
    for _ in range(4):
        m.send(1, h, b"12345678")  # 16 bytes each: 4 fit in 64
    d = m.bind(0, "app:r", 40)  # shrink: oldest dropped until the rest fits
    assert d.capacity == 40 and [x.data for x in d.queue] == [b"12345678"] * 2 and d.bytes_used == 32
    assert m.bind(0, "app:r", 0, 0).capacity == 40  # zeros leave things unchanged
    d = m.bind(0, "app:r", 0, Mode.FANOUT)
    assert d.fanout
    assert m.recv(1, h) is None  # read positions reset to "after the newest"


def test_taps_copy_new_messages() -> None:
    m = MailboxManager()
    m.bind(0, "app:t", 32)
    tx, rx, tap = m.open(1, "app:t"), m.open(2, "app:t"), m.open(3, "app:t")
    m.send(1, tx, b"before")
    m.tap(3, tap, True)
    m.send(1, tx, b"after")
    assert m.recv(3, tap).data == b"after"  # tap reads only its buffer
    assert m.recv(3, tap) is None
    assert m.recv(2, rx).data == b"before" and m.recv(2, rx).data == b"after"
    # overflow of the tap buffer drops the oldest copy and flags the next read
    m.send(1, tx, b"x" * 10)
    m.recv(2, rx)
    m.send(1, tx, b"y" * 10)
    m.recv(2, rx)
    got = m.recv(3, tap)
    assert got.data == b"y" * 10 and got.flags & FLAG_OVERRUN
    m.tap(3, tap, False)
    m.send(1, tx, b"z")
    assert m.recv(3, tap).data == b"z"  # back to the shared queue


def test_embedded_tap_rate_limit() -> None:
    now = [100.0]
    m = MailboxManager(EMBEDDED, clock=lambda: now[0])
    m.bind(0, "app:t", 4000)
    tx, tap = m.open(1, "app:t"), m.open(2, "app:t")
    m.tap(2, tap, True)
    for _ in range(25):
        m.send(1, tx, b"m")
    copies = 0
    while m.recv(2, tap) is not None:
        copies += 1
    assert copies == 20
    now[0] = 101.0
    m.send(1, tx, b"m")
    assert m.recv(2, tap) is not None


def test_on_enqueue_hook_only_for_notifying_sends() -> None:
    woke: list[int] = []
    m = MailboxManager(on_enqueue=lambda d: woke.append(d.id))
    h = m.open(1, "svc:stdio.out")
    m.send(1, h, b"hi")
    m.send(1, h, b"quiet", notify=False)  # e.g. FS_WRITE to stdout (spec §11.5)
    d = m.descriptor_of(1, h)
    m.post(d, b"host", src_pid=0)
    assert woke == [d.id, d.id]
    assert d.waiters == []  # owned by the executive


def test_invalid_handle_everywhere() -> None:
    m = MailboxManager()
    for call in (
        lambda: m.send(1, 9, b"x"),
        lambda: m.recv(1, 9),
        lambda: m.peek(1, 9),
        lambda: m.tap(1, 9, True),
        lambda: m.descriptor_of(1, 9),
    ):
        with pytest.raises(MailboxError) as e:
            call()
        assert e.value.status is MailboxStatus.INVALID_HANDLE
