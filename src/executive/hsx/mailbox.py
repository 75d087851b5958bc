"""The HSX mailbox manager: descriptors, handles, namespaces, queues, fan-out, taps (spec §11).

Theory of operation
-------------------
A **descriptor** is a named queue identified by ``(namespace, name, owner)``; it is created on
first OPEN or BIND and never destroyed. Descriptor ids are global (1, 2, …, never reused).
A **handle** is one task's reference to a descriptor, numbered per pid (1, 2, …, never
reused). Every queued message costs ``len + 8`` bytes of the descriptor's capacity.

Delivery modes (mode mask, §11.4): a plain descriptor is a single-reader FIFO (any handle pops
the head; a full queue makes SEND return WOULDBLOCK). With FANOUT every message gets a
sequence number and every handle keeps the last sequence it read; a message is removed once all
*reader* handles have passed it; a full queue drops the oldest messages (readers that miss one
get the OVERRUN flag on their next message) unless FANOUT_BLOCK asks for WOULDBLOCK. A
*tap* handle gets a private copy of every message enqueued after it was enabled.

This module never blocks and never sleeps. The multi-task executive builds blocking RECV on top:
:meth:`MailboxManager.recv` returns ``None`` for "no data", :meth:`descriptor_of` says which
descriptor a handle reads, every :class:`Descriptor` carries a ``waiters`` list the executive
owns (FIFO, no duplicates, §11.5), and ``on_enqueue(descriptor)`` fires after every *notifying*
send (task MAILBOX_SEND and host sends; internal enqueues such as FS_WRITE to stdout pass
``notify=False`` — spec §11.5 last bullet).

Errors are raised as :class:`MailboxError` carrying the status code of §10.5; "no data" and
"would block" are ordinary results, not errors.

Rejected alternative: power-of-two ring buffers with payload clamping (what the design docs
describe, §17) — the reference's byte budget is what programs observe.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = [
    "DEFAULT_CAPACITY",
    "DESKTOP",
    "EMBEDDED",
    "FLAG_OVERRUN",
    "FLAG_STDERR",
    "FLAG_STDOUT",
    "MESSAGE_OVERHEAD",
    "TARGET_MAX",
    "Descriptor",
    "Handle",
    "MailboxError",
    "MailboxManager",
    "MailboxStatus",
    "Message",
    "Mode",
    "Namespace",
    "PeekInfo",
    "Profile",
    "parse_target",
]

DEFAULT_CAPACITY = 64  # bytes, for OPEN-created descriptors and BIND with capacity 0
MESSAGE_OVERHEAD = 8  # each message costs len + 8 bytes (§11.3)
TARGET_MAX = 32  # only the first 32 characters of a target are used (§11.1)

FLAG_STDOUT = 0x0001
FLAG_STDERR = 0x0002
FLAG_OVERRUN = 0x0008


class MailboxStatus(enum.IntEnum):
    """Status codes returned in R0 (spec §10.5)."""

    OK = 0x0000
    WOULDBLOCK = 0x0001  # send into a full queue
    INVALID_HANDLE = 0x0002
    NO_DATA = 0x0003  # poll on an empty queue
    MSG_TOO_LARGE = 0x0004  # len + 8 > capacity
    NO_DESCRIPTOR = 0x0005  # descriptor pool full or per-task handle quota hit
    TIMEOUT = 0x0007
    INTERNAL_ERROR = 0x00FF  # anything else (empty target, malformed target, ...)


class Mode(enum.IntFlag):
    """Descriptor mode mask (§11.4); only FANOUT and FANOUT_BLOCK change behaviour."""

    RDONLY = 0x01
    WRONLY = 0x02
    RDWR = 0x03
    TAP = 0x04
    FANOUT = 0x08
    FANOUT_DROP = 0x10
    FANOUT_BLOCK = 0x20


class Namespace(enum.IntEnum):
    """Target namespaces (§11.1)."""

    PID = 0
    SVC = 1
    APP = 2
    SHARED = 3


@dataclass(frozen=True, slots=True)
class Profile:
    """Resource limits (§11.2, §11.4)."""

    name: str
    max_descriptors: int
    max_handles_per_pid: int
    tap_rate_per_second: int | None  # None = unlimited


DESKTOP = Profile("desktop", max_descriptors=256, max_handles_per_pid=64, tap_rate_per_second=None)
EMBEDDED = Profile("embedded", max_descriptors=16, max_handles_per_pid=8, tap_rate_per_second=20)


class MailboxError(Exception):
    """A manager error with its §10.5 status code (never OK, WOULDBLOCK or NO_DATA)."""

    def __init__(self, status: MailboxStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class Message:
    """One queued message; ``seq`` orders fan-out delivery."""

    data: bytes
    flags: int = 0
    channel: int = 0
    src_pid: int = 0
    seq: int = 0

    @property
    def cost(self) -> int:
        """Bytes of capacity this message uses (len + 8)."""
        return len(self.data) + MESSAGE_OVERHEAD


@dataclass(eq=False, slots=True)
class Descriptor:
    """A named queue. ``waiters`` belongs to the executive (blocked RECV, FIFO, §11.5)."""

    id: int
    namespace: Namespace
    name: str
    owner: int | None
    capacity: int
    mode: int
    queue: deque[Message] = field(default_factory=deque)
    bytes_used: int = 0
    next_seq: int = 0
    handles: list[Handle] = field(default_factory=list)
    waiters: list[int] = field(default_factory=list)  # pids blocked in RECV

    @property
    def fanout(self) -> bool:
        return bool(self.mode & Mode.FANOUT)

    @property
    def target(self) -> str:
        """Canonical target string (for listings)."""
        prefix = {Namespace.PID: "", Namespace.SVC: "svc:", Namespace.APP: "app:", Namespace.SHARED: "shared:"}
        suffix = f"@{self.owner}" if self.owner is not None and self.namespace != Namespace.PID else ""
        return f"{prefix[self.namespace]}{self.name}{suffix}"


@dataclass(eq=False, slots=True)
class Handle:
    """One task's handle on a descriptor."""

    pid: int
    number: int
    descriptor: Descriptor
    last_seq: int  # fan-out: sequence number of the last message read (or skipped)
    reader: bool = True  # fan-out: becomes False when this handle sends, True when it receives
    overrun: bool = False  # fan-out: OR FLAG_OVERRUN into the next received message's flags
    tap: deque[Message] | None = None  # tap buffer when tapping is enabled
    tap_bytes: int = 0
    tap_overrun: bool = False
    tap_window: tuple[int, int] = (0, 0)  # (second, copies in that second) for rate limiting


