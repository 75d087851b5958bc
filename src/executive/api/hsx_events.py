"""Sessions and the event stream of the HSX TCP port (spec hsx-executive §3.2, §3.3, §4, §5).

Theory of operation
-------------------
HSX sessions *are* kernel sessions (``Executive.sessions``): the id, idle
expiry (``heartbeat_s``) and PID locks live there, so a lock taken here binds
JSON-RPC clients too and vice versa.  What only the HSX protocol knows —
``features``, ``max_events``, the warnings of ``session.open``, the session's
event stream — is kept in :class:`HsxSessions` beside it and dropped when the
kernel session is gone (closed anywhere, or expired).

A stream (:class:`HsxStream`) is a kernel bus subscription owned by one
connection, at most one per session (a second ``events.subscribe`` replaces the
first, §5.4).  Its ring is bounded by the session's ``max_events`` (default
256, clamped 2..2048) and by ``Limits.subscription_bytes``; the shell drains it
only when the socket has room, so a slow reader loses the oldest events — the
next line it gets is ``warning{reason:"event_dropped", dropped_seq, drops}`` —
and never holds up the scheduler (§5.5 step 1, with the §13 #11 fix: every
dropped event is counted).

Decisions (§13): ``pending`` counts queued events, not a seq distance (#10), so
filtered subscribers are not torn down for traffic they never see; there is no
forced ``slow_consumer_drop`` — the bounded ring already caps memory and
tearing the stream down only loses it; ``events.ack`` after a stream ended
still answers ``session_required`` (#12, clients re-open on it).

Event lines are ``{seq, ts, type, pid, data}``.  Bus events pass through
unchanged (their bytes are encoded once for every subscriber), with three
translations: ``output`` becomes ``stdout``/``stderr`` ``{text, offset}``
(§12.5 superset); a kernel ``task_state`` that carries no HSX state names is
skipped, except the load, which becomes ``{prev_state, new_state,
reason:"loaded"}``; the bus's drop warning becomes the HSX ``event_dropped``.
Events of tasks that are not HSX programs are never sent.
"""

from __future__ import annotations

import base64
import dataclasses
import uuid
from typing import TYPE_CHECKING, Any

import orjson

from executive.api.hsx_args import Call, HsxError, pid_list, to_int
from executive.api.hsx_protocol import encode_line
from executive.kernel.errors import LimitError
from executive.service.events import Event, Subscription

if TYPE_CHECKING:  # pragma: no cover
    from executive.api.hsx_protocol import HsxConnection, HsxCore

__all__ = [
    "COMMANDS",
    "EVENT_TYPES",
    "FEATURES",
    "SESSION_COMMANDS",
    "HsxSession",
    "HsxSessions",
    "HsxStream",
    "HsxStreams",
]

FEATURES = frozenset({"events", "stack", "disasm", "symbols", "memory", "watch"})  # §4 capabilities.features
MAX_EVENTS_DEFAULT, MAX_EVENTS_MIN, MAX_EVENTS_MAX = 256, 2, 2048
HEARTBEAT_DEFAULT, HEARTBEAT_MIN, HEARTBEAT_MAX = 30, 5, 300
RETENTION_MS = 5000  # echoed, as the reference does (§5.4)

# Bus event types an HSX client can see (§5.3, plus `output` -> stdout/stderr).
EVENT_TYPES = frozenset(
    {
        "task_state",
        "scheduler",
        "debug_break",
        "debug_stop",
        "watch_update",
        "trace_step",
        "warning",
        "output",
        "sleep_request",
        "sleep_complete",
        "vm_error",
        "mailbox_send",
        "mailbox_recv",
        "mailbox_wait",
        "mailbox_wake",
        "mailbox_timeout",
        "mailbox_error",
        "mailbox_exhausted",
        "mailbox_backpressure",
        "mailbox_overrun",
        "value_registered",
        "value_changed",
        "cmd_registered",
        "cmd_invoked",
        "cmd_completed",
    }
)
_OUTPUT_CATEGORIES = ("stdout", "stderr")


