"""One client connection's protocol state, independent of the socket library.

The connection receives frames, runs each request as its own asyncio task (so
a long ``task.wait`` never holds up a ``task.pause``), and decides what to
send next with :meth:`RpcConnection.next_frame`:

1. replies, in completion order — the priority lane: a reply waits behind at
   most one frame that is already being written;
2. then one batch per ready subscription in turn, each bounded by
   ``Limits.event_batch_events`` / ``event_batch_bytes``: an ``events``
   notification (a JSON text frame), or, for a subscription made with
   ``output: "binary"``, the batch cut into runs: each run of output events is
   one binary frame (api/output_frames.py) and each run of other events one
   ``events`` notification, sent in seq order before the next subscription's turn.
   Output that such a subscription held only as a range of the log (an
   ``OutputRange``, kernel/events.py: its ring was over its byte bound) is read
   from the log here, straight into the frame (on the loop when the page cache
   holds it, runtimes/logread.py; else by a worker thread), so the client
   receives every byte without asking again.

Events never queue per connection: they stay in the subscription's ring (which
drops the oldest under pressure), so a slow reader costs the daemon a bounded
amount of memory and slows nobody else.  Replies do queue, bounded in bytes
(``Limits.max_queued_reply_bytes``): a client that keeps asking for large
replies and never reads them is dropped with a close code and reason (its
tasks are not touched), instead of growing the daemon without bound.  The
socket shell (``ws.py``) only awaits ``wake`` and writes what ``next_frame``
returns, and closes the socket when ``close_requested`` is set.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, NamedTuple, cast

import orjson
import structlog

from executive.api.output_frames import ChunkHead, encode_frame, frame_buffer
from executive.api.rpc import Dispatcher, encode, error_response
from executive.kernel.errors import ErrorCode, ExecutiveError
from executive.service import Executive
from executive.service.events import Event, OutputEvent, OutputRange, Subscription

__all__ = ["OutFrame", "RpcConnection"]

log = structlog.get_logger("executive.connection")


_BULK_READS = 2  # log slices built at once per connection (each up to limits.output_read_bytes, several copies)


class OutFrame(NamedTuple):
    """One WebSocket message to send: JSON text (UTF-8 bytes) or a binary output frame (bytes, or a
    bytearray when it was filled in place: api/output_frames.py ``frame_buffer``)."""

    data: bytes | bytearray
    binary: bool


class RpcConnection:
    def __init__(self, service: Executive, dispatcher: Dispatcher, *, authorized: bool, peer: str = "") -> None:
        self.service = service
        self.session_id: str | None = None
        self.peer = peer
        self._dispatcher = dispatcher
        self._authorized = authorized
        self._replies: collections.deque[OutFrame] = collections.deque()
        self._reply_bytes = 0  # invariant: sum(len(r.data) for r in _replies)
        self._max_reply_bytes = service.limits.max_queued_reply_bytes
        self._bulk_reads = asyncio.Semaphore(_BULK_READS)
        self.close_requested = asyncio.Event()  # set with close_code/close_reason when the daemon drops the client
        self.close_code = 1000
        self.close_reason = ""
        self._subs: dict[int, Subscription] = {}
        self._rr: collections.deque[int] = collections.deque()  # subscription round-robin order
        self._binary: set[int] = set()  # subscriptions whose output goes out as binary frames
        self._batch: collections.deque[OutFrame] = collections.deque()  # the rest of a cut batch, in seq order
        self._inflight: set[asyncio.Task[None]] = set()
        self._max_inflight = service.limits.max_inflight
        self.wake = asyncio.Event()
        self.closed = False

    # --- CallContext ------------------------------------------------------------------
    def add_subscription(self, sub: Subscription, *, binary_output: bool = False) -> None:
        """Serve ``sub`` on this connection; with ``binary_output`` its output events go as binary frames."""
        self._subs[sub.id] = sub
        self._rr.append(sub.id)
        if binary_output:
            self._binary.add(sub.id)
        sub.notify = self.wake.set
        if sub.ready():
            self.wake.set()

    @property
    def bulk_reads(self) -> asyncio.Semaphore:
        """Two large replies in the making at once per connection (api/methods.py ``_task_output``)."""
        return self._bulk_reads

    def subscription_count(self) -> int:
        """Subscriptions this connection holds (limits.max_subscriptions_per_connection)."""
        return len(self._subs)

    def remove_subscription(self, sub_id: int) -> None:
        self._subs.pop(sub_id, None)
        self._binary.discard(sub_id)
        try:
            self._rr.remove(sub_id)
        except ValueError:
            pass

    # --- inbound ----------------------------------------------------------------------
    async def receive(self, frame: bytes | str) -> None:
        """Accept one inbound frame; the request runs concurrently with later ones."""
        limit = self.service.limits.max_frame_bytes
        size = len(frame)
        if isinstance(frame, str) and size * 4 > limit:  # text frames arrive decoded: count their UTF-8 bytes
            size = len(frame.encode("utf-8", "surrogatepass"))
        if size > limit:
            self._reply(
                encode(
                    error_response(
                        None,
                        ErrorCode.FRAME_TOO_LARGE,
                        f"frame of {size} bytes exceeds the limit of {limit}; "
                        "split the request (e.g. send input in pieces)",
                        {"limit": limit},
                    )
                )
            )
            return
        if not self._authorized:
            self._reply(self._unauthorized(frame))
            return
        if len(self._inflight) >= self._max_inflight:
            # Refuse rather than stop reading: a blocked reader would also stop answering
            # WebSocket pings and cancel requests behind the long-running calls.
            self._reply(self._over_limit(frame))
            return
        t = asyncio.ensure_future(self._run(frame))
        self._inflight.add(t)
        t.add_done_callback(self._inflight.discard)

    async def _run(self, frame: bytes | str) -> None:
        reply = await self._dispatcher.handle_frame(frame, self)
        if reply is not None:
            self._reply(reply)

    def _over_limit(self, frame: bytes | str) -> bytes:
        return encode(
            error_response(
                _request_id(frame),
                ErrorCode.LIMIT_EXCEEDED,
                f"{self._max_inflight} requests are already running on this connection (limit max_inflight); "
                "wait for some replies or open another connection",
                {"limit": self._max_inflight},
            )
        )

    def _unauthorized(self, frame: bytes | str) -> bytes:
        return encode(
            error_response(
                _request_id(frame),
                ErrorCode.UNAUTHORIZED,
                "unauthorized: present the token from $EXECUTIVE_HOME/token as 'Authorization: Bearer <token>' "
                "or '?token=<token>'",
            )
        )

    def send_binary(self, frame: bytes) -> None:
        """Queue a binary frame in the reply lane: the data of the reply the calling handler returns next.

        The handler returns right after this call and its reply is queued before any
        other coroutine runs, so the client receives the frame, then that reply
        (``task.output {output: "binary"}``, api/output_frames.py subscription 0).
        """
        self._reply(frame, binary=True)

    def _reply(self, data: bytes, *, binary: bool = False) -> None:
        if self.closed:
            return
        if self._reply_bytes + len(data) > self._max_reply_bytes:
            mib = self._max_reply_bytes // (1024 * 1024)
            log.warning("connection_dropped", peer=self.peer, reason="unread_replies", limit=self._max_reply_bytes)
            self.request_close(
                1008, f"more than {mib} MiB of replies unread; read replies before sending more requests"
            )
            return
        self._replies.append(OutFrame(data, binary))
        self._reply_bytes += len(data)
        self.wake.set()

    def request_close(self, code: int, reason: str) -> None:
        """Drop this client: forget what it has not read, stop its requests, ask the shell to close the socket."""
        self.close_code, self.close_reason = code, reason[:120]  # a close reason fits in 123 bytes
        self._replies.clear()
        self._reply_bytes = 0
        for t in list(self._inflight):
            t.cancel()
        self.close_requested.set()
        self.wake.set()

    # --- outbound ---------------------------------------------------------------------
    async def next_frame(self) -> OutFrame | None:
        """The next frame to write, replies first; None when there is nothing to send.

        Awaits only to read output ranges of a binary subscription from the task logs.
        """
        if self._replies:
            frame = self._replies.popleft()
            self._reply_bytes -= len(frame.data)
            return frame
        if self._batch:  # the rest of a batch cut into binary and JSON runs: before any other subscription's
            return self._batch.popleft()
        lim = self.service.limits
        for _ in range(len(self._rr)):
            sub_id = self._rr[0]
            self._rr.rotate(-1)
            sub = self._subs.get(sub_id)
            if sub is None or sub.closed or not sub.ready():
                continue
            batch = sub.drain(lim.event_batch_events, lim.event_batch_bytes)
            if not batch:
                continue
            if sub_id not in self._binary:
                return OutFrame(_events_notification(sub_id, batch), False)
            frames = await self._cut(sub_id, batch)
            if self.closed:
                return None
            self._batch.extend(frames)
            return self._batch.popleft()
        return None

    async def _cut(self, sub_id: int, batch: list[Event]) -> list[OutFrame]:
        """``batch`` as frames in seq order: runs of output events binary, runs of the others JSON."""
        runs: list[tuple[bool, list[Event]]] = []
        for ev in batch:
            is_output = isinstance(ev, (OutputEvent, OutputRange))  # output published as a plain Event goes as JSON
            if runs and runs[-1][0] == is_output:
                runs[-1][1].append(ev)
            else:
                runs.append((is_output, [ev]))
        return [
            OutFrame(await self._output_frame(sub_id, cast(list[OutputEvent | OutputRange], run)), True)
            if binary
            else OutFrame(_events_notification(sub_id, run), False)
            for binary, run in runs
        ]

    async def _output_frame(self, sub_id: int, run: list[OutputEvent | OutputRange]) -> bytes | bytearray:
        """One binary frame of output events; an OutputRange's bytes are read from its log straight into it."""
        if not any(isinstance(ev, OutputRange) for ev in run):
            return encode_frame(sub_id, cast(list[OutputEvent], run))
        buf, at = frame_buffer(sub_id, [ChunkHead(ev.seq, ev.pid or 0, ev.stream, ev.offset, ev.size) for ev in run])
        view = memoryview(buf)
        cached_into = self.service.task_output_cached_into
        for ev, pos in zip(run, at, strict=True):
            into = view[pos : pos + ev.size]
            if isinstance(ev, OutputEvent):
                into[:] = ev.chunk
            elif not cached_into(ev.pid or 0, ev.stream, ev.offset, into):  # not in the page cache: a thread reads it
                data = await self._read_range(ev)
                if len(data) != ev.size:  # the log is shorter than the range (its task was removed): what there is
                    return encode_frame(sub_id, [await self._as_event(e) for e in run])
                into[:] = data
        return buf

    async def _as_event(self, ev: OutputEvent | OutputRange) -> OutputEvent:
        if isinstance(ev, OutputEvent):
            return ev
        return OutputEvent(ev.seq, ev.ts, ev.pid or 0, ev.stream, ev.offset, await self._read_range(ev))

    async def _read_range(self, r: OutputRange) -> bytes:
        """The bytes ``r`` stands for, read from the task's log in a worker thread (after the log writer's).

        A log that is gone (the task was removed meanwhile) or unreadable gives fewer bytes: the
        client sees the gap by offset, as after any drop, and its re-read gets the reason.
        """
        task = r.pid or 0
        parts: list[bytes] = []
        have = 0
        step = self.service.limits.output_read_bytes
        try:
            while have < r.size:
                got = await self.service.task_output_bytes(
                    task, stream=r.stream, offset=r.offset + have, limit=min(step, r.size - have)
                )
                if not got["data"]:
                    break
                parts.append(got["data"])
                have += len(got["data"])
        except ExecutiveError as exc:
            log.info("output_range_unreadable", task=task, stream=r.stream, offset=r.offset, error=exc.message)
        except OSError as exc:  # a disk error: the client's own re-read of the gap gets it as an answer
            log.warning("output_range_unreadable", task=task, stream=r.stream, offset=r.offset, error=str(exc))
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def has_output(self) -> bool:
        return bool(self._replies) or bool(self._batch) or any(s.ready() for s in self._subs.values())

    async def close(self) -> None:
        self.closed = True
        if self.session_id is not None:  # the session bound to this connection ends with it (unless resumable)
            self.service.session_detach(self.session_id)
            self.session_id = None
        inflight = list(self._inflight)
        for t in inflight:
            t.cancel()
        for sub_id in list(self._subs):
            self.service.drop_subscription(sub_id)
        self._subs.clear()
        self._rr.clear()
        self._binary.clear()
        self._batch.clear()
        self.wake.set()
        if inflight:  # let cancelled calls unwind (bounded: a call that ignores its cancel does not hold us)
            await asyncio.wait(inflight, timeout=5.0)


def _events_notification(sub_id: int, events: list[Event]) -> bytes:
    body = b",".join(e.json(orjson.dumps) for e in events)
    return b'{"jsonrpc":"2.0","method":"events","params":{"subscription":%d,"events":[%s]}}' % (sub_id, body)


def _request_id(frame: bytes | str) -> Any:
    """The id of a request we refuse without dispatching it (None if it has none)."""
    try:
        msg = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    return msg.get("id") if isinstance(msg, dict) else None
