"""Tasks, their lifecycle state machine, and the task table.

Theory of operation
-------------------
Every unit of work — a supervised process, an agent run, an HSX program — is a
:class:`Task` in one :class:`TaskTable`.  A task moves through the states of
:class:`TaskState` only along the edges of ``TRANSITIONS``; each edge is named
by a :class:`Transition`.  An edge that is not in the table raises
:class:`~executive.kernel.errors.InvalidTransitionError` naming the task, the
state and the attempted transition — never a silent change.

A task ends exactly once, in ``ENDED``, with an :class:`EndReason` and either an
exit code or a signal.  Runtimes (process, vm) hold the finer state of their
own work; this table is what every client sees.

Ids are positive integers, allocated in order and never reused (the store
seeds the counter past the highest id on disk).  Names are unique among live
tasks; a clash gets a ``-2``, ``-3``… suffix.

The table and history
---------------------
The table holds every live task and the most recent ended ones (``max_ended``);
older ended tasks leave memory and stay in the store, where the service reads
them on demand (``task.info``, ``task.output``, pages of ``task.list``).  So that
no call grows with history, the table keeps, updated on every state edge
(:meth:`Task.apply` tells the table it belongs to):

* the number of live tasks in each state (:meth:`TaskTable.counts`), which
  ``daemon.health`` reads instead of scanning;
* the live tasks themselves and their names (unique among live tasks), so name
  allocation, lookup by name and live-only listings cost O(live), not O(history);
* :attr:`TaskTable.complete_from`: every task with an id at or above it is in
  memory.  A page of ``task.list`` above it is served from here by walking ids
  downward (ids are dense); below it the service asks the store.  It rises when
  an ended task leaves memory (to one past that task's id); tasks below it that
  are still here (live ones, or ones that ended late) are found in the store too
  and shown from memory.

Rejected alternative: a ``state`` property that intercepts every assignment.
A slots dataclass cannot have both the field and the property, and a
``__setattr__`` hook would tax every attribute write of every task; the one
setter of the state is :meth:`Task.apply`, as STYLE.md §4 asks.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import time
from collections.abc import Callable, Iterator
from typing import Any

from executive.kernel.errors import NotFoundError
from executive.kernel.transitions import can, next_state

__all__ = [
    "LIVE_STATES",
    "TRANSITIONS",
    "EndReason",
    "Task",
    "TaskKind",
    "TaskState",
    "TaskTable",
    "Transition",
]


class TaskState(enum.Enum):
    QUEUED = "queued"  # accepted, waiting for a free running slot (FIFO)
    STARTING = "starting"  # being spawned / loaded
    RUNNING = "running"  # executing (a VM task may be blocked in sleep/mailbox; see its runtime state)
    PAUSED = "paused"  # stopped by a user, a debugger or the output quota; resumable
    STOPPING = "stopping"  # cancel/timeout in progress: signals sent, waiting for the tree to die
    ENDED = "ended"  # terminal; end_reason and exit_code/signal tell how


class Transition(enum.Enum):
    START = "start"  # QUEUED -> STARTING
    STARTED = "started"  # STARTING -> RUNNING
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"  # begin a graceful stop (cancel, timeout)
    END = "end"  # the work is over, whatever the reason


class EndReason(enum.Enum):
    EXITED = "exited"  # the work ended by itself (exit code, signal it was not sent by us, or a VM exit)
    CANCELLED = "cancelled"  # a client cancelled it
    TIMED_OUT = "timed_out"  # the wall-clock timeout fired
    IDLE_TIMEOUT = "idle_timeout"  # no output for the idle timeout
    KILLED = "killed"  # a client killed it (SIGKILL, no grace)
    LOST = "lost"  # the daemon died while it ran
    FAILED = "failed"  # it could not be started (spawn or load error)
    FAULTED = "faulted"  # an HSX program faulted (reason and PC in the end data)
    NODE_LOST = "node_lost"  # the cluster node running it died (the log keeps every byte that arrived)


class TaskKind(enum.Enum):
    PROCESS = "process"
    AGENT = "agent"
    VM = "vm"


_S, _T = TaskState, Transition

# {state: {transition: new_state}} — the only legal moves.
TRANSITIONS: dict[TaskState, dict[Transition, TaskState]] = {
    _S.QUEUED: {_T.START: _S.STARTING, _T.END: _S.ENDED},
    _S.STARTING: {_T.STARTED: _S.RUNNING, _T.STOP: _S.STOPPING, _T.END: _S.ENDED},
    _S.RUNNING: {_T.PAUSE: _S.PAUSED, _T.STOP: _S.STOPPING, _T.END: _S.ENDED},
    _S.PAUSED: {_T.RESUME: _S.RUNNING, _T.STOP: _S.STOPPING, _T.END: _S.ENDED},
    _S.STOPPING: {_T.END: _S.ENDED},
    _S.ENDED: {},
}

LIVE_STATES = frozenset(s for s in TaskState if s is not TaskState.ENDED)


@dataclasses.dataclass(slots=True)
class Task:
    """One row of the task table; mutable only through :meth:`apply`."""

    id: int
    name: str
    kind: TaskKind
    argv: list[str] | None = None  # process/agent tasks
    image: str | None = None  # vm tasks: path or "<upload>"
    cwd: str | None = None
    state: TaskState = TaskState.QUEUED
    created: float = dataclasses.field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    exit_code: int | None = None
    signal: int | None = None
    end_reason: EndReason | None = None
    end_detail: str | None = None  # human-readable truth about the end (fault text, spawn error)
    pause_reason: str | None = None  # "user", "quota", "debugger", ...
    owner: str | None = None  # session id that created it
    pid: int | None = None  # OS pid of the leader (process tasks)
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)  # runtime-specific extras
    # What it was started with beyond argv and cwd (env, stdin, timeout, idle_timeout, quota), so a restart
    # repeats it; kept off the wire (env may hold secrets), stored with the task.
    spec: dict[str, Any] = dataclasses.field(default_factory=dict)
    # The table this task is in (set by TaskTable.create/insert, cleared when it leaves memory): every state
    # edge is reported to it, so its live counts and indexes never need a scan.
    _table: TaskTable | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    @property
    def is_live(self) -> bool:
        return self.state is not TaskState.ENDED

    def can(self, transition: Transition) -> bool:
        """Whether ``transition`` is legal from the current state."""
        return can(TRANSITIONS, self.state, transition)

    def apply(self, transition: Transition) -> TaskState:
        """Move along one edge of ``TRANSITIONS`` and return the previous state.

        Raises:
            InvalidTransitionError: the edge does not exist; nothing changes.
        """
        new = next_state(
            TRANSITIONS,
            self.state,
            transition,
            machine="task",
            subject=f"task {self.id} ({self.name})",
            data={"task": self.id, "state": self.state.value, "transition": transition.value},
            when_final="nothing (it has ended)",
        )
        prev = self.state
        self.state = new
        if new is TaskState.RUNNING and self.started is None:
            self.started = time.time()
        if new is TaskState.ENDED:
            self.ended = time.time()
        if new is not TaskState.PAUSED:
            self.pause_reason = None
        if self._table is not None:
            self._table._moved(self, prev)
        return prev

    def to_dict(self) -> dict[str, Any]:
        """The wire form (JSON-safe)."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind.value,
            "argv": self.argv,
            "image": self.image,
            "cwd": self.cwd,
            "state": self.state.value,
            "created": self.created,
            "started": self.started,
            "ended": self.ended,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "end_reason": self.end_reason.value if self.end_reason else None,
            "end_detail": self.end_detail,
            "pause_reason": self.pause_reason,
            "owner": self.owner,
            "pid": self.pid,
            "meta": self.meta,
        }


