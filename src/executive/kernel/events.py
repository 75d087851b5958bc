"""The event bus: one global sequence, bounded per-subscriber rings, replay.

Theory of operation
-------------------
Everything that happens is an :class:`Event` ``{seq, ts, type, pid, data}``.
``seq`` is one unsigned 64-bit counter for the whole daemon, strictly
increasing in publish order.  :meth:`EventBus.publish` stamps the event, keeps
it in a bounded history (for ``since_seq`` replay) and offers it to every
:class:`Subscription` whose filters match.

A subscription never blocks the publisher.  It is a ring bounded in events and
in payload bytes; when full it drops the *oldest* events and counts them.  The
next :meth:`Subscription.drain` then starts with one ``warning`` event that
says how many were dropped and the first dropped seq, so a client always knows
about a gap and can fill it (output from the task logs, the rest by
re-subscribing with ``since_seq``).

Flow control is optional: with ``ack_window`` set, drain hands out at most that
many events beyond the last ACK; the rest wait in the ring (and the ring drops
the oldest if the client stays behind).

The bus knows nothing about sockets or asyncio: a transport registers a
``notify`` callback that is called (once per empty→non-empty edge) so it can
wake its sender.  Rejected alternative: an ``asyncio.Queue`` per subscriber —
it couples the kernel to the loop and cannot drop-oldest with a byte bound.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["SEQ_MAX", "Event", "EventBus", "Subscription"]

SEQ_MAX = 2**64 - 1


class Event:
    """One event; immutable after publish.  ``size`` approximates its payload bytes."""

    __slots__ = ("_json", "data", "pid", "seq", "size", "ts", "type")

    def __init__(self, seq: int, ts: float, type: str, pid: int | None, data: dict[str, Any], size: int) -> None:
        self.seq = seq
        self.ts = ts
        self.type = type
        self.pid = pid
        self.data = data
        self.size = size
        self._json: bytes | None = None

    def json(self, dumps: Callable[[Any], bytes]) -> bytes:
        """The event serialised; small events are serialised once however many subscribers send them.

        Large payloads (output chunks) are not cached: the cache would double
        the memory the history and the rings hold, and re-encoding a large
        string is a memcpy-speed operation anyway.
        """
        if self._json is not None:
            return self._json
        out = dumps(self.to_dict())
        if self.size < 1024:
            self._json = out
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "type": self.type, "pid": self.pid, "data": self.data}

    def __repr__(self) -> str:
        return f"Event(seq={self.seq}, type={self.type!r}, pid={self.pid})"


_BASE_SIZE = 64  # bookkeeping cost charged per event against byte bounds


class Subscription:
    """A filtered, bounded, drop-oldest view of the bus for one consumer."""

    def __init__(
        self,
        bus: EventBus,
        sub_id: int,
        *,
        types: Iterable[str] | None,
        pids: Iterable[int] | None,
        max_events: int,
        max_bytes: int,
        ack_window: int | None,
        owner: Any,
    ) -> None:
        self.id = sub_id
        self.owner = owner  # opaque: the connection or session that owns it
        self.types: frozenset[str] | None = frozenset(types) if types else None
        self.pids: frozenset[int] | None = frozenset(pids) if pids else None
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.ack_window = ack_window
        self.notify: Callable[[], None] | None = None  # set by the transport
        self._bus = bus
        self._ring: collections.deque[Event] = collections.deque()
        self._bytes = 0  # payload bytes held in the ring; invariant: sum(e.size + _BASE_SIZE)
        self.dropped = 0  # events dropped since the last warning was delivered
        self.first_dropped_seq: int | None = None
        self.last_dropped_seq = 0
        self.gap: tuple[int, int] | None = None  # (first, last) seq a since_seq replay could not deliver
        self.total_dropped = 0
        self.delivered_seq = 0  # highest seq handed to the consumer
        self.last_ack = 0  # highest seq the consumer acknowledged
        self._unacked: collections.deque[int] = collections.deque()  # delivered seqs > last_ack (only with ack_window)
        self.closed = False

    def matches(self, event: Event) -> bool:
        if self.types is not None and event.type not in self.types and event.type != "warning":
            return False
        if self.pids is not None and event.pid not in self.pids:
            return False
        return True

    def offer(self, event: Event) -> None:
        """Append a matching event, dropping the oldest ones past the bounds."""
        was_empty = not self._ring
        ring = self._ring
        ring.append(event)
        self._bytes += event.size + _BASE_SIZE
        while len(ring) > self.max_events or (self._bytes > self.max_bytes and len(ring) > 1):
            old = ring.popleft()
            self._bytes -= old.size + _BASE_SIZE
            if self.dropped == 0:
                self.first_dropped_seq = old.seq
            self.last_dropped_seq = old.seq
            self.dropped += 1
            self.total_dropped += 1
        if was_empty and self.notify is not None:
            self.notify()

    @property
    def pending(self) -> int:
        """Events waiting in the ring (plus undelivered warnings)."""
        return len(self._ring) + (1 if self.dropped else 0) + (1 if self.gap else 0)

    def ready(self) -> bool:
        """Whether drain() would return something now."""
        if self.dropped or self.gap:
            return True
        if not self._ring:
            return False
        return self.ack_window is None or len(self._unacked) < self.ack_window

    def drain(self, max_events: int, max_bytes: int) -> list[Event]:
        """Take up to the given number of events / payload bytes, oldest first.

        A gap is announced before the events that follow it: a ``warning``
        ``{reason: "replay_gap", missing_from, missing_to}`` when a ``since_seq``
        replay reached past the history, and ``{reason: "events_dropped",
        dropped, first_dropped_seq, last_dropped_seq}`` when the ring dropped
        events.  A warning takes the seq of the last event it accounts for (an
        event this subscriber will never receive), so the seqs a subscriber
        sees stay strictly increasing and a "last seq seen" cursor moves past
        the gap.
        """
        out: list[Event] = []
        if self.gap is not None:
            first, last = self.gap
            self.gap = None
            out.append(
                Event(
                    last,
                    self._bus.now(),
                    "warning",
                    None,
                    {
                        "reason": "replay_gap",
                        "subscription": self.id,
                        "missing_from": first,
                        "missing_to": last,
                        "hint": "those events left the history; read task output by offset instead",
                    },
                    0,
                )
            )
        if self.dropped:
            out.append(
                Event(
                    self.last_dropped_seq,
                    self._bus.now(),
                    "warning",
                    None,
                    {
                        "reason": "events_dropped",
                        "subscription": self.id,
                        "dropped": self.dropped,
                        "first_dropped_seq": self.first_dropped_seq,
                        "last_dropped_seq": self.last_dropped_seq,
                        "hint": "re-subscribe with since_seq, or read task output by offset",
                    },
                    0,
                )
            )
            self.dropped = 0
            self.first_dropped_seq = None
        ring = self._ring
        budget = max_bytes
        if self.ack_window is not None:
            max_events = min(max_events, len(out) + self.ack_window - len(self._unacked))
        while ring and len(out) < max_events:
            ev = ring[0]
            if ev.size > budget and out:
                break
            ring.popleft()
            self._bytes -= ev.size + _BASE_SIZE
            budget -= ev.size
            out.append(ev)
            if self.ack_window is not None:
                self._unacked.append(ev.seq)
        if out:
            self.delivered_seq = max(self.delivered_seq, out[-1].seq)
        return out

    def ack(self, seq: int) -> None:
        """Record that the consumer has processed everything up to ``seq``."""
        if seq > self.last_ack:
            self.last_ack = seq
        unacked = self._unacked
        while unacked and unacked[0] <= seq:
            unacked.popleft()
        if self.notify is not None and self._ring:
            self.notify()

    def stats(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "types": sorted(self.types) if self.types else None,
            "tasks": sorted(self.pids) if self.pids else None,
            "pending": self.pending,
            "buffered_bytes": self._bytes,
            "dropped_total": self.total_dropped,
            "delivered_seq": self.delivered_seq,
            "last_ack": self.last_ack,
            "ack_window": self.ack_window,
        }


class EventBus:
    """Stamps, records and fans out events.  Single-threaded: call from the loop.

    Seqs stay strictly increasing across daemon restarts through a *lease*:
    the bus only hands out seqs below a limit that the store has already made
    durable (:meth:`resume_from`); crossing it extends the lease first.
    """

    def __init__(
        self,
        *,
        history_events: int = 65536,
        history_bytes: int = 4 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._seq = 0
        self._clock = clock
        self._history: collections.deque[Event] = collections.deque()
        self._history_bytes = 0
        self._history_max_events = history_events
        self._history_max_bytes = history_bytes
        self._subs: dict[int, Subscription] = {}
        self._next_sub = 1
        self._lease_end = SEQ_MAX  # no lease: an in-memory bus (tests, embedding)
        self._lease_step = 0
        self._lease: Callable[[int], None] | None = None

    def now(self) -> float:
        return self._clock()

    def resume_from(self, seq: int, lease: Callable[[int], None], *, step: int = 1_000_000) -> None:
        """Continue numbering after ``seq`` (the previous run's lease end).

        ``lease(limit)`` must durably record ``limit`` before returning; the bus
        calls it before handing out any seq at or above the current limit.
        """
        self._seq = max(self._seq, seq)
        self._lease = lease
        self._lease_step = step
        self._lease_end = self._seq + step
        lease(self._lease_end)

    @property
    def last_seq(self) -> int:
        return self._seq

    def make_event(self, type: str, pid: int | None, data: dict[str, Any], size: int = 0) -> Event:
        """Stamp an event with the next seq without publishing it (used for per-subscriber warnings)."""
        self._seq += 1
        if self._seq >= self._lease_end:
            if self._seq > SEQ_MAX:  # pragma: no cover - 2**64 events is not reachable
                raise OverflowError("event sequence exhausted")
            self._lease_end = self._seq + self._lease_step
            assert self._lease is not None
            self._lease(self._lease_end)  # durable before the seq is used (rare: once per lease step)
        return Event(self._seq, self._clock(), type, pid, data, size)

    def publish(self, type: str, pid: int | None = None, data: dict[str, Any] | None = None, *, size: int = 0) -> Event:
        """Stamp, record and fan out one event; never blocks."""
        ev = self.make_event(type, pid, data if data is not None else {}, size)
        hist = self._history
        hist.append(ev)
        self._history_bytes += ev.size + _BASE_SIZE
        while len(hist) > self._history_max_events or self._history_bytes > self._history_max_bytes:
            old = hist.popleft()
            self._history_bytes -= old.size + _BASE_SIZE
        for sub in self._subs.values():
            if sub.matches(ev):
                sub.offer(ev)
        return ev

    def subscribe(
        self,
        *,
        types: Iterable[str] | None = None,
        pids: Iterable[int] | None = None,
        since_seq: int | None = None,
        max_events: int = 8192,
        max_bytes: int = 4 * 1024 * 1024,
        ack_window: int | None = None,
        owner: Any = None,
    ) -> Subscription:
        """Create a subscription; with ``since_seq`` it first replays matching history.

        If the history no longer reaches back to ``since_seq + 1``, the replay
        starts with a ``warning`` ``{reason: "replay_gap", missing_from, missing_to}``.
        """
        sub = Subscription(
            self,
            self._next_sub,
            types=types,
            pids=pids,
            max_events=max_events,
            max_bytes=max_bytes,
            ack_window=ack_window,
            owner=owner,
        )
        self._next_sub += 1
        if since_seq is not None:
            sub.last_ack = since_seq
            oldest = self._history[0].seq if self._history else self._seq + 1
            if since_seq + 1 < oldest and since_seq < self._seq:
                sub.gap = (since_seq + 1, oldest - 1)
            for ev in self._history:
                if ev.seq > since_seq and sub.matches(ev):
                    sub.offer(ev)
        else:
            sub.last_ack = self._seq
        self._subs[sub.id] = sub
        return sub

    def unsubscribe(self, sub_id: int) -> Subscription | None:
        sub = self._subs.pop(sub_id, None)
        if sub is not None:
            sub.closed = True
        return sub

    def get(self, sub_id: int) -> Subscription | None:
        return self._subs.get(sub_id)

    def subscriptions(self) -> list[Subscription]:
        return list(self._subs.values())

    def history_range(self) -> tuple[int, int]:
        """(oldest seq still in history, newest seq)."""
        if not self._history:
            return (self._seq + 1, self._seq)
        return (self._history[0].seq, self._seq)
