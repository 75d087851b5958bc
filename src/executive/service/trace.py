"""Trace services of ``Executive.debug``: per-task ``hsx.trace/1`` rings (spec hsx-executive §9).

A mixin of :class:`~executive.service.debug.DebugService`, kept in its own file because
tracing is its own concept: switching the per-instruction trace hook on and off, sizing
the rings, and moving records out (``trace_export``) and back in (``trace_import``,
validated record by record in debugger/trace.py).  The records themselves are made by
the CPU trace hook in debugger/task.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from executive.debugger.regdiff import RegDiff
from executive.debugger.task import TaskDebug
from executive.debugger.trace import FORMAT, SEQ_WRAP, import_records
from executive.kernel.errors import LimitError

if TYPE_CHECKING:  # pragma: no cover
    from executive.service.executive import Executive

__all__ = ["TraceMethods"]


class TraceMethods:
    """``trace_*`` methods; the host class provides the task look-ups and the baselines."""

    ex: Executive
    stops: RegDiff  # changed_regs between debugger stops
    traced: RegDiff  # changed_regs between consecutive trace records
    trace_capacity: int  # ring capacity for tasks loaded from now on
    _trace_seq: int
    _tasks: dict[int, TaskDebug]

    if TYPE_CHECKING:  # provided by DebugService

        def _state(self, ref: int | str) -> TaskDebug: ...

        def _control(self, ref: int | str, session_id: str | None) -> TaskDebug: ...

    def trace_set(
        self, ref: int | str, enabled: bool | None = None, *, session_id: str | None = None
    ) -> dict[str, Any]:
        """Turn per-instruction tracing of a task on, off, or (None) toggle it (spec §3.7, §9).

        While on, every retired instruction appends an ``hsx.trace/1`` record to the
        task's ring and publishes it as a ``trace_step`` event; the first record lists
        every register in ``changed_regs``.
        """
        st = self._control(ref, session_id)
        on = (not st.tracing) if enabled is None else enabled
        if on and not st.tracing:
            self.traced.forget(st.pid)
        st.tracing = on
        st.sync_hooks()
        return {"pid": st.pid, "enabled": st.tracing, "buffer_size": st.trace.capacity}

    def trace_config(
        self, ref: int | str | None = None, *, buffer_size: int | None = None, changed_regs: bool | None = None,
        session_id: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Configure tracing (spec §3.7 ``trace config``).

        ``buffer_size`` sets the ring capacity of one task (``ref``) or, without ``ref``,
        of every task and of tasks loaded later; 0 disables recording; resizing keeps the
        newest records.  ``changed_regs`` switches register-change tracking for trace
        records, step results and ``debug_break`` (off clears the baselines, §8.10).

        Raises:
            LimitError: ``buffer_size`` above ``limits.max_trace_buffer``.
        """
        cap = self.ex.limits.max_trace_buffer
        if buffer_size is not None and not 0 <= buffer_size <= cap:
            raise LimitError(f"buffer_size must be 0..{cap} (limit max_trace_buffer)", data={"limit": cap})
        targets = [self._control(ref, session_id)] if ref is not None else list(self._tasks.values())
        if buffer_size is not None:
            if ref is None:
                self.trace_capacity = buffer_size
            for st in targets:
                st.trace.resize(buffer_size)
        if changed_regs is not None:
            self.stops.set_enabled(changed_regs)
            self.traced.set_enabled(changed_regs)
        out: dict[str, Any] = {"changed_regs": self.stops.enabled, "buffer_size": self.trace_capacity}
        if ref is not None:
            out.update(pid=targets[0].pid, buffer_size=targets[0].trace.capacity)
        return out

    def trace_records(self, ref: int | str, limit: int | None = None) -> dict[str, Any]:
        """The newest ``limit`` trace records of a task, oldest first (all when None)."""
        st = self._state(ref)
        recs = st.trace.newest(limit)
        return {"pid": st.pid, "format": FORMAT, "capacity": st.trace.capacity, "count": len(st.trace),
                "returned": len(recs), "enabled": st.tracing, "records": recs}  # fmt: skip

    def trace_export(self, ref: int | str, limit: int | None = None) -> dict[str, Any]:
        """The trace of a task as an ``hsx.trace/1`` document (what ``trace_import`` takes)."""
        out = self.trace_records(ref, limit)
        del out["enabled"]
        return out

    def trace_import(
        self, ref: int | str, records: list[dict[str, Any]], *, replace: bool = True, session_id: str | None = None
    ) -> dict[str, Any]:
        """Load ``hsx.trace/1`` records into a task's ring (spec §9).

        Every record is validated first (required ``seq``, ``pid``, ``pc``, ``opcode``;
        integers or ``0x`` strings, never booleans); one bad record refuses the lot.
        ``replace`` (default) empties the ring first.  The trace seq counter moves past
        the highest imported seq.

        Raises:
            BadParamsError: names the first bad record and field.
        """
        st = self._control(ref, session_id)
        top = import_records(
            st.trace, records, pid=st.pid, replace=replace, max_records=self.ex.limits.max_trace_buffer
        )
        if top is not None and top >= self._trace_seq:
            self._trace_seq = top % SEQ_WRAP
        return {"pid": st.pid, "format": FORMAT, "capacity": st.trace.capacity, "count": len(st.trace),
                "imported": len(records), "enabled": st.tracing}  # fmt: skip
