"""The event bus: one global sequence, bounded per-subscriber rings, replay.

Theory of operation
-------------------
Everything that happens is an :class:`Event` ``{seq, ts, type, pid, data}``.
``seq`` is one unsigned 64-bit counter for the whole daemon, strictly
increasing in publish order.  :meth:`EventBus.publish` stamps the event, keeps
it in a bounded history (for ``since_seq`` replay) and offers it to every
:class:`Subscription` whose filters match.

A subscription never blocks the publisher.  It holds two lanes, merged by seq
when drained.  *Bulk* events (``output``, ``trace_step``, ``scheduler``: high
volume, and output can always be re-read from the task log by offset) go to a
ring bounded in events and in payload bytes; when full it drops the *oldest*
bulk events and counts them.  *Control* events (everything else: task state,
quota, pipeline and agent progress) are never dropped to make room for bulk
ones: a client that follows eight tasks under a flood of output still sees each
task end.  Their lane is bounded only by ``max_control`` (far above what the
number of tasks produces); past it the oldest control events go too, counted
the same way, so memory stays bounded even for a client that never reads.
After a drop the stream carries one ``warning`` event, placed where the last
dropped event was, that says how many were dropped, the first dropped seq and,
for output, the task, stream and byte offset to re-read from, so a client
always knows about a gap and can fill it (output from the task logs, the rest
by re-subscribing with ``since_seq``).

A subscription made with ``output_ranges`` (the transports that send output as raw
bytes and can read the task logs) does not drop output to stay within its byte bound:
the oldest output events give their bytes back and keep their place as an
:class:`OutputRange` (task, stream, offset, length), contiguous ranges of one stream
merged up to :data:`RANGE_BYTES` while no control event lies between them (output
never moves ahead of a state event; it may move ahead of other tasks' output); the
transport reads a range's bytes from the log when it sends it.  So a client that keeps
up on average but not at every instant (sixteen pipes read in one loop turn can fill
the lane at once) gets every byte in order without a round trip per gap, and the lane
still holds at most ``max_events`` small objects and ``max_bytes`` of payload; past
``max_events`` the oldest ranges are dropped with the usual warning.

Output events are :class:`OutputEvent` objects: they keep the bytes read from the
task's pipe, and their JSON payload (text, or base64 for bytes that are not UTF-8) is
made only when a consumer first asks for ``data``; a transport that sends output as
raw bytes (api/output_frames.py) never decodes it.

Flow control is optional: with ``ack_window`` set, drain hands out at most that
many events beyond the last ACK; the rest wait in the ring (and the ring drops
the oldest if the client stays behind).

The bus knows nothing about sockets or asyncio: a transport registers a
``notify`` callback that is called (once per empty→non-empty edge) so it can
wake its sender.  Rejected alternative: an ``asyncio.Queue`` per subscriber —
it couples the kernel to the loop and cannot drop-oldest with a byte bound.
"""

from __future__ import annotations

import base64
import collections
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["BULK_TYPES", "RANGE_BYTES", "SEQ_MAX", "Event", "EventBus", "OutputEvent", "OutputRange", "Subscription"]

SEQ_MAX = 2**64 - 1

# Event types that may be dropped when a subscriber falls behind (see the module header).
BULK_TYPES = frozenset({"output", "trace_step", "scheduler"})
_MAX_REREAD = 256  # (task, stream) pairs a drop warning names; beyond it the warning says it was cut
RANGE_BYTES = 1024 * 1024  # largest OutputRange (about one binary frame's worth: Limits.event_batch_bytes)


class Event:
    """One event; immutable after publish.  ``size`` approximates its payload bytes."""

    __slots__ = ("_data", "_json", "pid", "seq", "size", "ts", "type")

    def __init__(self, seq: int, ts: float, type: str, pid: int | None, data: dict[str, Any] | None, size: int) -> None:
        self.seq = seq
        self.ts = ts
        self.type = type
        self.pid = pid
        self._data = data
        self.size = size
        self._json: bytes | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The event's payload (a JSON object)."""
        return self._data if self._data is not None else {}

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


