"""What the agents layer needs from the daemon that owns it, as a Protocol.

The agents layer sits below the service (DESIGN.md §2), so it never imports
``executive.service``, not even for type checking.  Its classes take an
:class:`AgentsHost` instead: the task surface (run, wait, info, output,
cancel, persist), the event bus and subscriptions, the store's writer thread,
the limits, the allow-list and the state directory.  ``Executive`` satisfies
it; tests may pass anything that does.

Members are read-only properties so both plain attributes and properties of
the host satisfy them (a Protocol attribute would demand a settable one).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from executive.kernel.events import EventBus, Subscription
from executive.kernel.limits import Limits
from executive.kernel.tasks import Task, TaskKind, TaskTable
from executive.runtimes.allowlist import AllowList
from executive.store.writer import StoreWriter

__all__ = ["AgentsHost", "TaskSurface"]


class TaskSurface(Protocol):
    """Running commands as supervised tasks and reading them back (the service's ``task_*`` methods).

    Their replies are read-only records here (``Mapping``): the service returns typed dicts."""

    @property
    def limits(self) -> Limits: ...

    async def task_run(
        self,
        argv: list[str],
        *,
        name: str | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        session_id: str | None = None,
        kind: TaskKind = TaskKind.PROCESS,
        meta: dict[str, Any] | None = None,
        placement: dict[str, Any] | None = None,
    ) -> Mapping[str, Any]: ...

    async def task_wait(self, ref: int | str, *, timeout: float | None = None) -> Mapping[str, Any]: ...

    def task_info(self, ref: int | str) -> Mapping[str, Any]: ...

    async def task_output(
        self, ref: int | str, *, stream: str = "stdout", offset: int = 0, limit: int | None = None
    ) -> Mapping[str, Any]: ...

    def task_cancel(self, ref: int | str, *, session_id: str | None = None) -> Mapping[str, Any]: ...

    def task_end_idle(self, ref: int | str) -> Mapping[str, Any]: ...


class AgentsHost(TaskSurface, Protocol):
    """Everything the agents layer uses of the daemon."""

    @property
    def home(self) -> Path: ...

    @property
    def allow_list(self) -> AllowList | None: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def tasks(self) -> TaskTable: ...

    @property
    def store(self) -> StoreWriter: ...

    def persist(self, task: Task, *, pid_start: float | None = None) -> None:
        """Write the task's row (the task's ``meta`` changed)."""
        ...

    def subscribe(
        self,
        *,
        types: list[str] | None = None,
        tasks: list[int] | None = None,
        since_seq: int | None = None,
        ack_window: int | None = None,
        owner: Any = None,
    ) -> Subscription: ...
