"""Programs as rows and replies: the stored record, the wire views, and how a run's end reads.

Pure mappings for service/programs.py (kept apart so that module holds the behaviour only):
:func:`to_row`/:func:`from_row` between a kernel :class:`Program` and the store's
``ProgramRow``; :func:`brief` and :func:`info`, its typed replies; :func:`outcome`, a
task's end in the terms of kernel/programs.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

from executive.kernel.programs import Program, ProgramState, RestartSettings, RunOutcome
from executive.kernel.tasks import EndReason, Task
from executive.service.results import ProgramBrief, ProgramInfo
from executive.store.records import ProgramRow

__all__ = ["brief", "from_row", "info", "outcome", "to_row"]


def outcome(task: Task) -> RunOutcome:
    reason = task.end_reason or EndReason.EXITED
    if reason is EndReason.EXITED and task.signal:
        describe = f"killed by signal {task.signal}"
    elif reason is EndReason.EXITED:
        describe = f"exited with status {task.exit_code}"
    elif reason is EndReason.FAILED:
        describe = f"could not start ({task.end_detail or 'spawn failed'})"
    else:
        describe = {
            EndReason.TIMED_OUT: "timed out",
            EndReason.IDLE_TIMEOUT: "ended after its idle timeout",
            EndReason.CANCELLED: "cancelled",
            EndReason.KILLED: "killed",
            EndReason.LOST: "lost when the daemon stopped",
        }.get(reason, reason.value)
    uptime = (task.ended or time.time()) - task.started if task.started else 0.0
    return RunOutcome(
        succeeded=reason is EndReason.EXITED and task.exit_code == 0 and not task.signal,
        stopped_by_client=reason in (EndReason.CANCELLED, EndReason.KILLED),
        uptime=uptime,
        describe=describe,
    )


def brief(p: Program) -> ProgramBrief:
    next_in = max(0.0, round(p.next_at - time.time(), 3)) if p.next_at is not None else None
    return {
        "name": p.name,
        "state": cast(Any, p.state.value),
        "restart": cast(Any, p.settings.policy.value),
        "failures": p.failures,
        "max_restarts": p.settings.max_restarts,
        "next_in_s": next_in,
        "reason": p.reason,
    }


def info(p: Program) -> ProgramInfo:
    d = cast(ProgramInfo, dict(brief(p)))
    d.update(
        {
            "source": cast(Any, p.source),
            "argv": list(p.spec["argv"]),
            "cwd": str(p.spec.get("cwd") or Path.home()),
            "env_keys": sorted(p.spec.get("env") or {}),
            "autostart": bool(p.spec.get("autostart", True)),
            "backoff_base": p.settings.backoff_base,
            "backoff_max": p.settings.backoff_max,
            "reset_after": p.settings.reset_after,
            "runs": p.runs,
            "task": p.task_id,
            "updated": p.updated,
        }
    )
    return d


def to_row(p: Program) -> ProgramRow:
    return {
        "name": p.name,
        "source": p.source,
        "spec": dict(p.spec),
        "settings": p.settings.to_dict(),
        "state": p.state.value,
        "failures": p.failures,
        "runs": p.runs,
        "task_id": p.task_id,
        "next_at": p.next_at,
        "reason": p.reason,
        "created": p.created,
        "updated": p.updated,
    }


def from_row(row: ProgramRow) -> Program:
    return Program(
        name=row["name"],
        source=row["source"],
        spec=dict(row["spec"]),
        settings=RestartSettings.from_dict(row["settings"]),
        state=ProgramState(row["state"]),
        failures=row["failures"],
        runs=row["runs"],
        task_id=row["task_id"],
        next_at=row["next_at"],
        reason=row["reason"],
        created=row["created"],
        updated=row["updated"],
    )
