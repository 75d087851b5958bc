"""``task.stats``, ``task.restart`` and ``daemon.limits``: what the dashboard needs beyond ``task.*``.

Thin handlers onto ``Executive.task_stats`` (CPU % and RSS of live tasks' process trees),
``Executive.task_restart`` (a new task with an ended or live process task's argv and cwd) and
``Executive.daemon_limits`` (the limits in force, for the overview); service/task_extras.py
does the work.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from executive.api.methods import CallContext
from executive.api.rpc import Method
from executive.service import results

__all__ = ["dashboard_methods"]

TaskRef = int | str


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskStats(_P):
    tasks: list[TaskRef] | None = Field(None, max_length=1000, description="default: every live task with a pid")
    processes: bool = Field(False, description="also list each process of every tree (pid, ppid, name, CPU, RSS)")


class NoParams(_P):
    pass


class TaskRestart(_P):
    task: TaskRef
    name: str | None = Field(None, min_length=1, max_length=128, description="default: a fresh generated name")


async def _stats(ctx: CallContext, p: TaskStats) -> results.TaskStatsResult:
    tasks: list[int | str] | None = list(p.tasks) if p.tasks is not None else None
    return await ctx.service.task_stats(tasks, processes=p.processes)


async def _restart(ctx: CallContext, p: TaskRestart) -> results.TaskRestarted:
    return await ctx.service.task_restart(p.task, name=p.name, session_id=ctx.session_id)


def _limits(ctx: CallContext, p: NoParams) -> dict[str, int | float]:
    return ctx.service.daemon_limits()


def dashboard_methods() -> list[Method]:
    return [
        Method("daemon.limits", NoParams, dict[str, int | float], _limits, "The limits in force (kernel/limits.py)."),
        Method("task.stats", TaskStats, results.TaskStatsResult, _stats, "CPU % and RSS of live tasks' process trees."),
        Method(
            "task.restart",
            TaskRestart,
            results.TaskRestarted,
            _restart,
            "Start a new process task with another task's argv and cwd.",
        ),
    ]
