"""The JSON-RPC method table: params models and thin handlers onto Executive.

Each method validates its params with a pydantic model (``extra="forbid"`` so
a misspelt field is an error, not silently ignored) and calls one
:class:`~executive.service.Executive` method.  The handler's first argument is
the connection context (:class:`CallContext`), which carries the session bound
to the connection and owns its subscriptions.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from executive.api.output_frames import encode_reply_data
from executive.api.rpc import Method
from executive.kernel.errors import BadParamsError, ErrorCode, LimitError, NotAllowedError
from executive.service import Executive
from executive.service.events import Subscription
from executive.service.results import (
    EventsAcked,
    EventsSubscribed,
    Health,
    SessionClosed,
    SessionInfo,
    SessionOpened,
    TaskInfo,
    TaskInputResult,
    TaskLockResult,
    TaskOutputSlice,
    TaskPage,
    TaskRow,
    TaskWaitResult,
    Unsubscribed,
)
from executive.service.task_history import DEFAULT_PAGE

__all__ = ["CallContext", "core_methods"]

TaskRef = int | str


class CallContext(Protocol):
    """What a transport's connection offers to handlers."""

    service: Executive
    session_id: str | None

    def add_subscription(self, sub: Subscription, *, binary_output: bool = False) -> None: ...

    def remove_subscription(self, sub_id: int) -> None: ...

    def subscription_count(self) -> int: ...

    def send_binary(self, frame: bytes) -> None:
        """Queue a binary frame just before the reply the handler returns next (/rpc connections only)."""
        ...

    @property
    def bulk_reads(self) -> asyncio.Semaphore:
        """Held while a large reply (a log slice) is built: bounds a connection's replies in the making."""
        ...


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoParams(_P):
    pass


class SessionOpen(_P):
    client: str = Field("", max_length=256)
    capabilities: list[str] | None = Field(None, max_length=64)
    idle_s: float | None = Field(None, gt=0)
    resume: str | None = Field(None, max_length=64, description="re-attach this connection to an existing session")
    resumable: bool = Field(
        False, description="keep the session for a short grace after this connection closes, so another can resume it"
    )


class SessionRef(_P):
    session: str | None = Field(None, max_length=64, description="defaults to the session bound to this connection")


class TaskRun(_P):
    argv: list[str] = Field(min_length=1, max_length=4096)
    name: str | None = Field(None, min_length=1, max_length=128)
    cwd: str | None = Field(None, max_length=4096)
    env: dict[str, str] | None = None
    stdin: bool = False
    timeout: float | None = Field(None, gt=0)
    idle_timeout: float | None = Field(None, gt=0)
    quota: int | None = Field(None, gt=0)
    lock: bool = False
    placement: dict[str, Any] | None = Field(
        None,
        description='where it runs: {"on": "ray", "resources": {"CPU": 1}, "node": NODE_ID} '
        "needs a daemon started with --ray; default: here",
    )
    restart: Literal["never", "on-failure", "always"] | None = Field(
        None, description="keep it running as a program: restart after a failure, or always (never: a plain task)"
    )
    max_restarts: int | None = Field(None, ge=0, description="with restart: consecutive failures before fatal")
    backoff_base: float | None = Field(None, gt=0, description="with restart: seconds before the first restart")
    backoff_max: float | None = Field(None, gt=0, description="with restart: the longest delay between restarts")
    reset_after: float | None = Field(None, gt=0, description="with restart: a run up this long forgives failures")


_StateName = Literal["queued", "starting", "running", "paused", "stopping", "ended", "live"]
_KindName = Literal["process", "agent", "vm"]


class TaskList(_P):
    """One page of tasks (service/task_history.py): newest first, or oldest first with ``after_id``."""

    state: _StateName | list[_StateName] | None = Field(
        None, description='a state, "live" (every state but ended), or a list of them'
    )
    kind: _KindName | list[_KindName] | None = Field(None, description="a kind or a list of kinds")
    name: str | None = Field(None, max_length=256, description="a glob the name matches: *, ?, [abc], [!abc]")
    since: float | None = Field(None, allow_inf_nan=False, description="created at or after (Unix seconds)")
    before_id: int | None = Field(None, ge=0, description="newest first, ids below this: a page's next")
    after_id: int | None = Field(None, ge=0, description="oldest first, ids above this: that page's next")
    limit: int = Field(DEFAULT_PAGE, ge=1, description="tasks in the page, 1..1000 (limits.max_task_page)")


