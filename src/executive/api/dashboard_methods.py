"""``task.stats``, ``task.restart`` and ``daemon.limits``: what the dashboard needs beyond ``task.*``.

All are thin: ``task.stats`` samples the process trees of live tasks (runtimes/tree_stats.py);
``task.restart`` starts a new task with an ended (or live) process task's argv and cwd;
``daemon.limits`` lists the limits in force (kernel/limits.py) for the overview.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from executive.api.methods import CallContext
from executive.api.rpc import Method
from executive.kernel.errors import NotAllowedError
from executive.runtimes.tree_stats import TreeSampler

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


def dashboard_methods() -> list[Method]:
    sampler = TreeSampler()

    async def stats(ctx: CallContext, p: TaskStats) -> dict[str, Any]:
        svc = ctx.service
        rows = [svc.task_info(t) for t in p.tasks] if p.tasks is not None else svc.task_list(limit=100000)
        leaders = {r["id"]: r["pid"] for r in rows if r["pid"] and r["state"] in ("running", "paused", "stopping")}
        sampled = await asyncio.to_thread(sampler.sample_many, leaders, processes=p.processes)
        return {"tasks": {str(k): v for k, v in sampled.items()}}

    async def restart(ctx: CallContext, p: TaskRestart) -> dict[str, Any]:
        svc = ctx.service
        row = svc.task_info(p.task)
        if row["kind"] != "process":
            raise NotAllowedError(
                f"task {row['id']} is a {row['kind']} task; only process tasks can be restarted "
                "(start agents with agent.run and HSX programs with vm.load)"
            )
        new = await svc.task_run(list(row["argv"]), name=p.name, cwd=row["cwd"], session_id=ctx.session_id)
        new["restart_of"] = row["id"]
        return new

    def limits(ctx: CallContext, p: NoParams) -> dict[str, Any]:
        return dataclasses.asdict(ctx.service.limits)

    return [
        Method("daemon.limits", NoParams, limits, "The limits in force (kernel/limits.py)."),
        Method("task.stats", TaskStats, stats, "CPU % and RSS of live tasks' process trees."),
        Method("task.restart", TaskRestart, restart, "Start a new process task with another task's argv and cwd."),
    ]