@dataclasses.dataclass(slots=True)
class HsxSession:
    """What the HSX protocol keeps beside a kernel session."""

    id: str
    client: str
    heartbeat_s: int
    features: list[str]
    max_events: int
    warnings: list[str]
    stream: HsxStream | None = None


class HsxSessions:
    """HSX views of kernel sessions, created on ``session.open`` (or lazily for JSON-RPC sessions)."""

    def __init__(self, core: HsxCore) -> None:
        self.core = core
        self._info: dict[str, HsxSession] = {}

    def touch(self, session_id: str) -> bool:
        """Refresh a live session (§2.3 step 4); False when it does not exist."""
        return self.core.ex.session_exists(session_id)

    def info(self, session_id: str) -> HsxSession:
        found = self._info.get(session_id)
        if found is None:
            kernel = self.core.ex.session_keepalive(session_id)
            found = HsxSession(
                kernel["id"], kernel["client"], int(kernel["idle_s"]), ["events"], MAX_EVENTS_DEFAULT, []
            )
            self._info[session_id] = found
        return found

    def prune(self) -> None:
        """Forget sessions the kernel closed or expired; their streams end (§4 keepalive/expiry)."""
        if not self._info:
            return
        alive = {s["id"] for s in self.core.ex.session_list()}
        for sid in [sid for sid in self._info if sid not in alive]:
            info = self._info.pop(sid)
            if info.stream is not None:
                self.core.streams.end(info.stream, "session_closed")

    def describe(self, session_id: str) -> dict[str, Any]:
        """The ``session`` object of §3.2 (with ``pid_locks`` and ``age_s``)."""
        kernel = self.core.ex.session_keepalive(session_id)
        info = self.info(session_id)
        locks = kernel["locks"]
        return {
            "id": kernel["id"],
            "client": kernel["client"],
            "heartbeat_s": info.heartbeat_s,
            "features": info.features,
            "max_events": info.max_events,
            "pid_lock": None if not locks else locks[0] if len(locks) == 1 else locks,
            "pid_locks": locks,
            "created_at": kernel["created"],
            "last_seen": kernel["last_seen"],
            "age_s": round(self.core.clock() - kernel["created"], 3),
            "warnings": list(info.warnings),
            "subscribed": info.stream is not None,
        }

    def open(self, call: Call) -> dict[str, Any]:
        """``session.open`` with the validation, clamps and warnings of §4."""
        ex = self.core.ex
        client = call.args.get("client") or ""
        if not isinstance(client, str):
            raise HsxError("client must be a string")
        caps = call.args.get("capabilities") or {}
        if not isinstance(caps, dict):
            raise HsxError("capabilities must be an object {features?, max_events?}")
        warnings: list[str] = []
        features_in = caps.get("features")
        if features_in is None:
            features = sorted(FEATURES)
        elif not isinstance(features_in, list):
            raise HsxError("capabilities.features must be a list when provided")
        else:
            features = []
            for f in features_in:
                name = str(f)
                if name in FEATURES:
                    if name not in features:
                        features.append(name)
                else:
                    warnings.append(f"unsupported_feature:{name}")
        max_events = MAX_EVENTS_DEFAULT
        if caps.get("max_events") is not None:
            try:
                max_events = to_int(caps["max_events"], "max_events")
            except HsxError:
                raise HsxError("capabilities.max_events must be an integer when provided") from None
            if max_events <= 0:
                raise HsxError("capabilities.max_events must be positive")
            clamped = min(max(max_events, MAX_EVENTS_MIN), MAX_EVENTS_MAX)
            if clamped != max_events:
                warnings.append(f"max_events_clamped:{clamped}")
                max_events = clamped
        heartbeat = HEARTBEAT_DEFAULT
        if call.args.get("heartbeat_s") is not None:
            try:
                heartbeat = to_int(call.args["heartbeat_s"], "heartbeat_s")
            except HsxError:
                raise HsxError("heartbeat_s must be an integer when provided") from None
            clamped = min(max(heartbeat, HEARTBEAT_MIN), HEARTBEAT_MAX)
            if clamped != heartbeat:
                warnings.append(f"heartbeat_clamped:{clamped}")
                heartbeat = clamped
        pids: list[int] = []
        if call.args.get("pid_lock") is not None:
            try:
                pids = pid_list(call.args["pid_lock"], "pid_lock")
            except HsxError:
                raise HsxError("pid_lock must be an integer or sequence of integers") from None
            if any(p < 0 for p in pids):
                raise HsxError("pid_lock values must be non-negative")
            if len(pids) > ex.limits.max_locks_per_session:
                raise LimitError(
                    f"pid_lock names {len(pids)} PIDs; a session may lock {ex.limits.max_locks_per_session}"
                )
        for pid in pids:  # nothing is created when one is taken (§4)
            if ex.lock_owner(pid) is not None:
                raise HsxError(f"pid_locked:{pid}")
        sid = ex.session_open(client=client, capabilities=None, idle_s=float(heartbeat), lock=pids)["id"]
        self._info[sid] = HsxSession(sid, client, heartbeat, features, max_events, warnings)
        self.core.log("info", "session opened", session_id=sid, client=client, pid_lock=pids)
        out = self.describe(sid)
        out.pop("age_s")
        out.pop("subscribed")
        return out

    def close(self, session_id: str, reason: str) -> None:
        info = self._info.pop(session_id, None)
        self.core.ex.session_close(session_id)
        if info is not None and info.stream is not None:
            self.core.streams.end(info.stream, reason)
        self.core.log("info", "session closed", session_id=session_id, reason=reason)


