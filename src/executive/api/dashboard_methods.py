"""``task.stats``, ``task.restart`` and ``daemon.limits``: what the dashboard needs beyond ``task.*``.

All are thin calls of the service (service/task_stats.py): ``task.stats`` samples the process
trees of live tasks; ``task.restart`` starts a new task with an ended (or live) process task's
argv and cwd; ``daemon.limits`` lists the limits in force (kernel/limits.py) for the overview.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from executive.api.methods import CallContext
from executive.api.rpc import Method
from executive.service.results import DaemonLimits, TaskRestarted, TaskStatsResult

__all__ = ["dashboard_methods"]

TaskRef = int | str


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskStatsParams(_P):
    tasks: list[TaskRef] | None = Field(None, max_length=1000, description="default: every live task with a pid")
    processes: bool = Field(False, description="also list each process of every tree (pid, ppid, name, CPU, RSS)")


class NoParams(_P):
    pass


class TaskRestartParams(_P):
    task: TaskRef
    name: str | None = Field(None, min_length=1, max_length=128, description="default: the old task's name")


async def _stats(ctx: CallContext, p: TaskStatsParams) -> TaskStatsResult:
    return await ctx.service.task_stats(p.tasks, processes=p.processes)


async def _restart(ctx: CallContext, p: TaskRestartParams) -> TaskRestarted:
    return await ctx.service.task_restart(p.task, name=p.name, session_id=ctx.session_id)


def _limits(ctx: CallContext, p: NoParams) -> DaemonLimits:
    return ctx.service.daemon_limits()


def dashboard_methods() -> list[Method]:
    return [
        Method("daemon.limits", NoParams, DaemonLimits, _limits, "The limits in force (kernel/limits.py)."),
        Method("task.stats", TaskStatsParams, TaskStatsResult, _stats, "CPU % and RSS of live tasks' process trees."),
        Method(
            "task.restart",
            TaskRestartParams,
            TaskRestarted,
            _restart,
            "Start a task again (argv, env, cwd; a live one is cancelled first), linked to the old one; "
            "a program's run or name restarts the program.",
        ),
    ]