class TaskOne(_P):
    task: TaskRef


class TaskSetQuota(_P):
    task: TaskRef
    quota: int = Field(gt=0, description="bytes of stdout+stderr the task may write in all (up to the daemon's limit)")


class TaskInput(_P):
    task: TaskRef
    data: str | None = None
    data_b64: str | None = None
    eof: bool = False


class TaskOutput(_P):
    task: TaskRef
    stream: Literal["stdout", "stderr"] = "stdout"
    offset: int = Field(0, ge=0)
    limit: int | None = Field(None, ge=1)
    output: Literal["json", "binary"] = Field(
        "json",
        description='"binary": the bytes come in a binary frame just before the reply (api/output_frames.py), '
        "not in data/data_b64",
    )


class TaskWait(_P):
    task: TaskRef
    timeout: float | None = Field(None, ge=0)


class EventsSubscribe(_P):
    types: list[str] | None = Field(None, max_length=256)
    tasks: list[int] | None = Field(None, max_length=256)
    since_seq: int | None = Field(None, ge=0)
    ack_window: int | None = Field(None, ge=1)
    output: Literal["json", "binary"] = Field(
        "json",
        description='how output events arrive: "json" in `events` notifications, or "binary": raw bytes in '
        "binary WebSocket frames (api/output_frames.py); other events stay JSON either way",
    )


class EventsAck(_P):
    subscription: int
    seq: int = Field(ge=0)


class EventsUnsubscribe(_P):
    subscription: int


def _session(ctx: CallContext, explicit: str | None = None) -> str | None:
    return explicit or ctx.session_id


def _session_open(ctx: CallContext, p: SessionOpen) -> SessionOpened:
    """Open or resume a session and bind it to this connection (it ends with the connection unless resumable)."""
    svc = ctx.service
    out: SessionOpened
    if p.resume:
        if p.resume != ctx.session_id:
            svc.session_attach(p.resume)
        out = {**svc.session_keepalive(p.resume), "warnings": []}
    else:
        out = svc.session_open(client=p.client, capabilities=p.capabilities, idle_s=p.idle_s, resumable=p.resumable)
        out = {**svc.session_attach(out["id"]), "warnings": out["warnings"]}
    previous, ctx.session_id = ctx.session_id, out["id"]
    if previous and previous != out["id"]:
        svc.session_detach(previous)  # one session bound per connection: the one before is let go
    return out


def _session_keepalive(ctx: CallContext, p: SessionRef) -> SessionInfo:
    sid = _session(ctx, p.session)
    if not sid:
        raise NotAllowedError(
            "no session on this connection; call session.open first", code=ErrorCode.SESSION_NOT_FOUND
        )
    return ctx.service.session_keepalive(sid)


class SessionEvict(_P):
    session: str = Field(max_length=64)
    reason: str = Field("", max_length=256)


def _session_evict(ctx: CallContext, p: SessionEvict) -> SessionClosed:
    out = ctx.service.session_evict(p.session, reason=p.reason)
    if p.session == ctx.session_id:
        ctx.session_id = None
    return out


def _session_close(ctx: CallContext, p: SessionRef) -> SessionClosed:
    sid = _session(ctx, p.session)
    if not sid:
        raise NotAllowedError(
            "no session on this connection; call session.open first", code=ErrorCode.SESSION_NOT_FOUND
        )
    out = ctx.service.session_close(sid)
    if sid == ctx.session_id:
        ctx.session_id = None
    return out


def _touch(ctx: CallContext) -> str | None:
    """Requests made under a session keep it alive."""
    if ctx.session_id:
        ctx.service.session_touch(ctx.session_id)
    return ctx.session_id