class HsxStream:
    """One session's event stream on one connection: a bus subscription plus HSX formatting."""

    def __init__(
        self, core: HsxCore, session: HsxSession, conn: HsxConnection, token: str, categories: frozenset[str] | None
    ) -> None:
        self.core = core
        self.session = session
        self.conn = conn
        self.token = token
        self.categories = categories  # None = every type
        self.sub: Subscription | None = None
        self.high_water = 0  # most events ever waiting at once
        self.cause: str | None = None  # why the stream ended (None while live)

    # --- output --------------------------------------------------------------------------------
    def next_lines(self, max_events: int, max_bytes: int) -> bytes:
        """Drain up to one batch from the ring as HSX event lines."""
        sub = self.sub
        if sub is None:
            return b""
        self.high_water = max(self.high_water, sub.pending)
        out = bytearray()
        for ev in sub.drain(max_events, max_bytes):
            line = self._line(ev)
            if line is not None:
                out += line
        return bytes(out)

    def finished(self) -> bool:
        """Ended and everything it still held has been handed out."""
        return self.cause is not None and (self.sub is None or not self.sub.ready())

    def end_notice(self) -> bytes:
        """The last line a multiplexed connection gets when its stream ends for another reason than its own request."""
        if self.cause in ("unsubscribed", "disconnected", "replaced_here"):
            return b""
        ev = self.core.ex.make_event(
            "warning", None, {"reason": "subscription_closed", "cause": self.cause, "subscription": self.token}
        )
        return encode_line(ev)

    def stats(self) -> dict[str, Any]:
        sub = self.sub
        pending = sub.pending if sub is not None else 0
        self.high_water = max(self.high_water, pending)
        return {"pending": pending, "high_water": self.high_water, "drops": sub.total_dropped if sub else 0}

    # --- translation ---------------------------------------------------------------------------
    def _is_vm(self, pid: int) -> bool:
        return self.core.ex.vm.has_task(pid)

    def _line(self, ev: Event) -> bytes | None:
        t, pid, d = ev.type, ev.pid, ev.data
        if pid is not None and not self._is_vm(pid):
            return None
        if t == "warning":
            return self._warning(ev)
        if t == "output":
            stream = d.get("stream")
            if self.categories is not None and stream not in self.categories:
                return None
            text = d.get("data")
            if text is None:
                text = base64.b64decode(d.get("data_b64") or "").decode("utf-8", "replace")
            return encode_line(
                {
                    "seq": ev.seq,
                    "ts": ev.ts,
                    "type": stream,
                    "pid": pid,
                    "data": {"text": text, "offset": d.get("offset")},
                }
            )
        if t == "task_state" and "new_state" not in d:
            if d.get("kind") != "vm" or d.get("reason") != "loaded" or d.get("to") not in ("running", "paused"):
                return None  # kernel-level mirror of a VM move already sent with HSX names
            data = {
                "prev_state": None if d["to"] == "running" else "ready",
                "new_state": "ready" if d["to"] == "running" else "paused",
                "reason": "loaded",
                "details": None,
            }
            return encode_line({"seq": ev.seq, "ts": ev.ts, "type": t, "pid": pid, "data": data})
        try:
            return ev.json(orjson.dumps) + b"\n"
        except TypeError:  # a payload orjson cannot encode as is (e.g. integer keys)
            return encode_line(ev.to_dict())

    def _warning(self, ev: Event) -> bytes:
        d = dict(ev.data)
        if d.get("reason") == "events_dropped":  # the bus's gap notice -> §5.5 event_dropped
            d = {
                "reason": "event_dropped",
                "dropped_seq": d.get("first_dropped_seq"),
                "dropped": d.get("dropped"),
                "drops": self.sub.total_dropped if self.sub else d.get("dropped"),
            }
        if "subscription" in d or d.get("reason") == "event_dropped":
            d["subscription"] = self.token
        return encode_line({"seq": ev.seq, "ts": ev.ts, "type": "warning", "pid": ev.pid, "data": d})


