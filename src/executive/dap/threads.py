"""The threads of a DAP session: one HSX task each, and how the session ends.

Theory of operation
-------------------
A session debugs one HSX task or several (launched together from ``programs``, or
attached from ``tasks``; at most :data:`MAX_THREADS`).  Each task is one DAP thread whose
id is the task's pid; :class:`TaskThread` holds what the adapter knows of it — its
source files and line table, the breakpoint addresses set on the daemon for it, its run
state as the daemon's event stream tells it, and how it ended.  :class:`ThreadTable` is
the session's set of them, in the order they were loaded or attached.

**How the VM stops.**  The daemon's scheduler stops tasks one at a time: a breakpoint,
a ``BRK``, a stopping watch, a step or a pause moves only the task concerned to PAUSED
(runtimes/vm.py ``_after_run`` / ``pause``), and every other task keeps its slices.  The
adapter reports exactly that: a ``stopped`` event names the one thread and says
``allThreadsStopped`` only when every thread still in the session is stopped at that
moment (always so with one thread); run requests (``continue``, the steps, ``pause``) act
on the thread they name and never on the others, so ``continue`` answers
``allThreadsContinued`` true only when no other thread is left stopped.  The
alternative — pausing every task when one stops ("all-stop") — would be a pretence: the
others would run on for however long the adapter takes to react, so breakpoints would not
freeze the scenario where it was.

**Frame ids.**  ``scopes`` and ``evaluate`` name a frame by its id alone, so ids are unique
across threads: ``slot * FRAME_STRIDE + index + 1``, ``slot`` being the thread's position
in the session and ``index`` the daemon's frame index.  The first thread's frames keep the
ids 1, 2, ... that a one-task session has always had.

**The session's exit code.**  Threads come and go with ``thread`` events; the session's
``exited`` and ``terminated`` follow when the last thread has gone.  Its ``exitCode`` is
the first nonzero status in the order the tasks ended (a task killed or faulted, without
a status, counts as -1), else 0: one failing task fails the run, and the first failure is
the one that explains the others.  With one task it is that task's status.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from executive.dap.protocol import DapError
from executive.dap.sources import SourceMap
from executive.dap.variables import Inspector

__all__ = ["FRAME_STRIDE", "MAX_THREADS", "TaskThread", "ThreadTable"]

MAX_THREADS = 16  # HSX tasks one debug session may launch or attach
FRAME_STRIDE = 10_000  # frame ids per thread; stack traces are capped at 1000 frames (session.py)


@dataclasses.dataclass(eq=False)
class TaskThread:
    """One HSX task of the session, as the adapter knows it."""

    pid: int  # the task id: also the DAP thread id
    name: str  # the task's name on the daemon
    slot: int  # position in the session (frame ids, the order threads are listed in)
    launched: bool  # loaded by this session (disconnect kills it by default) vs. attached
    inspector: Inspector  # its variables while stopped
    sources: SourceMap = dataclasses.field(default_factory=lambda: SourceMap([], "."))
    lines: dict[str, dict[int, list[int]]] = dataclasses.field(default_factory=dict)  # file -> {line: addresses}
    generated: frozenset[int] = frozenset()  # compiler-made instructions source-level steps pass over
    has_lines: bool = False  # its .sym has a line table (steps go by line)
    daemon_bps: set[int] = dataclasses.field(default_factory=set)  # addresses set on the daemon for it
    bp_errors: dict[int, str] = dataclasses.field(default_factory=dict)  # address -> why the daemon refused it
    running: bool = False  # since its last task_state -> running event, until a stop
    stopped: bool = False  # the editor was told it stopped and has not run it since
    out_target: tuple[int, int, bool] | None = None  # stepOut: (return address, depth, temporary bp added)
    was_paused: bool = False  # attach: it was paused already (configurationDone leaves it stopped)
    fault: dict[str, Any] | None = None  # the fault that ended it (post-mortem)
    end: dict[str, Any] | None = None  # the task_state payload that ended it
    exited: bool = False  # its thread `exited` event went out: no longer a thread of the session
    frame_pcs: set[int] = dataclasses.field(default_factory=set)  # PCs of the frames last shown for it

    @property
    def label(self) -> str:
        """How the editor lists it: task name and pid."""
        return f"{self.name} (task {self.pid})"

    @property
    def tag(self) -> str:
        """What starts each line of its output in a session of several tasks (dap/output.py)."""
        return f"[{self.name} {self.pid}] "

    def ran(self) -> None:
        """It runs (or steps) again: what was shown of its stop is void."""
        self.stopped = False
        self.frame_pcs.clear()
        self.inspector.reset()


class ThreadTable:
    """The threads of one session, in the order they joined it."""

    def __init__(self) -> None:
        self._by_pid: dict[int, TaskThread] = {}
        self.focus: int | None = None  # the thread the editor last named (requests that name none use it)
        self._end_codes: list[int] = []  # exit statuses in the order the tasks ended (-1: none)

    def __len__(self) -> int:
        return len(self._by_pid)

    def __iter__(self) -> Iterator[TaskThread]:
        return iter(self._by_pid.values())

    def __contains__(self, pid: object) -> bool:
        return pid in self._by_pid

    def add(self, thread: TaskThread) -> None:
        self._by_pid[thread.pid] = thread
        if self.focus is None:
            self.focus = thread.pid

    def clear(self) -> None:
        """Forget every thread (a launch or attach that failed half-way)."""
        self._by_pid.clear()
        self.focus = None
        self._end_codes.clear()

    @property
    def several(self) -> bool:
        """More than one task: output is tagged with the task, memory references with its pid."""
        return len(self._by_pid) > 1

    def get(self, thread_id: Any) -> TaskThread:
        """The thread ``thread_id`` names; makes it the focus.

        Raises:
            DapError: no such thread in this session (or none at all yet).
        """
        if not self._by_pid:
            raise DapError("no program is being debugged; launch or attach first")
        thread = self._by_pid.get(thread_id) if isinstance(thread_id, int) else None
        if thread is None:
            known = ", ".join(t.label for t in self if not t.exited) or "none left"
            raise DapError(f"thread {thread_id!r} is not a task of this debug session (its threads: {known})")
        self.focus = thread.pid
        return thread

    def lookup(self, pid: int) -> TaskThread | None:
        """The thread of task ``pid``, if the session has it (the focus stays)."""
        return self._by_pid.get(pid)

    def named_or_focus(self, thread_id: Any) -> TaskThread:
        """The thread a request names, or the focus when it names none."""
        if thread_id is None:
            return self.focused()
        return self.get(thread_id)

    def focused(self) -> TaskThread:
        """The thread the editor last named: the one a request without a thread acts on.

        Raises:
            DapError: nothing is debugged yet.
        """
        if self.focus is None:
            raise DapError("no program is being debugged; launch or attach first")
        return self._by_pid[self.focus]

    def live(self) -> list[TaskThread]:
        """The threads the editor still lists (a faulted task stays until run again)."""
        return [t for t in self if not t.exited]

    def frame_id(self, thread: TaskThread, index: int) -> int:
        """The DAP frame id of the daemon's frame ``index`` of ``thread``."""
        return thread.slot * FRAME_STRIDE + index + 1

    def frame(self, frame_id: Any) -> tuple[TaskThread, int]:
        """The thread and the daemon's frame index of a DAP frame id (None or 0: the focus's
        innermost frame); makes that thread the focus.

        Raises:
            DapError: the id is not a frame of this session.
        """
        if not frame_id:
            return self.focused(), 0
        if not isinstance(frame_id, int) or frame_id < 0:
            raise DapError(f"frameId {frame_id!r} is not a frame of this debug session")
        slot, index = divmod(frame_id - 1, FRAME_STRIDE)
        thread = next((t for t in self if t.slot == slot), None)
        if thread is None:
            raise DapError(f"frameId {frame_id} is not a frame of this debug session")
        self.focus = thread.pid
        return thread, index

    def all_stopped(self) -> bool:
        """Every thread still in the session is stopped (as the editor was told)."""
        return all(t.stopped for t in self.live())

    def others_stopped(self, thread: TaskThread) -> bool:
        """Some thread other than ``thread`` is still stopped."""
        return any(t.stopped for t in self.live() if t is not thread)

    def record_end(self, thread: TaskThread, data: dict[str, Any]) -> None:
        """The task ended (``task_state → ended``): remember how, for the session's exit code."""
        thread.end = data
        code = data.get("exit_code")
        self._end_codes.append(code if isinstance(code, int) else -1)

    def all_gone(self) -> bool:
        """Every thread has exited: the session is over."""
        return bool(self._by_pid) and all(t.exited for t in self)

    def exit_code(self) -> int:
        """The session's exit code: the first nonzero status in end order, else 0."""
        return next((c for c in self._end_codes if c != 0), 0)