class OutputEvent(Event):
    """An ``output`` event: a slice of a task's stream log, kept as the bytes that were read.

    ``data`` (``{stream, offset, data}`` with the text, or ``data_b64`` for bytes that are
    not UTF-8) is made on first use and kept: a transport that sends the bytes as they
    are (binary output frames, api/output_frames.py) never pays for the decoding.
    """

    __slots__ = ("chunk", "offset", "stream")

    def __init__(self, seq: int, ts: float, pid: int, stream: str, offset: int, chunk: bytes) -> None:
        super().__init__(seq, ts, "output", pid, None, len(chunk))
        self.stream = stream  # "stdout" or "stderr"
        self.offset = offset  # byte offset of chunk[0] in that stream's log
        self.chunk = chunk  # the log's bytes [offset, offset + len(chunk))

    @property
    def data(self) -> dict[str, Any]:
        d = self._data
        if d is None:
            try:
                d = {"stream": self.stream, "offset": self.offset, "data": self.chunk.decode("utf-8")}
            except UnicodeDecodeError:  # not text: the exact bytes, base64-encoded
                d = {
                    "stream": self.stream,
                    "offset": self.offset,
                    "data_b64": base64.b64encode(self.chunk).decode("ascii"),
                }
            self._data = d
        return d


class OutputRange(Event):
    """Output a subscription holds by position only: ``size`` bytes at ``offset`` of the task's ``stream`` log.

    Made by a subscription with ``output_ranges`` from its oldest output events when its
    lane is over its byte bound (module header); private to that subscription, so it grows
    as later contiguous events of the same stream are merged into it.  Its seq is that of
    the first event it stands for.
    """

    __slots__ = ("offset", "stream")

    def __init__(self, first: OutputEvent) -> None:
        super().__init__(first.seq, first.ts, "output", first.pid, None, len(first.chunk))
        self.stream = first.stream
        self.offset = first.offset

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def data(self) -> dict[str, Any]:
        return {"stream": self.stream, "offset": self.offset, "length": self.size, "in_log": True}


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
        max_control: int = 65536,
        output_ranges: bool = False,
    ) -> None:
        self.id = sub_id
        self.owner = owner  # opaque: the connection or session that owns it
        self.types: frozenset[str] | None = frozenset(types) if types else None
        self.pids: frozenset[int] | None = frozenset(pids) if pids else None
        self.max_events = max_events  # bound of the bulk lane (events)
        self.max_bytes = max_bytes  # bound of the bulk lane (payload bytes)
        self.max_control = max_control  # bound of the control lane (events)
        self.ack_window = ack_window
        self.output_ranges = output_ranges  # output over the byte bound becomes OutputRange instead of a drop
        self.notify: Callable[[], None] | None = None  # set by the transport
        self._bus = bus
        self._bulk: collections.deque[Event] = collections.deque()  # BULK_TYPES events, oldest first
        # OutputRanges, oldest first; all older than every event in _bulk (they are made from its head)
        self._ranges: collections.deque[OutputRange] = collections.deque()
        self._last_range: dict[tuple[int | None, str], OutputRange] = {}  # (task, stream) -> its newest range
        self._last_control_seq = 0  # seq of the newest control event offered (a range does not grow past one)
        self._control: collections.deque[Event] = collections.deque()  # every other type, oldest first
        self._bulk_bytes = 0  # invariant: sum(e.size + _BASE_SIZE) over _bulk
        self._bytes = 0  # invariant: sum(e.size + _BASE_SIZE) over _bulk and _control, plus _BASE_SIZE per range
        self.dropped = 0  # events dropped since the last warning was delivered
        self.control_dropped = 0  # ... of which control events (only when max_control is exceeded)
        self.first_dropped_seq: int | None = None
        self.last_dropped_seq = 0
        self._reread: dict[tuple[int, str], int] = {}  # (task, stream) -> first dropped output offset
        self._reread_cut = False  # more pairs were dropped than _MAX_REREAD
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
        """Append a matching event to its lane, dropping the oldest ones past the bounds."""
        was_empty = not self._bulk and not self._control and not self._ranges
        cost = event.size + _BASE_SIZE
        self._bytes += cost
        if event.type in BULK_TYPES:
            bulk = self._bulk
            bulk.append(event)
            self._bulk_bytes += cost
            while self._bulk_bytes > self.max_bytes and len(bulk) > 1:
                old = bulk.popleft()
                self._bulk_bytes -= old.size + _BASE_SIZE
                if self.output_ranges and isinstance(old, OutputEvent):
                    self._to_range(old)
                else:
                    self._drop(old, old.size + _BASE_SIZE)
            ranges = self._ranges
            while len(bulk) + len(ranges) > self.max_events:
                if ranges:
                    self._drop(self._pop_range(), _BASE_SIZE)
                else:
                    old = bulk.popleft()
                    self._bulk_bytes -= old.size + _BASE_SIZE
                    self._drop(old, old.size + _BASE_SIZE)
        else:
            control = self._control
            control.append(event)
            self._last_control_seq = event.seq
            while len(control) > self.max_control:
                self.control_dropped += 1
                old = control.popleft()
                self._drop(old, old.size + _BASE_SIZE)
        if was_empty and self.notify is not None:
            self.notify()

    def _to_range(self, ev: OutputEvent) -> None:
        """Keep ``ev``'s place without its bytes: merged into its stream's newest range when contiguous."""
        self._bytes -= ev.size  # the bookkeeping cost (_BASE_SIZE) stays with the range
        key = (ev.pid, ev.stream)
        last = self._last_range.get(key)
        if (
            last is not None
            and last.end == ev.offset
            and last.size + ev.size <= RANGE_BYTES
            and last.seq > self._last_control_seq  # so output never moves ahead of a state event
        ):
            last.size += ev.size  # moves these bytes ahead of other tasks' output only
            self._bytes -= _BASE_SIZE
            return
        r = OutputRange(ev)
        self._ranges.append(r)
        self._last_range[key] = r

    def _pop_range(self) -> OutputRange:
        r = self._ranges.popleft()
        key = (r.pid, r.stream)
        if self._last_range.get(key) is r:
            del self._last_range[key]
        return r

    def _drop(self, old: Event, held: int) -> None:
        """Forget ``old`` (which held ``held`` bytes of the bound) and remember it for the next warning."""
        self._bytes -= held
        if self.dropped == 0:
            self.first_dropped_seq = old.seq
        self.last_dropped_seq = max(self.last_dropped_seq, old.seq)
        self.dropped += 1
        self.total_dropped += 1
        if old.type != "output" or old.pid is None:
            return
        offset: Any
        if isinstance(old, (OutputEvent, OutputRange)):  # its fields, without making the JSON payload
            key, offset = (old.pid, old.stream), old.offset
        else:
            key, offset = (old.pid, str(old.data.get("stream"))), old.data.get("offset")
        if key in self._reread:
            return
        if len(self._reread) >= _MAX_REREAD:
            self._reread_cut = True
            return
        if isinstance(offset, int):
            self._reread[key] = offset

    @property
    def pending(self) -> int:
        """Events waiting in the lanes (plus undelivered warnings)."""
        waiting = len(self._bulk) + len(self._ranges) + len(self._control)
        return waiting + (1 if self.dropped else 0) + (1 if self.gap else 0)

    def _warning_due(self) -> bool:
        """A drop warning goes out once nothing older than the last dropped event is still waiting."""
        if not self.dropped:
            return False
        last = self.last_dropped_seq
        control, bulk, ranges = self._control, self._bulk, self._ranges
        return (
            (not control or control[0].seq > last)
            and (not bulk or bulk[0].seq > last)
            and (not ranges or ranges[0].seq > last)
        )

    def ready(self) -> bool:
        """Whether drain() would return something now."""
        if self.gap or self._warning_due():
            return True
        if not self._bulk and not self._control and not self._ranges:
            return False
        return self.ack_window is None or len(self._unacked) < self.ack_window

    def _take_warning(self) -> Event:
        data: dict[str, Any] = {
            "reason": "events_dropped",
            "subscription": self.id,
            "dropped": self.dropped,
            "first_dropped_seq": self.first_dropped_seq,
            "last_dropped_seq": self.last_dropped_seq,
            "hint": "re-subscribe with since_seq, or read task output by offset",
        }
        if self._reread:
            data["reread"] = [{"task": t, "stream": st, "offset": off} for (t, st), off in self._reread.items()]
            data["hint"] = "read the output named in 'reread' with task.output from those offsets"
            if self._reread_cut:
                data["reread_truncated"] = True
        if self.control_dropped:
            data["control_dropped"] = self.control_dropped
        warning = Event(self.last_dropped_seq, self._bus.now(), "warning", None, data, 0)
        self.dropped = 0
        self.control_dropped = 0
        self.first_dropped_seq = None
        self._reread = {}
        self._reread_cut = False
        return warning

    def drain(self, max_events: int, max_bytes: int) -> list[Event]:
        """Take up to the given number of events / payload bytes, oldest first (both lanes by seq).

        A gap is announced where it is: a ``warning`` ``{reason: "replay_gap",
        missing_from, missing_to}`` first when a ``since_seq`` replay reached
        past the history, and ``{reason: "events_dropped", dropped,
        first_dropped_seq, last_dropped_seq, reread?, control_dropped?}`` before
        the first event newer than the drop.  A warning takes the seq of the last
        event it accounts for (an event this subscriber will never receive), so
        the seqs a subscriber sees stay strictly increasing and a "last seq
        seen" cursor moves past the gap.  Warnings are not held back by the ACK
        window.
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
        if self._warning_due():
            out.append(self._take_warning())
        bulk, control, ranges = self._bulk, self._control, self._ranges
        budget = max_bytes
        window = None if self.ack_window is None else self.ack_window - len(self._unacked)
        taken = 0
        while len(out) < max_events and (window is None or taken < window):
            lane: collections.deque[Any] = ranges if ranges else bulk  # ranges are older than every bulk event
            if control and (not lane or control[0].seq < lane[0].seq):
                lane = control
            elif not lane:
                break
            ev = lane[0]
            if ev.size > budget and out:
                break
            if lane is ranges:
                self._pop_range()
                self._bytes -= _BASE_SIZE  # a range holds no payload
            else:
                lane.popleft()
                cost = ev.size + _BASE_SIZE
                self._bytes -= cost
                if lane is bulk:
                    self._bulk_bytes -= cost
            budget -= ev.size
            out.append(ev)
            taken += 1
            if self.ack_window is not None:
                self._unacked.append(ev.seq)
            if self._warning_due():
                out.append(self._take_warning())
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
        if self.notify is not None and (self._bulk or self._control or self._ranges):
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

    def _next_seq(self) -> int:
        self._seq += 1
        if self._seq >= self._lease_end:
            if self._seq > SEQ_MAX:  # pragma: no cover - 2**64 events is not reachable
                raise OverflowError("event sequence exhausted")
            self._lease_end = self._seq + self._lease_step
            assert self._lease is not None
            self._lease(self._lease_end)  # durable before the seq is used (rare: once per lease step)
        return self._seq

    def make_event(self, type: str, pid: int | None, data: dict[str, Any], size: int = 0) -> Event:
        """Stamp an event with the next seq without publishing it (used for per-subscriber warnings)."""
        return Event(self._next_seq(), self._clock(), type, pid, data, size)

    def publish(self, type: str, pid: int | None = None, data: dict[str, Any] | None = None, *, size: int = 0) -> Event:
        """Stamp, record and fan out one event; never blocks."""
        ev = self.make_event(type, pid, data if data is not None else {}, size)
        self._fan_out(ev)
        return ev

    def publish_output(self, pid: int, stream: str, offset: int, chunk: bytes) -> OutputEvent:
        """Publish an ``output`` event carrying ``chunk``, the bytes at ``offset`` of the task's ``stream`` log."""
        ev = OutputEvent(self._next_seq(), self._clock(), pid, stream, offset, chunk)
        self._fan_out(ev)
        return ev

    def _fan_out(self, ev: Event) -> None:
        hist = self._history
        hist.append(ev)
        self._history_bytes += ev.size + _BASE_SIZE
        while len(hist) > self._history_max_events or self._history_bytes > self._history_max_bytes:
            old = hist.popleft()
            self._history_bytes -= old.size + _BASE_SIZE
        for sub in self._subs.values():
            if sub.matches(ev):
                sub.offer(ev)

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
        max_control: int = 65536,
        output_ranges: bool = False,
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
            max_control=max_control,
            output_ranges=output_ranges,
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
