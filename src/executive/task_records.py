"""Kernel ``Task`` objects to and from the store's ``TaskRow`` records.

The store sits below the kernel and knows no kernel type (DESIGN.md §2), so
the mapping lives here, on the service side that owns both: the service
persists tasks through :func:`task_to_row` and restores history through
:func:`task_from_row`.
"""

from __future__ import annotations

from executive.kernel.tasks import EndReason, Task, TaskKind, TaskState
from executive.store.records import TaskRow

__all__ = ["task_from_row", "task_to_row"]


def task_to_row(task: Task, *, pid_start: float | None = None) -> TaskRow:
    """The row to store for ``task`` (a snapshot: later changes to the task do not leak into a queued write)."""
    return {
        "id": task.id,
        "name": task.name,
        "kind": task.kind.value,
        "argv": list(task.argv) if task.argv is not None else None,
        "image": task.image,
        "cwd": task.cwd,
        "state": task.state.value,
        "created": task.created,
        "started": task.started,
        "ended": task.ended,
        "exit_code": task.exit_code,
        "signal": task.signal,
        "end_reason": task.end_reason.value if task.end_reason else None,
        "end_detail": task.end_detail,
        "owner": task.owner,
        "pid": task.pid,
        "pid_start": pid_start,
        "meta": dict(task.meta),
        "spec": dict(task.spec),
    }


def task_from_row(row: TaskRow) -> Task:
    """The task a stored row describes (its ``pid_start`` is not part of a Task; read it from the row)."""
    return Task(
        id=row["id"],
        name=row["name"],
        kind=TaskKind(row["kind"]),
        argv=row["argv"],
        image=row["image"],
        cwd=row["cwd"],
        state=TaskState(row["state"]),
        created=row["created"],
        started=row["started"],
        ended=row["ended"],
        exit_code=row["exit_code"],
        signal=row["signal"],
        end_reason=EndReason(row["end_reason"]) if row["end_reason"] else None,
        end_detail=row["end_detail"],
        owner=row["owner"],
        pid=row["pid"],
        meta=row["meta"],
        spec=row.get("spec") or {},
    )
