"""Client sessions: identity, capabilities, idle expiry and task control locks.

A session is opened by a client, kept alive by any request that carries it
(or by ``session.keepalive``), and closed by the client or by expiry after
``Limits.session_idle_s`` without activity.  A session may hold exclusive
control locks on tasks: while a task is locked, only that session may pause,
resume, cancel, kill, write to or debug it.  Unlocked tasks are open to every
client.  Closing or expiring a session releases its locks.

A session also ends with the last connection bound to it (``attach``/``detach``:
the transport binds the connection that opened or resumed it), so clients that
drop their socket without ``session.close`` do not hold the session table until
idle expiry.  A session opened as ``resumable`` survives that for a short grace
(``resume_grace_s``), in which a new connection can resume it.

The manager is clock-injected and has no I/O: :meth:`SessionManager.expire`
is called by the service's housekeeping timer.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from executive.kernel.errors import ErrorCode, LimitError, LockedError, NotFoundError

__all__ = ["CAPABILITIES", "Session", "SessionManager"]

# What this daemon offers; a client asks for a subset and gets back what exists.
CAPABILITIES = frozenset({"tasks", "events", "output", "locks", "vm", "debug", "trace", "pipeline", "agents"})


@dataclasses.dataclass(slots=True)
class Session:
    id: str
    client: str
    capabilities: list[str]
    created: float
    last_seen: float
    idle_s: float  # expires after this long without activity
    locks: set[int] = dataclasses.field(default_factory=set)  # task ids this session controls exclusively
    resumable: bool = False  # survives its last connection for the resume grace (else ends with it)
    connections: int = 0  # connections bound to it now (opened or resumed it)
    detached_at: float | None = None  # a resumable session's last connection closed then: the grace runs

    def to_dict(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "client": self.client,
            "capabilities": self.capabilities,
            "created": self.created,
            "last_seen": self.last_seen,
            "idle_s": self.idle_s,
            "expires_in_s": max(0.0, self.last_seen + self.idle_s - now),
            "locks": sorted(self.locks),
            "resumable": self.resumable,
            "connections": self.connections,
        }


class SessionManager:
    def __init__(
        self,
        *,
        max_sessions: int,
        idle_s: float,
        max_locks: int,
        resume_grace_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._grace = resume_grace_s
        self._sessions: dict[str, Session] = {}
        self._lock_owner: dict[int, str] = {}  # task id -> session id; invariant: mirrors Session.locks
        self._max = max_sessions
        self._idle_s = idle_s
        self._max_locks = max_locks
        self._clock = clock

    def __len__(self) -> int:
        return len(self._sessions)

    def open(
        self, *, client: str, capabilities: Iterable[str] | None, idle_s: float | None = None, resumable: bool = False
    ) -> tuple[Session, list[str]]:
        """Open a session; returns it and warnings for capabilities we do not offer.

        Raises:
            LimitError: ``max_sessions`` are open already.
        """
        if len(self._sessions) >= self._max:
            raise LimitError(
                f"too many sessions: {self._max} are open (limit max_sessions); close unused ones with session.close, "
                "or find an abandoned one with session.list and end it with session.evict",
                code=ErrorCode.SESSION_LIMIT,
                data={"limit": self._max},
            )
        asked = list(dict.fromkeys(capabilities)) if capabilities is not None else sorted(CAPABILITIES)
        granted = [c for c in asked if c in CAPABILITIES]
        warnings = [f"unsupported_capability:{c}" for c in asked if c not in CAPABILITIES]
        now = self._clock()
        idle = self._idle_s if idle_s is None else max(5.0, min(float(idle_s), 24 * 3600.0))
        session = Session(
            id=uuid.uuid4().hex,
            client=client,
            capabilities=granted,
            created=now,
            last_seen=now,
            idle_s=idle,
            resumable=resumable,
        )
        self._sessions[session.id] = session
        return session, warnings

    def get(self, session_id: str) -> Session:
        """Find a live session and mark it active.

        Raises:
            NotFoundError: unknown, closed or expired.
        """
        session = self._sessions.get(session_id)
        if session is None:
            raise NotFoundError(
                f"no session {session_id!r}: it was closed or expired; open a new one with session.open",
                code=ErrorCode.SESSION_NOT_FOUND,
                data={"session": session_id},
            )
        session.last_seen = self._clock()
        return session

    def attach(self, session_id: str) -> Session:
        """Bind one more connection to the session (it opened or resumed it); a grace in progress ends.

        Raises:
            NotFoundError: unknown, closed or expired.
        """
        session = self.get(session_id)
        session.connections += 1
        session.detached_at = None
        return session

    def detach(self, session_id: str) -> Session | None:
        """A bound connection closed; returns the session if that ended it (its last, not resumable)."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        session.connections = max(0, session.connections - 1)
        if session.connections:
            return None
        if session.resumable:
            session.detached_at = self._clock()
            return None
        self._drop(session)
        return session

    def close(self, session_id: str) -> Session:
        session = self.get(session_id)
        self._drop(session)
        return session

    def _drop(self, session: Session) -> None:
        for task_id in session.locks:
            self._lock_owner.pop(task_id, None)
        session.locks.clear()
        self._sessions.pop(session.id, None)

    def expire(self) -> list[Session]:
        """Close every session idle past its limit; returns the closed ones."""
        now = self._clock()
        gone = [
            s
            for s in self._sessions.values()
            if now - s.last_seen > s.idle_s or (s.detached_at is not None and now - s.detached_at > self._grace)
        ]
        for s in gone:
            self._drop(s)
        return gone

    def list(self) -> list[Session]:
        return sorted(self._sessions.values(), key=lambda s: s.created)

    # --- locks -------------------------------------------------------------------
    def lock(self, session: Session, task_id: int) -> None:
        """Take the exclusive control lock on a task.

        Raises:
            LockedError: another session holds it.
            LimitError: this session holds ``max_locks`` already.
        """
        owner = self._lock_owner.get(task_id)
        if owner == session.id:
            return
        if owner is not None:
            raise LockedError(
                f"task {task_id} is locked by session {owner}; wait for that session to unlock or close",
                data={"task": task_id, "session": owner},
            )
        if len(session.locks) >= self._max_locks:
            raise LimitError(
                f"session holds {len(session.locks)} locks (limit max_locks_per_session); unlock some first",
                data={"limit": self._max_locks},
            )
        self._lock_owner[task_id] = session.id
        session.locks.add(task_id)

    def unlock(self, session: Session, task_id: int) -> None:
        if self._lock_owner.get(task_id) == session.id:
            del self._lock_owner[task_id]
            session.locks.discard(task_id)

    def lock_owner(self, task_id: int) -> str | None:
        return self._lock_owner.get(task_id)

    def check_control(self, task_id: int, session_id: str | None) -> None:
        """Raise unless the caller may control the task (unlocked, or locked by the caller)."""
        owner = self._lock_owner.get(task_id)
        if owner is not None and owner != session_id:
            raise LockedError(
                f"task {task_id} is locked by session {owner}; only that session may control it",
                data={"task": task_id, "session": owner},
            )

    def release_task(self, task_id: int) -> None:
        """Drop any lock on a task (e.g. when it is forgotten)."""
        owner = self._lock_owner.pop(task_id, None)
        if owner is not None and owner in self._sessions:
            self._sessions[owner].locks.discard(task_id)
