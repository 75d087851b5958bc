"""The event bus as the service offers it: ``Executive.subscribe`` and friends.

Subscriptions are bounded (limits.py) and validated here; the bus itself
(kernel/events.py) stamps, records and fans out.  ``Subscription``, ``Event`` and
``OutputEvent`` (an output event with its raw bytes) are re-exported because
transports hold subscriptions and format events: they are part of what the service
hands out, so transports import them from here, not from the kernel.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from executive.kernel.errors import BadParamsError, ErrorCode, LimitError, NotFoundError
from executive.kernel.events import Event, EventBus, OutputEvent, OutputRange, Subscription
from executive.kernel.limits import Limits
from executive.service.results import EventRecord, EventsAcked, Unsubscribed

__all__ = ["Event", "EventService", "OutputEvent", "OutputRange", "OutputWatch", "Subscription"]


class EventService:
    """Subscribe, look up, acknowledge and drop subscriptions of one bus."""

    def __init__(self, bus: EventBus, limits: Limits) -> None:
        self._bus = bus
        self._limits = limits

    def subscribe(
        self,
        *,
        types: list[str] | set[str] | None = None,
        tasks: list[int] | None = None,
        since_seq: int | None = None,
        ack_window: int | None = None,
        max_events: int | None = None,
        owner: Any = None,
        output_ranges: bool = False,
    ) -> Subscription:
        """A new subscription; ``max_events`` sizes its ring (default and cap: limits.subscription_events).

        ``output_ranges``: for a transport that reads task logs itself (binary output frames): output
        over the byte bound is kept as ranges of the log instead of dropped (kernel/events.py).

        Raises:
            LimitError: too many subscriptions, or too many filter entries.
            BadParamsError: a negative ``since_seq``, or ``ack_window``/``max_events`` out of range.
        """
        lim = self._limits
        if len(self._bus.subscriptions()) >= lim.max_subscriptions:
            raise LimitError(
                f"too many subscriptions ({lim.max_subscriptions}); unsubscribe unused ones",
                data={"limit": lim.max_subscriptions},
            )
        if len(types or ()) > lim.max_event_filters or len(tasks or ()) > lim.max_event_filters:
            raise LimitError(
                f"at most {lim.max_event_filters} entries per filter", data={"limit": lim.max_event_filters}
            )
        if since_seq is not None and since_seq < 0:
            raise BadParamsError("since_seq must be >= 0")
        if ack_window is not None and not (1 <= ack_window <= lim.subscription_events):
            raise BadParamsError(f"ack_window must be 1..{lim.subscription_events}")
        if max_events is not None and not (1 <= max_events <= lim.subscription_events):
            raise BadParamsError(f"max_events must be 1..{lim.subscription_events}")
        return self._bus.subscribe(
            types=types,
            pids=tasks,
            since_seq=since_seq,
            max_events=max_events or lim.subscription_events,
            max_bytes=lim.subscription_bytes,
            ack_window=ack_window,
            owner=owner,
            max_control=lim.subscription_control_events,
            output_ranges=output_ranges,
        )

    def get(self, sub_id: int, owner: Any = None) -> Subscription:
        """A subscription by id; with ``owner``, only one that owner made.

        Raises:
            NotFoundError (SUBSCRIPTION_NOT_FOUND): no such subscription here.
        """
        sub = self._bus.get(sub_id)
        if sub is None or (owner is not None and sub.owner is not owner):
            raise NotFoundError(
                f"no subscription {sub_id} on this connection",
                code=ErrorCode.SUBSCRIPTION_NOT_FOUND,
                data={"subscription": sub_id},
            )
        return sub

    def ack(self, sub_id: int, seq: int, owner: Any = None) -> EventsAcked:
        """Acknowledge events up to ``seq``; returns the subscription's counters."""
        sub = self.get(sub_id, owner)
        sub.ack(seq)
        return cast(EventsAcked, sub.stats())

    def unsubscribe(self, sub_id: int, owner: Any = None) -> Unsubscribed:
        self.get(sub_id, owner)
        self._bus.unsubscribe(sub_id)
        return {"subscription": sub_id, "unsubscribed": True}

    def drop(self, sub_id: int) -> None:
        """Remove a subscription if it still exists (a transport cleaning up after itself)."""
        self._bus.unsubscribe(sub_id)

    def count(self) -> int:
        return len(self._bus.subscriptions())

    def history_range(self) -> tuple[int, int]:
        """``(oldest_seq, newest_seq)`` the bus can still replay."""
        return self._bus.history_range()

    @property
    def last_seq(self) -> int:
        return self._bus.last_seq

    def output_watch(self, task_id: int) -> OutputWatch:
        """A doorbell for one task's output and state changes (see :class:`OutputWatch`)."""
        # A tiny ring: the events are only a doorbell; the bytes are read from the log.
        sub = self._bus.subscribe(types=["output", "task_state", "quota"], pids=[task_id], max_events=4, max_bytes=1)
        return OutputWatch(self._bus, sub)

    def make_event(self, type: str, pid: int | None, data: dict[str, Any]) -> EventRecord:
        """An event stamped now but not published (for a transport's own notices)."""
        return cast(EventRecord, self._bus.make_event(type, pid, data).to_dict())


class OutputWatch:
    """A wake-up signal for one task: :meth:`wait` returns once its output grows or its state changes.

    For transports that stream a task's log by offset (api/ccx.py): they read with
    ``Executive.task_output_bytes`` and wait here when they have caught up.  The
    caller must :meth:`close` it.
    """

    def __init__(self, bus: EventBus, sub: Subscription) -> None:
        self._bus = bus
        self._sub = sub
        self._rung = asyncio.Event()
        sub.notify = self._rung.set

    async def wait(self, timeout: float) -> None:
        """Return when something happened to the task since the last wait (or after ``timeout`` seconds)."""
        if not self._sub.ready():
            try:
                await asyncio.wait_for(self._rung.wait(), timeout)
            except TimeoutError:
                pass
        self._rung.clear()
        self._sub.drain(1 << 30, 1 << 62)

    def close(self) -> None:
        if not self._sub.closed:
            self._bus.unsubscribe(self._sub.id)
