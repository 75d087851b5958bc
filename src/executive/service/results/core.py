"""Result shapes of the core service: sessions, tasks, events, health.

TypedDicts, not models: at runtime they are the plain dicts the service always
returned, so the wire bytes, the hot output and event paths and every caller stay
as they were and cost nothing; pydantic's ``TypeAdapter`` turns them into the JSON
Schema ``rpc.discover`` publishes and validates replies against it in the tests.
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any, Literal, NotRequired

from typing_extensions import TypedDict

from executive.kernel.limits import Limits
from executive.service.results.programs import ProgramBrief

__all__ = [
    "DaemonLimits",
    "EventRecord",
    "EventsAcked",
    "EventsSubscribed",
    "Health",
    "OutputBytes",
    "ProcessSample",
    "SessionClosed",
    "SessionInfo",
    "SessionOpened",
    "TaskInfo",
    "TaskInputResult",
    "TaskLockResult",
    "TaskOutputBytes",
    "TaskOutputSlice",
    "TaskRestarted",
    "TaskRow",
    "TaskStats",
    "TaskWaitResult",
    "TreeSample",
    "Unsubscribed",
]

TaskStateName = Literal["queued", "starting", "running", "paused", "stopping", "ended"]
TaskKindName = Literal["process", "agent", "vm"]


class SessionInfo(TypedDict):
    """A session (kernel/sessions.py ``Session.to_dict``)."""

    id: str
    client: str
    capabilities: list[str]
    created: float
    last_seen: float
    idle_s: float
    expires_in_s: float
    locks: list[int]


class SessionOpened(SessionInfo):
    """``session.open``: the session plus capabilities it does not offer."""

    warnings: list[str]


class SessionClosed(TypedDict):
    id: str
    closed: bool


class TaskLockResult(TypedDict):
    task: int
    locked_by: str | None


class TaskRow(TypedDict):
    """One task as the kernel describes it (kernel/tasks.py ``Task.to_dict``)."""

    id: int
    name: str
    kind: TaskKindName
    argv: list[str] | None
    image: str | None
    cwd: str | None
    state: TaskStateName
    created: float
    started: float | None
    ended: float | None
    exit_code: int | None
    signal: int | None
    end_reason: str | None
    end_detail: str | None
    pause_reason: str | None
    owner: str | None
    pid: int | None
    meta: dict[str, Any]
    program: NotRequired[ProgramBrief]  # the latest run of a program: the program's state (restart policy)


class OutputBytes(TypedDict):
    stdout: int
    stderr: int


class TaskInfo(TaskRow):
    """A task row with its lock holder and, for tasks with logs, their sizes."""

    locked_by: str | None
    output_bytes: NotRequired[OutputBytes]


class TaskOutputBytes(TypedDict):
    """A slice of a task's log as raw bytes (in-process transports such as api/ccx.py; never on /rpc)."""

    task: int
    stream: Literal["stdout", "stderr"]
    offset: int
    data: bytes
    next_offset: int
    size: int
    eof: bool


class TaskWaitResult(TaskInfo):
    timed_out: bool


class TaskInputResult(TypedDict):
    task: int
    written: int
    eof: bool


class TaskOutputSlice(TypedDict):
    """A slice of a task's log: text in ``data``, or ``data_b64`` when it is not UTF-8."""

    task: int
    stream: Literal["stdout", "stderr"]
    offset: int
    next_offset: int
    size: int
    data: NotRequired[str]
    data_b64: NotRequired[str]
    eof: bool


class EventsSubscribed(TypedDict):
    subscription: int
    cursor: int
    oldest_seq: int


class EventsAcked(TypedDict):
    """A subscription's counters (kernel/events.py ``Subscription.stats``)."""

    id: int
    types: list[str] | None
    tasks: list[int] | None
    pending: int
    buffered_bytes: int
    dropped_total: int
    delivered_seq: int
    last_ack: int
    ack_window: int | None


class Unsubscribed(TypedDict):
    subscription: int
    unsubscribed: bool


class EventRecord(TypedDict):
    """One event in its only shape (DESIGN.md §4)."""

    seq: int
    ts: float
    type: str
    pid: int | None
    data: dict[str, Any]


class Health(TypedDict):
    status: Literal["ok"]
    uptime_s: float
    tasks_live: int
    tasks_queued: int
    sessions: int
    subscriptions: int
    last_seq: int


class ProcessSample(TypedDict):
    """One process of a task's tree (``task.stats`` with ``processes``)."""

    pid: int
    ppid: int
    name: str
    cpu_percent: float
    rss: int


class TreeSample(TypedDict):
    """CPU % (since the previous sample) and RSS of a task's process tree; zeros once it is gone."""

    cpu_percent: float
    rss: int
    procs: int
    processes: NotRequired[list[ProcessSample]]


class TaskStats(TypedDict):
    tasks: dict[str, TreeSample]  # task id (as a string: a JSON object key) -> its tree


class TaskRestarted(TaskRow):
    restart_of: int | None  # the task whose argv, env and cwd the new one took (None: a program's first run)


# ``daemon.limits``: every field of kernel/limits.py's Limits, so the schema follows the dataclass.
if TYPE_CHECKING:
    DaemonLimits = dict[str, Any]
else:
    DaemonLimits = TypedDict("DaemonLimits", typing.get_type_hints(Limits))