class TaskTable:
    """All tasks in memory, by id; allocates ids and unique names; keeps live counts as tasks move.

    Invariants (kept by :meth:`create`, :meth:`insert` and :meth:`_moved`, which every
    :meth:`Task.apply` of a task in the table calls):

    * ``_tasks`` is in ascending id order (ids are allocated in order; :meth:`insert`
      keeps the order when history is restored out of order);
    * ``_live`` holds exactly the tasks not ENDED, ``_live_names`` their names, and
      ``_counts[state]`` the number of them in each live state;
    * every task with ``complete_from <= id < next id`` that was ever created is in ``_tasks``.
    """

    def __init__(self, *, first_id: int = 1, max_ended: int = 10000) -> None:
        self._tasks: dict[int, Task] = {}  # ascending id
        self._live: dict[int, Task] = {}  # the tasks not ENDED (all of them are always in memory)
        self._live_names: dict[str, int] = {}  # name -> id of the live task that has it (unique among live)
        self._counts: dict[TaskState, int] = dict.fromkeys(LIVE_STATES, 0)  # live tasks per state
        self._next_id = first_id
        self._max_ended = max_ended
        self._ended_order: collections.deque[int] = collections.deque()  # ended ids in end order, oldest first
        self.complete_from = first_id  # every task with an id >= this is in memory (see the module docstring)

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(list(self._tasks.values()))

    def seed(self, first_id: int) -> None:
        """Make the next allocated id at least ``first_id`` (ids are never reused)."""
        self._next_id = max(self._next_id, first_id)

    def peek_next_id(self) -> int:
        """The id the next :meth:`create` will allocate (the loop is single-threaded)."""
        return self._next_id

    def create(self, *, kind: TaskKind, name: str | None, **fields: Any) -> Task:
        """Allocate an id and a unique name, insert and return the task."""
        task_id = self._next_id
        self._next_id += 1
        base = name or f"{kind.value}-{task_id}"
        task = Task(id=task_id, name=self._unique_name(base), kind=kind, **fields)
        self._add(task)
        return task

    def insert(self, task: Task) -> None:
        """Insert a task restored from the store (in ascending id order, as the store returns them)."""
        out_of_order = bool(self._tasks) and task.id < next(reversed(self._tasks))
        self._add(task)
        if out_of_order:  # rare (the store returns ids in order): restore the ascending order
            self._tasks = dict(sorted(self._tasks.items()))
        self._next_id = max(self._next_id, task.id + 1)
        if not task.is_live:
            self._note_ended(task)

    def _add(self, task: Task) -> None:
        self._tasks[task.id] = task
        task._table = self
        if task.is_live:
            self._live[task.id] = task
            self._live_names[task.name] = task.id
            self._counts[task.state] += 1

    def _moved(self, task: Task, prev: TaskState) -> None:
        """``task`` went from ``prev`` to its state (called by :meth:`Task.apply`; ENDED has no edges out)."""
        self._counts[prev] -= 1
        if task.is_live:
            self._counts[task.state] += 1
            return
        self._live.pop(task.id, None)
        if self._live_names.get(task.name) == task.id:
            del self._live_names[task.name]
        self._note_ended(task)

    def _note_ended(self, task: Task) -> None:
        """Remember end order so old ended tasks can leave memory (they stay in the store)."""
        self._ended_order.append(task.id)
        while len(self._ended_order) > self._max_ended:
            gone = self._tasks.pop(self._ended_order.popleft(), None)
            if gone is not None:
                gone._table = None
                self.complete_from = max(self.complete_from, gone.id + 1)

    def _unique_name(self, base: str) -> str:
        live = self._live_names
        if base not in live:
            return base
        n = 2
        while f"{base}-{n}" in live:
            n += 1
        return f"{base}-{n}"

    # ------------------------------------------------------------------ reading
    def counts(self) -> dict[TaskState, int]:
        """Live tasks per live state (a copy; kept as tasks move, never counted by a scan)."""
        return dict(self._counts)

    @property
    def live_count(self) -> int:
        """How many tasks are not ENDED."""
        return len(self._live)

    def live(self) -> list[Task]:
        """The live tasks, in id order."""
        return sorted(self._live.values(), key=lambda t: t.id)

    def live_named(self, name: str) -> Task | None:
        """The live task called ``name`` (names are unique among live tasks), or None."""
        task_id = self._live_names.get(name)
        return self._live.get(task_id) if task_id is not None else None

    def get(self, ref: int | str) -> Task:
        """Find a task in memory by id, or by name (the live one first, else the newest).

        Tasks older than the table's window are not here; the service looks in the
        store for those (``TaskService.find``).

        Raises:
            NotFoundError: no such task in memory; the message says how to list tasks.
        """
        task: Task | None = None
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            task = self._tasks.get(int(ref))
        if task is None and isinstance(ref, str):
            task = self.live_named(ref)
            if task is None:
                task = next((t for t in reversed(self._tasks.values()) if t.name == ref), None)
        if task is None:
            raise NotFoundError(
                f"no task {ref!r}; `executive ps` (or task.list) shows the tasks that exist",
                data={"task": ref},
            )
        return task

    def get_id(self, task_id: int) -> Task | None:
        """The task with this id if it is in memory."""
        return self._tasks.get(task_id)

    def has(self, task_id: int) -> bool:
        """Whether a task id is still in memory (old ended tasks leave it; see :meth:`_note_ended`)."""
        return task_id in self._tasks

    def find(self, predicate: Callable[[Task], bool]) -> list[Task]:
        """Every task in memory that ``predicate`` accepts (a scan: not for calls made per request)."""
        return [t for t in self._tasks.values() if predicate(t)]

    def walk(self, lo: int, hi: int, *, newest_first: bool) -> Iterator[Task]:
        """The tasks in memory with ``lo <= id < hi``, by id, found by id (O(hi - lo), not O(table)).

        Meant for ranges at or above :attr:`complete_from`, where ids are dense; below it
        only the tasks still in memory are yielded (the store has the others).
        """
        hi = min(hi, self._next_id)
        ids = range(hi - 1, lo - 1, -1) if newest_first else range(lo, hi)
        get = self._tasks.get
        for task_id in ids:
            task = get(task_id)
            if task is not None:
                yield task
