"""``task.stats``, ``task.restart`` and ``daemon.limits``: what the dashboard needs beyond ``task.*``.

Thin: each calls one method of the service (service/task_views.py).
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


class TaskStatsParams(_P):
    tasks: list[TaskRef] | None = Field(None, max_length=1000, description="default: every live task with a pid")
    processes: bool = Field(False, description="also list each process of every tree (pid, ppid, name, CPU, RSS)")


class NoParams(_P):
    pass


class TaskRestartParams(_P):
    task: TaskRef
    name: str | None = Field(None, min_length=1, max_length=128, description="default: the old task's name")


def dashboard_methods() -> list[Method]:
    async def stats(ctx: CallContext, p: TaskStatsParams) -> results.TaskStats:
        return await ctx.service.task_stats(p.tasks, processes=p.processes)

    async def restart(ctx: CallContext, p: TaskRestartParams) -> results.TaskRestarted:
        return await ctx.service.task_restart(p.task, name=p.name, session_id=ctx.session_id)

    def limits(ctx: CallContext, p: NoParams) -> results.DaemonLimits:
        return ctx.service.daemon_limits()

    return [
        Method("daemon.limits", NoParams, results.DaemonLimits, limits, "The limits in force (kernel/limits.py)."),
        Method("task.stats", TaskStatsParams, results.TaskStats, stats, "CPU % and RSS of live tasks' process trees."),
        Method(
            "task.restart",
            TaskRestartParams,
            results.TaskRestarted,
            restart,
            "Start a task again (argv, env, cwd; a live one is cancelled first), linked to the old one; "
            "a program's run or name restarts the program.",
        ),
    ]