async def _task_run(ctx: CallContext, p: TaskRun) -> TaskRow:
    if p.lock:
        _require_session(ctx)  # a lock asked for without a session is an error, not silently no lock
    policy_fields = (p.max_restarts, p.backoff_base, p.backoff_max, p.reset_after)
    if p.restart in (None, "never") and any(v is not None for v in policy_fields):
        raise BadParamsError(
            "max_restarts, backoff_base, backoff_max and reset_after go with restart on-failure or always"
        )
    if p.restart is not None and p.restart != "never":
        if p.stdin or p.lock:
            raise BadParamsError("a task with a restart policy takes no stdin and no lock (its runs outlive a session)")
        if p.placement is not None:
            raise BadParamsError("a task with a restart policy runs on this machine: drop placement or the policy")
        _touch(ctx)
        return await ctx.service.programs.run(
            p.argv,
            restart=p.restart,
            name=p.name,
            cwd=p.cwd,
            env=p.env,
            timeout=p.timeout,
            idle_timeout=p.idle_timeout,
            quota=p.quota,
            max_restarts=p.max_restarts,
            backoff_base=p.backoff_base,
            backoff_max=p.backoff_max,
            reset_after=p.reset_after,
        )
    return await ctx.service.task_run(
        p.argv,
        name=p.name,
        cwd=p.cwd,
        env=p.env,
        stdin=p.stdin,
        timeout=p.timeout,
        idle_timeout=p.idle_timeout,
        quota=p.quota,
        session_id=_touch(ctx),
        lock=p.lock,
        placement=p.placement,
    )


async def _task_output(ctx: CallContext, p: TaskOutput) -> TaskOutputSlice:
    """A log slice, built while holding one of the connection's bulk-read slots: a client that sends many
    large reads and never reads the replies makes at most a few of them at a time (issue 19: its queued
    replies are bounded by max_queued_reply_bytes, and so are these)."""
    if p.output == "json":
        async with ctx.bulk_reads:
            return await ctx.service.task_output(p.task, stream=p.stream, offset=p.offset, limit=p.limit)
    async with ctx.bulk_reads:
        raw = await ctx.service.task_output_bytes(p.task, stream=p.stream, offset=p.offset, limit=p.limit)
        frame = encode_reply_data(raw["task"], raw["stream"], raw["offset"], raw["data"])
    # The frame goes out just before the reply: nothing else runs between these lines and the reply's queueing.
    ctx.send_binary(frame)
    return {
        "task": raw["task"],
        "stream": raw["stream"],
        "offset": raw["offset"],
        "next_offset": raw["next_offset"],
        "size": raw["size"],
        "eof": raw["eof"],
        "output": "binary",
    }


def _events_subscribe(ctx: CallContext, p: EventsSubscribe) -> EventsSubscribed:
    _touch(ctx)
    per = ctx.service.limits.max_subscriptions_per_connection
    if ctx.subscription_count() >= per:
        raise LimitError(
            f"this connection has {per} subscriptions (limit max_subscriptions_per_connection); "
            "unsubscribe one, or filter one subscription by several tasks and types",
            data={"limit": per},
        )
    binary = p.output == "binary"  # output goes as raw bytes, which the connection can read from the logs too
    sub = ctx.service.subscribe(
        types=p.types, tasks=p.tasks, since_seq=p.since_seq, ack_window=p.ack_window, owner=ctx, output_ranges=binary
    )
    ctx.add_subscription(sub, binary_output=binary)
    oldest, newest = ctx.service.event_history_range()
    return {"subscription": sub.id, "cursor": newest, "oldest_seq": oldest, "output": p.output}


def _events_ack(ctx: CallContext, p: EventsAck) -> EventsAcked:
    return ctx.service.events_ack(p.subscription, p.seq, owner=ctx)


def _events_unsubscribe(ctx: CallContext, p: EventsUnsubscribe) -> Unsubscribed:
    out = ctx.service.unsubscribe(p.subscription, owner=ctx)
    ctx.remove_subscription(p.subscription)
    return out


