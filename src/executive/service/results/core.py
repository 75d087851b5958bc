"""Result shapes of the core service: sessions, tasks, events, health.

TypedDicts, not models: at runtime they are the plain dicts the service always
returned, so the wire bytes, the hot output and event paths and every caller stay
as they were and cost nothing; pydantic's ``TypeAdapter`` turns them into the JSON
Schema ``rpc.discover`` publishes and validates replies against it in the tests.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

from executive.service.results.programs import ProgramBrief

__all__ = [
    "ArgvCut",
    "EndReasonName",
    "EventRecord",
    "EventsAcked",
    "EventsSubscribed",
    "Health",
    "OutputBytes",
    "Placement",
    "RemoteSpec",
    "SessionClosed",
    "SessionInfo",
    "SessionOpened",
    "TaskInfo",
    "TaskInputResult",
    "TaskLockResult",
    "TaskMeta",
    "TaskOutputBytes",
    "TaskOutputSlice",
    "TaskPage",
    "TaskRow",
    "TaskSummary",
    "TaskWaitResult",
    "Unsubscribed",
]

TaskStateName = Literal["queued", "starting", "running", "paused", "stopping", "ended"]
TaskKindName = Literal["process", "agent", "vm"]
# kernel/tasks.py EndReason's values (tests/api/test_result_schemas.py checks they agree).
EndReasonName = Literal[
    "exited", "cancelled", "timed_out", "idle_timeout", "killed", "lost", "failed", "faulted", "node_lost"
]


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
    resumable: bool  # survives its last connection for a short grace (session.open resumable)
    connections: int  # connections bound to it now


class SessionOpened(SessionInfo):
    """``session.open``: the session plus capabilities it does not offer."""

    warnings: list[str]


class SessionClosed(TypedDict):
    id: str
    closed: bool


class TaskLockResult(TypedDict):
    task: int
    locked_by: str | None


class Placement(TypedDict):
    """Where a remote task runs (runtimes/ray_placement.py ``parse_placement``); local tasks have none."""

    on: Literal["ray"]
    resources: dict[str, float]
    node: NotRequired[str]


class RemoteSpec(TypedDict):
    """What a restarted daemon needs to re-attach to a remote task (its env is not kept)."""

    stdin: bool
    timeout: float | None
    idle_timeout: float | None
    quota: int


# PEP 728 ``extra_items``: pydantic publishes it as additionalProperties; mypy does not know it yet.
class TaskMeta(TypedDict, total=False, extra_items=Any):  # type: ignore[call-arg]
    """A task's meta: the keys the service sets for remote tasks; callers (agents, pipelines) add their own."""

    placement: Placement
    remote_spec: RemoteSpec
    placement_wait: str  # why a remote task still waits in ``starting`` (no node has its resources free)
    node: str  # the Ray node id it runs on, once placed
    host: str  # that node's host name


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
    end_reason: EndReasonName | None
    end_detail: str | None
    pause_reason: str | None
    owner: str | None
    pid: int | None
    meta: TaskMeta
    program: NotRequired[ProgramBrief]  # the latest run of a program: the program's state (restart policy)


class OutputBytes(TypedDict):
    stdout: int
    stderr: int


class ArgvCut(TypedDict):
    """A summary's argv was cut: it holds the first arguments only; ``see`` names the call that has them all."""

    args: int  # arguments in the whole argv
    chars: int  # characters in the whole argv
    see: Literal["task.info"]


class TaskSummary(TaskRow):
    """A task as a page of ``task.list`` shows it: its row with no big field (service/task_history.py).

    ``argv`` holds at most the first 32 arguments and 512 characters (``argv_cut`` is
    there when it was cut); ``end_detail`` at most 300 characters (cut ones end in
    ``…``).  ``task.info`` returns the whole task.
    """

    argv_cut: NotRequired[ArgvCut]
    output_bytes: NotRequired[OutputBytes]  # live tasks: their log sizes now


class TaskPage(TypedDict):
    """One page of ``task.list``: ``next`` is the cursor of the following page, null after the last.

    Pass ``next`` as ``before_id`` (newest-first pages, the default) or as ``after_id``
    (oldest-first pages), with the same filters.  Ids never change, so a page never
    repeats or skips a task because others were created or ended in between.
    """

    tasks: list[TaskSummary]
    next: int | None


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
    """A slice of a task's log: text in ``data``, or ``data_b64`` when it is not UTF-8.

    With ``output: "binary"`` neither: the bytes came in the binary frame sent just before
    this reply (api/output_frames.py, "Re-reading by offset").
    """

    task: int
    stream: Literal["stdout", "stderr"]
    offset: int
    next_offset: int
    size: int
    data: NotRequired[str]
    data_b64: NotRequired[str]
    output: NotRequired[Literal["binary"]]
    eof: bool


class EventsSubscribed(TypedDict):
    subscription: int
    cursor: int
    oldest_seq: int
    output: Literal["json", "binary"]  # how this subscription's output events arrive


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
    log_dropped: str | None  # why the daemon's own log lines are dropped (its stderr went away); None: written
