"""Trace buffers of HSX tasks: ``Executive.debug.trace_*`` (spec hsx-executive §9).

Tracing is its own concept, so it is its own object: switching the per-instruction
trace hook on and off, sizing the rings, and moving records out (``export``) and
back in (``import_records``, validated record by record in debugger/trace.py).  The
records themselves are made by the CPU trace hook in debugger/task.py, which asks
:meth:`TraceService.next_seq` for their seq and diffs registers with ``traced``.
The debugger service owns one and finds the tasks for it (:class:`DebugTasks`).
"""

from __future__ import annotations

from typing import Any, Protocol

from executive.debugger.regdiff import RegDiff
from executive.debugger.task import TaskDebug
from executive.debugger.trace import FORMAT, SEQ_WRAP, import_records
from executive.kernel.errors import LimitError
from executive.service.results import TraceConfigReply, TraceImported, TraceRecords, TraceSetReply

__all__ = ["TRACE_DEFAULT", "DebugTasks", "TraceService"]

TRACE_DEFAULT = 256  # default trace ring capacity per task (spec §9)


class DebugTasks(Protocol):
    """How the trace service finds the debug state of tasks (the debugger service provides it)."""

    def state_of(self, ref: int | str) -> TaskDebug: ...

    def controlled(self, ref: int | str, session_id: str | None) -> TaskDebug: ...

    def all_states(self) -> list[TaskDebug]: ...


class TraceService:
    """Per-task ``hsx.trace/1`` rings: on/off, capacity, export, import, and the global trace seq."""

    def __init__(self, tasks: DebugTasks, stops: RegDiff, *, max_buffer: int) -> None:
        self._tasks = tasks
        self._stops = stops  # changed_regs between debugger stops: trace config switches it with ``traced``
        self._max_buffer = max_buffer
        self.traced = RegDiff()  # changed_regs between consecutive trace records
        self.capacity = min(TRACE_DEFAULT, max_buffer)  # ring capacity for tasks loaded from now on
        self._seq = 0

    def next_seq(self) -> int:
        """The seq of the next trace record (global over tasks, wrapping at SEQ_WRAP)."""
        self._seq = (self._seq + 1) % SEQ_WRAP
        return self._seq

    def forget(self, pid: int) -> None:
        self.traced.forget(pid)

    def set(self, ref: int | str, enabled: bool | None = None, *, session_id: str | None = None) -> TraceSetReply:
        """Turn per-instruction tracing of a task on, off, or (None) toggle it (spec §3.7, §9).

        While on, every retired instruction appends an ``hsx.trace/1`` record to the
        task's ring and publishes it as a ``trace_step`` event; the first record lists
        every register in ``changed_regs``.
        """
        st = self._tasks.controlled(ref, session_id)
        on = (not st.tracing) if enabled is None else enabled
        if on and not st.tracing:
            self.traced.forget(st.pid)
        st.tracing = on
        st.sync_hooks()
        return {"pid": st.pid, "enabled": st.tracing, "buffer_size": st.trace.capacity}

    def config(
        self,
        ref: int | str | None = None,
        *,
        buffer_size: int | None = None,
        changed_regs: bool | None = None,
        session_id: str | None = None,
    ) -> TraceConfigReply:
        """Configure tracing (spec §3.7 ``trace config``).

        ``buffer_size`` sets the ring capacity of one task (``ref``) or, without ``ref``,
        of every task and of tasks loaded later; 0 disables recording; resizing keeps the
        newest records.  ``changed_regs`` switches register-change tracking for trace
        records, step results and ``debug_break`` (off clears the baselines, §8.10).

        Raises:
            LimitError: ``buffer_size`` above ``limits.max_trace_buffer``.
        """
        cap = self._max_buffer
        if buffer_size is not None and not 0 <= buffer_size <= cap:
            raise LimitError(f"buffer_size must be 0..{cap} (limit max_trace_buffer)", data={"limit": cap})
        targets = [self._tasks.controlled(ref, session_id)] if ref is not None else self._tasks.all_states()
        if buffer_size is not None:
            if ref is None:
                self.capacity = buffer_size
            for st in targets:
                st.trace.resize(buffer_size)
        if changed_regs is not None:
            self._stops.set_enabled(changed_regs)
            self.traced.set_enabled(changed_regs)
        out: TraceConfigReply = {"changed_regs": self._stops.enabled, "buffer_size": self.capacity}
        if ref is not None:
            out["pid"] = targets[0].pid
            out["buffer_size"] = targets[0].trace.capacity
        return out

    def records(self, ref: int | str, limit: int | None = None) -> TraceRecords:
        """The newest ``limit`` trace records of a task, oldest first (all when None)."""
        st = self._tasks.state_of(ref)
        recs = st.trace.newest(limit)
        return {"pid": st.pid, "format": FORMAT, "capacity": st.trace.capacity, "count": len(st.trace),
                "returned": len(recs), "enabled": st.tracing, "records": recs}  # fmt: skip

    def export(self, ref: int | str, limit: int | None = None) -> TraceRecords:
        """The trace of a task as an ``hsx.trace/1`` document (what :meth:`import_records` takes),
        with ``enabled`` (the shell's ``trace export`` prints it; spec §9 leaves it out, a superset)."""
        return self.records(ref, limit)

    def import_records(
        self, ref: int | str, records: list[dict[str, Any]], *, replace: bool = True, session_id: str | None = None
    ) -> TraceImported:
        """Load ``hsx.trace/1`` records into a task's ring (spec §9).

        Every record is validated first (required ``seq``, ``pid``, ``pc``, ``opcode``;
        integers or ``0x`` strings, never booleans); one bad record refuses the lot.
        ``replace`` (default) empties the ring first.  The trace seq counter moves past
        the highest imported seq.

        Raises:
            BadParamsError: names the first bad record and field.
        """
        st = self._tasks.controlled(ref, session_id)
        top = import_records(st.trace, records, pid=st.pid, replace=replace, max_records=self._max_buffer)
        if top is not None and top >= self._seq:
            self._seq = top % SEQ_WRAP
        return {"pid": st.pid, "format": FORMAT, "capacity": st.trace.capacity, "count": len(st.trace),
                "imported": len(records), "enabled": st.tracing}  # fmt: skip