def core_methods() -> list[Method]:
    """The foundation's methods: session.*, task.*, events.*, daemon.health."""
    return [
        Method(
            "session.open",
            SessionOpen,
            SessionOpened,
            _session_open,
            "Open (or resume) a session bound to this connection.",
        ),
        Method("session.keepalive", SessionRef, SessionInfo, _session_keepalive, "Keep the session from expiring."),
        Method("session.close", SessionRef, SessionClosed, _session_close, "Close the session and release its locks."),
        Method(
            "session.evict",
            SessionEvict,
            SessionClosed,
            _session_evict,
            "Close any client's session and release its locks (an operator's call, e.g. an abandoned session).",
        ),
        Method(
            "session.list", NoParams, list[SessionInfo], lambda c, p: c.service.session_list(), "All open sessions."
        ),
        Method("task.run", TaskRun, TaskRow, _task_run, "Start (or queue) a supervised process."),
        Method(
            "task.list",
            TaskList,
            TaskPage,
            lambda c, p: c.service.task_list(
                state=p.state,
                kind=p.kind,
                name=p.name,
                since=p.since,
                before_id=p.before_id,
                after_id=p.after_id,
                limit=p.limit,
            ),
            "A page of task summaries, newest first (oldest first with after_id), and the cursor of the next "
            "page (next: pass it as before_id, or after_id); task.info has a task's whole row.",
        ),
        Method(
            "task.info",
            TaskOne,
            TaskInfo,
            lambda c, p: c.service.task_lookup(p.task),
            "One task, whole (also one that has left the daemon's memory).",
        ),
        Method(
            "task.pause",
            TaskOne,
            TaskRow,
            lambda c, p: c.service.task_pause(p.task, session_id=_touch(c)),
            "SIGSTOP the task's tree.",
        ),
        Method(
            "task.resume",
            TaskOne,
            TaskRow,
            lambda c, p: c.service.task_resume(p.task, session_id=_touch(c)),
            "SIGCONT the task's tree.",
        ),
        Method(
            "task.set_quota",
            TaskSetQuota,
            TaskRow,
            lambda c, p: c.service.task_set_quota(p.task, p.quota, session_id=_touch(c)),
            "A new log quota for a running task; one paused on its quota runs on.",
        ),
        Method(
            "task.cancel",
            TaskOne,
            TaskRow,
            lambda c, p: c.service.task_cancel(p.task, session_id=_touch(c)),
            "SIGTERM, grace, SIGKILL.",
        ),
        Method(
            "task.kill",
            TaskOne,
            TaskRow,
            lambda c, p: c.service.task_kill(p.task, session_id=_touch(c)),
            "SIGKILL the tree now.",
        ),
        Method(
            "task.lock",
            TaskOne,
            TaskLockResult,
            lambda c, p: c.service.task_lock(p.task, _require_session(c)),
            "Take the exclusive control lock.",
        ),
        Method(
            "task.unlock",
            TaskOne,
            TaskLockResult,
            lambda c, p: c.service.task_unlock(p.task, _require_session(c)),
            "Release the control lock.",
        ),
        Method(
            "task.input",
            TaskInput,
            TaskInputResult,
            lambda c, p: c.service.task_input(
                p.task, data=p.data, data_b64=p.data_b64, eof=p.eof, session_id=_touch(c)
            ),
            "Write to the task's stdin.",
        ),
        Method(
            "task.output",
            TaskOutput,
            TaskOutputSlice,
            _task_output,
            "Read a log slice by byte offset.",
        ),
        Method(
            "task.wait",
            TaskWait,
            TaskWaitResult,
            lambda c, p: c.service.task_wait(p.task, timeout=p.timeout),
            "Wait for the task to end.",
        ),
        Method(
            "events.subscribe",
            EventsSubscribe,
            EventsSubscribed,
            _events_subscribe,
            "Stream events as `events` notifications (output as binary frames with output: binary).",
        ),
        Method("events.ack", EventsAck, EventsAcked, _events_ack, "Acknowledge events up to seq."),
        Method("events.unsubscribe", EventsUnsubscribe, Unsubscribed, _events_unsubscribe, "Stop a subscription."),
        Method("daemon.health", NoParams, Health, lambda c, p: c.service.health(), "Counters; same as GET /health."),
    ]


def _require_session(ctx: CallContext) -> str:
    if not ctx.session_id:
        raise NotAllowedError("locks belong to sessions; call session.open first", code=ErrorCode.SESSION_NOT_FOUND)
    return ctx.session_id