class PeekInfo(NamedTuple):
    """MAILBOX_PEEK result (§11.6)."""

    depth: int  # messages in the descriptor queue
    bytes_used: int
    next_len: int  # next message for this handle (fan-out) or the queue head, 0 if none


def parse_target(target: str, caller: int) -> tuple[Namespace, str, int | None]:
    """Resolve a target string to ``(namespace, name, owner)`` (§11.1).

    Raises:
        MailboxError(INTERNAL_ERROR): empty or malformed target (the reference crashes on a
            non-numeric ``pid:`` suffix; we refuse it).
    """
    t = target[:TARGET_MAX]
    if not t:
        raise MailboxError(MailboxStatus.INTERNAL_ERROR, "empty mailbox target")
    if t.startswith("pid:"):
        num = t[4:]
        if not num:
            owner = caller
        elif num.isdigit():
            owner = int(num)
        else:
            raise MailboxError(MailboxStatus.INTERNAL_ERROR, f"malformed pid target {t!r}")
        return Namespace.PID, f"pid:{owner}", owner
    ns, rest = Namespace.SVC, t
    for prefix, space in (("svc:", Namespace.SVC), ("app:", Namespace.APP), ("shared:", Namespace.SHARED)):
        if t.startswith(prefix):
            ns, rest = space, t[len(prefix) :]
            break
    name, at, suffix = rest.partition("@")
    if not name:
        raise MailboxError(MailboxStatus.INTERNAL_ERROR, f"empty mailbox name in {t!r}")
    if ns == Namespace.SHARED:
        return ns, name, None  # any @suffix is dropped
    if at:
        if not suffix.isdigit():
            raise MailboxError(MailboxStatus.INTERNAL_ERROR, f"malformed owner in target {t!r}")
        return ns, name, int(suffix)
    return ns, name, (None if ns == Namespace.APP else caller)


