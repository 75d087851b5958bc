"""What the dashboard needs beyond ``task.*``: process-tree samples, restarts, the limits in force.

``restart`` starts a task again (argv, env, cwd, timeouts, placement) linked to the old one.

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
        picked = [self.ex.tasks.get(t) for t in tasks] if tasks is not None else self.ex.tasks.live()
        leaders = {t.id: t.pid for t in picked if t.pid and t.state.value in _SAMPLED_STATES and not is_remote(t)}
        sampled = await asyncio.to_thread(self._sampler.sample_many, leaders, processes=processes)
        return {"tasks": {str(k): cast(TreeSample, v) for k, v in sampled.items()}}

    async def restart(self, ref: int | str, *, name: str | None = None, session_id: str | None = None) -> TaskRestarted:
        """Start ``ref`` again: a new process task with its argv, env, cwd, timeouts, quota and placement.

        A live task is cancelled first (and awaited).  A run of a program, or the name of a
        program, restarts the program (service/programs.py): its failure count starts again.
        The new task's ``meta.restart_of`` names the old one, whose ``meta.restarted_as``
        names the new one (both stored with the tasks).

        Raises:
            NotFoundError: no such task or program.
            NotAllowedError: ``ref`` is an agent or VM task (they start through agent.run and vm.load).
        """
        if isinstance(ref, str) and not ref.isdigit() and self.ex.programs.has(ref):
            program: str | None = ref
            old = None
        else:
            old = await self.ex.task_history.find(ref)  # also a task that has left memory
            name_of = old.meta.get("program")
            program = name_of if isinstance(name_of, str) and self.ex.programs.has(name_of) else None
        if program is not None:
            task, previous = await self.ex.programs.restart(program)
            row = {**task.to_dict(), "restart_of": previous}
            self.ex.programs.annotate(task, row)
            return cast(TaskRestarted, row)
        assert old is not None
        if old.kind is not TaskKind.PROCESS or old.argv is None:
            raise NotAllowedError(
                f"task {old.id} is a {old.kind.value} task; only process tasks can be restarted "
                "(start agents with agent.run and HSX programs with vm.load)"
            )
        if old.is_live:
            self.ex.task_cancel(old.id, session_id=session_id)
            await self.ex.task_wait(old.id, timeout=self.ex.limits.kill_grace_s + 10.0)
        spec = old.spec
        new = await self.ex.task_run(
            list(old.argv),
            name=name or old.name,
            cwd=old.cwd,
            env=spec.get("env") or None,
            stdin=bool(spec.get("stdin", False)),
            timeout=spec.get("timeout"),
            idle_timeout=spec.get("idle_timeout"),
            quota=spec.get("quota"),
            session_id=session_id,
            meta={"restart_of": old.id},
            placement=old.meta.get("placement"),
        )
        self.ex.programs.link_restart(old.id, new["id"])
        return cast(TaskRestarted, {**new, "restart_of": old.id})

    def limits(self) -> DaemonLimits:
        """The limits in force (kernel/limits.py)."""
        return cast(DaemonLimits, dataclasses.asdict(self.ex.limits))

    def log_path(self, task_id: int, stream: str) -> Path:
        """The file that holds a task's whole log (it may not exist yet: nothing was written).

        ``task_id`` is the id of a task found before (``task_lookup``): the path is made from it, never from input.
        """
        if stream not in STREAMS:
            raise BadParamsError(f"stream must be one of {', '.join(STREAMS)}, got {stream!r}")
        return self.ex.processes.log_path(int(task_id), stream)