class HsxStreams:
    """Creates and ends streams; one per session and one per connection."""

    def __init__(self, core: HsxCore) -> None:
        self.core = core
        self._live: dict[str, HsxStream] = {}  # token -> stream

    def subscribe(self, call: Call) -> dict[str, Any]:
        """``events.subscribe`` (§3.3, §5.4); the connection keeps serving requests afterwards."""
        core, ex, conn = self.core, self.core.ex, call.conn
        if call.session is None:
            raise HsxError("session_required")
        if conn is None:
            raise HsxError("events.subscribe needs a connection to stream on")
        filters = call.args.get("filters") or {}
        if not isinstance(filters, dict):
            raise HsxError("filters must be an object {pid?, categories?, since_seq?}")
        pids = pid_list(filters["pid"], "filters.pid") if filters.get("pid") is not None else None
        cats_in = filters.get("categories")
        categories: frozenset[str] | None = None
        if cats_in is not None and cats_in != []:
            items = cats_in if isinstance(cats_in, list) else [cats_in]
            categories = frozenset(str(c) for c in items)
            if len(categories) > ex.limits.max_event_filters:
                raise LimitError(f"at most {ex.limits.max_event_filters} categories")
        since = filters.get("since_seq")
        if since is not None:
            try:
                since = to_int(since, "since_seq")
            except HsxError:
                raise HsxError("filters.since_seq must be an integer when provided") from None
            if since < 0:
                raise HsxError("filters.since_seq must be non-negative")
        session = core.sessions.info(call.session)
        if session.stream is not None:
            self.end(session.stream, "replaced_here" if session.stream.conn is conn else "replaced")
        if conn.stream is not None:
            self.end(conn.stream, "replaced_here")
        if ex.subscription_count() >= ex.limits.max_subscriptions:
            raise LimitError(f"too many subscriptions ({ex.limits.max_subscriptions}); unsubscribe unused ones")
        types = (
            set(EVENT_TYPES) if categories is None else {"output" if c in _OUTPUT_CATEGORIES else c for c in categories}
        )
        token = f"{session.id}:{uuid.uuid4()}"
        stream = HsxStream(core, session, conn, token, categories)
        cursor = ex.last_seq
        sub = ex.subscribe(types=types, tasks=pids, since_seq=since, max_events=session.max_events, owner=stream)
        stream.sub = sub
        sub.notify = conn.wake
        self._live[token] = stream
        session.stream = stream
        conn.stream = stream
        conn.stream_only = conn.requests == 1  # a connection opened just to stream (ExecutiveSession)
        core.log("info", "events subscribed", session_id=session.id, filters=filters)
        out: dict[str, Any] = {
            "token": token,
            "max": session.max_events,
            "cursor": cursor,
            "retention_ms": RETENTION_MS,
        }
        out.update(stream.stats())
        if since is not None:
            out["since_seq"] = since
        if sub.ready():
            conn.wake()
        return {"events": out}

    def end(self, stream: HsxStream, cause: str) -> None:
        """Stop a stream: no new events; what its ring holds is still written, then the connection decides."""
        if stream.cause is not None:
            return
        stream.cause = cause
        self._live.pop(stream.token, None)
        if stream.session.stream is stream:
            stream.session.stream = None
        if stream.sub is not None:
            self.core.ex.drop_subscription(stream.sub.id)
        if cause == "disconnected":
            stream.sub = None
        stream.conn.wake()

    def end_all(self, cause: str) -> None:
        for stream in list(self._live.values()):
            self.end(stream, cause)


