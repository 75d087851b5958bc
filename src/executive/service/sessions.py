"""Sessions and task locks: ``Executive.session_*``, ``task_lock``/``task_unlock``, ``lock_owner``.

A session is a client's identity across connections; it holds the exclusive
control locks of tasks.  The kernel keeps the state (kernel/sessions.py); this
service validates, logs, publishes expiry and shapes the replies.
"""

from __future__ import annotations

import time
from typing import cast

import structlog

from executive.kernel.errors import NotFoundError
from executive.kernel.events import EventBus
from executive.kernel.sessions import Session, SessionManager
from executive.kernel.tasks import TaskTable
from executive.service.results import SessionClosed, SessionInfo, SessionOpened, TaskLockResult

__all__ = ["SessionService"]

log = structlog.get_logger("executive")


class SessionService:
    """Open, refresh, close and list sessions; take and release task locks."""

    def __init__(self, sessions: SessionManager, tasks: TaskTable, bus: EventBus) -> None:
        self._sessions = sessions
        self._tasks = tasks
        self._bus = bus

    def open(
        self,
        *,
        client: str = "",
        capabilities: list[str] | None = None,
        idle_s: float | None = None,
        lock: list[int] | None = None,
        resumable: bool = False,
    ) -> SessionOpened:
        """Open a session; ``lock`` names task ids it takes the control lock of at once
        (callers check first that none is taken: a refused lock leaves the session open)."""
        session, warnings = self._sessions.open(
            client=client, capabilities=capabilities, idle_s=idle_s, resumable=resumable
        )
        for task_id in lock or ():
            self._sessions.lock(session, task_id)
        log.info("session_open", session=session.id, client=client)
        out = cast(SessionOpened, session.to_dict(time.time()))
        out["warnings"] = warnings
        return out

    def keepalive(self, session_id: str) -> SessionInfo:
        """The session, marked active now.

        Raises:
            NotFoundError: unknown, closed or expired.
        """
        return cast(SessionInfo, self._sessions.get(session_id).to_dict(time.time()))

    def touch(self, session_id: str) -> None:
        """Mark the session active (every request made under a session keeps it alive).

        Raises:
            NotFoundError: unknown, closed or expired.
        """
        self._sessions.get(session_id)

    def exists(self, session_id: str) -> bool:
        """Whether the session is live (and, if so, mark it active)."""
        try:
            self._sessions.get(session_id)
        except NotFoundError:
            return False
        return True

    def close(self, session_id: str) -> SessionClosed:
        s = self._sessions.close(session_id)
        log.info("session_close", session=s.id)
        return {"id": s.id, "closed": True}

    def attach(self, session_id: str) -> SessionInfo:
        """Bind a connection to the session (the one that opened or resumed it)."""
        return cast(SessionInfo, self._sessions.attach(session_id).to_dict(time.time()))

    def detach(self, session_id: str) -> None:
        """A bound connection closed: the session ends with its last one unless it is resumable."""
        s = self._sessions.detach(session_id)
        if s is not None:
            log.info("session_close", session=s.id, client=s.client, reason="connection_closed")
            self._bus.publish("session", None, {"session": s.id, "state": "closed", "reason": "connection_closed"})

    def evict(self, session_id: str, reason: str) -> SessionClosed:
        """Close any client's session (an operator's call), releasing its locks; says so in an event."""
        s = self._sessions.close(session_id)
        log.warning("session_evicted", session=s.id, client=s.client, reason=reason)
        self._bus.publish("session", None, {"session": s.id, "state": "evicted", "reason": reason})
        return {"id": s.id, "closed": True}

    def list(self) -> list[SessionInfo]:
        now = time.time()
        return [cast(SessionInfo, s.to_dict(now)) for s in self._sessions.list()]

    def get(self, session_id: str | None) -> Session | None:
        """The session behind an id (marking it active), or None for no id."""
        return self._sessions.get(session_id) if session_id else None

    def lock(self, ref: int | str, session_id: str) -> TaskLockResult:
        task = self._tasks.get(ref)
        self._sessions.lock(self._sessions.get(session_id), task.id)
        return {"task": task.id, "locked_by": session_id}

    def unlock(self, ref: int | str, session_id: str) -> TaskLockResult:
        task = self._tasks.get(ref)
        self._sessions.unlock(self._sessions.get(session_id), task.id)
        return {"task": task.id, "locked_by": self._sessions.lock_owner(task.id)}

    def lock_owner(self, task_id: int) -> str | None:
        """The session holding a task's control lock, if any."""
        return self._sessions.lock_owner(task_id)

    def expire(self) -> None:
        """Close sessions idle past their timeout; each gets a ``session`` event."""
        for s in self._sessions.expire():
            log.info("session_expired", session=s.id, client=s.client)
            self._bus.publish("session", None, {"session": s.id, "state": "expired"})

    def __len__(self) -> int:
        return len(self._sessions)
