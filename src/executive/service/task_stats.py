"""What the dashboard needs beyond ``task.*``: process-tree samples, restarts, the limits in force.

The tree sampler lives here, behind the service, because transports do not reach the
runtimes (tests/test_layering.py).  Only local tasks are sampled: a remote task's pid
(runtimes/placed.py) belongs to its Ray node, and the same number here is some other process.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, cast

from executive.kernel.errors import BadParamsError, NotAllowedError
from executive.kernel.tasks import TaskKind
from executive.runtimes.placed import is_remote
from executive.runtimes.process import STREAMS
from executive.runtimes.tree_stats import TreeSampler
from executive.service.results import DaemonLimits, TaskRestarted, TaskStatsResult, TreeSample

if TYPE_CHECKING:  # pragma: no cover
    from executive.service.executive import Executive

__all__ = ["TaskStatsService"]

_SAMPLED_STATES = ("running", "paused", "stopping")


class TaskStatsService:
    """Samples of live tasks' trees (one sampler per daemon: it keeps each process's CPU baseline)."""

    def __init__(self, executive: Executive) -> None:
        self.ex = executive
        self._sampler = TreeSampler()

    async def stats(self, tasks: list[int | str] | None = None, *, processes: bool = False) -> TaskStatsResult:
        """CPU % and RSS of the given tasks' trees (default: every live local task with a pid)."""
        picked = [self.ex.tasks.get(t) for t in tasks] if tasks is not None else list(self.ex.tasks)
        leaders = {t.id: t.pid for t in picked if t.pid and t.state.value in _SAMPLED_STATES and not is_remote(t)}
        sampled = await asyncio.to_thread(self._sampler.sample_many, leaders, processes=processes)
        return {"tasks": {str(k): cast(TreeSample, v) for k, v in sampled.items()}}

    async def restart(self, ref: int | str, *, name: str | None = None, session_id: str | None = None) -> TaskRestarted:
        """Start a new process task with another one's argv, cwd and placement.

        Raises:
            NotFoundError: no such task.
            NotAllowedError: it is not a process task.
        """
        task = self.ex.tasks.get(ref)
        if task.kind is not TaskKind.PROCESS:
            raise NotAllowedError(
                f"task {task.id} is a {task.kind.value} task; only process tasks can be restarted "
                "(start agents with agent.run and HSX programs with vm.load)"
            )
        new = await self.ex.task_run(
            list(task.argv or []),
            name=name,
            cwd=task.cwd,
            session_id=session_id,
            placement=task.meta.get("placement"),
        )
        out = cast(TaskRestarted, new)
        out["restart_of"] = task.id
        return out

    def limits(self) -> DaemonLimits:
        """The limits in force (kernel/limits.py)."""
        return cast(DaemonLimits, dataclasses.asdict(self.ex.limits))

    def log_path(self, ref: int | str, stream: str) -> Path:
        """The file that holds a task's whole log (it may not exist yet: nothing was written)."""
        if stream not in STREAMS:
            raise BadParamsError(f"stream must be one of {', '.join(STREAMS)}, got {stream!r}")
        return self.ex.processes.log_path(self.ex.tasks.get(ref).id, stream)