class MailboxManager:
    """All descriptors and handles of one executive (or one stand-alone VM).

    Args:
        profile: DESKTOP (default) or EMBEDDED limits.
        clock: seconds, used only for the embedded tap rate limit (injectable for tests).
        on_enqueue: called with the descriptor after every notifying send that enqueued a
            message; the executive serves its waiters from here.
    """

    def __init__(
        self,
        profile: Profile = DESKTOP,
        *,
        clock: Callable[[], float] | None = None,
        on_enqueue: Callable[[Descriptor], None] | None = None,
    ) -> None:
        self.profile = profile
        self.clock = clock
        self.on_enqueue = on_enqueue
        self.descriptors: dict[int, Descriptor] = {}
        self._by_key: dict[tuple[Namespace, str, int | None], Descriptor] = {}
        self._handles: dict[int, dict[int, Handle]] = {}  # pid -> number -> handle
        self._next_handle: dict[int, int] = {}
        self._next_id = 1

    # -- descriptors and handles -------------------------------------------------------------

    def _descriptor(self, target: str, pid: int, capacity: int, mode: int, *, bind: bool) -> Descriptor:
        key = parse_target(target, pid)
        d = self._by_key.get(key)
        if d is None:
            if len(self.descriptors) >= self.profile.max_descriptors:
                raise MailboxError(
                    MailboxStatus.NO_DESCRIPTOR,
                    f"descriptor pool full ({self.profile.max_descriptors}, {self.profile.name} profile)",
                )
            d = Descriptor(self._next_id, key[0], key[1], key[2], capacity or DEFAULT_CAPACITY, mode if bind else 0)
            self._next_id += 1
            self.descriptors[d.id] = d
            self._by_key[key] = d
        elif bind:
            if capacity and capacity != d.capacity:
                d.capacity = capacity
                self._drop_until_fits(d, 0)
            if mode:
                d.mode = mode
                for h in d.handles:  # a mode change resets every read position
                    h.last_seq = d.next_seq - 1
                    h.overrun = False
        return d

    def bind(self, pid: int, target: str, capacity: int = 0, mode: int = 0) -> Descriptor:
        """MAILBOX_BIND: create or reconfigure a descriptor; no handle is created (§11.2)."""
        return self._descriptor(target, pid, capacity, mode, bind=True)

    def open(self, pid: int, target: str, flags: int = 0) -> int:
        """MAILBOX_OPEN: a new handle number for ``pid`` (``flags`` is not enforced, §11.2)."""
        handles = self._handles.setdefault(pid, {})
        if len(handles) >= self.profile.max_handles_per_pid:
            raise MailboxError(
                MailboxStatus.NO_DESCRIPTOR,
                f"pid {pid} has {len(handles)} open handles (quota {self.profile.max_handles_per_pid})",
            )
        d = self._descriptor(target, pid, 0, 0, bind=False)
        number = self._next_handle.get(pid, 1)
        self._next_handle[pid] = number + 1
        h = Handle(pid, number, d, last_seq=d.next_seq - 1)
        handles[number] = h
        d.handles.append(h)
        return number

    def handle(self, pid: int, number: int) -> Handle:
        """Look up a handle; raises MailboxError(INVALID_HANDLE)."""
        h = self._handles.get(pid, {}).get(number)
        if h is None:
            raise MailboxError(MailboxStatus.INVALID_HANDLE, f"invalid handle {number} for pid {pid}")
        return h

    def descriptor_of(self, pid: int, number: int) -> Descriptor:
        """The descriptor a handle refers to (for executive wait lists)."""
        return self.handle(pid, number).descriptor

    def lookup(self, target: str, pid: int = 0) -> Descriptor | None:
        """The descriptor a target names, if it exists (no creation)."""
        return self._by_key.get(parse_target(target, pid))

    def handles_of(self, pid: int) -> list[Handle]:
        """Open handles of a task, in number order."""
        return [self._handles[pid][n] for n in sorted(self._handles.get(pid, {}))]

    def close(self, pid: int, number: int) -> None:
        """MAILBOX_CLOSE: remove the handle (tap state goes with it); re-examine fan-out (§11.6)."""
        h = self.handle(pid, number)
        del self._handles[pid][number]
        d = h.descriptor
        d.handles.remove(h)
        if d.fanout:
            self._collect(d)

    def close_all(self, pid: int) -> None:
        """Close every handle of a task (the executive calls this when a task ends)."""
        for number in list(self._handles.get(pid, {})):
            self.close(pid, number)

    # -- traffic ---------------------------------------------------------------------------

    def send(
        self,
        pid: int,
        number: int,
        data: bytes,
        flags: int = 0,
        channel: int = 0,
        *,
        notify: bool = True,
    ) -> MailboxStatus:
        """MAILBOX_SEND through a handle: OK or WOULDBLOCK; never blocks (§11.4).

        Raises:
            MailboxError: INVALID_HANDLE, or MSG_TOO_LARGE when len + 8 > capacity.
        """
        h = self.handle(pid, number)
        h.reader = False  # fan-out: a sending handle is ignored for removal until it receives
        return self.post(h.descriptor, data, flags, channel, src_pid=pid, notify=notify)

    def post(
        self,
        d: Descriptor,
        data: bytes,
        flags: int = 0,
        channel: int = 0,
        *,
        src_pid: int = 0,
        notify: bool = True,
    ) -> MailboxStatus:
        """Enqueue on a descriptor directly (host sends, internal enqueues)."""
        msg = Message(bytes(data), flags & 0xFFFF, channel & 0xFFFF, src_pid)
        if msg.cost > d.capacity:
            raise MailboxError(
                MailboxStatus.MSG_TOO_LARGE,
                f"message of {len(data)} bytes needs {msg.cost} > capacity {d.capacity}",
            )
        if not data:
            return MailboxStatus.OK  # sending 0 bytes succeeds and enqueues nothing (§11.3)
        if d.bytes_used + msg.cost > d.capacity:
            if not d.fanout or d.mode & Mode.FANOUT_BLOCK:
                return MailboxStatus.WOULDBLOCK
            self._drop_until_fits(d, msg.cost)
        msg.seq = d.next_seq
        d.next_seq += 1
        d.queue.append(msg)
        d.bytes_used += msg.cost
        for h in d.handles:
            if h.tap is not None:
                self._tap_copy(h, msg)
        if notify and self.on_enqueue is not None:
            self.on_enqueue(d)
        return MailboxStatus.OK

    def recv(self, pid: int, number: int) -> Message | None:
        """MAILBOX_RECV poll: the next message for this handle, or None (NO_DATA).

        The returned message's ``flags`` include OVERRUN when this handle missed messages.
        Truncation to the guest's buffer is the caller's business (§11.5).
        """
        h = self.handle(pid, number)
        if h.tap is not None:
            if not h.tap:
                return None
            m = h.tap.popleft()
            h.tap_bytes -= m.cost
            if h.tap_overrun:
                h.tap_overrun = False
                return Message(m.data, m.flags | FLAG_OVERRUN, m.channel, m.src_pid, m.seq)
            return m
        d = h.descriptor
        if not d.fanout:
            if not d.queue:
                return None
            m = d.queue.popleft()
            d.bytes_used -= m.cost
            return m
        h.reader = True
        nxt = self._next_for(h)
        if nxt is None:
            return None
        h.last_seq = nxt.seq
        flags = nxt.flags
        if h.overrun:
            h.overrun = False
            flags |= FLAG_OVERRUN
        self._collect(d)
        return Message(nxt.data, flags, nxt.channel, nxt.src_pid, nxt.seq)

    def peek(self, pid: int, number: int) -> PeekInfo:
        """MAILBOX_PEEK (§11.6)."""
        h = self.handle(pid, number)
        d = h.descriptor
        if d.fanout:
            m = self._next_for(h)
        else:
            m = d.queue[0] if d.queue else None
        return PeekInfo(len(d.queue), d.bytes_used, len(m.data) if m else 0)

    def tap(self, pid: int, number: int, enable: bool) -> None:
        """MAILBOX_TAP: start or stop copying every new message into the handle's tap buffer."""
        h = self.handle(pid, number)
        if enable:
            if h.tap is None:
                h.tap = deque()
                h.tap_bytes = 0
                h.tap_overrun = False
        else:
            h.tap = None
            h.tap_bytes = 0
            h.tap_overrun = False

    # -- internals --------------------------------------------------------------------------

    def _next_for(self, h: Handle) -> Message | None:
        for m in h.descriptor.queue:
            if m.seq > h.last_seq:
                return m
        return None

    def _drop_until_fits(self, d: Descriptor, cost: int) -> None:
        """Drop the oldest messages until ``cost`` more bytes fit; flag readers that missed one."""
        while d.queue and d.bytes_used + cost > d.capacity:
            m = d.queue.popleft()
            d.bytes_used -= m.cost
            if d.fanout:
                for h in d.handles:
                    if h.last_seq < m.seq:
                        h.overrun = True
                        h.last_seq = m.seq

    def _collect(self, d: Descriptor) -> None:
        """Fan-out: remove messages every reader handle has passed (none without readers)."""
        readers = [h for h in d.handles if h.reader and h.tap is None]
        if not readers:
            return
        low = min(h.last_seq for h in readers)
        while d.queue and d.queue[0].seq <= low:
            m = d.queue.popleft()
            d.bytes_used -= m.cost

    def _tap_copy(self, h: Handle, msg: Message) -> None:
        rate = self.profile.tap_rate_per_second
        if rate is not None and self.clock is not None:
            sec = int(self.clock())
            window, count = h.tap_window
            if window != sec:
                window, count = sec, 0
            if count >= rate:
                h.tap_window = (window, count)
                return
            h.tap_window = (window, count + 1)
        assert h.tap is not None
        cap = h.descriptor.capacity
        while h.tap and h.tap_bytes + msg.cost > cap:
            old = h.tap.popleft()
            h.tap_bytes -= old.cost
            h.tap_overrun = True
        h.tap.append(msg)
        h.tap_bytes += msg.cost