# --- command handlers ------------------------------------------------------------------------------
def _need_session(call: Call) -> str:
    if call.session is None:
        raise HsxError("session_required")
    return call.session


def _session_open(call: Call) -> dict[str, Any]:
    return {"session": call.core.sessions.open(call)}


def _session_keepalive(call: Call) -> dict[str, Any]:
    sid = _need_session(call)
    if not call.core.sessions.touch(sid):
        raise HsxError("session_required")
    return {}


def _session_close(call: Call) -> dict[str, Any]:
    sid = _need_session(call)
    if not call.core.sessions.touch(sid):
        raise HsxError("session_required")
    call.core.sessions.close(sid, "session_closed")
    return {}


def _session_current(call: Call) -> dict[str, Any]:
    sid = _need_session(call)
    if not call.core.sessions.touch(sid):
        raise HsxError("session_required")
    out = call.core.sessions.describe(sid)
    out.pop("age_s")
    return {"session": out}


def _session_list(call: Call) -> dict[str, Any]:
    core = call.core
    if call.session is not None:
        core.sessions.touch(call.session)
    return {"sessions": [core.sessions.describe(s["id"]) for s in core.ex.session_list()]}


def _session_terminate(call: Call) -> dict[str, Any]:
    target = call.args.get("target")
    if not isinstance(target, str) or not target.strip():
        raise HsxError("session.terminate requires 'target'")
    target = target.strip()
    if not call.core.sessions.touch(target):
        raise HsxError("session_not_found")
    call.core.sessions.close(target, "admin_close")
    return {"closed": {"id": target, "reason": "admin_close"}}


def _events_subscribe(call: Call) -> dict[str, Any]:
    return call.core.streams.subscribe(call)


def _events_ack(call: Call) -> dict[str, Any]:
    sid = _need_session(call)
    stream = call.core.sessions.info(sid).stream
    if stream is None or stream.sub is None:
        raise HsxError("session_required")  # no active subscription (§2.6)
    raw = call.args.get("seq")
    if raw is None:
        raise HsxError("events.ack requires 'seq'")
    try:
        seq = to_int(raw, "seq")
    except HsxError:
        raise HsxError("events.ack seq must be an integer") from None
    if seq < 0:
        raise HsxError("ack seq must be non-negative")
    stream.sub.ack(seq)
    out = stream.stats()
    out["last_ack"] = stream.sub.last_ack
    return {"events": out}


def _events_unsubscribe(call: Call) -> dict[str, Any]:
    sid = _need_session(call)
    stream = call.core.sessions.info(sid).stream
    if stream is None:
        return {"unsubscribed": False}
    call.core.streams.end(stream, "unsubscribed")
    return {"unsubscribed": True}


SESSION_COMMANDS = (
    "session.open",
    "session.keepalive",
    "session.close",
    "session.current",
    "session.list",
    "session.terminate",
)
COMMANDS = {
    "session.open": _session_open,
    "session.keepalive": _session_keepalive,
    "session.close": _session_close,
    "session.current": _session_current,
    "session.list": _session_list,
    "session.terminate": _session_terminate,
    "events.subscribe": _events_subscribe,
    "events.ack": _events_ack,
    "events.unsubscribe": _events_unsubscribe,
}
